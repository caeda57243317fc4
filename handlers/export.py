"""The city's open-data export: challenges with their ideas, as JSON or as CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from storage import PollResult, Store

IDEA_FIELDS = (
    "id",
    "title",
    "description",
    "author",
    "status",
    "votes",
    "duplicate_of",
    "created_at",
    "updated_at",
    "support_reached_at",
)


#: The CSV's last column: the idea's count in the challenge's latest poll (empty: not in one).
POLL_COLUMN = "poll_votes"


class UnknownChallenge(LookupError):
    pass


async def export_data(
    store: Store, slug: str | None = None, *, include_authors: bool = False
) -> dict[str, Any]:
    """Call inside a transaction, so that the export is one consistent snapshot.

    Authors' Matrix IDs are personal data: they are left out (``null``) unless asked for.
    Hidden ideas, withdrawn ones (their author took them back) and, in a pre-moderated
    challenge, those no moderator let through are left out; a ``duplicate_of`` that points to
    an idea left out is ``null``. ``poll`` is the result of the challenge's latest poll (counted
    as of now while it runs), among the ideas published; ``null`` when there was none.
    """
    if slug is None:
        challenges = await store.challenges.list(open_only=False)
    else:
        found = await store.challenges.by_slug(slug)
        if found is None:
            raise UnknownChallenge(slug)
        challenges = [found]
    result = []
    for challenge in challenges:
        ideas = await store.ideas.published_in_challenge(challenge.id)
        published = {idea.id for idea in ideas}
        poll = await store.polls.latest_result(challenge.id)
        result.append(
            {
                "slug": challenge.slug,
                "title": challenge.title,
                "description": challenge.description,
                "status": challenge.status.value,
                "room_id": challenge.room_id,
                "deadline": _iso(challenge.submission_deadline_at),
                "voting_deadline": _iso(challenge.voting_deadline_at),
                "tags": list(challenge.tags),
                "partner": challenge.partner,
                "support_threshold": challenge.support_threshold,
                "ideas": [
                    {
                        "id": idea.id,
                        "title": idea.title,
                        "description": idea.description,
                        "author": idea.author if include_authors else None,
                        "status": idea.status.value,
                        "votes": idea.votes,
                        "duplicate_of": (
                            idea.duplicate_of if idea.duplicate_of in published else None
                        ),
                        "created_at": idea.created_at.isoformat(),
                        "updated_at": idea.updated_at.isoformat(),
                        # When it reached the challenge's support threshold (null: it did not).
                        "support_reached_at": _iso(idea.support_reached_at),
                    }
                    for idea in ideas
                ],
                "poll": None if poll is None else _poll(poll, published),
            }
        )
    return {"challenges": result}


def _poll(poll: PollResult, published: set[int]) -> dict[str, Any]:
    return {
        "started_at": poll.started_at.isoformat(),
        "ended_at": _iso(poll.ended_at),
        "voters": poll.voters,
        "answers": [
            {"idea_id": answer.idea_id, "title": answer.title, "count": answer.count}
            for answer in poll.answers
            if answer.idea_id in published
        ],
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def to_csv(data: dict[str, Any]) -> str:
    """One row per idea, with the challenge's slug first and its poll count last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("challenge", *IDEA_FIELDS, POLL_COLUMN))
    for challenge in data["challenges"]:
        poll = challenge["poll"]
        counts = {} if poll is None else {a["idea_id"]: a["count"] for a in poll["answers"]}
        for idea in challenge["ideas"]:
            writer.writerow(
                (
                    challenge["slug"],
                    *(_cell(idea[field]) for field in IDEA_FIELDS),
                    _cell(counts.get(idea["id"])),
                )
            )
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to spreadsheet programs; keep it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()
