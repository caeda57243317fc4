"""SQLite storage: schema, migrations and repositories. The only package that imports aiosqlite."""

from storage.database import (
    LATEST_VERSION,
    Database,
    DatabaseMissing,
    DatabaseTooNew,
    DatabaseTooOld,
    SchemaMismatch,
)
from storage.idea_records import IdeaOrder
from storage.models import (
    AuditEntry,
    Challenge,
    ChallengeStatus,
    Dialogue,
    Eligibility,
    Firing,
    Idea,
    IdeaStatus,
    Link,
    OutboxItem,
    Poll,
    PollAnswer,
    PollAnswerCount,
    PollResult,
    ScheduleKind,
    Standing,
    Verification,
)
from storage.store import Store
from storage.upkeep import Upkeep, UpkeepResult
from storage.visibility import CLOSED_FOR_VOTES, LET_THROUGH, NOT_PUBLISHED

__all__ = [
    "CLOSED_FOR_VOTES",
    "LATEST_VERSION",
    "LET_THROUGH",
    "NOT_PUBLISHED",
    "AuditEntry",
    "Challenge",
    "ChallengeStatus",
    "Database",
    "DatabaseMissing",
    "DatabaseTooNew",
    "DatabaseTooOld",
    "Dialogue",
    "Eligibility",
    "Firing",
    "Idea",
    "IdeaOrder",
    "IdeaStatus",
    "Link",
    "OutboxItem",
    "Poll",
    "PollAnswer",
    "PollAnswerCount",
    "PollResult",
    "ScheduleKind",
    "SchemaMismatch",
    "Standing",
    "Store",
    "Upkeep",
    "UpkeepResult",
    "Verification",
]
