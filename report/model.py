"""What the report shows, gathered once from the database: public values only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from storage import Challenge, IdeaStatus, PollResult

#: Up to this many days the activity is shown per day; a longer span, per week.
DAYS_SHOWN_PER_DAY = 62


@dataclass(frozen=True)
class IdeaRow:
    id: int
    title: str
    description: str
    status: IdeaStatus
    votes: int
    created_at: datetime
    #: The published original of a duplicate, or None.
    duplicate_of: int | None = None
    #: The author's Matrix ID, only when the report is asked to include authors.
    author: str | None = None
    #: When the idea reached its challenge's support threshold; None: it did not (yet).
    support_reached_at: datetime | None = None


@dataclass(frozen=True)
class ActivityRow:
    """Ideas submitted and votes cast in one period (a day, or a week from Monday)."""

    start: date
    ideas: int
    votes: int


@dataclass(frozen=True)
class ChallengeView:
    challenge: Challenge
    #: Published ideas, most votes first.
    ideas: tuple[IdeaRow, ...]
    #: Votes on the published ideas, per minute in UTC (see storage).
    vote_minutes: tuple[tuple[datetime, int], ...]
    #: The latest final poll, with only the answers for ideas still public.
    poll: PollResult | None = None

    @property
    def votes(self) -> int:
        return sum(idea.votes for idea in self.ideas)

    def by_status(self) -> list[tuple[IdeaStatus, int]]:
        """(status, ideas) for every status that has ideas, in the statuses' order."""
        counts = Counter(idea.status for idea in self.ideas)
        return [(status, counts[status]) for status in IdeaStatus if counts[status]]

    def activity(self, zone: ZoneInfo) -> tuple[bool, list[ActivityRow]]:
        """(per week?, rows): ideas and votes per day in ``zone`` from the first day with
        either to the last, days without any included; per week when that is a long span."""
        ideas = Counter(idea.created_at.astimezone(zone).date() for idea in self.ideas)
        votes: Counter[date] = Counter()
        for minute, count in self.vote_minutes:
            votes[minute.astimezone(zone).date()] += count
        days = set(ideas) | set(votes)
        if not days:
            return False, []
        first, last = min(days), max(days)
        weekly = (last - first).days >= DAYS_SHOWN_PER_DAY
        if weekly:
            first -= timedelta(days=first.weekday())
        step = timedelta(days=7 if weekly else 1)
        rows = []
        start = first
        while start <= last:
            span = [start + timedelta(days=n) for n in range(step.days)]
            rows.append(
                ActivityRow(start, sum(ideas[d] for d in span), sum(votes[d] for d in span))
            )
            start += step
        return weekly, rows


@dataclass(frozen=True)
class ReportData:
    challenges: tuple[ChallengeView, ...]
    #: When the figures were read: the phases shown are those at this moment.
    generated_at: datetime
    include_authors: bool = False
