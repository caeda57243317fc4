"""handlers/policy.py: the rules, as a table; and the storage queries agree with them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers.policy import Action, Person, Phase, listed, phase, published, refusal, seen_by_all
from storage import Challenge, ChallengeStatus, Database, Idea, IdeaStatus, Store

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
ZONE = "Europe/Brussels"
AUTHOR = "@author:city.example"
OTHER = "@other:city.example"


def challenge(
    *,
    status: ChallengeStatus = ChallengeStatus.OPEN,
    submissions: datetime | None = None,
    voting: datetime | None = None,
    premoderated: bool = False,
) -> Challenge:
    return Challenge(
        id=1,
        slug="mobility",
        title="Mobility",
        description="",
        status=status,
        room_id=None,
        submission_deadline_at=submissions,
        voting_deadline_at=voting,
        vote_budget=None,
        premoderated=premoderated,
        created_by="@mod:city.example",
        created_at=NOW,
        updated_at=NOW,
    )


def idea(status: IdeaStatus = IdeaStatus.NEW, *, hidden: bool = False) -> Idea:
    return Idea(
        id=7,
        challenge_id=1,
        challenge_slug="mobility",
        title="Lanes",
        description="",
        author=AUTHOR,
        status=status,
        duplicate_of=None,
        created_at=NOW,
        updated_at=NOW,
        hidden=hidden,
    )


@pytest.mark.parametrize(
    ("status", "submissions", "voting", "expected"),
    [
        (ChallengeStatus.OPEN, None, None, Phase.SUBMISSIONS),
        (ChallengeStatus.OPEN, NOW + HOUR, None, Phase.SUBMISSIONS),
        (ChallengeStatus.OPEN, NOW, None, Phase.CLOSED),  # the deadline's instant is after it
        (ChallengeStatus.OPEN, NOW - HOUR, None, Phase.CLOSED),
        (ChallengeStatus.OPEN, NOW + HOUR, NOW + 2 * HOUR, Phase.SUBMISSIONS),
        (ChallengeStatus.OPEN, NOW - HOUR, NOW + HOUR, Phase.VOTING),
        (ChallengeStatus.OPEN, NOW - 2 * HOUR, NOW, Phase.CLOSED),
        (ChallengeStatus.CLOSED, None, None, Phase.CLOSED),
        (ChallengeStatus.CLOSED, NOW + HOUR, NOW + 2 * HOUR, Phase.CLOSED),
    ],
)
def test_the_phase_of_a_challenge(
    status: ChallengeStatus,
    submissions: datetime | None,
    voting: datetime | None,
    expected: Phase,
) -> None:
    assert phase(challenge(status=status, submissions=submissions, voting=voting), NOW) is expected


OPEN = challenge()
VOTING_ONLY = challenge(submissions=NOW - HOUR, voting=NOW + HOUR)
PAST = challenge(submissions=NOW - HOUR)
PAST_VOTING = challenge(submissions=NOW - 2 * HOUR, voting=NOW - HOUR)
CLOSED = challenge(status=ChallengeStatus.CLOSED)
PREMODERATED = challenge(premoderated=True)

CITIZEN = Person(OTHER)
BLOCKED = Person(OTHER, blocked=True)
MODERATOR = Person("@mod:city.example", is_moderator=True)
THE_AUTHOR = Person(AUTHOR)

#: (action, person, challenge, idea, the refusal's key or None when allowed)
RULES: list[tuple[Action, Person, Challenge, Idea | None, str | None]] = [
    # seeing
    (Action.SEE, CITIZEN, OPEN, idea(), None),
    (Action.SEE, CITIZEN, OPEN, idea(hidden=True), "error.no_such_idea"),
    (Action.SEE, THE_AUTHOR, OPEN, idea(hidden=True), None),
    (Action.SEE, MODERATOR, OPEN, idea(hidden=True), None),
    (Action.SEE, CITIZEN, PREMODERATED, idea(), "error.no_such_idea"),
    (Action.SEE, CITIZEN, PREMODERATED, idea(IdeaStatus.ACCEPTED), None),
    (Action.SEE, THE_AUTHOR, PREMODERATED, idea(), None),
    (Action.SEE, CITIZEN, CLOSED, idea(IdeaStatus.REJECTED), None),  # decisions are public
    # submitting
    (Action.SUBMIT, CITIZEN, OPEN, None, None),
    (Action.SUBMIT, BLOCKED, OPEN, None, "error.blocked"),
    (Action.SUBMIT, MODERATOR, PAST, None, "error.deadline_passed"),
    (Action.SUBMIT, CITIZEN, VOTING_ONLY, None, "error.submissions_closed"),
    (Action.SUBMIT, CITIZEN, PAST_VOTING, None, "error.voting_deadline_passed"),
    (Action.SUBMIT, CITIZEN, CLOSED, None, "error.challenge_closed"),
    # voting
    (Action.VOTE, CITIZEN, OPEN, idea(), None),
    (Action.VOTE, CITIZEN, VOTING_ONLY, idea(), None),
    (Action.VOTE, CITIZEN, PAST, idea(), "error.deadline_passed"),
    (Action.VOTE, CITIZEN, PAST_VOTING, idea(), "error.voting_deadline_passed"),
    (Action.VOTE, CITIZEN, CLOSED, idea(), "error.challenge_closed"),
    (Action.VOTE, BLOCKED, OPEN, idea(), "error.blocked"),
    (Action.VOTE, MODERATOR, OPEN, idea(hidden=True), "vote.hidden"),
    (Action.VOTE, THE_AUTHOR, PREMODERATED, idea(), "vote.hidden"),
    (Action.VOTE, CITIZEN, PREMODERATED, idea(IdeaStatus.ACCEPTED), None),
    (Action.VOTE, CITIZEN, OPEN, idea(IdeaStatus.REJECTED), "vote.not_votable"),
    (Action.VOTE, CITIZEN, OPEN, idea(IdeaStatus.DUPLICATE), "vote.not_votable"),
    (Action.VOTE, CITIZEN, OPEN, idea(IdeaStatus.WITHDRAWN), "vote.not_votable"),
    (Action.VOTE, CITIZEN, OPEN, idea(IdeaStatus.IMPLEMENTED), None),
    # taking a vote back: while votes are taken, whatever else
    (Action.UNVOTE, CITIZEN, OPEN, idea(), None),
    (Action.UNVOTE, BLOCKED, OPEN, idea(), None),
    (Action.UNVOTE, CITIZEN, VOTING_ONLY, idea(), None),
    (Action.UNVOTE, CITIZEN, OPEN, idea(IdeaStatus.REJECTED), None),
    (Action.UNVOTE, CITIZEN, PAST, idea(), "error.deadline_passed"),
    (Action.UNVOTE, CITIZEN, CLOSED, idea(), "error.challenge_closed"),
    (Action.UNVOTE, CITIZEN, OPEN, idea(hidden=True), "error.no_such_idea"),
]


@pytest.mark.parametrize(("action", "person", "where", "what", "expected"), RULES)
def test_the_rules(
    action: Action, person: Person, where: Challenge, what: Idea | None, expected: str | None
) -> None:
    error = refusal(action, person, where, NOW, timezone=ZONE, idea=what)

    assert (None if error is None else error.key) == expected


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        yield Store(db)
    finally:
        await db.close()


async def test_the_queries_of_what_everyone_sees_follow_the_rule(store: Store) -> None:
    """Every status, hidden or not, in a challenge with and without pre-moderation: the SQL
    (lists, counts, the export) picks exactly the ideas the Python rule picks."""
    async with store.db.transaction():
        for premoderated in (False, True):
            created = await store.challenges.create(
                slug=f"c{int(premoderated)}",
                title="C",
                description="",
                created_by="@mod:city.example",
                now=NOW,
                premoderated=premoderated,
            )
            original = None
            for status, hidden in itertools.product(IdeaStatus, (False, True)):
                added = await store.ideas.add(
                    challenge_id=created.id, title="T", description="", author=AUTHOR, now=NOW
                )
                original = original or added.id
                duplicate_of = original if status is IdeaStatus.DUPLICATE else None
                await store.ideas.set_status(added.id, status, NOW, duplicate_of=duplicate_of)
                await store.ideas.set_hidden(added.id, hidden, NOW)
    checked = 0
    async with store.db.snapshot():
        for where in await store.challenges.list(open_only=False):
            ideas = await store.ideas.in_challenge(where.id)
            assert len(ideas) == 2 * len(IdeaStatus)
            shown = await store.ideas.visible_in_challenge(
                where.id, order="new", limit=100, offset=0
            )
            count = await store.ideas.count_visible_in_challenge(where.id)
            exported = await store.ideas.published_in_challenge(where.id)
            titles = await store.ideas.visible_titles(where.id)

            expected_listed = {i.id for i in ideas if listed(i, where)}
            assert {i.id for i in shown} == expected_listed
            assert {row[0] for row in titles} == expected_listed
            assert count == len(expected_listed)
            assert {i.id for i in exported} == {i.id for i in ideas if published(i, where)}
            assert all(published(i, where) <= seen_by_all(i, where) for i in ideas)
            checked += len(ideas)
    assert checked == 2 * 2 * len(IdeaStatus)
