"""What every benchmark shares: statistics, tables, targets, and the run's working directory."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools.homeserver import Homeserver

#: Every password of every benchmark account; the homeserver lives and dies with the run.
PASSWORD = "bench-password"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            count=len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            mean=statistics.fmean(values) if values else math.nan,
            max=max(values) if values else math.nan,
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mib(size: int | float) -> str:
    return f"{size / 2**20:.1f}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as it is in a terminal, pasteable into the docs)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [
        max(len(header), *(len(row[index]) for row in cells)) if cells else len(header)
        for index, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [f"\n### {title}\n", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def show(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Target:
    """One target of the issue, as measured: met, missed, or only reported (``met`` None)."""

    benchmark: str
    what: str
    measured: str
    limit: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return "reported" if self.met is None else "met" if self.met else "MISSED"


@dataclass
class Run:
    """One run of the benchmarks: a working directory and, when needed, one Synapse."""

    work_dir: Path
    targets: list[Target] = field(default_factory=list)
    _homeserver: Homeserver | None = None
    _admin_token: str | None = None

    async def homeserver(self) -> Homeserver:
        if self._homeserver is None:
            began = time.monotonic()
            server = Homeserver(self.work_dir / "synapse")
            await asyncio.to_thread(server.start, 120)
            self._homeserver = server
            show(f"(Synapse started on {server.url} in {time.monotonic() - began:.1f}s)")
        return self._homeserver

    async def admin_token(self) -> str:
        if self._admin_token is None:
            server = await self.homeserver()
            admin = await asyncio.to_thread(
                server.register_user, "bench-admin", PASSWORD, admin=True
            )
            token, _device = await asyncio.to_thread(server.login, admin, PASSWORD)
            self._admin_token = token
            return token
        return self._admin_token

    def directory(self, name: str) -> Path:
        path = self.work_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        if self._homeserver is not None:
            self._homeserver.stop()
            self._homeserver = None


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as took: ...``; then ``took[0]`` is the seconds it took."""
    took: list[float] = []
    began = time.perf_counter()
    try:
        yield took
    finally:
        took.append(time.perf_counter() - began)
