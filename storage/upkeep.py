"""Upkeep: bookkeeping that has outlived its use leaves the database, and the file shrinks.

One place for it, run on a schedule by the bot (``bot.sweeper``). What is old enough to go is
the caller's decision (the bot knows how far back a replay can reach); this module only deletes
what it is told, in batches of :data:`BATCH_ROWS` rows, one short transaction each, so that a
command never waits long behind it. Then ``PRAGMA optimize`` refreshes the planner's statistics
where they have gone stale, ``PRAGMA incremental_vacuum`` gives the free pages back to the file
system (the database is made with ``auto_vacuum = INCREMENTAL``, see :mod:`storage.database`),
and the WAL is checkpointed and truncated, so that the files on disk follow what is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.database import Database

log = logging.getLogger(__name__)

#: Rows deleted per transaction: a few milliseconds of holding the connection.
BATCH_ROWS = 1000
#: Free pages returned to the file system per transaction.
VACUUM_PAGES = 1000
#: ``PRAGMA auto_vacuum``'s value for INCREMENTAL.
INCREMENTAL = 2


@dataclass(frozen=True)
class UpkeepResult:
    """How many rows of each kind left, and how many free pages were given back."""

    handled_events: int = 0
    outbox: int = 0
    confirmations: int = 0
    pages_freed: int = 0
    verifications: int = 0

    @property
    def rows(self) -> int:
        return self.handled_events + self.outbox + self.confirmations + self.verifications


class Upkeep:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def run(
        self,
        now: datetime,
        *,
        handled_before: datetime | None,
        outbox_before: datetime,
        verifications_before: datetime | None = None,
    ) -> UpkeepResult:
        """Delete the handled event ids recorded before ``handled_before`` (none when None),
        the outbox rows sent or given up before ``outbox_before`` (never one still to send),
        the confirmations that expired before ``now``, and the verifications checked before
        ``verifications_before`` (past their cache time they are never used again); then
        optimize and vacuum.

        Each batch commits on its own: stopped half-way, what was deleted stays deleted and
        the rest waits for the next run.
        """
        handled = 0
        if handled_before is not None:
            handled = await self._delete_in_batches(
                """DELETE FROM handled_events WHERE event_id IN (
                       SELECT event_id FROM handled_events WHERE handled_at < ? LIMIT ?)""",
                handled_before,
            )
        outbox = await self._delete_in_batches(
            """DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox WHERE done_at IS NOT NULL AND done_at < ? LIMIT ?)""",
            outbox_before,
        )
        confirmations = await self._delete_in_batches(
            """DELETE FROM confirmations WHERE (user_id, action) IN (
                   SELECT user_id, action FROM confirmations WHERE expires_at < ? LIMIT ?)""",
            now,
        )
        verifications = 0
        if verifications_before is not None:
            verifications = await self._delete_in_batches(
                """DELETE FROM verifications WHERE user_id IN (
                       SELECT user_id FROM verifications WHERE checked_at < ? LIMIT ?)""",
                verifications_before.astimezone(UTC),
            )
        async with self._db.transaction():
            await self._db.fetch_all("PRAGMA optimize")
        pages = await self._vacuum()
        result = UpkeepResult(handled, outbox, confirmations, pages, verifications)
        if result.rows or pages:
            log.info(
                "Upkeep: %d handled event ids, %d sent messages, %d expired confirmations and "
                "%d outdated verifications deleted; %d free pages given back",
                handled,
                outbox,
                confirmations,
                verifications,
                pages,
            )
        return result

    async def _delete_in_batches(self, sql: str, before: datetime) -> int:
        deleted = 0
        while True:
            async with self._db.transaction():
                count = await self._db.execute_rowcount(sql, (before.isoformat(), BATCH_ROWS))
            deleted += count
            if count < BATCH_ROWS:
                return deleted

    async def _vacuum(self) -> int:
        """Give the free pages back, a batch per transaction; the last one also truncates the
        WAL, which otherwise keeps the size of its busiest moment."""
        freed = 0
        while True:
            async with self._db.transaction():
                incremental = await self._db.fetch_value("PRAGMA auto_vacuum") == INCREMENTAL
                free = int(await self._db.fetch_value("PRAGMA freelist_count") or 0)
                pages = min(free, VACUUM_PAGES) if incremental else 0
                # Python's sqlite3 steps a statement without result columns once, and each
                # step of incremental_vacuum frees one page: hence one statement per page.
                for _ in range(pages):
                    await self._db.execute("PRAGMA incremental_vacuum(1)")
                last = pages == free or pages == 0
                if last:
                    self._db.checkpoint_after_commit()
            freed += pages
            if last:
                return freed
