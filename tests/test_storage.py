"""The database itself: pragmas, migrations, and refusing a database newer than the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Database, DatabaseTooNew
from storage.migrations import MIGRATIONS


def test_migrations_are_numbered_one_by_one() -> None:
    assert [migration.version for migration in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


async def test_durability_pragmas_and_idempotent_migrations(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = Database(path)
    await db.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert await db.fetch_value("PRAGMA journal_mode") == "wal"
        assert await db.fetch_value("PRAGMA synchronous") == 2  # FULL
        assert await db.fetch_value("PRAGMA foreign_keys") == 1
    finally:
        await db.close()
    again = Database(path)
    await again.open()  # nothing left to migrate: no error, same version
    try:
        assert await again.schema_version() == len(MIGRATIONS)
    finally:
        await again.close()


async def test_a_database_from_a_newer_bot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = Database(path)
    await db.open()
    await db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    await db.close()
    newer = Database(path)
    with pytest.raises(DatabaseTooNew):
        await newer.open()
    await newer.close()


async def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.execute("INSERT INTO bot_state (key, value) VALUES ('k', 'v')")
                raise RuntimeError("crash mid-command")
        assert await db.fetch_value("SELECT COUNT(*) FROM bot_state") == 0
    finally:
        await db.close()
