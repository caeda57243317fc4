"""The bot's own state: small named values (sync checkpoint, login session, rooms joined),
the events already handled, and encrypted events waiting for their keys."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from storage.database import Database
from storage.timestamps import to_text


class StateRepository:
    """Small named values: the sync checkpoint, the login session, the rooms joined."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        value = await self._db.fetch_value("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        await self._db.execute(
            """INSERT INTO bot_state (key, value) VALUES (?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            (key, value),
        )

    async def delete(self, key: str) -> None:
        await self._db.execute("DELETE FROM bot_state WHERE key = ?", (key,))

    async def instance_secret(self) -> str:
        """A random value of this database's own, made on first use: the outbox's transaction
        ids and the markers of rooms the bot opens are derived from it."""
        value = await self.get("txn_prefix")
        if value is None:
            value = secrets.token_hex(8)
            await self.set("txn_prefix", value)
        return value

    async def is_handled(self, event_id: str) -> bool:
        return (
            await self._db.fetch_value(
                "SELECT 1 FROM handled_events WHERE event_id = ?", (event_id,)
            )
            is not None
        )

    async def mark_handled(self, event_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO handled_events (event_id, handled_at) VALUES (?, ?)",
            (event_id, to_text(now)),
        )


class UndecryptedRepository:
    """Encrypted events the bot could not read yet, kept until their keys arrive."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event_id: str, room_id: str, source: dict[str, Any], now: datetime) -> None:
        await self._db.execute(
            """INSERT OR IGNORE INTO undecrypted_events (event_id, room_id, source, received_at)
               VALUES (?, ?, ?, ?)""",
            (event_id, room_id, json.dumps(source), to_text(now)),
        )

    async def all(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self._db.fetch_all(
            "SELECT event_id, room_id, source FROM undecrypted_events ORDER BY received_at"
        )
        return [(row["event_id"], row["room_id"], json.loads(row["source"])) for row in rows]

    async def remove(self, event_id: str) -> None:
        await self._db.execute("DELETE FROM undecrypted_events WHERE event_id = ?", (event_id,))

    async def drop_older_than(self, moment: datetime) -> int:
        return await self._db.execute_rowcount(
            "DELETE FROM undecrypted_events WHERE received_at < ?", (to_text(moment),)
        )
