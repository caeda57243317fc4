"""One person across networks, against the real Synapse: a Discord account (driven through the
running bot's dispatcher, with a ``discord:`` account, as the Discord front end drives it) asks
for a link code; a real Matrix user, verified through Synapse's admin API as a single sign-on
login leaves it, sends ``!koppel <code>`` in its direct chat with the running bot; from then on
their votes count once, as a verified person's, and ``!mydata`` hands over both accounts' data;
``!ontkoppel`` separates them again."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import BotApp
from devtools.homeserver import Homeserver
from handlers.dispatch import Sender
from handlers.settings import IdentitySettings
from storage import Standing
from tests.handler_support import says, text
from tests.matrix_support import ModeratedBot, Person, idea_number, start_moderated_bot, unique

pytestmark = pytest.mark.integration

ITSME = "oidc-itsme"
DISCORD = "discord:81234567890123456"
CHANNEL = "discord:91234567890123456"
CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}")


@dataclass
class World:
    moderated: ModeratedBot
    jana: Person
    dm: str

    @property
    def app(self) -> BotApp:
        return self.moderated.bot.app

    async def jana_says(self, body: str) -> str:
        return str((await self.jana.ask(self.dm, body)).content["body"])

    async def discord_says(self, body: str) -> str:
        """A command from the Discord account, as the Discord front end hands it on: its
        identity looked up first, outside the transaction (the running bot's own checker,
        which asks Synapse about the Matrix account it is linked to, if any), then the
        dispatcher in one transaction."""
        found = await self.app.identity.lookup(DISCORD)
        sender = Sender(
            user_id=DISCORD,
            room_id=CHANNEL,
            is_direct=True,  # a slash command: its answer only the asker sees
            is_moderator=False,
            verification=found.verification,
            verification_failed=found.failed,
        )
        async with self.app.db.transaction():
            outcome = await self.app.dispatcher.handle_message(sender, body)
        assert outcome is not None
        return text(outcome.reply)


@pytest.fixture
async def world(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[World]:
    identity = IdentitySettings(
        admin_token=SecretStr(homeserver.admin_token()),
        auth_providers=(ITSME,),
        hash_key=SecretStr("a test key of the identity hash"),
    )
    moderated = await start_moderated_bot(homeserver, tmp_path, identity=identity)
    jana = await Person.create(homeserver, "jana")
    try:
        homeserver.set_external_ids(jana.user_id, [(ITSME, unique("85.07.31-"))])
        dm = await jana.direct_chat_with(moderated.bot.user_id)
        yield World(moderated, jana, dm)
    finally:
        await jana.close()
        await moderated.close()


async def test_a_linked_discord_account_votes_once_with_the_matrix_account(world: World) -> None:
    slug, _room = await world.moderated.open_challenge("linked-", "Parks", "--eligibility=verified")
    idea = idea_number(await world.jana.ask(world.dm, f"!idea {slug} Shade on the Vrijdagmarkt"))
    other = idea_number(await world.jana.ask(world.dm, f"!idea {slug} Benches"))

    # Alone, the Discord account may not vote here, and is told how to link.
    refused = await world.discord_says(f"!stem {idea}")
    link_to = says(
        "nl", "identity.link_to_verified", slug=slug, server="localhost", command="!koppel"
    )
    assert refused == link_to

    asked = await world.discord_says("!koppel")
    code = CODE.search(asked)
    assert code is not None, asked
    linked = await world.jana_says(f"!koppel {code.group()}")
    assert linked == says("nl", "link.done", account=DISCORD, command="!ontkoppel")

    # One verified person now: the Discord account's vote counts, Jana's own is refused.
    assert "geteld" in await world.discord_says(f"!stem {idea}")
    assert await world.jana_says(f"!stem {idea}") == says(
        "nl", "identity.linked_vote", id=f"#{idea}"
    )
    async with world.app.db.transaction():
        assert await world.app.store.votes.count(idea) == 1
        standing = await world.app.store.votes.by_standing(idea_id=idea)
    assert standing[Standing.VERIFIED] == 1

    # Jana's data holds the Discord account's too.
    await world.jana.ask(world.dm, "!mijngegevens")
    sent = await world.jana.wait_for(
        lambda s: s.room_id == world.dm and s.content.get("msgtype") == "m.file"
    )
    download = await world.jana.client.download(mxc=sent.content["url"])
    data = json.loads(download.body)  # type: ignore[union-attr]
    assert data["user_id"] == world.jana.user_id
    assert data["link"]["account"] == DISCORD
    assert data["linked_account"]["user_id"] == DISCORD
    assert [vote["idea_id"] for vote in data["linked_account"]["votes"]] == [idea]
    assert data["linked_account"]["votes"][0]["standing"] == "verified"

    # Unlinked from the Matrix side: separate again, the Discord account alone once more.
    undone = await world.jana_says("!ontkoppel")
    assert undone == says("nl", "link.undone", command="!koppel")
    assert await world.discord_says(f"!stem {other}") == link_to
    assert "geteld" in await world.jana_says(f"!stem {other}")
    async with world.app.db.transaction():
        assert await world.app.store.votes.count(idea) == 1
        assert await world.app.store.votes.count(other) == 1
        assert await world.app.store.links.of(DISCORD) is None


async def test_a_code_sent_in_a_shared_room_links_no_one(world: World) -> None:
    """Whoever reads a code someone pasted in a room cannot use it: the code is used up where
    others could read it, and the reader's own direct chat gets the polite refusal."""
    moderated = world.moderated
    code = CODE.search(await world.discord_says("!koppel"))
    assert code is not None

    pasted = await moderated.moderator.ask(moderated.moderation_room, f"!koppel {code.group()}")
    assert pasted.content["body"] == says("nl", "link.only_direct", command="!koppel")
    tried = await world.jana_says(f"!koppel {code.group()}")

    assert tried == says("nl", "link.bad_code", command="!koppel", minutes=15)
    async with world.app.db.transaction():
        assert await world.app.store.links.of(DISCORD) is None
        assert await world.app.store.links.of(world.jana.user_id) is None
