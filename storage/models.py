"""Domain records as frozen pydantic models, built from rows by the repositories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class ChallengeStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class IdeaStatus(StrEnum):
    """Where an idea stands in triage; what each status means for who sees it, whether it
    takes votes and whether it is published: storage/visibility.py."""

    NEW = "new"
    NEEDS_INFO = "needs_info"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"
    IMPLEMENTED = "implemented"


class Eligibility(StrEnum):
    """Who may submit and vote in a challenge (the rule: handlers/policy.py)."""

    ANYONE = "anyone"
    #: Accounts on the listed homeservers (``identity.listed_servers``), and verified people.
    LISTED = "listed"
    #: People verified through the city's homeserver (``identity.auth_providers``).
    VERIFIED = "verified"


class Standing(StrEnum):
    """What a vote's account was when it voted: verified, on a listed server, or neither."""

    VERIFIED = "verified"
    LISTED = "listed"
    OTHER = "other"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Challenge(Record):
    id: int
    slug: str
    title: str
    description: str
    status: ChallengeStatus
    room_id: str | None
    #: Instants (aware, UTC): submissions end at the first; voting goes on until the second,
    #: or ends with submissions when there is none. What that means now: handlers/policy.py.
    submission_deadline_at: datetime | None = None
    voting_deadline_at: datetime | None = None
    vote_budget: int | None
    premoderated: bool
    #: Theme tags (stored comma-separated) and the partner organisation ('' for none).
    tags: tuple[str, ...] = ()
    partner: str = ""
    #: Who may take part; None: the programme's default (``identity.default_eligibility``).
    eligibility: Eligibility | None = None
    #: The votes that make the city look at an idea (``--threshold``); None: no threshold.
    support_threshold: int | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(tag for tag in value.split(",") if tag)
        return value

    @property
    def is_open(self) -> bool:
        return self.status is ChallengeStatus.OPEN


class Idea(Record):
    id: int
    challenge_id: int
    challenge_slug: str
    title: str
    description: str
    author: str
    status: IdeaStatus
    duplicate_of: int | None
    created_at: datetime
    updated_at: datetime
    hidden: bool = False
    votes: int = 0
    #: When the idea reached its challenge's support threshold (flagged then, once); None: not.
    support_reached_at: datetime | None = None


class AuditEntry(Record):
    id: int
    actor: str
    action: str
    challenge_id: int | None
    idea_id: int | None
    detail: str
    at: datetime
    subject: str | None = None


class Dialogue(Record):
    """A guided conversation in progress: which ``flow``, at which ``step``, the answers so far."""

    user_id: str
    room_id: str
    flow: str
    step: str
    data: dict[str, Any]
    expires_at: datetime
    updated_at: datetime


class OutboxItem(Record):
    id: int
    kind: str
    room_id: str | None
    payload: dict[str, Any]
    attempts: int


class ScheduleKind(StrEnum):
    """What the bot does by itself around a deadline."""

    REMINDER_SUBMISSION = "reminder_submission"
    CLOSE_SUBMISSION = "close_submission"
    REMINDER_VOTING = "reminder_voting"
    CLOSE_VOTING = "close_voting"

    @property
    def is_reminder(self) -> bool:
        return self in (ScheduleKind.REMINDER_SUBMISSION, ScheduleKind.REMINDER_VOTING)


class Firing(Record):
    """One pending firing of the schedule: at ``deadline_at`` (a reminder: some hours before)."""

    challenge_id: int
    kind: ScheduleKind
    deadline_at: datetime


class Poll(Record):
    """A final poll among a challenge's ideas, in its room (MSC3381)."""

    id: int
    challenge_id: int
    room_id: str
    started_by: str
    started_at: datetime
    #: The start event, once sent: responses reference it.
    start_event_id: str | None
    #: When it ended (responses sent after it do not count); None while it runs.
    ended_at: datetime | None

    @property
    def running(self) -> bool:
        return self.ended_at is None


class PollAnswer(Record):
    """One answer of a poll as it was asked: the answer's id in the poll events, its idea."""

    answer_id: str
    idea_id: int
    title: str


@dataclass(frozen=True)
class PollAnswerCount:
    idea_id: int
    title: str
    count: int


@dataclass(frozen=True)
class PollResult:
    """A poll's outcome: frozen at its end, or counted as of now while it runs. ``voters`` is
    how many people's answers count (one each); ``answers`` in the order they were asked."""

    challenge_id: int
    started_at: datetime
    ended_at: datetime | None
    voters: int
    answers: tuple[PollAnswerCount, ...]


class Link(Record):
    """Two accounts of one person: a Discord ``account`` linked to a Matrix account, with the
    key their votes, poll answers and reports share (the Matrix account's verified identity
    when they were linked, else :func:`handlers.accounts.person_key`)."""

    account: str
    matrix_account: str
    person_key: str
    linked_at: datetime


class Verification(Record):
    """What the city's homeserver said of a person when last asked: verified by ``provider``
    (None: not verified), the keyed hash of that identity, and when the account was made."""

    user_id: str
    provider: str | None
    identity: str | None
    checked_at: datetime
    account_created_at: datetime | None


class Frequency(StrEnum):
    """How often a person hears of what they follow (``!notifications``)."""

    DIRECT = "direct"
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


#: What everyone hears until they choose.
DEFAULT_FREQUENCY = Frequency.DAILY


class NoticeKind(StrEnum):
    """What a follower is told of."""

    NEW_IDEA = "new_idea"  # a new idea in a followed challenge
    STATUS = "status"  # a followed idea's status changed (``status``, ``original_id``)
    VOTE_MOVED = "vote_moved"  # the idea was merged into ``original_id``: the vote went there
    VOTE_ONCE = "vote_once"  # ... and the person had voted for both: it counts once
    SUBMISSIONS_CLOSED = "submissions_closed"  # a followed challenge: voting only, now
    CLOSED = "closed"  # a followed challenge closed
    POLL_STARTED = "poll_started"  # a followed challenge's final poll began
    POLL_ENDED = "poll_ended"  # ... and ended
    POLL_PLACE = "poll_place"  # a followed idea's ``place`` in the final poll's result
    SUPPORT_REACHED = "support_reached"  # a followed idea reached its challenge's threshold


class Notice(Record):
    """One thing to tell one person (now, or in their next digest)."""

    user_id: str
    challenge_id: int
    kind: NoticeKind
    idea_id: int | None = None
    original_id: int | None = None
    status: IdeaStatus | None = None
    place: int | None = None
    id: int | None = None  # once kept for a digest
