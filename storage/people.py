"""What the bot keeps per person: language and direct chat, blocks, pending confirmations,
the homeserver's verification answers, and guided dialogues in progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from storage.database import Database, Row
from storage.models import Dialogue, Verification
from storage.timestamps import to_text, to_utc_text_or_none


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def language(self, user_id: str) -> str | None:
        value = await self._db.fetch_value(
            "SELECT language FROM users WHERE user_id = ?", (user_id,)
        )
        return None if value is None else str(value)

    async def set_language(self, user_id: str, language: str) -> None:
        await self._db.execute(
            """INSERT INTO users (user_id, language) VALUES (?, ?)
               ON CONFLICT (user_id) DO UPDATE SET language = excluded.language""",
            (user_id, language),
        )

    async def direct_room(self, user_id: str) -> str | None:
        value = await self._db.fetch_value(
            "SELECT room_id FROM direct_rooms WHERE user_id = ?", (user_id,)
        )
        return None if value is None else str(value)

    async def all_direct_rooms(self) -> list[tuple[str, str]]:
        """Every recorded direct chat, as ``(user_id, room_id)``: whose it is, and where."""
        rows = await self._db.fetch_all("SELECT user_id, room_id FROM direct_rooms")
        return [(str(row["user_id"]), str(row["room_id"])) for row in rows]

    async def forget_direct_room(self, user_id: str, room_id: str) -> None:
        """The record of the person's direct chat, if it is still that room."""
        await self._db.execute(
            "DELETE FROM direct_rooms WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )

    async def set_direct_room(self, user_id: str, room_id: str) -> None:
        await self._db.execute(
            """INSERT INTO direct_rooms (user_id, room_id) VALUES (?, ?)
               ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id""",
            (user_id, room_id),
        )


class BlockRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def block(self, user_id: str, *, by: str, reason: str, now: datetime) -> bool:
        changed = await self._db.execute_rowcount(
            """INSERT OR IGNORE INTO blocked_users (user_id, blocked_by, reason, at)
               VALUES (?, ?, ?, ?)""",
            (user_id, by, reason, to_text(now)),
        )
        return changed == 1

    async def unblock(self, user_id: str) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM blocked_users WHERE user_id = ?", (user_id,)
        )
        return changed == 1

    async def is_blocked(self, user_id: str) -> bool:
        value = await self._db.fetch_value(
            "SELECT 1 FROM blocked_users WHERE user_id = ?", (user_id,)
        )
        return value is not None


class ConfirmationRepository:
    """Destructive requests that wait for the person to say yes, with an expiry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def request(self, user_id: str, action: str, expires_at: datetime) -> None:
        await self._db.execute(
            """INSERT INTO confirmations (user_id, action, expires_at) VALUES (?, ?, ?)
               ON CONFLICT (user_id, action) DO UPDATE SET expires_at = excluded.expires_at""",
            (user_id, action, to_text(expires_at)),
        )

    async def take(self, user_id: str, action: str, now: datetime) -> bool:
        """True once if a request is pending and not expired; it is used up either way."""
        value = await self._db.fetch_value(
            "SELECT expires_at FROM confirmations WHERE user_id = ? AND action = ?",
            (user_id, action),
        )
        if value is None:
            return False
        await self._db.execute(
            "DELETE FROM confirmations WHERE user_id = ? AND action = ?", (user_id, action)
        )
        return datetime.fromisoformat(str(value)) >= now


class VerificationRepository:
    """The city's homeserver's last answer about each person asked: a cache, re-checked after
    ``identity.cache_minutes``. Never the external id, only its keyed hash."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> Verification | None:
        row = await self._db.fetch_one("SELECT * FROM verifications WHERE user_id = ?", (user_id,))
        return None if row is None else Verification.model_validate(dict(row))

    async def save(self, verification: Verification) -> None:
        await self._db.execute(
            """INSERT INTO verifications (user_id, provider, identity, checked_at,
                                          account_created_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET provider = excluded.provider,
                      identity = excluded.identity, checked_at = excluded.checked_at,
                      account_created_at = excluded.account_created_at""",
            (
                verification.user_id,
                verification.provider,
                verification.identity,
                to_text(verification.checked_at.astimezone(UTC)),
                to_utc_text_or_none(verification.account_created_at),
            ),
        )


class DialogueRepository:
    """Guided conversations in progress, one per person and room, kept across restarts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str, room_id: str) -> Dialogue | None:
        """The person's dialogue in the room, expired or not (the caller compares the time)."""
        row = await self._db.fetch_one(
            "SELECT * FROM dialogues WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return None if row is None else _dialogue(row)

    async def save(
        self,
        *,
        user_id: str,
        room_id: str,
        flow: str,
        step: str,
        data: dict[str, Any],
        expires_at: datetime,
        now: datetime,
    ) -> Dialogue:
        """Start the dialogue, or move it on: it replaces what was kept for this person and room."""
        dialogue = Dialogue(
            user_id=user_id,
            room_id=room_id,
            flow=flow,
            step=step,
            data=data,
            expires_at=expires_at,
            updated_at=now,
        )
        await self._db.execute(
            """INSERT INTO dialogues (user_id, room_id, flow, step, data, expires_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (user_id, room_id) DO UPDATE SET
                   flow = excluded.flow, step = excluded.step, data = excluded.data,
                   expires_at = excluded.expires_at, updated_at = excluded.updated_at""",
            (
                user_id,
                room_id,
                flow,
                step,
                json.dumps(data, ensure_ascii=False),
                to_text(expires_at),
                to_text(now),
            ),
        )
        return dialogue

    async def delete(self, user_id: str, room_id: str) -> bool:
        """End the dialogue; False when there was none."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM dialogues WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return changed == 1

    async def expired(self, now: datetime) -> list[Dialogue]:
        """Dialogues whose time ran out at or before ``now``, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM dialogues WHERE expires_at <= ? ORDER BY expires_at, user_id, room_id",
            (to_text(now),),
        )
        return [_dialogue(row) for row in rows]


def _dialogue(row: Row) -> Dialogue:
    return Dialogue.model_validate(dict(row) | {"data": json.loads(row["data"])})
