"""Keeping people taking part (#23), against the real homeserver: ``!open`` in a challenge's
room lists, in the person's direct chat, exactly the ideas still open to them; a card links
to the generated public report at its idea; an idea crossing the support threshold is flagged
to the moderators once, and its author and a follower on ``direct`` told once, also across a
restart of the bot."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from devtools.homeserver import Homeserver
from handlers.i18n import Catalogue
from handlers.settings import ReportSettings
from tests.matrix_support import (
    Person,
    idea_number,
    reply_target,
    start_bot,
    start_moderated_bot,
    wait_until,
    write_config,
)
from tests.report_support import anchors

pytestmark = pytest.mark.integration

BASE = "https://stad.gent/uitdagingen/"


async def join(person: Person, room: str) -> None:
    joined = await person.client.join(room)
    assert joined.__class__.__name__ == "JoinResponse", joined


async def test_open_in_a_challenge_room_lists_exactly_the_open_ideas_in_the_direct_chat(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    citizen = await Person.create(homeserver, "citizen")
    others = [await Person.create(homeserver, f"other{n}-") for n in range(2)]
    try:
        slug, room = await world.open_challenge("open-", "Quieter streets", "--budget=3")
        # Her direct chat with the bot, made as a client makes one (the bot's own are
        # encrypted, which this test's client does not read).
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, "!challenges")
        for person in (citizen, *others):
            await join(person, room)
        own = idea_number(await citizen.ask(room, "!idea Speed bumps near schools"))
        voted = idea_number(await others[0].ask(room, "!idea Car-free Sundays"))
        best = idea_number(await others[0].ask(room, "!idea More trees on the Coupure"))
        quiet = idea_number(await others[1].ask(room, "!idea Benches at the tram stop"))
        rejected = idea_number(await others[1].ask(room, "!idea Ban all cars tomorrow"))
        hidden = idea_number(await others[1].ask(room, "!idea Something offensive"))
        await others[1].ask(room, f"!vote {best}")
        await citizen.ask(room, f"!vote {voted}")
        await world.moderator.ask(world.moderation_room, f"!reject {rejected} Not feasible")
        await world.moderator.ask(world.moderation_room, f"!hide {hidden} Offensive")

        answer = await citizen.ask(room, "!open")

        # In the room only that the list went elsewhere: what she voted for is hers alone.
        assert answer.content["body"] == Catalogue().plain("nl", "open.sent_elsewhere")
        listing = await citizen.wait_for(
            lambda s: (
                s.sender == bot_user
                and s.room_id == dm
                and "Nog open voor jou" in str(s.content.get("body", ""))
            )
        )
        body = listing.content["body"]
        assert [int(n) for n in re.findall(r"#(\d+)", body)] == [best, quiet]
        for left_out in (own, voted, rejected, hidden):
            assert f"#{left_out} " not in body
        assert "nog 2 van je 3 stemmen" in body
        assert slug in body
        # Nobody else in the room got it.
        assert not any("Nog open voor jou" in str(s.content.get("body")) for s in others[0].seen)
    finally:
        await world.close()
        for person in (citizen, *others):
            await person.close()


async def test_a_cards_link_opens_the_generated_report_at_its_idea(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(
        homeserver, tmp_path / "bot", report=ReportSettings(public_url=BASE)
    )
    student = await Person.create(homeserver, "student")
    try:
        slug, room = await world.open_challenge("linked-", "Greener squares")
        await join(student, room)
        card = await student.ask(room, "!idea Trees on the Vrijdagmarkt")
        idea = idea_number(card)
        html = card.content["formatted_body"]
        hrefs = re.findall(r'<a href="([^"]+)"', html)
        assert hrefs == [f"{BASE}challenges/{slug}.html#idea-{idea}"], html
        assert hrefs[0] in card.content["body"]

        # The city publishes the report as a deployer does: `challenge-bot report`.
        config = write_config(world.bot.config, tmp_path / "config.toml")
        site = tmp_path / "site"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "report",
            "--config",
            str(config),
            "--output",
            str(site),
            env={**os.environ},
        )
        assert await asyncio.wait_for(process.wait(), timeout=120) == 0

        parts = urlsplit(hrefs[0])
        page = site / unquote(parts.path).removeprefix(urlsplit(BASE).path)
        assert page.is_file(), page
        rows = anchors(page)
        assert parts.fragment in rows
        assert rows[parts.fragment].startswith(f"#{idea} Trees on the Vrijdagmarkt")
    finally:
        await world.close()
        await student.close()


async def test_an_idea_crossing_the_threshold_is_flagged_once_also_across_a_restart(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    author = await Person.create(homeserver, "author")
    voters = [await Person.create(homeserver, f"voter{n}-") for n in range(3)]
    follower = await Person.create(homeserver, "follower")
    bot = world.bot
    try:
        _slug, room = await world.open_challenge("threshold-", "Safer crossings", "--threshold=2")
        for person in (author, *voters, follower):
            await join(person, room)
        dm = await author.direct_chat_with(bot_user)  # where the author hears of it
        await author.ask(dm, "!challenges")
        card = await author.ask(room, "!idea Zebra crossing at the school")
        idea = idea_number(card)
        follows = await follower.direct_chat_with(bot_user)  # where the follower hears of it
        await follower.ask(follows, "!meldingen direct")
        await follower.ask(follows, f"!volg {idea}")

        def flags() -> list[str]:
            return [
                str(s.content.get("body"))
                for s in world.moderator.messages_from(bot_user, world.moderation_room)
                if reply_target(s.content) is None  # not an answer to a command (!queue)
                and "steundrempel" in str(s.content.get("body"))
                and f"#{idea}" in str(s.content)
            ]

        def told() -> list[str]:
            return [
                str(s.content.get("body"))
                for s in author.messages_from(bot_user, dm)
                if "steundrempel" in str(s.content.get("body"))
            ]

        def followed() -> list[str]:
            return [
                str(s.content.get("body"))
                for s in follower.messages_from(bot_user, follows)
                if "steundrempel" in str(s.content.get("body"))
            ]

        await voters[0].ask(room, f"!vote {idea}")
        await asyncio.sleep(1)
        assert flags() == [] and told() == [] and followed() == []
        await voters[1].react(room, card.event_id)  # the second vote, by 👍 on its card
        await wait_until(lambda: len(flags()) == 1, 30, "the moderators' flag")
        await wait_until(lambda: len(told()) == 1, 30, "the author's message")
        await wait_until(lambda: len(followed()) == 1, 30, "the follower's notice")
        assert f"#{idea}" in followed()[0] and "Zebra crossing at the school" in followed()[0]
        assert "Zebra crossing at the school" in flags()[0]

        # Below the threshold and back, then a restart and more votes: never a second flag.
        await voters[0].ask(room, f"!unvote {idea}")
        await voters[0].ask(room, f"!vote {idea}")
        await bot.stop()
        bot = await start_bot(bot.config)
        await voters[2].ask(room, f"!vote {idea}")
        queue = await world.moderator.ask(world.moderation_room, "!queue")
        assert f"#{idea}" in queue.content["body"] and "steundrempel" in queue.content["body"]
        await asyncio.sleep(2)
        assert len(flags()) == 1 and len(told()) == 1 and len(followed()) == 1
        async with bot.app.db.transaction():
            found = await bot.app.store.ideas.get(idea)
        assert found is not None and found.votes == 3 and found.support_reached_at is not None
    finally:
        await bot.stop()
        await world.moderator.close()
        for person in (author, *voters, follower):
            await person.close()
