"""Untrusted users against the real homeserver: refusals, harmless rendering, invites, privacy."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from storage import IdeaStatus
from tests.matrix_support import (
    PASSWORD,
    Person,
    bot_config,
    start_bot,
    start_moderated_bot,
    unique,
)

pytestmark = pytest.mark.integration

HOSTILE_TITLE = (
    '<b>Bold</b> <a href="https://evil.example">click</a> <img src="x"> @room #1 aanvaard'
)


async def test_hostile_text_is_harmless_and_citizens_cannot_triage(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot, moderator, moderation_room = world.bot, world.moderator, world.moderation_room
    bot_user = bot.user_id
    citizen = await Person.create(homeserver, "citizen")
    reader = await Person.create(homeserver, "reader")
    try:
        slug, _room = await world.open_challenge("safe-", "Safety first")
        dm = await citizen.direct_chat_with(bot_user)
        submitted = await citizen.ask(
            dm, f"!idea {slug} {HOSTILE_TITLE}\n<script>alert(1)</script> @room"
        )
        idea_id = int(re.search(r"#(\d+)", submitted.content["body"]).group(1))  # type: ignore[union-attr]

        reader_dm = await reader.direct_chat_with(bot_user)
        shown = await reader.ask(reader_dm, f"!show {idea_id}")
        announced = await moderator.wait_for(
            lambda s: s.room_id == moderation_room and "evil.example" in s.content.get("body", "")
        )
        for event in (submitted, shown, announced):
            html = event.content["formatted_body"]
            assert (
                "<a " not in html
                and "<img" not in html
                and "<script" not in html
                and "<b>Bold" not in html
            )
            assert "&lt;b&gt;Bold&lt;/b&gt;" in html and "&lt;img" in html
            assert event.content["m.mentions"] == {}
            assert "@room" not in event.content["body"]  # defused for older clients
            assert "@\u2060room" in event.content["body"]
        assert "&lt;script&gt;" in shown.content["formatted_body"]

        # A citizen's triage commands are refused, and nothing changes.
        for command in (
            f"!accept {idea_id}",
            f"!reject {idea_id} no",
            f"!duplicate {idea_id} 1",
            f"!hide {idea_id}",
        ):
            refused = await reader.ask(reader_dm, command)
            assert "moderator" in refused.content["body"]
        async with bot.app.db.transaction():
            idea = await bot.app.store.ideas.get(idea_id)
            audit = await bot.app.store.audit.recent(idea_id=idea_id)
        assert idea is not None and idea.status is IdeaStatus.NEW and not idea.hidden
        assert audit == []
    finally:
        await world.close()
        for person in (citizen, reader):
            await person.close()


async def test_invites_from_servers_not_allowed_are_declined(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    stranger = await Person.create(homeserver, "stranger")
    bot = await start_bot(
        bot_config(homeserver, bot_user, tmp_path, allowed_servers=("city.example",))
    )
    try:
        room = await stranger.create_room([bot_user], name="Lure")
        await stranger.wait_for(
            lambda s: (
                s.room_id == room
                and s.type == "m.room.member"
                and s.sender == bot_user
                and s.content.get("membership") == "leave"
            )
        )
        await asyncio.sleep(1)
        assert not any(
            s.room_id == room
            and s.type == "m.room.member"
            and s.content.get("membership") == "join"
            and s.sender == bot_user
            for s in stranger.seen
        )
    finally:
        await bot.stop()
        await stranger.close()


async def test_mydata_and_forget_end_to_end(homeserver: Homeserver, tmp_path: Path) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot = world.bot
    bot_user = bot.user_id
    citizen = await Person.create(homeserver, "citizen")
    try:
        slug, _room = await world.open_challenge("gdpr-", "Privacy by design")
        dm = await citizen.direct_chat_with(bot_user)
        submitted = await citizen.ask(dm, f"!idea {slug} Benches in the park\nWith shade.")
        idea_id = int(re.search(r"#(\d+)", submitted.content["body"]).group(1))  # type: ignore[union-attr]
        await citizen.ask(dm, f"!vote {idea_id}")

        await citizen.ask(dm, "!mydata")
        file_event = await citizen.wait_for(
            lambda s: s.room_id == dm and s.content.get("msgtype") == "m.file"
        )
        assert file_event.sender == bot_user and file_event.content["m.mentions"] == {}
        download = await citizen.client.download(mxc=file_event.content["url"])
        data = json.loads(download.body)  # type: ignore[union-attr]
        assert data["user_id"] == citizen.user_id
        assert [idea["title"] for idea in data["ideas"]] == ["Benches in the park"]
        assert [vote["idea_id"] for vote in data["votes"]] == [idea_id]

        asked = await citizen.ask(dm, "!forget")
        assert "!vergeet confirm" in asked.content["body"]
        done = await citizen.ask(dm, "!forget confirm")
        assert "gewist" in done.content["body"]
        async with bot.app.db.transaction():
            idea = await bot.app.store.ideas.get(idea_id)
            left = await bot.app.store.personal_data.collect(citizen.user_id)
        assert idea is not None and idea.author != citizen.user_id and idea.votes == 0
        assert left["ideas"] == [] and left["votes"] == [] and left["reports"] == []
    finally:
        await world.close()
        await citizen.close()


async def test_power_level_in_the_moderation_room_makes_a_moderator_at_command_time(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    owner = await Person.create(homeserver, "owner")
    helper = await Person.create(homeserver, "helper")
    moderation_room = await owner.create_room([bot_user, helper.user_id], name="Moderation")
    bot = await start_bot(
        bot_config(homeserver, bot_user, tmp_path, moderation_room=moderation_room)
    )

    async def set_level(level: int) -> None:
        await owner.set_power_level(moderation_room, helper.user_id, level)

    try:
        await owner.wait_joined(moderation_room, bot_user)
        await owner.wait_joined(moderation_room, helper.user_id)
        refused = await helper.ask(moderation_room, "!queue")
        assert "moderator" in refused.content["body"]
        await set_level(50)
        allowed = await helper.ask(moderation_room, "!queue")
        assert "moderator" not in allowed.content["body"]
        await set_level(0)  # demoted: refused again, without a restart
        refused = await helper.ask(moderation_room, "!queue")
        assert "moderator" in refused.content["body"]
    finally:
        await bot.stop()
        await owner.close()
        await helper.close()
