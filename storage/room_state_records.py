"""What the bot keeps of the rooms it is in, and of the invites it has yet to accept.

A restart syncs from the saved position without asking the homeserver for every room's state
again (that grows with every participant): the rooms are rebuilt from these rows, and each sync
keeps them current. Invites are kept because an incremental sync shows each one only once.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from storage.database import Database
from storage.timestamps import to_text


class RoomStateRecord(BaseModel):
    """A room's state as far as the bot reads it."""

    model_config = ConfigDict(frozen=True)

    room_id: str
    encrypted: bool
    join_rule: str
    history_visibility: str
    name: str | None = None


class PendingInvite(BaseModel):
    """An invite seen and not yet accepted or refused."""

    model_config = ConfigDict(frozen=True)

    room_id: str
    inviter: str | None
    is_direct: bool


class RoomStateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[RoomStateRecord]:
        rows = await self._db.fetch_all(
            "SELECT room_id, encrypted, join_rule, history_visibility, name FROM room_state"
        )
        # The bot's own rows, read back at every start (thousands of them at city scale): not
        # validated again, which would cost about 15 µs a row.
        return [
            RoomStateRecord.model_construct(
                room_id=row["room_id"],
                encrypted=bool(row["encrypted"]),
                join_rule=row["join_rule"],
                history_visibility=row["history_visibility"],
                name=row["name"],
            )
            for row in rows
        ]

    async def save(self, record: RoomStateRecord) -> None:
        await self._db.execute(
            """INSERT INTO room_state (room_id, encrypted, join_rule, history_visibility, name)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (room_id) DO UPDATE SET
                   encrypted = excluded.encrypted,
                   join_rule = excluded.join_rule,
                   history_visibility = excluded.history_visibility,
                   name = excluded.name""",
            (
                record.room_id,
                int(record.encrypted),
                record.join_rule,
                record.history_visibility,
                record.name,
            ),
        )

    async def forget(self, room_id: str) -> None:
        await self._db.execute("DELETE FROM room_state WHERE room_id = ?", (room_id,))


class InviteRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, invite: PendingInvite, now: datetime) -> None:
        """Keep an invite; one already kept keeps its place in the queue."""
        await self._db.execute(
            """INSERT OR IGNORE INTO pending_invites (room_id, inviter, is_direct, seen_at)
               VALUES (?, ?, ?, ?)""",
            (invite.room_id, invite.inviter, int(invite.is_direct), to_text(now)),
        )

    async def pending(self) -> list[PendingInvite]:
        """Every kept invite, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT room_id, inviter, is_direct FROM pending_invites ORDER BY seen_at, rowid"
        )
        return [
            PendingInvite(
                room_id=row["room_id"], inviter=row["inviter"], is_direct=bool(row["is_direct"])
            )
            for row in rows
        ]

    async def remove(self, room_id: str) -> None:
        await self._db.execute("DELETE FROM pending_invites WHERE room_id = ?", (room_id,))
