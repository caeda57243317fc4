"""Upkeep: what it deletes, what it never deletes (an id a replay could still need), its
schedule, and that the file gives back the space of what was deleted."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from bot.delivery import Delivery
from bot.matrix.sync import (
    CHECKPOINT_TS_KEY,
    GAP_MARGIN_MS,
    handled_ids_cutoff,
    handled_ids_horizon,
)
from bot.sweeper import Sweeper
from storage import Database, Verification
from storage.migrations import MIGRATIONS
from storage.upkeep import BATCH_ROWS
from tests.handler_support import ALICE, BOB, Harness, open_harness


class _Outbox:
    def wake(self) -> None:
        pass


def sweeper(bot: Harness) -> Sweeper:
    return Sweeper(bot.dispatcher, cast(Delivery, _Outbox()), handled_horizon=handled_ids_horizon)


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


async def handled(bot: Harness, event_id: str, at: datetime) -> None:
    async with bot.db.transaction():
        await bot.store.state.mark_handled(event_id, at)


async def handled_ids(bot: Harness) -> set[str]:
    return {row[0] for row in await bot.db.fetch_all("SELECT event_id FROM handled_events")}


async def set_checkpoint(bot: Harness, moment: datetime) -> None:
    async with bot.db.transaction():
        await bot.store.state.set(CHECKPOINT_TS_KEY, millis(moment))


def test_the_cutoff_lies_before_the_checkpoint_less_the_gap_margin_whatever_the_clock() -> None:
    checkpoint = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    margin = timedelta(milliseconds=GAP_MARGIN_MS)
    day = timedelta(days=1)
    assert handled_ids_cutoff(millis(checkpoint), checkpoint, day) == checkpoint - margin - day
    # The bot was stopped for a month: the checkpoint, not the clock, says what can come again.
    later = checkpoint + timedelta(days=30)
    assert handled_ids_cutoff(millis(checkpoint), later, day) == checkpoint - margin - day
    # A checkpoint ahead of the bot's clock (the homeserver's clock is fast) counts as now.
    earlier = checkpoint - timedelta(days=3)
    assert handled_ids_cutoff(millis(checkpoint), earlier, day) == earlier - margin - day
    # No checkpoint yet, or one that cannot be read: nothing is deleted.
    assert handled_ids_cutoff(None, checkpoint, day) is None
    assert handled_ids_cutoff("not a number", checkpoint, day) is None


async def test_handled_ids_a_replay_could_need_stay_and_older_ones_go(tmp_path: Path) -> None:
    async with open_harness(tmp_path, handled_events_retention_days=1) as bot:
        checkpoint = bot.clock()
        margin = timedelta(milliseconds=GAP_MARGIN_MS)
        await handled(bot, "$long-ago", checkpoint - margin - timedelta(days=1, seconds=1))
        await handled(bot, "$in-the-safety", checkpoint - margin - timedelta(hours=23))
        await handled(bot, "$in-the-gap-margin", checkpoint - margin + timedelta(seconds=1))
        await handled(bot, "$after-the-checkpoint", checkpoint + timedelta(seconds=1))
        await set_checkpoint(bot, checkpoint)
        bot.clock.advance(days=40)  # the bot was down: the checkpoint did not move meanwhile
        result = await sweeper(bot).run_upkeep()
        assert result is not None and result.handled_events == 1
        assert await handled_ids(bot) == {
            "$in-the-safety",
            "$in-the-gap-margin",
            "$after-the-checkpoint",
        }


async def test_without_a_checkpoint_no_handled_id_is_deleted(tmp_path: Path) -> None:
    async with open_harness(tmp_path, handled_events_retention_days=1) as bot:
        await handled(bot, "$ancient", bot.clock() - timedelta(days=400))
        bot.clock.advance(days=400)
        await sweeper(bot).run_upkeep()
        assert await handled_ids(bot) == {"$ancient"}


async def test_many_old_ids_go_in_batches_and_the_new_stay(tmp_path: Path) -> None:
    async with open_harness(tmp_path, handled_events_retention_days=7) as bot:
        old = bot.clock() - timedelta(days=30)
        async with bot.db.transaction():
            for number in range(2 * BATCH_ROWS + 17):
                await bot.store.state.mark_handled(f"$old{number}", old)
            await bot.store.state.mark_handled("$new", bot.clock())
        await set_checkpoint(bot, bot.clock())
        result = await sweeper(bot).run_upkeep()
        assert result is not None and result.handled_events == 2 * BATCH_ROWS + 17
        assert await handled_ids(bot) == {"$new"}


async def test_expired_confirmations_go_and_pending_ones_stay(bot: Harness) -> None:
    async with bot.db.transaction():
        await bot.store.confirmations.request(ALICE, "forget", bot.clock() - timedelta(minutes=1))
        await bot.store.confirmations.request(BOB, "forget", bot.clock() + timedelta(minutes=5))
    result = await sweeper(bot).run_upkeep()
    assert result is not None and result.confirmations == 1
    rows = await bot.db.fetch_all("SELECT user_id FROM confirmations")
    assert [row[0] for row in rows] == [BOB]
    async with bot.db.transaction():
        assert await bot.store.confirmations.take(BOB, "forget", bot.clock())


async def test_verifications_past_their_cache_time_go(bot: Harness) -> None:
    """Past ``identity.cache_minutes`` a verification is never used again (the homeserver is
    asked anew): it is not kept either."""
    minutes = bot.dispatcher.identity.cache_minutes
    async with bot.db.transaction():
        for user_id, age in ((ALICE, minutes + 1), (BOB, minutes - 1)):
            checked = bot.clock() - timedelta(minutes=age)
            await bot.store.verifications.save(
                Verification(
                    user_id=user_id,
                    provider="oidc-itsme",
                    identity="hash",
                    checked_at=checked,
                    account_created_at=None,
                )
            )
    result = await sweeper(bot).run_upkeep()
    assert result is not None and result.verifications == 1
    rows = await bot.db.fetch_all("SELECT user_id FROM verifications")
    assert [row[0] for row in rows] == [BOB]


async def test_upkeep_runs_once_per_interval(tmp_path: Path) -> None:
    async with open_harness(tmp_path, upkeep_interval_minutes=10) as bot:
        sweep = sweeper(bot)
        ran: list[datetime] = []
        for _minute in range(35):
            if await sweep.run_upkeep() is not None:
                ran.append(bot.clock())
            await sweep.sweep()  # the sweeper's own call finds it not due in between
            bot.clock.advance(minutes=1)
        start = ran[0]
        assert ran == [start + timedelta(minutes=minutes) for minutes in (0, 10, 20, 30)]


async def test_the_file_shrinks_once_deleted_rows_are_vacuumed(bot: Harness) -> None:
    path = bot.db.path
    assert await bot.db.fetch_value("PRAGMA auto_vacuum") == 2  # incremental, from the start
    async with bot.db.transaction():
        for number in range(3000):
            item = await bot.store.outbox.enqueue(
                "direct", {"user_id": ALICE, "n": number}, bot.clock()
            )
            await bot.store.outbox.mark_done(item, bot.clock() - timedelta(days=31))
        for number in range(3000):
            await bot.store.state.mark_handled(f"${number:0>200}", bot.clock() - timedelta(days=60))
    await set_checkpoint(bot, bot.clock())
    await bot.db.fetch_all("PRAGMA wal_checkpoint(TRUNCATE)")
    full = path.stat().st_size
    result = await sweeper(bot).run_upkeep()
    assert result is not None
    assert (result.outbox, result.handled_events) == (3000, 3000)
    assert result.pages_freed > 0
    assert await bot.db.fetch_value("PRAGMA freelist_count") == 0
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # truncated after the vacuum
    assert path.stat().st_size < full / 4


async def test_an_older_database_is_converted_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    made_before = sqlite3.connect(path)  # as older versions made it: auto_vacuum off
    made_before.executescript("PRAGMA journal_mode = WAL; CREATE TABLE t (x); DROP TABLE t;")
    made_before.close()
    old = Database(path)
    await old.open(migrate=False)
    try:
        await old.migrate([m for m in MIGRATIONS if m.version < 11])
        await old.execute("INSERT INTO handled_events VALUES ('$kept', '2026-01-01')")
        assert await old.fetch_value("PRAGMA auto_vacuum") == 0
    finally:
        await old.close()
    db = Database(path)
    await db.open()
    try:
        assert await db.fetch_value("PRAGMA auto_vacuum") == 2
        assert await db.fetch_value("SELECT event_id FROM handled_events") == "$kept"
    finally:
        await db.close()


async def test_the_first_sweep_waits_for_the_first_sync(bot: Harness) -> None:
    """The upkeep on a large database must not hold up the start-up's first sync batch."""
    first_sync = asyncio.Event()
    stop = asyncio.Event()
    waiting = Sweeper(
        bot.dispatcher,
        cast(Delivery, _Outbox()),
        ready=first_sync,
        handled_horizon=handled_ids_horizon,
    )
    running = asyncio.create_task(waiting.run(stop))
    await asyncio.sleep(0.2)
    assert waiting._upkeep_at is None  # nothing swept yet
    first_sync.set()
    for _ in range(100):
        if waiting._upkeep_at is not None:
            break
        await asyncio.sleep(0.02)
    assert waiting._upkeep_at is not None  # the first sweep ran its upkeep
    stop.set()
    await asyncio.wait_for(running, 5)
