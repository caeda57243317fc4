"""The outbox: what the bot is to do on the homeserver (messages, invites, redactions,
rooms), kept in the database until it is done, so that a restart loses none of it; rows of one
lane go out in order."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from storage.database import Database, Row
from storage.models import OutboxItem
from storage.timestamps import to_micros, to_text


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        room_id: str | None = None,
        lane: str | None = None,
    ) -> int:
        """Queue a row. Rows of one ``lane`` (by default their room) go out in order; lanes
        don't wait for each other.

        A new row's id is greater than any before it and, going by the clock, than any a
        restored backup has forgotten. A row's id is in its Matrix transaction id
        (bot.delivery), and the homeserver drops a message whose transaction id it has seen,
        in the same room. An id taken as the next one after the highest would, after a
        restore, be one the lost rows already used: the reply to a command after the restore
        would be taken for a duplicate and never arrive. So an id is at least the time in
        microseconds (max(id) is the last entry of the table's b-tree: no scan).
        """
        return await self._db.execute(
            """INSERT INTO outbox (id, kind, room_id, payload, created_at, lane)
               VALUES (max(coalesce((SELECT max(id) FROM outbox), 0) + 1, ?), ?, ?, ?, ?, ?)""",
            (
                to_micros(now),
                kind,
                room_id,
                json.dumps(payload, ensure_ascii=False),
                to_text(now),
                lane or room_id or kind,
            ),
        )

    async def pending(self, limit: int = 50) -> list[OutboxItem]:
        rows = await self._db.fetch_all(
            """SELECT id, kind, room_id, payload, attempts FROM outbox
                WHERE done_at IS NULL ORDER BY id LIMIT ?""",
            (limit,),
        )
        return [_outbox_item(row) for row in rows]

    async def waiting_lanes(self, limit: int) -> list[WaitingLane]:
        """The lanes with rows to send, the one waiting longest first, each with its next row
        and whether that row answers someone's command."""
        rows = await self._db.fetch_all(
            # A reply names the command it answers (``reply_to``); rows queued by earlier
            # versions hold Matrix content that does.
            """SELECT o.lane, o.id,
                      json_extract(o.payload, '$.reply_to') IS NOT NULL
                      OR json_extract(o.payload, '$.content."m.relates_to"."m.in_reply_to"')
                          IS NOT NULL AS answers
                 FROM (SELECT MIN(id) AS head FROM outbox WHERE done_at IS NULL
                        GROUP BY lane ORDER BY head LIMIT ?) h
                 JOIN outbox o ON o.id = h.head
                ORDER BY o.id""",
            (limit,),
        )
        return [WaitingLane(str(row["lane"]), int(row["id"]), bool(row["answers"])) for row in rows]

    async def next_in_lane(self, lane: str, limit: int = 1) -> list[OutboxItem]:
        rows = await self._db.fetch_all(
            """SELECT id, kind, room_id, payload, attempts FROM outbox
                WHERE done_at IS NULL AND lane = ? ORDER BY id LIMIT ?""",
            (lane, limit),
        )
        return [_outbox_item(row) for row in rows]

    async def count_pending(self) -> int:
        return int(await self._db.fetch_value("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL"))

    async def pending_summary(self) -> PendingSummary:
        """How many rows wait to be sent, and when the oldest of them was queued."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS count, MIN(created_at) AS oldest FROM outbox WHERE done_at IS NULL"
        )
        if row is None or row["oldest"] is None:
            return PendingSummary(0, None)
        return PendingSummary(int(row["count"]), datetime.fromisoformat(str(row["oldest"])))

    async def mark_attempt(self, item_id: int) -> None:
        await self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    async def mark_done(self, item_id: int, now: datetime, *, failed: str | None = None) -> None:
        """Sent, or refused for good. The content is dropped: a sent message is on the
        homeserver, and a resend's transaction id comes from the row's id, not its payload."""
        await self._db.execute(
            "UPDATE outbox SET done_at = ?, failed = ?, payload = '{}', lane = NULL WHERE id = ?",
            (to_text(now), failed, item_id),
        )

    async def prune_done(self, before: datetime) -> int:
        """Forget the rows sent (or failed) before ``before``; returns how many."""
        return await self._db.execute_rowcount(
            "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?", (to_text(before),)
        )


class WaitingLane(NamedTuple):
    lane: str
    head: int  # its next row
    answers: bool  # that row is a reply to someone's command


def _outbox_item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        kind=row["kind"],
        room_id=row["room_id"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
    )


class PendingSummary(NamedTuple):
    """The outbox's rows still to send: how many, and the oldest one's ``created_at``."""

    waiting: int
    oldest: datetime | None
