"""SQLite storage: schema, migrations and repositories. The only package that imports aiosqlite."""

from storage.database import Database, DatabaseTooNew
from storage.models import (
    CLOSED_FOR_VOTES,
    AuditEntry,
    Challenge,
    ChallengeStatus,
    Dialogue,
    Idea,
    IdeaStatus,
    OutboxItem,
)
from storage.repositories import IdeaOrder, Store
from storage.upkeep import Upkeep, UpkeepResult

__all__ = [
    "CLOSED_FOR_VOTES",
    "AuditEntry",
    "Challenge",
    "ChallengeStatus",
    "Database",
    "DatabaseTooNew",
    "Dialogue",
    "Idea",
    "IdeaOrder",
    "IdeaStatus",
    "OutboxItem",
    "Store",
    "Upkeep",
    "UpkeepResult",
]
