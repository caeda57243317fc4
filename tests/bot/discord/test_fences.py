"""Only bot/discord/ imports discord.py, and it imports nothing of the Matrix front end."""

from __future__ import annotations

import ast
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
