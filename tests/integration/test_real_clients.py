"""The flows real clients produce, against the real homeserver: Element's lazy direct chat, a
command typed right after an invite, content that breaks the spec, a demotion mid-batch, and a
vote that was cast before a deadline but handled after it."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nio import RoomCreateResponse, RoomPreset

from devtools.homeserver import Homeserver
from tests.matrix_support import (
    PASSWORD,
    Person,
    bot_config,
    idea_number,
    replies_by_command,
    start_bot,
    start_moderated_bot,
    unique,
)

pytestmark = pytest.mark.integration


async def element_dm(person: Person, bot_user: str, first_message: str) -> tuple[str, str]:
    """A DM the way Element makes one: created with the invite when the first message is sent,
    and that message sent at once, before the bot has joined."""
    response = await person.client.room_create(
        is_direct=True, invite=[bot_user], preset=RoomPreset.trusted_private_chat
    )
    assert isinstance(response, RoomCreateResponse), response
    room = str(response.room_id)
    return room, await person.send(room, first_message)


async def test_the_first_message_of_an_element_dm_is_answered(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    bot = await start_bot(bot_config(homeserver, bot_user, tmp_path))
    citizen = await Person.create(homeserver, "citizen")
    try:
        room, first = await element_dm(citizen, bot_user, "help")
        reply = await citizen.reply_to(room, first)
        assert reply.sender == bot_user and "!idee" in reply.content["body"]
        # The room counts as the citizen's direct chat: the prefix may be left out there.
        again = await citizen.ask(room, "challenges")
        assert again.sender == bot_user
        async with bot.app.db.transaction():
            assert await bot.app.store.users.direct_room(citizen.user_id) == room
    finally:
        await bot.stop()
        await citizen.close()


async def test_what_follows_the_invite_is_for_the_bot_and_what_came_before_is_not(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, bot_user = world.moderator, world.bot.user_id
    try:
        response = await moderator.client.room_create(name="Working group")
        assert isinstance(response, RoomCreateResponse), response
        room = str(response.room_id)
        before = await moderator.send(room, "!queue")  # history: the bot was not invited yet
        invited = await moderator.client.room_invite(room, bot_user)
        assert invited.__class__.__name__ == "RoomInviteResponse", invited
        after = await moderator.send(room, "!queue")  # typed at once, before the bot joined
        reply = await moderator.reply_to(room, after)
        assert reply.sender == bot_user
        await asyncio.sleep(2)
        counts = replies_by_command(moderator, bot_user)
        assert counts.get(after) == 1 and before not in counts
    finally:
        await world.close()


async def test_an_invite_that_came_while_the_bot_was_stopped(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path)
    citizen = await Person.create(homeserver, "citizen")
    bot = await start_bot(config)
    await bot.stop()
    try:
        room, first = await element_dm(citizen, bot_user, "!challenges")
        second = await citizen.send(room, "!help")
        bot = await start_bot(config)
        await citizen.reply_to(room, first)
        await citizen.reply_to(room, second)
        await bot.stop()
        bot = await start_bot(config)  # a restart handles nothing twice
        await citizen.ask(room, "!challenges")
        counts = replies_by_command(citizen, bot_user)
        assert counts[first] == 1 and counts[second] == 1
    finally:
        await bot.stop()
        await citizen.close()


def hostile_contents(card_event: str) -> list[tuple[str, dict[str, Any]]]:
    """Contents that break the spec, one for each kind of event the bot reads."""
    text = {"msgtype": "m.text"}
    return [
        ("m.room.message", {**text, "body": "!help", "m.relates_to": None}),
        ("m.room.message", {**text, "body": "!help", "m.relates_to": "m.thread"}),
        ("m.room.message", {**text, "body": "!help", "m.relates_to": ["$x"]}),
        ("m.room.message", {**text, "body": "!help", "m.relates_to": {"rel_type": "m.thread", "event_id": 5}}),
        ("m.room.message", {**text, "body": "!help", "m.relates_to": {"m.in_reply_to": "x"}}),
        ("m.room.message", {**text, "body": "!help", "m.mentions": "everyone"}),
        ("m.room.message", {**text, "body": 12345}),
        ("m.room.message", {"msgtype": ["m.text"], "body": "!help"}),
        ("m.room.message", {**text, "body": "!vote " + "9" * 300}),
        ("m.reaction", {"m.relates_to": None}),
        ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": card_event}}),
        ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": 42, "key": "👍"}}),
        ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": card_event, "key": ["👍"]}}),
        ("m.room.redaction", {"redacts": 7}),
        ("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": 5}),
        ("m.room.encrypted", {"algorithm": None, "session_id": {"x": 1}}),
    ]  # fmt: skip


async def test_content_that_breaks_the_spec_stops_nothing(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    mallory = await Person.create(homeserver, "mallory")
    citizen = await Person.create(homeserver, "citizen")
    try:
        _slug, room = await world.open_challenge("spec-", "Spec breakers")
        for person in (mallory, citizen):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        card = await citizen.ask(room, "!idea A card to aim at")
        passed_on = []
        for kind, content in hostile_contents(card.event_id):
            response = await mallory.client.room_send(room, kind, content)
            if response.__class__.__name__ == "RoomSendResponse":
                passed_on.append(kind)
        # Synapse refuses a few (a redaction's redacts must be a string), passes most on.
        assert passed_on.count("m.room.message") >= 5 and passed_on.count("m.reaction") >= 2, (
            passed_on
        )
        answered = await citizen.ask(room, "!ideas")
        assert answered.sender == bot_user and "A card to aim at" in answered.content["body"]
        assert not world.bot.task.done()

        config = world.bot.config
        await world.bot.stop()
        world.bot = await start_bot(config)  # the batch is not replayed into a crash either
        after_restart = await citizen.ask(room, "!challenges")
        assert after_restart.sender == bot_user
        # The broken 👍s counted nothing; the well-formed !help commands were answered.
        async with world.bot.app.db.transaction():
            idea_id = int(re.search(r"#(\d+)", card.content["body"]).group(1))  # type: ignore[union-attr]
            assert await world.bot.app.store.votes.count(idea_id) == 0
        helps = [
            s for s in mallory.seen if s.sender == bot_user and "!idee" in s.content.get("body", "")
        ]
        assert helps
    finally:
        await world.close()
        await mallory.close()
        await citizen.close()


async def test_a_demoted_moderator_is_refused_from_the_next_command(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    owner = await Person.create(homeserver, "owner")
    helper = await Person.create(homeserver, "helper")
    citizen = await Person.create(homeserver, "citizen")
    moderation_room = await owner.create_room([bot_user, helper.user_id], name="Moderation")
    bot = await start_bot(
        bot_config(
            homeserver,
            bot_user,
            tmp_path,
            moderation_room=moderation_room,
            moderators=(owner.user_id,),
        )
    )

    async def set_level(level: int) -> None:
        await owner.set_power_level(moderation_room, helper.user_id, level)

    try:
        await owner.wait_joined(moderation_room, bot_user)
        await owner.wait_joined(moderation_room, helper.user_id)
        slug = unique("demote-")
        await owner.ask(moderation_room, f"!challenge new {slug} Demotions")
        dm = await citizen.direct_chat_with(bot_user)
        ideas = []
        for title in ("First idea", "Second idea"):
            submitted = await citizen.ask(dm, f"!idea {slug} {title}")
            ideas.append(int(re.search(r"#(\d+)", submitted.content["body"]).group(1)))  # type: ignore[union-attr]
        await set_level(50)
        accepted = await helper.ask(moderation_room, f"!accept {ideas[0]}")
        assert "moderator" not in accepted.content["body"]
        await set_level(0)
        refused = await helper.ask(moderation_room, f"!accept {ideas[1]}")  # at once
        assert "moderator" in refused.content["body"]
        async with bot.app.db.transaction():
            second = await bot.app.store.ideas.get(ideas[1])
        assert second is not None and second.status.value == "new"
    finally:
        await bot.stop()
        for person in (owner, helper, citizen):
            await person.close()


async def test_a_vote_cast_before_the_deadline_counts_when_handled_after_it(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot, moderator = world.bot, world.moderator
    citizen = await Person.create(homeserver, "citizen")
    try:
        # Ten minutes from now, in the programme's time zone (whatever the hour in UTC).
        local = datetime.now(ZoneInfo("Europe/Brussels")) + timedelta(minutes=10)
        deadline = local.replace(second=0, microsecond=0)
        slug = unique("late-")
        await moderator.ask(
            world.moderation_room,
            f"!challenge new --deadline={deadline:%Y-%m-%dT%H:%M} {slug} Late",
        )
        dm = await citizen.direct_chat_with(bot.user_id)
        submitted = await citizen.ask(dm, f"!idea {slug} On time")
        idea_id = int(re.search(r"#(\d+)", submitted.content["body"]).group(1))  # type: ignore[union-attr]
        # The bot handles the next commands just after the deadline, as it would after
        # downtime; the vote itself is sent before.
        after_deadline = deadline.astimezone(UTC) + timedelta(seconds=30)
        bot.app.dispatcher.clock = lambda: after_deadline
        counted = await citizen.ask(dm, f"!vote {idea_id}")
        assert f"#{idea_id}" in counted.content["body"]
        async with bot.app.db.transaction():
            assert await bot.app.store.votes.count(idea_id) == 1
    finally:
        await world.close()
        await citizen.close()


async def test_personal_data_goes_to_an_encrypted_direct_chat_never_to_a_two_member_room(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, bot_user = world.moderator, world.bot.user_id
    student = await Person.create(homeserver, "student")
    try:
        _slug, room = await world.open_challenge("two-", "Only two of us")
        left = await moderator.client.room_leave(room)
        assert left.__class__.__name__ == "RoomLeaveResponse", left
        joined = await student.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        await student.wait_joined(room, student.user_id)
        # The challenge room now holds the bot and the student alone: still not a DM.
        answer = await student.ask(room, "!mydata")
        assert answer.sender == bot_user
        await student.wait_for(
            lambda s: s.room_id != room and s.sender == bot_user and s.type == "m.room.encrypted"
        )
        in_room = [s for s in student.seen if s.room_id == room and s.sender == bot_user]
        assert all(s.content.get("msgtype") != "m.file" for s in in_room)
        assert all("challenge-bot-data" not in s.content.get("body", "") for s in in_room)
        direct_rooms = {
            s.room_id for s in student.seen if s.room_id != room and s.sender == bot_user
        }
        assert len(direct_rooms) == 1
        (direct,) = direct_rooms
        encryption = await student.client.room_get_state_event(direct, "m.room.encryption")
        assert getattr(encryption, "content", {}).get("algorithm") == "m.megolm.v1.aes-sha2"
        async with world.bot.app.db.transaction():
            assert await world.bot.app.store.users.direct_room(student.user_id) == direct
    finally:
        await world.close()
        await student.close()


async def test_moderators_have_power_in_the_rooms_the_bot_creates(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, moderation_room = world.moderator, world.moderation_room
    helper = await Person.create(homeserver, "helper")
    try:
        invited = await moderator.client.room_invite(moderation_room, helper.user_id)
        assert invited.__class__.__name__ == "RoomInviteResponse", invited
        await moderator.wait_joined(moderation_room, helper.user_id)
        _slug, room = await world.open_challenge("power-", "Run by the moderators")

        async def level_of(user_id: str) -> int | None:
            state = await moderator.client.room_get_state_event(room, "m.room.power_levels")
            return state.content.get("users", {}).get(user_id)  # type: ignore[union-attr]

        async def becomes(user_id: str, level: int | None) -> None:
            deadline = asyncio.get_running_loop().time() + 20
            while await level_of(user_id) != level:
                assert asyncio.get_running_loop().time() < deadline, (user_id, level)
                await asyncio.sleep(0.2)

        await becomes(moderator.user_id, 50)  # a moderator of the config list
        await moderator.set_power_level(moderation_room, helper.user_id, 50)
        await becomes(helper.user_id, 50)  # made a moderator in the moderation room
        await moderator.set_power_level(moderation_room, helper.user_id, 0)
        await becomes(helper.user_id, None)  # and no longer
        kick = {"membership": "leave", "reason": "moderators may"}
        as_moderator = await moderator.client.room_put_state(
            room, "m.room.member", kick, state_key=world.bot.user_id
        )
        assert as_moderator.__class__.__name__ == "RoomPutStateError"  # but not over the bot
    finally:
        await world.close()
        await helper.close()


async def test_challenge_rooms_are_children_of_the_programmes_space(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, app = world.moderator, world.bot.app
    student = await Person.create(homeserver, "student")
    neighbour = await Person.create(homeserver, "neighbour")
    try:
        slug, room = await world.open_challenge("space-", "Part of the programme")

        async def space_id() -> str | None:
            async with app.db.transaction():
                return await app.rooms.known_space()

        deadline = asyncio.get_running_loop().time() + 20
        while (space := await space_id()) is None:
            assert asyncio.get_running_loop().time() < deadline, "no Space"
            await asyncio.sleep(0.2)

        entered = await student.client.join(space)  # the Space is public: anyone may enter
        assert entered.__class__.__name__ == "JoinResponse", entered

        async def child() -> dict[str, object]:
            event = await student.client.room_get_state_event(space, "m.space.child", room)
            return dict(getattr(event, "content", {}))

        while (await child()).get("via") != ["localhost"]:
            assert asyncio.get_running_loop().time() < deadline, await child()
            await asyncio.sleep(0.2)
        assert (await child())["order"] == "a"  # open challenges first
        # A student finds the room in the Space and joins it from there.
        hierarchy = await student.client.space_get_hierarchy(space)
        found = [entry["room_id"] for entry in getattr(hierarchy, "rooms", [])]
        assert room in found, hierarchy
        joined = await student.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        parent = await student.client.room_get_state_event(room, "m.space.parent", space)
        assert getattr(parent, "content", {}) == {"via": ["localhost"], "canonical": True}
        levels = await student.client.room_get_state_event(space, "m.room.power_levels")
        assert levels.content.get("users", {}).get(moderator.user_id) == 50, levels  # type: ignore[union-attr]
        # Joined through the Space, or through the room's alias, works as well as !join: the
        # bot answers there at once.
        submitted = await student.ask(room, "!idea Benches in the shade")
        idea = idea_number(submitted)
        by_alias = await neighbour.client.join(f"#{slug}:localhost")
        assert getattr(by_alias, "room_id", None) == room, by_alias
        voted = await neighbour.ask(room, f"!vote {idea}")
        assert voted.sender == world.bot.user_id and str(idea) in voted.content["body"]
        # A restart links nothing twice.
        config = world.bot.config
        await world.bot.stop()
        world.bot = await start_bot(config)
        await asyncio.sleep(2)
        async with world.bot.app.db.transaction():
            assert await world.bot.app.rooms.known_space() == space
            failed = await world.bot.app.db.fetch_value(
                "SELECT COUNT(*) FROM outbox WHERE failed IS NOT NULL"
            )
        assert failed == 0
    finally:
        await world.close()
        await student.close()
        await neighbour.close()


async def test_a_deadline_reminds_closes_with_a_summary_and_an_edit_reopens_and_renames(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, moderation_room, app = world.moderator, world.moderation_room, world.bot.app
    student = await Person.create(homeserver, "student")
    try:
        deadline = (datetime.now(UTC) + timedelta(days=3)).date()
        slug = unique("due-")
        await moderator.ask(
            moderation_room, f"!challenge new --deadline={deadline.isoformat()} {slug} Due soon"
        )
        await moderator.wait_for(lambda s: f"#{slug}:" in s.content.get("body", ""), 30)
        async with app.db.transaction():
            challenge = await app.store.challenges.by_slug(slug)
        assert challenge is not None and challenge.room_id is not None
        room, ends = challenge.room_id, challenge.submission_deadline_at
        assert ends is not None
        joined = await student.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        await student.ask(room, "!idea Shade on the square")

        def said(text: str, where: str) -> bool:
            return any(
                s.room_id == where and text in s.content.get("body", "") for s in moderator.seen
            )

        # The bot's clock, not the test's patience: 2 hours before the deadline, then after it.
        app.dispatcher.clock = lambda: ends - timedelta(hours=2)
        await student.wait_for(
            lambda s: s.room_id == room and "Herinnering" in s.content.get("body", ""), 30
        )
        app.dispatcher.clock = lambda: ends + timedelta(minutes=1)
        await student.wait_for(
            lambda s: s.room_id == room and "afgesloten" in s.content.get("body", ""), 30
        )
        summary = await moderator.wait_for(
            lambda s: (
                s.room_id == moderation_room
                and "Shade on the square" in s.content.get("body", "")
                and "Due soon" in s.content.get("body", "")
            ),
            30,
        )
        assert "1" in summary.content["body"]
        closed = await student.ask(room, "!idea Too late")
        assert "Too late" not in closed.content["body"] or "#" not in closed.content["body"]
        later = (ends + timedelta(days=7)).date().isoformat()
        await moderator.ask(moderation_room, f"!challenge edit {slug} --deadline={later} Due later")
        name = ""
        for _ in range(100):
            state = await student.client.room_get_state_event(room, "m.room.name")
            name = str(getattr(state, "content", {}).get("name"))
            if name == "Due later":
                break
            await asyncio.sleep(0.2)
        assert name == "Due later"
        await student.wait_for(
            lambda s: s.room_id == room and "weer open" in s.content.get("body", ""), 30
        )
        assert not said("Too late", moderation_room)
    finally:
        await world.close()
        await student.close()
