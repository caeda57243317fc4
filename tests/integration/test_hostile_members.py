"""Room members acting as attackers against the real homeserver: a banned moderator, a room
admin who redacts someone's 👍, an idea shown over and over, a storm of 👍 variants."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from tests.integration.test_cards import edits_of
from tests.matrix_support import Person, Seen, idea_number, start_moderated_bot

pytestmark = pytest.mark.integration

SKIN_TONES = ["", "\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
PRESENTATIONS = ["", "\ufe0f", "\ufe0e"]


async def power_of(person: Person, room_id: str, user_id: str) -> int | None:
    state = await person.client.room_get_state_event(room_id, "m.room.power_levels")
    users = state.content.get("users", {})  # type: ignore[union-attr]
    level = users.get(user_id)
    return level if isinstance(level, int) else None


async def becomes(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)


async def test_a_banned_moderator_is_no_moderator_and_loses_power_in_the_bots_rooms(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot, owner, moderation_room = world.bot, world.moderator, world.moderation_room
    helper = await Person.create(homeserver, "helper")
    try:
        _slug, challenge_room = await world.open_challenge("ban-", "Safer crossings")
        # The owner of the moderation room makes a helper a moderator by power level.
        invited = await owner.client.room_invite(moderation_room, helper.user_id)
        assert invited.__class__.__name__ == "RoomInviteResponse", invited
        await owner.wait_joined(moderation_room, helper.user_id)
        await owner.set_power_level(moderation_room, helper.user_id, 50)
        dm = await helper.direct_chat_with(bot.user_id)

        async def helper_empowered() -> bool:
            return await power_of(owner, challenge_room, helper.user_id) == 50

        await becomes(
            "the helper got the moderators' power in the challenge room", helper_empowered
        )
        blocked = await helper.ask(dm, "!block @first-target:localhost spam")
        assert "moderator" not in blocked.content["body"]
        async with bot.app.db.transaction():
            assert await bot.app.store.blocks.is_blocked("@first-target:localhost")

        # Banned: the level stays in m.room.power_levels, the rights do not.
        banned = await owner.client.room_ban(moderation_room, helper.user_id, "abuse")
        assert banned.__class__.__name__ == "RoomBanResponse", banned
        levels = await owner.client.room_get_state_event(moderation_room, "m.room.power_levels")
        assert levels.content["users"][helper.user_id] == 50  # type: ignore[union-attr]

        async def helper_stripped() -> bool:
            return await power_of(owner, challenge_room, helper.user_id) is None

        await becomes("the banned helper lost the power in the challenge room", helper_stripped)
        refused = await helper.ask(dm, "!block @second-target:localhost spam")
        assert "moderator" in refused.content["body"]
        async with bot.app.db.transaction():
            assert not await bot.app.store.blocks.is_blocked("@second-target:localhost")
        # The owner, listed in the config, still moderates.
        kept = await owner.ask(moderation_room, "!block @third-target:localhost spam")
        assert "moderator" not in kept.content["body"]
    finally:
        await world.close()
        await helper.close()


async def test_a_redaction_by_someone_else_takes_no_vote_back(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot, moderator = world.bot, world.moderator
    author = await Person.create(homeserver, "author")
    voter = await Person.create(homeserver, "voter")
    try:
        _slug, room = await world.open_challenge("redact-", "Quiet streets")
        for person in (author, voter, moderator):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ in ("JoinResponse",), joined
        card = await author.ask(room, "!idea Car-free Sundays")
        idea_id = idea_number(card)
        await voter.wait_for(lambda s: s.event_id == card.event_id)
        reaction = await voter.react(room, card.event_id)

        async def votes() -> int:
            async with bot.app.db.transaction():
                return await bot.app.store.votes.count(idea_id)

        async def counted() -> bool:
            return await votes() == 1

        await becomes("the 👍 counted", counted)
        # The moderator has the power to redact in the challenge room, and uses it on the 👍.
        await moderator.wait_for(lambda s: s.event_id == reaction)
        await moderator.redact(room, reaction)
        # Commands in a room are handled in order: once this is answered, so was the redaction.
        await moderator.wait_for(lambda s: s.type == "m.room.redaction" and s.room_id == room)
        await author.ask(room, f"!show {idea_id}")
        assert await votes() == 1
        async with bot.app.db.transaction():
            assert await bot.app.store.votes.has_voted(idea_id, voter.user_id)
        # The voter can still take it back themselves.
        taken_back = await voter.ask(room, f"!unvote {idea_id}")
        assert f"#{idea_id}" in taken_back.content["body"]
        assert await votes() == 0
    finally:
        await world.close()
        await author.close()
        await voter.close()


async def test_an_idea_shown_ten_times_costs_one_edit_per_vote(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    student = await Person.create(homeserver, "student")
    voter = await Person.create(homeserver, "voter")
    try:
        _slug, room = await world.open_challenge("shown-", "Bike parking")
        for person in (student, voter):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        card = await student.ask(room, "!idea Racks at every tram stop")
        idea_id = idea_number(card)
        shown: list[Seen] = []
        for _ in range(10):
            shown.append(await student.ask(room, f"!show {idea_id}"))
        cards = [card, *shown]
        await voter.wait_for(lambda s: s.event_id == shown[-1].event_id)
        await voter.ask(room, f"!vote {idea_id}")
        await student.wait_for(
            lambda s: any(s in edits_of(student, c.event_id) for c in cards), timeout=30
        )
        await asyncio.sleep(3)  # no edit still on its way
        edits = [edit for c in cards for edit in edits_of(student, c.event_id)]
        assert len(edits) == 1, [e.content.get("body") for e in edits]
        # The live card is the latest one shown, and a 👍 on an older card still counts.
        assert edits[0].content["m.relates_to"]["event_id"] == shown[-1].event_id
        assert "1 stem" in edits[0].content["m.new_content"]["body"]
    finally:
        await world.close()
        await student.close()
        await voter.close()


async def test_a_storm_of_thumbs_on_a_closed_challenge_makes_a_few_direct_messages(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path, commands_per_minute=20)
    bot, moderator, moderation_room = world.bot, world.moderator, world.moderation_room
    author = await Person.create(homeserver, "author")
    attacker = await Person.create(homeserver, "attacker")
    try:
        slug, room = await world.open_challenge("storm-", "Greener schoolyards")
        for person in (author, attacker):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        cards = [await author.ask(room, f"!idea Idea {n}") for n in range(2)]
        await moderator.ask(moderation_room, f"!challenge close {slug}")
        for card in cards:
            await attacker.wait_for(lambda s, card=card: s.event_id == card.event_id)
        # The attacker's own direct chat with the bot (unencrypted: this client reads it).
        direct = await attacker.direct_chat_with(bot.user_id)
        variants = [f"👍{tone}{shape}" for tone in SKIN_TONES for shape in PRESENTATIONS]
        assert len(variants) == 18
        sent = await asyncio.gather(
            *(attacker.react(room, card.event_id, key) for card in cards for key in variants)
        )
        assert len(sent) == 36
        # The first explanation opens a direct chat; a moment after it, count what came.
        await attacker.wait_for(lambda s: s.sender == bot.user_id and s.room_id == direct)
        await asyncio.sleep(4)
        from_bot = [
            s
            for s in attacker.messages_from(bot.user_id)
            if s.room_id != room and s.content.get("body")
        ]
        assert 1 <= len(from_bot) <= 2, [s.content.get("body") for s in from_bot]
        assert all("👍" in s.content.get("body", "") for s in from_bot)
        ideas = {idea_number(s) for s in from_bot}
        assert ideas <= {idea_number(card) for card in cards}
        async with bot.app.db.transaction():
            for card in cards:
                assert await bot.app.store.votes.count(idea_number(card)) == 0
    finally:
        await world.close()
        await author.close()
        await attacker.close()
