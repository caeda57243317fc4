"""The whole journey over a real Synapse: moderators, citizens and a student talking to the bot."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from tests.matrix_support import (
    Person,
    RunningBot,
    idea_number,
    start_bot,
    start_moderated_bot,
    unique,
)

pytestmark = pytest.mark.integration


@dataclass
class World:
    bot: RunningBot
    moderator: Person
    citizen: Person
    student: Person
    moderation_room: str
    homeserver: Homeserver
    data_dir: Path


@pytest.fixture
async def world(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[World]:
    moderated = await start_moderated_bot(homeserver, tmp_path)
    citizen = await Person.create(homeserver, "citizen")
    student = await Person.create(homeserver, "student")
    world = World(
        moderated.bot,
        moderated.moderator,
        citizen,
        student,
        moderated.moderation_room,
        homeserver,
        tmp_path,
    )
    try:
        yield world
    finally:
        await world.bot.stop()  # the test may have restarted it
        for person in (world.moderator, citizen, student):
            await person.close()


async def test_the_whole_journey(world: World) -> None:
    bot, moderator, citizen, student = world.bot, world.moderator, world.citizen, world.student
    slug = unique("mobility-")
    room = world.moderation_room

    # A moderator opens a challenge; the bot creates its room and says where it is.
    created = await moderator.ask(
        room,
        f"!challenge new --budget=3 {slug} Safer bike routes\nHow do we make cycling to school safer?",
    )
    assert slug in created.content["body"]
    ready = await moderator.wait_for(
        lambda s: (
            s.room_id == room
            and s.sender == bot.user_id
            and f"#{slug}:" in s.content.get("body", "")
        )
    )
    assert ready.content["m.mentions"] == {}
    async with bot.app.db.transaction():
        challenge = await bot.app.store.challenges.by_slug(slug)
    assert challenge is not None and challenge.room_id is not None
    challenge_room = challenge.room_id

    # Everyone can list it.
    listing = await citizen.ask(await citizen.direct_chat_with(bot.user_id), "!challenges")
    assert slug in listing.content["body"]
    dm = listing.room_id
    # The reply (``ask`` waited for it) marks the command read: clients count a sender's own
    # event as read by them. What gets no reply, a 👍, gets a receipt:
    # test_requests_around_a_command.py.

    # A student joins the challenge's room through the bot.
    student_dm = await student.direct_chat_with(bot.user_id)
    joined = await student.ask(student_dm, f"join {slug}")  # no prefix needed in a DM
    assert "Safer bike routes" in joined.content["body"]
    await student.wait_invited(challenge_room)
    await student.wait_joined(challenge_room, student.user_id)

    # A citizen submits an idea in a DM: reply with its number, an announcement, a card.
    submitted = await citizen.ask(
        dm, f"!idea {slug} Protected lanes on the Coupure\nSeparate bikes from cars."
    )
    first = idea_number(submitted)
    assert f"#{first}" in submitted.content["formatted_body"]
    await moderator.wait_for(
        lambda s: (
            s.room_id == room
            and f"#{first}" in s.content.get("body", "")
            and "Coupure" in s.content["body"]
        )
    )
    card = await student.wait_for(
        lambda s: (
            s.room_id == challenge_room
            and s.sender == bot.user_id
            and f"#{first}" in s.content.get("body", "")
        )
    )

    # The student submits in the challenge's room, where the slug is implied; the reply is its card.
    own = await student.ask(challenge_room, "!idee Car-free school streets\nAt least at 8:30.")
    second = idea_number(own)
    assert second != first

    # Votes by command and by reaction are the same vote.
    voted = await citizen.ask(dm, f"!vote {second}")
    assert "1" in voted.content["body"]
    again = await citizen.ask(dm, f"!stem #{second}")
    assert "al" in again.content["body"]  # "Je had al op ... gestemd"
    reaction = await student.react(challenge_room, card.event_id)
    await student.react(challenge_room, own.event_id)
    # Same room as the reactions, so handled after them.
    shown = await student.ask(challenge_room, f"!vote {second}")
    assert "al op" in shown.content["body"]  # the reaction had counted already
    await _eventually(citizen, dm, f"!show {first}", "1 stem ")
    await student.redact(challenge_room, reaction)
    await _eventually(citizen, dm, f"!show {first}", "0 stemmen")
    await _eventually(citizen, dm, f"!show {second}", "2 stemmen")

    # A citizen is not a moderator.
    refused = await citizen.ask(dm, f"!accept {first}")
    assert "moderator" in refused.content["body"]
    assert refused.content["m.mentions"] == {}

    # Triage: each decision reaches the author by direct message, with the moderator's words.
    before = len(citizen.messages_from(bot.user_id))
    done = await moderator.ask(room, f"!accept {first} Great idea, we will study it")
    assert f"#{first}" in done.content["body"]
    told = await citizen.wait_for(
        lambda s: (
            s.sender == bot.user_id and "Great idea, we will study it" in s.content.get("body", "")
        )
    )
    assert f"#{first}" in told.content["body"] and told.room_id == dm
    assert len(citizen.messages_from(bot.user_id)) > before

    await moderator.ask(room, f"!needinfo {second} Which streets exactly?")
    asked = await student.wait_for(lambda s: "Which streets exactly?" in s.content.get("body", ""))
    assert f"#{second}" in asked.content["body"]

    third = idea_number(await citizen.ask(dm, f"!idea {slug} Bike lanes on the Coupure"))
    fourth = idea_number(await citizen.ask(dm, f"!idea {slug} Free bikes for everyone"))
    await moderator.ask(room, f"!vote {third}")
    await moderator.ask(room, f"!vote {first}")
    merged = await moderator.ask(room, f"!duplicate {third} {first}")
    assert f"#{first}" in merged.content["body"]
    await citizen.wait_for(
        lambda s: f"#{third}" in s.content.get("body", "") and f"#{first}" in s.content["body"]
    )
    shown = await citizen.ask(dm, f"!show {first}")
    assert "1 stem" in shown.content["body"]  # the moderator voted on both: counted once

    await moderator.ask(room, f"!reject {fourth} Outside the city's budget")
    await citizen.wait_for(lambda s: "Outside the city's budget" in s.content.get("body", ""))
    await moderator.ask(room, f"!implemented {first} Built in 2026")
    await citizen.wait_for(lambda s: "Built in 2026" in s.content.get("body", ""))

    mine = await citizen.ask(dm, "!mine")
    assert f"#{fourth}" in mine.content["body"] and "afgewezen" in mine.content["body"]

    # The city exports the result, while the bot runs.
    config_path = world.data_dir / "config.toml"
    config_path.write_text(
        f'[matrix]\nhomeserver = "{world.homeserver.url}"\nuser_id = "{bot.user_id}"\npassword = "x"\n'
        f'[storage]\npath = "{bot.config.storage.path}"\n'
    )
    exported = world.data_dir / "export.json"
    assert (
        await run_cli(
            "export",
            "--config",
            str(config_path),
            "--challenge",
            slug,
            "--include-authors",
            "--output",
            str(exported),
        )
        == 0
    )
    data = json.loads(exported.read_text())
    (only,) = data["challenges"]
    assert only["slug"] == slug and only["room_id"] == challenge_room and only["status"] == "open"
    ideas = {idea["id"]: idea for idea in only["ideas"]}
    assert ideas[first]["status"] == "implemented" and ideas[first]["votes"] == 1
    assert ideas[third]["status"] == "duplicate" and ideas[third]["duplicate_of"] == first
    assert ideas[fourth]["status"] == "rejected" and ideas[second]["status"] == "needs_info"
    assert ideas[second]["votes"] == 2 and ideas[second]["author"] == student.user_id
    as_csv = world.data_dir / "export.csv"
    assert (
        await run_cli(
            "export", "--config", str(config_path), "--format", "csv", "--output", str(as_csv)
        )
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert {int(row["id"]) for row in rows if row["challenge"] == slug} == set(ideas)

    # Every message the bot sent carries m.mentions and a reply relation where it answered.
    for person in (moderator, citizen, student):
        for message in person.messages_from(bot.user_id):
            assert "m.mentions" in message.content, message.content
            assert message.content["msgtype"] == "m.notice"


async def run_cli(*args: str) -> int:
    """The ``challenge-bot`` command as a deployer runs it, in its own process."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args)
    return await process.wait()


async def _eventually(
    person: Person, room_id: str, command: str, expected: str, tries: int = 20
) -> None:
    """Ask until the answer contains ``expected``: a redaction reaches the bot asynchronously."""
    for _ in range(tries):
        answer = await person.ask(room_id, command)
        if expected in answer.content["body"]:
            return
    raise AssertionError(f"{command!r} never answered with {expected!r}")


async def test_history_before_joining_is_not_acted_on_and_device_is_kept(world: World) -> None:
    bot, citizen = world.bot, world.citizen
    room_id = await citizen.create_room([], name="Old room")
    old = await citizen.send(room_id, "!challenges")
    first_device = bot.app.client.device_id
    await bot.stop()

    restarted = await start_bot(bot.config)
    world.bot = restarted
    assert (
        restarted.app.client.device_id == first_device
    )  # the session was restored, not a new login
    invite = await citizen.client.room_invite(room_id, restarted.user_id)
    assert invite.__class__.__name__ == "RoomInviteResponse", invite
    await citizen.wait_joined(room_id, restarted.user_id)
    new = await citizen.ask(room_id, "!challenges")
    assert new.sender == restarted.user_id
    replied_to = [
        s.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        for s in citizen.messages_from(restarted.user_id, room_id)
    ]
    assert old not in replied_to
