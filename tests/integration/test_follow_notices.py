"""Following against the real homeserver, on the bot's clock moved by the test
(:mod:`bot.bot_clock`): a follower who chose ``direct`` is told of an idea's acceptance at once,
a voter (daily by default) in a digest that arrives once at its hour, not again after a restart,
and not at all on a day without changes; before the last deadline the person with a vote left
is reminded in their direct chat, the one who used it is not; the voters of a merged idea are
told once each where their vote went."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bot_clock import BotClock
from devtools.homeserver import Homeserver
from tests.handler_support import says
from tests.integration.test_programme_on_synapse import a_day_ahead
from tests.matrix_support import ModeratedBot, Person, idea_number, start_bot, start_moderated_bot

pytestmark = pytest.mark.integration

BRUSSELS = ZoneInfo("Europe/Brussels")
WAIT = 30.0
#: Longer than a sweep (bot/sweeper.py, every 5 s): what was due has been done.
A_SWEEP = 6.0


def from_bot(person: Person, bot_user: str, room: str, containing: str) -> list[str]:
    return [
        s.content.get("body", "")
        for s in person.messages_from(bot_user, room)
        if containing in s.content.get("body", "")
    ]


async def joined(person: Person, room: str) -> None:
    response = await person.client.join(room)
    assert response.__class__.__name__ == "JoinResponse", response


async def digest_state(world: ModeratedBot) -> str | None:
    async with world.bot.app.db.transaction():
        return await world.bot.app.store.state.get("digest:daily")


async def test_a_follower_hears_of_an_acceptance_at_once_a_voter_in_one_daily_digest(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day = (datetime.now(BRUSSELS) + timedelta(days=2)).date()
    noon = datetime.combine(day, time(12), BRUSSELS)
    six_pm = datetime.combine(day, time(18), BRUSSELS)
    clock = BotClock()
    clock.set(noon)
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    bot_user = world.bot.user_id
    author = await Person.create(homeserver, "author")
    follower = await Person.create(homeserver, "follower")
    voter = await Person.create(homeserver, "voter")
    try:
        _slug, room = await world.open_challenge("follow-", "Lights")
        for person in (author, follower, voter):
            await joined(person, room)
        idea = idea_number(await author.ask(room, "!idea Lights on the bridge"))
        followers_chat = await follower.direct_chat_with(bot_user)
        voters_chat = await voter.direct_chat_with(bot_user)
        await follower.ask(followers_chat, "!meldingen direct")
        await follower.ask(followers_chat, f"!volg {idea}")
        counted = await voter.ask(room, f"!stem {idea}")  # voting follows it; daily by default
        assert counted.content["body"].startswith("Je stem"), counted.content

        await world.moderator.ask(world.moderation_room, f"!aanvaard {idea}")

        accepted = says(
            "nl", "notify.status", id=f"#{idea}", title="Lights on the bridge", status="aanvaard"
        )
        told = await follower.wait_for(
            lambda s: s.room_id == followers_chat and accepted in s.content.get("body", ""), WAIT
        )
        assert says("nl", "notify.direct_header") in told.content["body"]
        assert "!ideeën" in told.content["body"]  # what to do next
        await asyncio.sleep(A_SWEEP)
        assert from_bot(voter, bot_user, voters_chat, "") == []  # the voter waits for 18:00

        clock.set(six_pm + timedelta(minutes=1))
        digest = await voter.wait_for(
            lambda s: (
                s.room_id == voters_chat
                and says("nl", "notify.digest_header") in s.content.get("body", "")
            ),
            WAIT,
        )
        assert accepted in digest.content["body"]
        assert "Lights (follow-" in digest.content["body"]  # grouped under its challenge

        # A restart at the same time sends nothing again.
        config = world.bot.config
        await world.bot.stop()
        world.bot = await start_bot(config, clock)
        await world.moderator.ask(world.moderation_room, "!uitdagingen")
        await asyncio.sleep(A_SWEEP)
        header = says("nl", "notify.digest_header")
        assert len(from_bot(voter, bot_user, voters_chat, header)) == 1

        # The next day at the hour: its digest round runs, and with nothing new, says nothing.
        next_day = datetime.combine(day + timedelta(days=1), time(18), BRUSSELS)
        clock.set(next_day + timedelta(minutes=1))

        async def ran() -> bool:
            return await digest_state(world) == next_day.astimezone(ZoneInfo("UTC")).isoformat()

        deadline = asyncio.get_running_loop().time() + WAIT
        while not await ran():
            assert asyncio.get_running_loop().time() < deadline, await digest_state(world)
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert len(from_bot(voter, bot_user, voters_chat, header)) == 1
        assert len(from_bot(follower, bot_user, followers_chat, header)) == 0
    finally:
        await world.close()
        for person in (author, follower, voter):
            await person.close()


async def test_a_voting_reminder_reaches_who_has_a_vote_left_not_who_used_it(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day, end = a_day_ahead()
    clock = BotClock()
    clock.set(end - timedelta(hours=30))  # before the reminder (24 hours before)
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    bot_user = world.bot.user_id
    author = await Person.create(homeserver, "author")
    voter = await Person.create(homeserver, "voter")
    try:
        slug, room = await world.open_challenge(
            "remind-", "Remind me", options=f"--deadline={day.isoformat()} --budget=1"
        )
        chats = {}
        for person in (author, voter):
            await joined(person, room)
            chats[person.user_id] = await person.direct_chat_with(bot_user)
        idea = idea_number(await author.ask(room, "!idea Benches by the river"))
        await voter.ask(room, f"!vote {idea}")  # the voter's one vote is used

        clock.set(end - timedelta(hours=2))
        header = "Herinnering: voor"
        reminder = await author.wait_for(
            lambda s: s.room_id == chats[author.user_id] and header in s.content.get("body", ""),
            WAIT,
        )
        assert (
            says("nl", "remind.votes_left", count=1, ideas=1, command=f"!ideeën {slug}")
            in (reminder.content["body"])
        )
        # The room is reminded as before, and the voter hears it there only.
        await voter.wait_for(
            lambda s: s.room_id == room and s.content.get("body", "").startswith("Herinnering"),
            WAIT,
        )
        await asyncio.sleep(A_SWEEP)
        assert from_bot(voter, bot_user, chats[voter.user_id], "") == []
        assert len(from_bot(author, bot_user, chats[author.user_id], header)) == 1
    finally:
        await world.close()
        await author.close()
        await voter.close()


async def test_the_voters_of_a_merged_idea_are_told_once_where_their_vote_went(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    author = await Person.create(homeserver, "author")
    moved = await Person.create(homeserver, "moved")
    both = await Person.create(homeserver, "both")
    try:
        _slug, room = await world.open_challenge("merge-", "Merges")
        chats = {}
        for person in (author, moved, both):
            await joined(person, room)
        for person in (moved, both):
            chats[person.user_id] = await person.direct_chat_with(bot_user)
            await person.ask(chats[person.user_id], "!notifications direct")
        original = idea_number(await author.ask(room, "!idea Bike parking"))
        copy = idea_number(await author.ask(room, "!idea More bike racks"))
        await moved.ask(room, f"!vote {copy}")
        await both.ask(room, f"!vote {copy}")
        await both.ask(room, f"!vote {original}")

        await world.moderator.ask(world.moderation_room, f"!dubbel {copy} {original}")

        params = {"id": f"#{copy}", "title": "More bike racks", "original": f"#{original}"}
        went = says("nl", "notify.vote_moved", **params)
        once = says("nl", "notify.vote_once", **params)
        await moved.wait_for(
            lambda s: s.room_id == chats[moved.user_id] and went in s.content.get("body", ""),
            WAIT,
        )
        await both.wait_for(
            lambda s: s.room_id == chats[both.user_id] and once in s.content.get("body", ""),
            WAIT,
        )
        await asyncio.sleep(A_SWEEP)
        merged = f"#{copy}"
        assert len(from_bot(moved, bot_user, chats[moved.user_id], merged)) == 1
        assert len(from_bot(both, bot_user, chats[both.user_id], merged)) == 1
        assert from_bot(both, bot_user, chats[both.user_id], went) == []
    finally:
        await world.close()
        for person in (author, moved, both):
            await person.close()
