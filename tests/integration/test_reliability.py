"""Nothing lost, nothing counted twice: kill -9, restarts with a gap, outages and rate limits."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.matrix_support import (
    PASSWORD,
    BotProcess,
    Person,
    bot_config,
    replies_by_command,
    start_bot,
    start_moderated_bot,
    unique,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration


def count_rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


async def test_kill_9_in_a_burst_loses_nothing_and_doubles_nothing(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    # Two bursts of seven ideas from each person: past the hourly limit meant for real people.
    config = bot_config(homeserver, bot_user, tmp_path, ideas_per_hour=100)
    slug = unique("burst-")
    seeded = await seed_challenge(
        config.storage.path, slug, ["Seed one", "Seed two", "Seed three"], author="@city:localhost"
    )
    bot = BotProcess(write_config(config, tmp_path / "config.toml"), tmp_path / "bot.log")
    people = [await Person.create(homeserver, f"voter{n}-") for n in range(3)]
    try:
        await bot.start()
        rooms = [await person.direct_chat_with(bot_user) for person in people]

        async def burst(person: Person, room: str, index: int) -> list[str]:
            sent = []
            for step in range(10):
                text = (
                    f"!vote {seeded[step % 3]}" if step < 3 else f"!idea {slug} Idea {index}-{step}"
                )
                sent.append(await person.send(room, text))
                await asyncio.sleep(0.15)  # a burst that lasts long enough to be cut in two
            return sent

        sending = asyncio.ensure_future(
            asyncio.gather(
                *(burst(p, r, i) for i, (p, r) in enumerate(zip(people, rooms, strict=True)))
            )
        )
        await wait_until(
            lambda: sum(len(replies_by_command(p, bot_user)) for p in people) >= 4,
            60,
            "first replies",
        )
        await bot.kill()
        killed_mid_burst = not sending.done()
        commands = await sending
        await bot.start()
        everything = [event_id for sent in commands for event_id in sent]

        def all_answered() -> bool:
            replies: dict[str, int] = {}
            for person in people:
                replies.update(replies_by_command(person, bot_user))
            return all(event_id in replies for event_id in everything)

        await wait_until(all_answered, 90, "a reply to every command")
        await asyncio.sleep(2)  # room for a duplicate to show up, if there were one
        for person, sent in zip(people, commands, strict=True):
            counts = replies_by_command(person, bot_user)
            assert [counts.get(event_id) for event_id in sent] == [1] * len(sent)
        assert killed_mid_burst  # commands were still being sent when the bot died

        # A SIGTERM in the middle of the next burst ends the process within the drain time.
        more = asyncio.ensure_future(
            asyncio.gather(
                *(burst(p, r, i + 3) for i, (p, r) in enumerate(zip(people, rooms, strict=True)))
            )
        )
        await asyncio.sleep(1.0)
        asked = time.monotonic()
        assert await bot.terminate() == 0
        took = time.monotonic() - asked
        assert took < 15, took
        commands = [*commands, *(await more)]
        await bot.start()
        everything = [event_id for sent in commands for event_id in sent]
        await wait_until(all_answered, 90, "a reply to every command after the SIGTERM")
        await asyncio.sleep(2)
        for person in people:
            assert set(replies_by_command(person, bot_user).values()) == {1}
        assert await bot.terminate() == 0
        db = config.storage.path
        assert count_rows(db, "SELECT COUNT(*) FROM ideas WHERE title LIKE 'Idea %'") == 6 * 7
        assert (
            count_rows(db, "SELECT COUNT(DISTINCT title) FROM ideas WHERE title LIKE 'Idea %'")
            == 6 * 7
        )
        for idea_id in seeded:
            assert count_rows(db, "SELECT COUNT(*) FROM votes WHERE idea_id = ?", (idea_id,)) == 3
    finally:
        await bot.close()
        for person in people:
            await person.close()


async def test_messages_sent_while_stopped_are_all_handled_beyond_one_sync(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    # 70 ideas from one person: well past the per-person limits meant for real people.
    config = bot_config(
        homeserver, bot_user, tmp_path, commands_per_minute=600, ideas_per_hour=1000
    )
    slug = unique("gap-")
    await seed_challenge(config.storage.path, slug, [], author="@city:localhost")
    bot = BotProcess(write_config(config, tmp_path / "config.toml"), tmp_path / "bot.log")
    citizen = await Person.create(homeserver, "citizen")
    try:
        await bot.start()
        room = await citizen.direct_chat_with(bot_user)
        await citizen.ask(room, "!challenges")
        assert await bot.terminate() == 0  # SIGTERM: a clean stop

        # More than one sync's timeline (50 events) while the bot is away.
        sent = [await citizen.send(room, f"!idea {slug} Away {n}") for n in range(70)]
        await bot.start()
        await wait_until(
            lambda: all(event_id in replies_by_command(citizen, bot_user) for event_id in sent),
            90,
            "70 replies",
        )
        counts = replies_by_command(citizen, bot_user)
        assert [counts[event_id] for event_id in sent] == [1] * 70
        assert await bot.terminate() == 0
        assert (
            count_rows(
                config.storage.path,
                "SELECT COUNT(DISTINCT title) FROM ideas WHERE title LIKE 'Away %'",
            )
            == 70
        )
    finally:
        await bot.close()
        await citizen.close()


async def test_a_strict_rate_limit_delays_replies_but_loses_none(tmp_path: Path) -> None:
    server = Homeserver(
        tmp_path / "synapse", rate_limits={"rc_message": {"per_second": 0.5, "burst_count": 3}}
    )
    server.start()
    try:
        admin = server.register_user(unique("admin"), PASSWORD, admin=True)
        admin_token, _device = server.login(admin, PASSWORD)
        bot_user = server.register_user(unique("bot"), PASSWORD)
        bot = await start_bot(bot_config(server, bot_user, tmp_path))
        citizen = await Person.create(server, "citizen")
        server.override_ratelimit(admin_token, citizen.user_id)  # only the bot is limited
        try:
            room = await citizen.direct_chat_with(bot_user)
            sent = [await citizen.send(room, f"!lang {'en' if n % 2 else 'nl'}") for n in range(10)]
            await wait_until(
                lambda: all(event_id in replies_by_command(citizen, bot_user) for event_id in sent),
                120,
                "10 replies",
            )
            counts = replies_by_command(citizen, bot_user)
            assert [counts[event_id] for event_id in sent] == [1] * 10
            order = [
                m.content["m.relates_to"]["m.in_reply_to"]["event_id"]
                for m in citizen.messages_from(bot_user, room)
                if "m.relates_to" in m.content
            ]
            assert order == sent  # in order, per room
        finally:
            await bot.stop()
            await citizen.close()
    finally:
        server.stop()


async def test_simultaneous_votes_by_command_and_reaction_count_exactly(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot = world.bot
    voters = [await Person.create(homeserver, f"voter{n}-") for n in range(10)]
    try:
        _slug, room = await world.open_challenge("rush-", "Livestream vote")
        for voter in voters:
            joined = await voter.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        card = await voters[0].ask(room, "!idea One idea for everyone")
        idea_id = int(re.search(r"#(\d+)", card.content["body"]).group(1))  # type: ignore[union-attr]
        for voter in voters:
            await voter.wait_for(lambda s, event_id=card.event_id: s.event_id == event_id)

        async def cast(index: int, voter: Person) -> None:
            if index % 3 != 1:
                await voter.react(room, card.event_id)
            if index % 3 != 0:
                await voter.send(room, f"!vote {idea_id}")

        await asyncio.gather(*(cast(index, voter) for index, voter in enumerate(voters)))

        async def votes() -> int:
            async with bot.app.db.transaction():
                return await bot.app.store.votes.count(idea_id)

        deadline = time.monotonic() + 30
        while await votes() < len(voters) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert await votes() == len(voters)

        # A consistent backup while the bot runs.
        config_path = write_config(bot.config, tmp_path / "config.toml")
        backup = tmp_path / "backup.sqlite3"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "backup",
            "--config",
            str(config_path),
            "--output",
            str(backup),
        )
        assert await process.wait() == 0
        with sqlite3.connect(backup) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert (
                conn.execute("SELECT COUNT(*) FROM votes WHERE idea_id = ?", (idea_id,)).fetchone()[
                    0
                ]
                == 10
            )
    finally:
        await world.close()
        for person in voters:
            await person.close()
