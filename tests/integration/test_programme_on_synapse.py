"""The programme's calendar against the real homeserver, on the bot's clock moved by the test
(:mod:`bot.bot_clock`) rather than waited for: a deadline given as a date ends with that day in
Brussels; a deadline that passed while the bot was stopped closes at its next start, once; a 👍
taken back after the deadline changes nothing; a challenge closed and reopened by hand; and the
room's place in the programme's Space following its phase."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.bot_clock import BotClock
from devtools.homeserver import Homeserver
from handlers.i18n import Moment
from handlers.programme import to_instant
from storage import Challenge
from tests.handler_support import says
from tests.matrix_support import (
    ModeratedBot,
    Person,
    idea_number,
    start_bot,
    start_moderated_bot,
    unique,
)

pytestmark = pytest.mark.integration

BRUSSELS = ZoneInfo("Europe/Brussels")
WAIT = 30.0


def a_day_ahead() -> tuple[date, datetime]:
    """A date two days ahead in Brussels, and the end of that day there (in UTC)."""
    day = (datetime.now(BRUSSELS) + timedelta(days=2)).date()
    return day, to_instant(day, BRUSSELS)


async def open_with_deadline(world: ModeratedBot, day: date, title: str) -> Challenge:
    """A challenge whose submissions end with ``day``, opened by the moderator's command."""
    slug = unique("due-")
    await world.moderator.ask(
        world.moderation_room, f"!challenge new --deadline={day.isoformat()} {slug} {title}"
    )
    await world.moderator.wait_for(lambda s: f"#{slug}:" in s.content.get("body", ""), WAIT)
    return await challenge_of(world, slug)


async def challenge_of(world: ModeratedBot, slug: str) -> Challenge:
    async with world.bot.app.db.transaction():
        challenge = await world.bot.app.store.challenges.by_slug(slug)
    assert challenge is not None and challenge.room_id is not None
    return challenge


async def votes_of(world: ModeratedBot, idea_id: int) -> int:
    async with world.bot.app.db.transaction():
        return await world.bot.app.store.votes.count(idea_id)


async def order_in_space(world: ModeratedBot, person: Person, room: str) -> Any:
    """The ``order`` of the room's ``m.space.child`` in the programme's Space, as it stands."""
    async with world.bot.app.db.transaction():
        space = await world.bot.app.rooms.known_space()
    if space is None:
        return None
    if space not in person.client.rooms:  # the Space is public: anyone may enter and look
        entered = await person.client.join(space)
        assert entered.__class__.__name__ == "JoinResponse", entered
    event = await person.client.room_get_state_event(space, "m.space.child", room)
    return getattr(event, "content", {}).get("order")


async def becomes(
    what: str, read: Callable[[], Awaitable[object]], expected: object, timeout: float = WAIT
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{what}: {value!r}"
        await asyncio.sleep(0.2)


def bodies(person: Person, sender: str, room: str, containing: str) -> list[str]:
    return [
        s.content.get("body", "")
        for s in person.messages_from(sender, room)
        if containing in s.content.get("body", "")
    ]


async def test_a_date_deadline_ends_with_that_day_in_brussels_and_the_room_moves_last(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day, end = a_day_ahead()
    clock = BotClock()
    clock.set(end - timedelta(hours=3))
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    early, late = await Person.create(homeserver, "early"), await Person.create(homeserver, "late")
    try:
        challenge = await open_with_deadline(world, day, "Midnight in Ghent")
        room = challenge.room_id
        assert room is not None and challenge.submission_deadline_at == end
        for person in (early, late):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        idea_id = idea_number(await early.ask(room, "!idea Lights on the bridge"))
        await becomes("order while open", lambda: order_in_space(world, early, room), "a")

        half_past_eleven = end - timedelta(minutes=30)
        assert half_past_eleven.astimezone(BRUSSELS).strftime("%H:%M") == "23:30"
        clock.set(half_past_eleven)
        counted = await early.ask(room, f"!vote {idea_id}")
        assert counted.content["body"].startswith("Je stem"), counted.content

        half_past_midnight = end + timedelta(minutes=30)
        assert half_past_midnight.astimezone(BRUSSELS).date() == day + timedelta(days=1)
        clock.set(half_past_midnight)
        refused = await late.ask(room, f"!vote {idea_id}")
        assert refused.content["body"] == says(
            "nl",
            "error.deadline_passed",
            slug=challenge.slug,
            deadline=Moment(end, "Europe/Brussels"),
        )
        assert "(einde van de dag)" in refused.content["body"]
        assert await votes_of(world, idea_id) == 1
        # The deadline's closing moves the room after the open ones in the Space.
        await becomes("order once closed", lambda: order_in_space(world, early, room), "z")
    finally:
        await world.close()
        await early.close()
        await late.close()


async def test_a_deadline_that_passed_while_the_bot_was_stopped_closes_at_its_start_once(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day, end = a_day_ahead()
    clock = BotClock()
    clock.set(end - timedelta(hours=2))
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    moderator, bot_user = world.moderator, world.bot.user_id
    student = await Person.create(homeserver, "student")
    try:
        challenge = await open_with_deadline(world, day, "While nobody watched")
        room = challenge.room_id
        assert room is not None
        joined = await student.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        idea_id = idea_number(await student.ask(room, "!idea Benches by the river"))
        await student.ask(room, f"!vote {idea_id}")
        closed = says("nl", "programme.closed", title="While nobody watched")
        config = world.bot.config
        await world.bot.stop()
        assert bodies(student, bot_user, room, closed) == []

        # Stopped before the deadline; started again the morning after it.
        after = BotClock()
        after.set(end + timedelta(hours=8))
        world.bot = await start_bot(config, after)
        await student.wait_for(
            lambda s: s.room_id == room and closed in s.content.get("body", ""), WAIT
        )
        summary = await moderator.wait_for(
            lambda s: s.room_id == world.moderation_room and closed in s.content.get("body", ""),
            WAIT,
        )
        assert challenge.slug in summary.content["body"]
        participants = says("nl", "programme.summary_participants", count=1)
        assert participants in summary.content["body"]
        await world.bot.stop()

        world.bot = await start_bot(config, after)  # and once more: nothing is said again
        await moderator.ask(world.moderation_room, "!challenges")  # it runs, and has swept
        await asyncio.sleep(6)  # longer than a sweep of the schedule
        assert len(bodies(student, bot_user, room, closed)) == 1
        assert len(bodies(moderator, bot_user, world.moderation_room, closed)) == 1
    finally:
        await world.close()
        await student.close()


async def test_a_thumb_taken_back_after_the_deadline_changes_nothing_like_unvote(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day, end = a_day_ahead()
    clock = BotClock()
    clock.set(end - timedelta(hours=1))
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    bot_user = world.bot.user_id
    author, voter = (
        await Person.create(homeserver, "author"),
        await Person.create(homeserver, "voter"),
    )
    try:
        challenge = await open_with_deadline(world, day, "Thumbs")
        room = challenge.room_id
        assert room is not None
        for person in (author, voter):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        # The voter's direct chat with the bot, opened the way clients open one.
        direct = await voter.direct_chat_with(bot_user)
        card = await author.ask(room, "!idea Trees on the square")
        idea_id = idea_number(card)
        reaction = await voter.react(room, card.event_id)

        async def votes() -> int:
            return await votes_of(world, idea_id)

        await becomes("the 👍 counted", votes, 1)
        clock.set(end + timedelta(minutes=10))
        await voter.redact(room, reaction)
        kept = "vote.reaction_kept"
        told = await voter.wait_for(
            lambda s: (
                s.room_id == direct and s.sender == bot_user and "👍" in s.content.get("body", "")
            ),
            WAIT,
        )
        refusal = says(
            "nl",
            "error.deadline_passed",
            slug=challenge.slug,
            deadline=Moment(end, "Europe/Brussels"),
        )
        assert told.content["body"] == says("nl", kept, id=f"#{idea_id}", reason=refusal)
        unvote = await voter.ask(room, f"!unvote {idea_id}")
        assert unvote.content["body"] == refusal
        assert await votes() == 1

        # A 👍 given again after the deadline counts for nothing, and the voter hears why there.
        await voter.react(room, card.event_id)
        late = await voter.wait_for(
            lambda s: (
                s.room_id == direct
                and s.sender == bot_user
                and "telt niet" in s.content.get("body", "")
            ),
            WAIT,
        )
        assert late.content["body"] == says(
            "nl", "vote.reaction_refused", id=f"#{idea_id}", reason=refusal
        )
        assert await votes() == 1
        # Neither was said in the challenge's room.
        in_room = [x.content.get("body", "") for x in voter.seen if x.room_id == room]
        assert told.content["body"] not in in_room and late.content["body"] not in in_room
    finally:
        await world.close()
        await author.close()
        await voter.close()


async def test_closing_by_hand_sums_up_once_and_reopening_plans_the_deadline_again(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    day, end = a_day_ahead()
    clock = BotClock()
    clock.set(end - timedelta(hours=30))  # before the reminder
    world = await start_moderated_bot(homeserver, tmp_path, clock=clock)
    moderator, bot_user, moderation_room = world.moderator, world.bot.user_id, world.moderation_room
    student = await Person.create(homeserver, "student")
    try:
        challenge = await open_with_deadline(world, day, "By hand")
        room, slug = challenge.room_id, challenge.slug
        assert room is not None
        joined = await student.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        await student.ask(room, "!idea Fountains")
        closed = says("nl", "programme.closed", title="By hand")

        await moderator.ask(moderation_room, f"!challenge close {slug}")
        await student.wait_for(
            lambda s: s.room_id == room and closed in s.content.get("body", ""), WAIT
        )
        await moderator.wait_for(
            lambda s: s.room_id == moderation_room and closed in s.content.get("body", ""), WAIT
        )
        await becomes("order closed by hand", lambda: order_in_space(world, student, room), "z")

        clock.set(end - timedelta(hours=3))  # its reminder came while closed: not said late
        await moderator.ask(moderation_room, f"!challenge open {slug}")
        await becomes("order reopened", lambda: order_in_space(world, student, room), "a")
        clock.set(end + timedelta(minutes=1))  # the deadline still closes it, with its summary

        async def summaries() -> tuple[int, int]:
            return (
                len(bodies(student, bot_user, room, closed)),
                len(bodies(moderator, bot_user, moderation_room, closed)),
            )

        await becomes("a summary at the deadline, in each room", summaries, (2, 2))
        await becomes("order at the deadline", lambda: order_in_space(world, student, room), "z")
        assert bodies(student, bot_user, room, "Herinnering") == []
    finally:
        await world.close()
        await student.close()
