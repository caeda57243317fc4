"""One person, one vote, against the real Synapse: identities set through its admin API, as a
single sign-on login (itsme, eID) would leave them, and read back by the bot."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from devtools.homeserver import Homeserver
from handlers.settings import IdentitySettings
from storage import Standing
from tests.handler_support import says
from tests.matrix_support import (
    ModeratedBot,
    Person,
    Seen,
    idea_number,
    start_moderated_bot,
    unique,
)

pytestmark = pytest.mark.integration

ITSME = "oidc-itsme"
EID = "oidc-eid"
#: A listed server that is not the suite's: its accounts would be welcome, "localhost" is not.
ELSEWHERE = "matrix.ugent.be"
CACHE_MINUTES = 30


def plain(seen: Seen) -> str:
    return str(seen.content["body"])


@dataclass
class City:
    moderated: ModeratedBot
    homeserver: Homeserver
    people: dict[str, tuple[Person, str]]  # name: (person, their direct chat with the bot)
    #: Stand-ins for what the federal authentication service gives a person (the suite's
    #: Synapse lives for the session, and an external id belongs to one account there).
    external_ids: dict[str, str]

    async def ask(self, name: str, text: str) -> str:
        person, room = self.people[name]
        return plain(await person.ask(room, text))


@pytest.fixture
async def city(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[City]:
    identity = IdentitySettings(
        admin_token=SecretStr(homeserver.admin_token()),
        auth_providers=(ITSME, EID),
        listed_servers=(ELSEWHERE,),
        cache_minutes=CACHE_MINUTES,
        hash_key=SecretStr("a test key of the identity hash"),
    )
    moderated = await start_moderated_bot(homeserver, tmp_path, identity=identity)
    people: dict[str, tuple[Person, str]] = {}
    try:
        for name in ("jana", "jana_again", "pieter", "someone"):
            person = await Person.create(homeserver, name)
            people[name] = (person, await person.direct_chat_with(moderated.bot.user_id))
        # Jana logged in through itsme on one account and with her eID on another: the same
        # person. Pieter has not been verified yet; "someone" never is.
        external_ids = {"jana": unique("85.07.31-"), "pieter": unique("90.02.14-")}
        jana = external_ids["jana"]
        homeserver.set_external_ids(people["jana"][0].user_id, [(ITSME, jana)])
        homeserver.set_external_ids(people["jana_again"][0].user_id, [(EID, jana)])
        yield City(moderated, homeserver, people, external_ids)
    finally:
        for person, _room in people.values():
            await person.close()
        await moderated.close()


async def test_one_person_one_vote_where_only_verified_people_take_part(city: City) -> None:
    moderated = city.moderated
    slug, _room = await moderated.open_challenge("verified-", "Parks", "--eligibility=verified")

    submitted = await city.ask("jana", f"!idea {slug} Shade on the Vrijdagmarkt")
    idea = int(re.findall(r"#(\d+)", submitted)[-1])
    assert says("nl", "idea.submitted", title="", slug="", id="").split()[0] in submitted

    # A verified person's vote counts.
    assert "geteld" in await city.ask("jana", f"!vote {idea}")
    # Her other account is the same person: refused, politely, and nothing counted twice.
    linked = await city.ask("jana_again", f"!vote {idea}")
    assert linked == says("nl", "identity.linked_vote", id=f"#{idea}")
    # Someone unverified is told why, and how to become eligible.
    refused = await city.ask("someone", f"!vote {idea}")
    assert refused == says("nl", "identity.not_verified", slug=slug, server="localhost")
    refused_idea = await city.ask("someone", f"!idea {slug} Benches")
    assert refused_idea == refused
    # Reading and asking stay open to all.
    assert "Shade on the Vrijdagmarkt" in await city.ask("someone", f"!show {idea}")

    store = moderated.bot.app.store
    async with moderated.bot.app.db.transaction():
        assert await store.votes.count(idea) == 1
        standing = await store.votes.by_standing(idea_id=idea)
    assert standing[Standing.VERIFIED] == 1

    # The moderators see where the votes came from.
    audit = plain(await moderated.moderator.ask(moderated.moderation_room, f"!audit {idea}"))
    assert "1 van geverifieerde personen, 0 van accounts op vermelde servers" in audit


async def test_a_challenge_open_to_anyone_takes_both(city: City) -> None:
    slug, _room = await city.moderated.open_challenge("anyone-", "Bikes", "--eligibility=anyone")
    idea = idea_number(
        await city.people["someone"][0].ask(city.people["someone"][1], f"!idea {slug} Racks")
    )

    assert "geteld" in await city.ask("jana", f"!vote {idea}")
    assert "geteld" in await city.ask("someone", f"!vote {idea}")
    # Even here Jana's second account does not add a second vote of hers.
    assert await city.ask("jana_again", f"!vote {idea}") == says(
        "nl", "identity.linked_vote", id=f"#{idea}"
    )

    store = city.moderated.bot.app.store
    async with city.moderated.bot.app.db.transaction():
        standing = await store.votes.by_standing(idea_id=idea)
    assert standing == {Standing.VERIFIED: 1, Standing.LISTED: 0, Standing.OTHER: 1}


async def test_an_unlisted_homeserver_is_refused_where_servers_are_listed(city: City) -> None:
    slug, _room = await city.moderated.open_challenge("listed-", "Schools", "--eligibility=listed")
    # Only matrix.ugent.be is listed; a verified person may take part all the same.
    idea = idea_number(
        await city.people["jana"][0].ask(city.people["jana"][1], f"!idea {slug} Safe crossings")
    )

    refused = await city.ask("someone", f"!vote {idea}")

    assert refused == says("nl", "identity.not_listed", slug=slug, servers=ELSEWHERE)
    assert "geteld" in await city.ask("jana", f"!vote {idea}")


async def test_the_verification_is_checked_again_after_its_cache_time(city: City) -> None:
    app = city.moderated.bot.app
    slug, _room = await city.moderated.open_challenge("later-", "Water", "--eligibility=verified")
    idea = idea_number(
        await city.people["jana"][0].ask(city.people["jana"][1], f"!idea {slug} Fountains")
    )
    pieter = city.people["pieter"][0].user_id

    # Not verified yet: refused, and the answer is cached.
    assert "geverifieerde personen" in await city.ask("pieter", f"!vote {idea}")
    # He logs in with itsme meanwhile; within the cache time the bot does not ask again.
    city.homeserver.set_external_ids(pieter, [(ITSME, city.external_ids["pieter"])])
    assert "geverifieerde personen" in await city.ask("pieter", f"!vote {idea}")

    # Past the cache time (the checker's clock moved on), the homeserver is asked again.
    started = datetime.now().astimezone()
    app.identity.clock = lambda: datetime.now().astimezone() + timedelta(minutes=CACHE_MINUTES + 1)
    assert "geteld" in await city.ask("pieter", f"!vote {idea}")
    async with app.db.transaction():
        verification = await app.store.verifications.get(pieter)
    assert verification is not None and verification.provider == ITSME
    assert verification.checked_at > started + timedelta(minutes=CACHE_MINUTES)
    # Only the provider, the time and a keyed hash: never the identity itself.
    assert city.external_ids["pieter"] not in verification.model_dump_json()
    assert verification.account_created_at is not None


async def test_when_the_homeserver_refuses_to_say_the_vote_waits(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """An admin token the homeserver refuses (revoked, say): nobody can be verified now, so
    where verification is needed the person is asked to try again later and nothing changes;
    where anyone may vote, the vote counts, as not verified."""
    identity = IdentitySettings(
        admin_token=SecretStr("syt_a_token_that_was_revoked"), auth_providers=(ITSME,)
    )
    moderated = await start_moderated_bot(homeserver, tmp_path, identity=identity)
    person = await Person.create(homeserver, "hopeful")
    try:
        homeserver.set_external_ids(person.user_id, [(ITSME, unique("77.01.01-"))])
        room = await person.direct_chat_with(moderated.bot.user_id)
        strict, _ = await moderated.open_challenge("strict-", "Strict", "--eligibility=verified")
        open_, _ = await moderated.open_challenge("open-", "Open", "--eligibility=anyone")

        refused = plain(await person.ask(room, f"!idea {strict} Trees"))
        assert refused == says("nl", "identity.unavailable")
        idea = idea_number(await person.ask(room, f"!idea {open_} Trees"))
        assert "geteld" in plain(await person.ask(room, f"!vote {idea}"))

        app = moderated.bot.app
        async with app.db.transaction():
            standing = await app.store.votes.by_standing(idea_id=idea)
            assert await app.store.ideas.by_author(person.user_id) != []
            assert await app.store.verifications.get(person.user_id) is None
        assert standing[Standing.VERIFIED] == 0
        assert standing[Standing.LISTED] == 1  # the bot's own server, listed by default
    finally:
        await person.close()
        await moderated.close()
