"""The audit log: who did what to which challenge, idea or person, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from storage.database import Database
from storage.models import AuditEntry
from storage.timestamps import to_text


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        action: str,
        now: datetime,
        challenge_id: int | None = None,
        idea_id: int | None = None,
        detail: str = "",
        subject: str | None = None,
    ) -> None:
        await self._db.execute(
            """INSERT INTO audit_log (actor, action, challenge_id, idea_id, detail, at, subject)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (actor, action, challenge_id, idea_id, detail, to_text(now), subject),
        )

    async def for_idea(self, idea_id: int) -> list[AuditEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM audit_log WHERE idea_id = ? ORDER BY id", (idea_id,)
        )
        return [AuditEntry.model_validate(dict(row)) for row in rows]

    async def all(self) -> list[AuditEntry]:
        rows = await self._db.fetch_all("SELECT * FROM audit_log ORDER BY id")
        return [AuditEntry.model_validate(dict(row)) for row in rows]

    async def recent(
        self, *, idea_id: int | None = None, actor: str | None = None, limit: int = 20
    ) -> list[AuditEntry]:
        """The latest entries, newest first; optionally of one idea or one person."""
        where, params = "", cast(tuple[Any, ...], ())
        if idea_id is not None:
            where, params = " WHERE idea_id = ?", (idea_id,)
        elif actor is not None:
            where, params = " WHERE actor = ? OR subject = ?", (actor, actor)
        rows = await self._db.fetch_all(
            f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [AuditEntry.model_validate(dict(row)) for row in rows]
