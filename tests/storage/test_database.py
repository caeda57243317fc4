"""The database itself: pragmas (it overwrites what it deletes), migrations, refusing a database
newer than the code, and SQL-looking text stored verbatim everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import ChallengeStatus, Database, DatabaseTooNew, Store
from storage.migrations import MIGRATIONS
from tests.handler_support import ALICE, BOB, CAROL, MODERATOR, Harness, submit


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


async def test_a_failed_savepoint_undoes_only_its_own_writes(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        async with db.transaction():
            await db.execute("INSERT INTO bot_state (key, value) VALUES ('before', 'v')")
            with pytest.raises(RuntimeError):
                async with db.savepoint("command"):
                    await db.execute("INSERT INTO bot_state (key, value) VALUES ('inside', 'v')")
                    raise RuntimeError("the command failed")
            await db.execute("INSERT INTO bot_state (key, value) VALUES ('after', 'v')")
        rows = await db.fetch_all("SELECT key FROM bot_state ORDER BY key")
        assert [row[0] for row in rows] == ["after", "before"]
        with pytest.raises(RuntimeError):
            async with db.savepoint():  # outside a transaction there is nothing to nest in
                pass
    finally:
        await db.close()


async def test_a_task_cancelled_at_any_point_leaves_the_connection_clean(tmp_path: Path) -> None:
    """Statements run on the loop and COMMIT in aiosqlite's thread: a task cancelled while it
    waits for the COMMIT must not let the next transaction start before the COMMIT is done."""
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        outcomes: list[bool] = []
        for steps in range(40):

            async def write(key: str = f"k{steps}") -> None:
                async with db.transaction():
                    await db.execute("INSERT INTO bot_state (key, value) VALUES (?, 'v')", (key,))

            task = asyncio.create_task(write())
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            async with db.transaction():  # fails if the cancelled one were still open
                found = await db.fetch_value(
                    "SELECT 1 FROM bot_state WHERE key = ?", (f"k{steps}",)
                )
            outcomes.append(found is not None)
        assert await db.fetch_value("PRAGMA integrity_check") == "ok"
        assert False in outcomes and True in outcomes  # cancelled before, and after, the commit
    finally:
        await db.close()


async def test_a_challenge_read_again_shows_its_changes(tmp_path: Path) -> None:
    """Challenge models are reused while their row is unchanged, and only then."""
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    store = Store(db)
    now = datetime.now(UTC)
    try:
        async with db.transaction():
            made = await store.challenges.create(
                slug="mobility",
                title="Safer bike lanes",
                description="",
                created_by="@m:x",
                now=now,
            )
            first = await store.challenges.get(made.id)
            again = await store.challenges.get(made.id)
            await store.challenges.set_status(made.id, ChallengeStatus.CLOSED, now)
            closed = await store.challenges.get(made.id)
            await store.challenges.set_room(made.id, "!mobility:city.example", now)
            in_room = await store.challenges.by_room("!mobility:city.example")
        assert first is again and first is not None and first.is_open
        assert closed is not None and not closed.is_open
        assert in_room is not None and in_room.room_id == "!mobility:city.example"
        assert not in_room.is_open
    finally:
        await db.close()


async def test_an_export_snapshot_lets_the_bot_write_meanwhile(tmp_path: Path) -> None:
    """The CLI's export reads in a snapshot: the running bot's writes neither wait for it nor
    show up in it. A write transaction in its place would hold the bot up."""
    path = tmp_path / "bot.sqlite3"
    exporter, bot = Database(path), Database(path, busy_timeout_ms=100)
    await exporter.open()
    await bot.open()
    try:
        async with exporter.snapshot():
            before = await exporter.fetch_value("SELECT COUNT(*) FROM bot_state")
            async with bot.transaction():
                await bot.execute("INSERT INTO bot_state (key, value) VALUES ('vote', '1')")
            assert await exporter.fetch_value("SELECT COUNT(*) FROM bot_state") == before
        assert await bot.fetch_value("SELECT value FROM bot_state WHERE key = 'vote'") == "1"

        async with exporter.transaction():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                async with bot.transaction():
                    pass
    finally:
        await bot.close()
        await exporter.close()


async def test_after_a_restore_no_outbox_row_takes_an_id_the_lost_rows_used(
    tmp_path: Path,
) -> None:
    """An outbox row's id is its transaction id on the homeserver, which drops a message
    whose id it has seen: a reply after a restore must not reuse the id of a lost row."""
    path, backup = tmp_path / "bot.sqlite3", tmp_path / "backup.sqlite3"
    db = Database(path)
    await db.open()
    store = Store(db)
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        async with db.transaction():
            kept = [await store.outbox.enqueue("message", {}, morning) for _ in range(3)]
        await db.backup_to(backup)
        async with db.transaction():
            lost = [
                await store.outbox.enqueue("message", {}, morning + timedelta(seconds=1))
                for _ in range(3)
            ]
    finally:
        await db.close()
    assert kept == sorted(kept) and lost == sorted(lost) and kept[-1] < lost[0]
    restored = Database(backup)
    await restored.open()
    try:
        async with restored.transaction():
            later = morning + timedelta(minutes=5)
            after = [await Store(restored).outbox.enqueue("message", {}, later) for _ in range(3)]
    finally:
        await restored.close()
    assert after == sorted(after) and after[0] > lost[-1]


NASTY = "Robert'); DROP TABLE ideas; -- \" OR 1=1; SELECT * FROM votes"


@pytest.mark.usefixtures("a_challenge")
async def test_sql_looking_text_is_stored_verbatim_everywhere(bot: Harness) -> None:
    outcome = await bot.say(MODERATOR, f"!challenge new sql-test {NASTY}\n{NASTY}", moderator=True)
    assert outcome.reply is not None
    challenge = await bot.store.challenges.by_slug("sql-test")
    assert challenge is not None and challenge.title == NASTY and challenge.description == NASTY
    idea = await submit(bot, ALICE, NASTY, description=NASTY)
    stored = await bot.idea(idea)
    assert stored.title == NASTY and stored.description == NASTY
    await bot.say(BOB, f"!report {idea} {NASTY}")
    await bot.say(MODERATOR, f"!hide {idea} {NASTY}", moderator=True)
    await bot.say(MODERATOR, f"!needinfo {idea} {NASTY}", moderator=True)
    await bot.say(ALICE, f"!edit {idea} {NASTY}\n{NASTY}")
    await bot.say(MODERATOR, f"!reject {idea} {NASTY}", moderator=True)
    await bot.say(MODERATOR, f"!block {CAROL} {NASTY}", moderator=True)
    details = {entry.detail for entry in await bot.store.audit.all()}
    assert NASTY in details
    tables = {
        row[0]
        for row in await bot.db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {"ideas", "votes", "challenges", "audit_log", "reports"} <= tables
    assert await bot.db.fetch_value("SELECT reason FROM reports") == NASTY
    assert "DROP TABLE" in await bot.ask(BOB, f"!show {idea}", moderator=True)


@pytest.mark.usefixtures("a_challenge")
async def test_the_database_overwrites_what_it_deletes(bot: Harness) -> None:
    assert await bot.db.fetch_value("PRAGMA secure_delete") == 1
