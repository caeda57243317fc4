"""Element's own SDK as a test client: a script in tests/element (matrix-js-sdk under the Node
that scripts/setup installs) run as a subprocess, its input one JSON object on stdin, its steps
one JSON object a line on stdout. Without Node or the SDK the test fails, never skips."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

ELEMENT = Path(__file__).resolve().parent / "element"
NODE = ELEMENT / "node_modules" / ".bin" / "node"
SDK = ELEMENT / "node_modules" / "matrix-js-sdk" / "package.json"
STEP_TIMEOUT = 60.0  # seconds for any one line of the script (its first includes Node's start)


class ElementClient:
    """The Node script as a subprocess: JSON in on stdin, one JSON object a line out."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr

    @classmethod
    async def start(cls, tmp_path: Path, script: str, **arguments: Any) -> ElementClient:
        """``script`` (a file in tests/element) run with ``arguments`` as its input."""
        assert NODE.exists() and SDK.exists(), (
            f"Node 22 or matrix-js-sdk is missing under {ELEMENT / 'node_modules'}: "
            "run scripts/setup"
        )
        stderr = tmp_path / f"{Path(script).stem}.stderr"
        with stderr.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                str(NODE),
                str(ELEMENT / script),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
                cwd=ELEMENT,
            )
        assert process.stdin is not None
        process.stdin.write(json.dumps(arguments).encode())
        await process.stdin.drain()
        process.stdin.close()
        return cls(process, stderr)

    def _failure(self, what: str) -> str:
        log = self.stderr.read_text(errors="replace").splitlines()
        return f"{what}; the script's stderr ends with:\n" + "\n".join(log[-60:])

    async def step(self, name: str) -> dict[str, Any]:
        """The script's next line, which must be step ``name``."""
        assert self.process.stdout is not None
        try:
            raw = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
        except TimeoutError:
            raise AssertionError(self._failure(f"no {name!r} from the script")) from None
        if not raw:
            code = await self.process.wait()
            raise AssertionError(self._failure(f"the script exited ({code}) before {name!r}"))
        line: dict[str, Any] = json.loads(raw)
        assert line.get("step") == name, self._failure(f"expected {name!r}, got {line}")
        return line

    async def finish(self) -> None:
        code = await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        assert code == 0, self._failure(f"the script exited with {code}")

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
