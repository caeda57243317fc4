"""handlers/policy.py: the rules, as a table; and the storage queries agree with them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.policy import (
    Action,
    Identity,
    Participation,
    Person,
    Phase,
    listed,
    phase,
    published,
    refusal,
    seen_by_all,
    server_of,
)
from handlers.reply import Code
from storage import (
    Challenge,
    ChallengeStatus,
    Eligibility,
    Idea,
    IdeaStatus,
    Standing,
    Store,
    Verification,
)

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


# -- who may take part: the eligibility of a challenge and what is known of the person --------

CITY = "gent.be"
PARTICIPATION = Participation(default=Eligibility.ANYONE, servers=(CITY, "ugent.be"), home=CITY)


def verified(provider: str | None = "oidc-itsme", identity: str | None = "hash") -> Verification:
    return Verification(
        user_id=f"@jana:{CITY}",
        provider=provider,
        identity=identity,
        checked_at=NOW,
        account_created_at=NOW - 100 * HOUR,
    )


def open_to(eligibility: Eligibility | None) -> Challenge:
    return challenge().model_copy(update={"eligibility": eligibility})


VERIFIED = Identity(listed=True, verification=verified())
LISTED_ONLY = Identity(listed=True, verification=verified(provider=None, identity=None))
#: Verified, but on an unlisted server (a link elsewhere, say): verification is what counts.
VERIFIED_ELSEWHERE = Identity(listed=False, verification=verified())
STRANGER = Identity()
UNKNOWN_NOW = Identity(listed=True, unavailable=True)
UNKNOWN_STRANGER = Identity(listed=False, unavailable=True)

#: (eligibility of the challenge, None: the default; identity; refusal key or None)
ELIGIBILITY: list[tuple[Eligibility | None, Identity, str | None]] = [
    (None, STRANGER, None),  # the programme's default: anyone
    (Eligibility.ANYONE, STRANGER, None),
    (Eligibility.ANYONE, UNKNOWN_STRANGER, None),  # nothing to check: no need to wait
    (Eligibility.LISTED, VERIFIED, None),
    (Eligibility.LISTED, LISTED_ONLY, None),
    (Eligibility.LISTED, VERIFIED_ELSEWHERE, None),
    (Eligibility.LISTED, UNKNOWN_NOW, None),  # on a listed server: no verification needed
    (Eligibility.LISTED, STRANGER, "identity.not_listed"),
    (Eligibility.LISTED, UNKNOWN_STRANGER, "identity.unavailable"),
    (Eligibility.VERIFIED, VERIFIED, None),
    (Eligibility.VERIFIED, VERIFIED_ELSEWHERE, None),
    (Eligibility.VERIFIED, LISTED_ONLY, "identity.not_verified"),
    (Eligibility.VERIFIED, STRANGER, "identity.not_verified"),
    (Eligibility.VERIFIED, UNKNOWN_NOW, "identity.unavailable"),  # never a guess
]


@pytest.mark.parametrize("action", [Action.SUBMIT, Action.VOTE])
@pytest.mark.parametrize(("eligibility", "identity", "expected"), ELIGIBILITY)
def test_who_may_take_part(
    action: Action, eligibility: Eligibility | None, identity: Identity, expected: str | None
) -> None:
    who = Person(OTHER, identity=identity)
    what = idea() if action is Action.VOTE else None
    error = refusal(
        action, who, open_to(eligibility), NOW, timezone=ZONE, idea=what,
        participation=PARTICIPATION,
    )  # fmt: skip

    assert (None if error is None else error.key) == expected


@pytest.mark.parametrize(("eligibility", "identity", "_expected"), ELIGIBILITY)
def test_seeing_and_taking_a_vote_back_stay_open_to_all(
    eligibility: Eligibility | None, identity: Identity, _expected: str | None
) -> None:
    who = Person(OTHER, identity=identity)
    where = open_to(eligibility)
    for action in (Action.SEE, Action.UNVOTE):
        assert (
            refusal(
                action, who, where, NOW, timezone=ZONE, idea=idea(), participation=PARTICIPATION
            )
            is None
        )


def test_a_closed_challenge_says_it_is_closed_before_who_may_take_part() -> None:
    where = challenge(status=ChallengeStatus.CLOSED).model_copy(
        update={"eligibility": Eligibility.VERIFIED}
    )
    error = refusal(Action.VOTE, CITIZEN, where, NOW, timezone=ZONE, idea=idea(),
                    participation=PARTICIPATION)  # fmt: skip

    assert error is not None and error.key == "error.challenge_closed"


def test_the_programme_default_applies_where_a_challenge_says_nothing() -> None:
    strict = Participation(default=Eligibility.VERIFIED, servers=(CITY,), home=CITY)

    assert strict.of(open_to(None)) is Eligibility.VERIFIED
    assert strict.of(open_to(Eligibility.ANYONE)) is Eligibility.ANYONE
    error = refusal(Action.VOTE, CITIZEN, open_to(None), NOW, timezone=ZONE, idea=idea(),
                    participation=strict)  # fmt: skip
    assert error is not None and error.key == "identity.not_verified"
    assert error.params["server"] == Code(CITY)


@given(
    local=st.from_regex(r"[a-z0-9._=-]{1,20}", fullmatch=True),
    server=st.from_regex(r"[a-z0-9.-]{1,30}(:[0-9]{1,5})?", fullmatch=True),
    listed_servers=st.lists(st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True), max_size=4),
)
def test_an_account_is_listed_exactly_when_its_server_is(
    local: str, server: str, listed_servers: list[str]
) -> None:
    rules = Participation(servers=tuple(listed_servers))

    assert server_of(f"@{local}:{server}") == server
    assert rules.is_listed(f"@{local}:{server}") == (server in listed_servers)


@given(
    provider=st.one_of(st.none(), st.sampled_from(["oidc-itsme", "oidc-eid"])),
    listed_server=st.booleans(),
    unavailable=st.booleans(),
    eligibility=st.sampled_from(list(Eligibility)),
)
def test_only_a_verified_identity_counts_as_verified(
    provider: str | None, listed_server: bool, unavailable: bool, eligibility: Eligibility
) -> None:
    found = None if unavailable else verified(provider, None if provider is None else "h")
    identity = Identity(listed=listed_server, verification=found, unavailable=unavailable)
    error = refusal(
        Action.VOTE, Person(OTHER, identity=identity), open_to(eligibility), NOW,
        timezone=ZONE, idea=idea(), participation=PARTICIPATION,
    )  # fmt: skip

    is_verified = provider is not None and not unavailable
    assert (identity.standing is Standing.VERIFIED) == is_verified
    assert (identity.key is not None) == is_verified
    if eligibility is Eligibility.VERIFIED:
        assert (error is None) == is_verified
    if eligibility is Eligibility.ANYONE:
        assert error is None
