"""One person, one vote, without a homeserver: linked accounts and their budget, bursts of new
accounts, eligibility at !challenge new/edit, what moderators see, the personal data; and the
bot's lookup of identities (bot/matrix/identity_lookup.py) against a fake admin API, outages included."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp import ClientConnectionError
from pydantic import SecretStr

from bot.matrix.identity_lookup import IdentityChecker
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import Announce, CardChanged, Outcome, SendDirect, SendRoom
from handlers.programme import fire_due
from handlers.settings import IdentitySettings
from storage import Database, Eligibility, Standing, Store, Verification
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    direct_room,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)

CITY = "city.example"
ITSME, EID = "oidc-itsme", "oidc-eid"
TOKEN = "syt_the_admin_token_of_the_city"
SETTINGS = IdentitySettings(
    admin_token=SecretStr(TOKEN),
    auth_providers=(ITSME, EID),
    burst_votes=3,
    burst_minutes=60,
    new_account_minutes=60,
)


def verification(
    user_id: str,
    identity: str | None,
    *,
    created: datetime | None = None,
    provider: str | None = ITSME,
) -> Verification:
    return Verification(
        user_id=user_id,
        provider=provider if identity is not None else None,
        identity=identity,
        checked_at=datetime(2026, 3, 2, tzinfo=UTC),
        account_created_at=created,
    )


@dataclass
class City:
    bot: Harness
    #: What the city's homeserver says of each person (as bot/ would pass it in).
    known: dict[str, Verification] = field(default_factory=dict)

    async def say(self, user_id: str, body: str, *, moderator: bool = False) -> Outcome:
        sender = Sender(
            user_id=user_id,
            room_id=direct_room(user_id),
            is_direct=True,
            is_moderator=moderator,
            verification=self.known.get(user_id),
        )
        async with self.bot.store.db.transaction():
            outcome = await self.bot.dispatcher.handle_message(sender, body)
        assert outcome is not None
        return outcome

    async def ask(self, user_id: str, body: str, *, moderator: bool = False) -> str:
        return text((await self.say(user_id, body, moderator=moderator)).reply)


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    async with open_harness(tmp_path) as bot:
        bot.dispatcher = Dispatcher(
            bot.dispatcher.registry,
            bot.store,
            bot.dispatcher.catalogue,
            bot.settings,
            clock=bot.clock,
            identity=SETTINGS,
            server_name=CITY,
        )
        yield City(bot)


async def test_linked_accounts_vote_once_per_idea_and_share_one_budget(city: City) -> None:
    await new_challenge(city.bot, options="--budget=1")
    first = await submit(city.bot, CAROL, "Bike lanes")
    second = await submit(city.bot, CAROL, "Bike parking")
    # Alice and her second account Bob: the same person for the city's homeserver.
    city.known = {ALICE: verification(ALICE, "jana"), BOB: verification(BOB, "jana")}

    assert "geteld" in await city.ask(ALICE, f"!vote {first}")
    assert await city.ask(BOB, f"!vote {first}") == says(
        "nl", "identity.linked_vote", id=f"#{first}"
    )
    assert await city.ask(BOB, f"!vote {second}") == says(
        "nl", "vote.budget_spent", count=1, slug="mobility"
    )
    assert (await city.bot.idea(first)).votes == 1
    assert (await city.bot.idea(second)).votes == 0

    # Taken back by the account that cast it, the vote is free for the person again.
    await city.ask(ALICE, f"!unvote {first}")
    assert "geteld" in await city.ask(BOB, f"!vote {second}")
    async with city.bot.db.snapshot():
        standing = await city.bot.store.votes.by_standing(idea_id=second)
    assert standing[Standing.VERIFIED] == 1


async def test_a_merge_keeps_one_vote_per_identity(city: City) -> None:
    await new_challenge(city.bot)
    original = await submit(city.bot, CAROL, "Bike lanes")
    duplicate = await submit(city.bot, CAROL, "More bike lanes")
    city.known = {ALICE: verification(ALICE, "jana"), BOB: verification(BOB, "jana")}
    await city.ask(ALICE, f"!vote {original}")
    await city.ask(BOB, f"!vote {duplicate}")  # before anyone linked the two ideas

    await city.ask(MODERATOR, f"!duplicate {duplicate} {original}", moderator=True)

    assert (await city.bot.idea(original)).votes == 1


async def test_a_burst_of_votes_from_new_accounts_is_flagged_once(city: City) -> None:
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    young = city.bot.clock.now - timedelta(minutes=10)
    voters = [f"@new{n}:{CITY}" for n in range(8)]
    city.known = {v: verification(v, None, created=young) for v in voters}
    city.known[ALICE] = verification(ALICE, None, created=young - timedelta(days=300))

    flags = []
    for voter in [*voters[:2], ALICE, *voters[2:4]]:  # an old account in between counts not
        outcome = await city.say(voter, f"!vote {idea}")
        flags.append(len(effects_of(outcome, Announce)))
    assert flags == [0, 0, 0, 1, 0]  # the third new account's vote; the burst, flagged once
    (flag,) = effects_of(await city.say(voters[0], f"!vote {idea}"), Announce) or [None]
    assert flag is None  # a repeated vote adds nothing

    # An hour later, a new burst is flagged again.
    city.bot.clock.advance(minutes=61)
    for voter in voters[4:8]:
        city.known[voter] = verification(voter, None, created=city.bot.clock.now)
    outcomes = [await city.say(voter, f"!vote {idea}") for voter in voters[4:7]]
    announced = [effects_of(outcome, Announce) for outcome in outcomes]
    assert [len(found) for found in announced] == [0, 0, 1]
    assert "3 stemmen in 60 minuten" in text(announced[2][0].reply)


async def test_eligibility_is_set_at_new_and_edit_and_shown(city: City) -> None:
    created = await city.ask(
        MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True
    )
    assert "parks" in created
    async with city.bot.db.snapshot():
        parks = await city.bot.store.challenges.by_slug("parks")
    assert parks is not None and parks.eligibility is Eligibility.VERIFIED
    shown = await city.ask(ALICE, "!challenge parks")
    assert says("nl", "identity.open_to_verified", server=CITY) in shown

    async with city.bot.db.transaction():
        await city.bot.store.challenges.set_room(
            parks.id, "!parks:city.example", city.bot.clock()
        )
    edit = await city.say(MODERATOR, "!challenge edit parks --eligibility=listed", moderator=True)
    assert "eligibility" in text(edit.reply)
    # The room hears who may take part now, in the bot's language.
    (told,) = effects_of(edit, SendRoom)
    assert told.room_id == "!parks:city.example"
    assert text(told.reply) == says(
        "nl",
        "challenge.eligibility_changed",
        title="Parks",
        who=says("nl", "identity.open_to_listed", servers=CITY),
    )
    same = await city.say(MODERATOR, "!challenge edit parks --eligibility=listed", moderator=True)
    assert effects_of(same, SendRoom) == []  # nothing changed: nothing said
    shown = await city.ask(ALICE, "!challenge parks")
    assert says("nl", "identity.open_to_listed", servers=CITY) in shown

    # Alice is on the bot's own server, the one listed by default; someone elsewhere is not.
    assert "Bedankt" in await city.ask(ALICE, "!idea parks Benches")
    stranger = "@visitor:elsewhere.example"
    assert await city.ask(stranger, "!idea parks Trees") == says(
        "nl", "identity.not_listed", slug="parks", servers=CITY
    )


async def test_verified_only_needs_a_bot_that_can_verify(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:  # no admin token configured
        reply = await bot.ask(
            MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True
        )
        assert reply == says("nl", "identity.cannot_verify")
        assert await bot.store.challenges.by_slug("parks") is None


async def test_a_refused_thumbs_up_is_explained_in_a_direct_message(city: City) -> None:
    await city.ask(MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True)
    async with city.bot.db.transaction():
        parks = await city.bot.store.challenges.by_slug("parks")
        assert parks is not None
        await city.bot.store.challenges.set_room(
            parks.id, "!parks:city.example", city.bot.clock()
        )
    city.known[ALICE] = verification(ALICE, "jana")
    idea_reply = await city.say(ALICE, "!idea parks Benches")
    (card,) = [e for e in idea_reply.effects if getattr(e, "card", None) is not None]
    await city.bot.card_posted(card, "$card")

    from handlers.services.voting import vote_by_reaction

    outcome = await city.bot.run(
        BOB, lambda ctx: vote_by_reaction(ctx, "$card", "$reaction"), room="!parks:city.example"
    )

    assert outcome is not None and outcome.reply is None
    (told,) = effects_of(outcome, SendDirect)
    assert told.user_id == BOB
    reason = says("nl", "identity.not_verified", slug="parks", server=CITY)
    assert text(told.reply) == says(
        "nl", "vote.reaction_refused", id=f"#{card.card}", reason=reason
    )
    assert effects_of(outcome, CardChanged) == []


async def test_audit_and_the_closing_summary_count_votes_by_standing(city: City) -> None:
    await new_challenge(city.bot, options="--deadline=2026-03-05")
    idea = await submit(city.bot, CAROL, "Bike lanes")
    city.known = {ALICE: verification(ALICE, "jana")}
    await city.ask(ALICE, f"!vote {idea}")  # verified
    await city.ask(BOB, f"!vote {idea}")  # on the listed (own) server
    await city.ask("@visitor:elsewhere.example", f"!vote {idea}")  # neither

    counts = says("nl", "identity.votes_by_standing", verified=1, listed=1, other=1)
    audit = await city.ask(MODERATOR, "!audit", moderator=True)
    assert f"mobility: {counts}" in audit
    assert f"#{idea}: {counts}" in await city.ask(MODERATOR, f"!audit {idea}", moderator=True)

    later = datetime(2026, 3, 6, tzinfo=UTC)
    async with city.bot.db.transaction():
        outcomes = await fire_due(
            city.bot.store, city.bot.dispatcher.catalogue, city.bot.settings,
            city.bot.dispatcher.programme, later,
        )  # fmt: skip
    (closing,) = outcomes
    (moderators,) = effects_of(closing, Announce)
    assert counts in text(moderators.reply)


async def test_mydata_holds_the_verification_and_forget_erases_it(city: City) -> None:
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    async with city.bot.db.transaction():
        await city.bot.store.verifications.save(verification(ALICE, "jana-hash"))
    city.known = {ALICE: verification(ALICE, "jana-hash")}
    await city.ask(ALICE, f"!vote {idea}")

    async with city.bot.db.snapshot():
        data = await city.bot.store.personal_data.collect(ALICE)
    assert data["verification"]["provider"] == ITSME
    assert data["votes"][0]["standing"] == "verified"

    await city.ask(ALICE, "!forget")
    await city.ask(ALICE, "!forget confirm")
    async with city.bot.db.snapshot():
        assert await city.bot.store.verifications.get(ALICE) is None
        hashes = await city.bot.db.fetch_value(
            "SELECT COUNT(*) FROM votes WHERE identity = 'jana-hash'"
        )
    assert hashes == 0


# -- the lookup (bot/matrix/identity_lookup.py) against a fake admin API ------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self._body = body

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def json(self, content_type: str | None = None) -> Any:
        if isinstance(self._body, str):
            return json.loads(self._body)
        return self._body


@dataclass
class FakeAdminApi:
    """``client.send`` of matrix-nio, answering as Synapse's admin API would (or failing)."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    status: int | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)  # (path, authorization)

    async def send(self, method: str, path: str, headers: dict[str, str]) -> FakeResponse:
        assert method == "GET"
        self.asked.append((path, headers["Authorization"]))
        if self.down:
            raise ClientConnectionError("connection refused")
        if self.status is not None:
            return FakeResponse(self.status, {"errcode": "M_UNKNOWN"})
        for user_id, body in self.users.items():
            if path.endswith(user_id.replace("@", "%40").replace(":", "%3A")):
                return FakeResponse(200, body)
        return FakeResponse(404, {"errcode": "M_NOT_FOUND"})


@dataclass
class Lookups:
    checker: IdentityChecker
    api: FakeAdminApi
    store: Store
    now: list[datetime]

    def advance(self, minutes: float) -> None:
        self.now[0] += timedelta(minutes=minutes)


@pytest.fixture
async def lookups(tmp_path: Path) -> AsyncIterator[Lookups]:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    store = Store(db)
    api = FakeAdminApi()
    now = [datetime(2026, 3, 2, 9, 30, tzinfo=UTC)]
    settings = SETTINGS.model_copy(update={"cache_minutes": 30})
    checker = IdentityChecker(
        api,  # type: ignore[arg-type]
        store,
        settings,
        server_name=CITY,
        clock=lambda: now[0],
    )
    await checker.load()
    try:
        yield Lookups(checker, api, store, now)
    finally:
        await db.close()


def synapse_user(*external_ids: tuple[str, str], created: int = 1_772_000_000) -> dict[str, Any]:
    return {
        "name": "whoever",
        "admin": False,
        "creation_ts": created,
        "external_ids": [{"auth_provider": p, "external_id": e} for p, e in external_ids],
        "threepids": [],
    }


async def test_a_verified_person_is_kept_as_provider_time_and_hash_never_the_id(
    lookups: Lookups,
) -> None:
    lookups.api.users = {
        ALICE: synapse_user(("github", "alice"), (EID, "85.07.31-001.23")),
        BOB: synapse_user((ITSME, "85.07.31-001.23"), created=1_772_000_000_123),
    }

    alice = await lookups.checker.lookup(ALICE)
    bob = await lookups.checker.lookup(BOB)

    assert not alice.failed and alice.verification is not None
    assert alice.verification.provider == EID  # github is not a provider that counts
    assert bob.verification is not None and bob.verification.provider == ITSME
    assert alice.verification.identity == bob.verification.identity  # one person
    assert alice.verification.identity is not None and len(alice.verification.identity) == 64
    assert alice.verification.account_created_at == datetime.fromtimestamp(1_772_000_000, UTC)
    assert bob.verification.account_created_at == alice.verification.account_created_at
    assert lookups.api.asked[0] == (
        f"/_synapse/admin/v2/users/%40alice%3A{CITY}",
        f"Bearer {TOKEN}",
    )
    async with lookups.store.db.snapshot():
        rows = await lookups.store.db.fetch_all("SELECT * FROM verifications")
    assert len(rows) == 2
    assert "85.07.31" not in json.dumps([dict(row) for row in rows])


async def test_the_answer_is_cached_then_checked_again(lookups: Lookups) -> None:
    lookups.api.users = {ALICE: synapse_user()}
    first = await lookups.checker.lookup(ALICE)
    assert first.verification is not None and first.verification.provider is None

    lookups.api.users = {ALICE: synapse_user((ITSME, "x"))}  # she logged in with itsme
    lookups.advance(minutes=29)
    cached = await lookups.checker.lookup(ALICE)
    assert cached.verification == first.verification
    assert len(lookups.api.asked) == 1

    lookups.advance(minutes=2)
    again = await lookups.checker.lookup(ALICE)
    assert again.verification is not None and again.verification.provider == ITSME
    assert len(lookups.api.asked) == 2


async def test_an_outage_uses_a_fresh_answer_and_otherwise_fails_without_a_guess(
    lookups: Lookups, caplog: pytest.LogCaptureFixture
) -> None:
    lookups.api.users = {ALICE: synapse_user((ITSME, "x"))}
    known = await lookups.checker.lookup(ALICE)
    lookups.api.down = True

    lookups.advance(minutes=10)
    during = await lookups.checker.lookup(ALICE)
    assert during == known  # still within its cache time: used
    with caplog.at_level(logging.WARNING, logger="bot.matrix.identity_lookup"):
        lookups.advance(minutes=30)
        assert (await lookups.checker.lookup(ALICE)).failed
        asked = len(lookups.api.asked)
        assert (await lookups.checker.lookup(BOB)).failed
        failed = await lookups.checker.lookup(ALICE)
        assert len(lookups.api.asked) == asked  # within a minute of a failure: not asked again
        lookups.api.down = False
        assert (await lookups.checker.lookup(ALICE)).failed
        lookups.advance(minutes=1)
        back = await lookups.checker.lookup(ALICE)
    assert failed.verification is None  # never a stale or guessed verification
    assert back.verification is not None and back.verification.provider == ITSME
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # when it starts, and when it ends
    assert all(TOKEN not in message for message in warnings)


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, None), (403, None), (500, None), (502, None), (200, "[1, 2]"),
     (200, {"external_ids": "not a list"}), (200, {"creation_ts": "yesterday"})],
)  # fmt: skip
async def test_a_refusal_or_a_strange_answer_is_a_failed_lookup(
    lookups: Lookups, status: int, body: Any
) -> None:
    if body is None:
        lookups.api.status = status
    else:
        lookups.api.users = {ALICE: body if isinstance(body, dict) else json.loads(body)}

    found = await lookups.checker.lookup(ALICE)

    assert found.failed and found.verification is None
    async with lookups.store.db.snapshot():
        assert await lookups.store.verifications.get(ALICE) is None


async def test_an_unknown_user_is_not_verified_and_others_are_not_asked(
    lookups: Lookups,
) -> None:
    unknown = await lookups.checker.lookup(CAROL)
    assert not unknown.failed
    assert unknown.verification is not None and unknown.verification.provider is None

    elsewhere = await lookups.checker.lookup("@visitor:elsewhere.example")
    assert elsewhere.verification is None and not elsewhere.failed
    assert len(lookups.api.asked) == 1  # another server's account: this one knows nothing of it


async def test_without_an_admin_token_nobody_is_asked(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    api = FakeAdminApi()
    try:
        checker = IdentityChecker(
            api,  # type: ignore[arg-type]
            Store(db),
            IdentitySettings(),
            server_name=CITY,
            clock=lambda: datetime.now(UTC),
        )
        await checker.load()
        assert await checker.lookup(ALICE) == type(await checker.lookup(ALICE))()
        assert api.asked == []
    finally:
        await db.close()


async def test_the_derived_key_is_the_database_s_own_and_stays(tmp_path: Path) -> None:
    hashes = []
    for name in ("one", "one", "two"):
        db = Database(tmp_path / f"{name}.sqlite3")
        await db.open()
        try:
            checker = IdentityChecker(
                FakeAdminApi(),  # type: ignore[arg-type]
                Store(db),
                IdentitySettings(),
                server_name=CITY,
                clock=lambda: datetime.now(UTC),
            )
            await checker.load()
            hashes.append(checker.hash("85.07.31-001.23"))
        finally:
            await db.close()
    assert hashes[0] == hashes[1] != hashes[2]
    assert "85.07.31" not in hashes[0]
