"""Only bot/discord/ imports discord.py, and it imports nothing of the Matrix front end."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("bot", "handlers", "storage", "report")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_discord_front_end_imports_discord() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            inside = path.is_relative_to(ROOT / "bot" / "discord")
            names = _imports(path)
            if not inside and any(n == "discord" or n.startswith("discord.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
            if inside and any(n == "nio" or n.startswith(("nio.", "bot.matrix")) for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_bot_without_discord_starts_without_importing_it() -> None:
    """discord.py costs a Matrix-only bot's every start about a tenth of a second: not
    imported unless the config has a [discord] section."""
    probe = "import sys, bot.app, bot.cli; print('discord' in sys.modules)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "False", shown.stderr
