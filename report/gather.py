"""Reading what the report shows: the export's rule for what is public, applied once here."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.policy import published
from report.model import ChallengeView, IdeaRow, ReportData
from storage import PollResult, Store


async def gather(store: Store, *, now: datetime, include_authors: bool = False) -> ReportData:
    """Call inside a transaction (a snapshot), so that every figure is of the same moment.

    Hidden ideas, withdrawn ones and, in a pre-moderated challenge, those no moderator let
    through are left out, as in the open-data export; so are their votes. Authors' Matrix IDs
    only with ``include_authors``.
    """
    views = []
    for challenge in await store.challenges.list(open_only=False):
        ideas = [
            idea
            for idea in await store.ideas.published_in_challenge(challenge.id)
            if published(idea, challenge)
        ]
        shown = {idea.id for idea in ideas}
        rows = tuple(
            IdeaRow(
                id=idea.id,
                title=idea.title,
                description=idea.description,
                status=idea.status,
                votes=idea.votes,
                created_at=idea.created_at,
                duplicate_of=idea.duplicate_of if idea.duplicate_of in shown else None,
                author=idea.author if include_authors else None,
                support_reached_at=idea.support_reached_at,
            )
            for idea in sorted(ideas, key=lambda idea: (-idea.votes, idea.id))
        )
        poll = await store.polls.latest_result(challenge.id)
        views.append(
            ChallengeView(
                challenge=challenge,
                ideas=rows,
                vote_minutes=tuple(await store.ideas.published_votes_per_minute(challenge.id)),
                poll=None if poll is None else public_poll(poll, shown),
            )
        )
    return ReportData(tuple(views), generated_at=now, include_authors=include_authors)


def public_poll(poll: PollResult, published_ids: set[int]) -> PollResult:
    """The poll without answers for ideas that are no longer public (hidden since, say):
    their titles never appear. The number of voters stays what it was."""
    return replace(
        poll,
        answers=tuple(
            answer
            for answer in sorted(poll.answers, key=lambda a: (-a.count, a.idea_id))
            if answer.idea_id in published_ids
        ),
    )
