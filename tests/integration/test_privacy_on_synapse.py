"""Privacy against the real homeserver: what the export holds, what erasure leaves in the
database's files, what a blocked person can do, and where moderators' views are answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from handlers.export import export_data
from handlers.i18n import Catalogue
from tests.matrix_support import ModeratedBot, Person, idea_number, start_moderated_bot

pytestmark = pytest.mark.integration

TITLE = "Fietsenstalling onder het Sint-Pietersstation"
DESCRIPTION = "Overdekt en bewaakt, met plaats voor bakfietsen."


def database_files(world: ModeratedBot) -> bytes:
    """The database and its -wal as they are on disk, byte for byte."""
    path = world.bot.config.storage.path
    contents = b""
    for name in (path, Path(f"{path}-wal")):
        if name.exists():
            with open(name, "rb") as handle:
                contents += handle.read()
    return contents


async def test_the_export_leaves_out_a_hidden_idea(homeserver: Homeserver, tmp_path: Path) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    citizen = await Person.create(homeserver, "citizen")
    try:
        slug, _room = await world.open_challenge("open-", "Open data")
        dm = await citizen.direct_chat_with(world.bot.user_id)
        kept = idea_number(await citizen.ask(dm, f"!idea {slug} Shown to all"))
        hidden = idea_number(await citizen.ask(dm, f"!idea {slug} Reported and hidden"))
        await world.moderator.ask(world.moderation_room, f"!hide {hidden} Offensive")

        async with world.bot.app.db.snapshot():
            data = await export_data(world.bot.app.store, slug)
        (challenge,) = data["challenges"]
        assert [idea["id"] for idea in challenge["ideas"]] == [kept]
        assert "Reported and hidden" not in str(data)
    finally:
        await world.close()
        await citizen.close()


@pytest.mark.parametrize("mode", ["anonymise", "delete"])
async def test_after_forget_the_database_files_hold_no_trace(
    homeserver: Homeserver, tmp_path: Path, mode: str
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path, forget_ideas=mode)
    citizen = await Person.create(homeserver, "citizen")
    other = await Person.create(homeserver, "other")
    try:
        slug, _room = await world.open_challenge("forget-", "Erasure")
        dm = await citizen.direct_chat_with(world.bot.user_id)
        other_dm = await other.direct_chat_with(world.bot.user_id)
        own = idea_number(await citizen.ask(dm, f"!idea {slug} {TITLE}\n{DESCRIPTION}"))
        theirs = idea_number(await other.ask(other_dm, f"!idea {slug} Someone else's"))
        await other.ask(other_dm, f"!vote {own}")  # a card refresh for her idea
        await citizen.ask(dm, f"!vote {theirs}")
        await citizen.ask(dm, f"!report {theirs} Looks like mine")
        await citizen.ask(dm, "!lang en")
        await citizen.ask(dm, "!mydata")
        await citizen.wait_for(lambda s: s.room_id == dm and s.content.get("msgtype") == "m.file")
        await citizen.ask(dm, "!forget")
        done = await citizen.ask(dm, "!forget confirm")
        assert "erased" in done.content["body"]
        await world.bot.stop()  # a clean stop: what is queued is sent, the database closed

        contents = database_files(world)
        assert citizen.user_id.encode() not in contents
        assert other.user_id.encode() in contents  # the search itself finds what is there
        if mode == "delete":
            assert TITLE.encode() not in contents and DESCRIPTION.encode() not in contents
        else:
            assert TITLE.encode() in contents  # the idea stays, without her name
    finally:
        await world.close()
        for person in (citizen, other):
            await person.close()


async def test_a_blocked_person_can_neither_edit_nor_report(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    citizen = await Person.create(homeserver, "citizen")
    try:
        slug, _room = await world.open_challenge("block-", "Blocked")
        dm = await citizen.direct_chat_with(world.bot.user_id)
        own = idea_number(await citizen.ask(dm, f"!idea {slug} Before the block"))
        other = idea_number(await world.moderator.ask(world.moderation_room, f"!idea {slug} Other"))
        await world.moderator.ask(world.moderation_room, f"!block {citizen.user_id} Spam")

        edited = await citizen.ask(dm, f"!edit {own} Rewritten after the block")
        reported = await citizen.ask(dm, f"!report {other} Revenge")

        blocked = Catalogue().plain("nl", "error.blocked")
        assert edited.content["body"] == blocked and reported.content["body"] == blocked
        async with world.bot.app.db.transaction():
            idea = await world.bot.app.store.ideas.get(own)
            reports = await world.bot.app.store.reports.count(other)
        assert idea is not None and idea.title == "Before the block" and reports == 0
    finally:
        await world.close()
        await citizen.close()


async def test_a_moderator_asking_in_a_public_room_gets_no_audit_or_queue(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator = world.moderator
    reader = await Person.create(homeserver, "reader")
    try:
        slug, room = await world.open_challenge("public-", "Everyone reads along")
        await moderator.wait_joined(room, moderator.user_id)
        # A citizen joins too: the challenge's room is a room of many, not a direct chat.
        await reader.ask(await reader.direct_chat_with(world.bot.user_id), f"!join {slug}")
        await moderator.wait_joined(room, reader.user_id)
        await moderator.ask(room, f"!idea Waiting for triage in {slug}")
        await moderator.ask(
            world.moderation_room, f"!block @someone:localhost Secret reason {slug}"
        )

        elsewhere = Catalogue().plain("nl", "moderation.ask_elsewhere")
        for command in ("!audit", "!queue"):
            answer = await moderator.ask(room, command)
            assert answer.content["body"] == elsewhere, command
        audit = await moderator.ask(world.moderation_room, "!audit")
        assert "Secret reason" in audit.content["body"]  # where moderators alone read it
        queue = await moderator.ask(world.moderation_room, "!queue")
        assert "Waiting for triage" in queue.content["body"]
    finally:
        await world.close()
        await reader.close()
