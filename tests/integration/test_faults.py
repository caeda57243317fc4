"""A homeserver behind a proxy that fails the way networks do: away for 20 s, connections cut
again and again, a first sync that comes late. Nothing lost, nothing doubled, back in seconds."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from devtools.homeserver import Homeserver
from tests.fault_proxy import FaultProxy
from tests.matrix_support import (
    PASSWORD,
    Person,
    Seen,
    bot_config,
    replies_by_command,
    start_bot,
    start_moderated_bot,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration


def behind(config: Config, proxy: FaultProxy) -> Config:
    matrix = config.matrix.model_copy(update={"homeserver": proxy.url})
    return config.model_copy(update={"matrix": matrix})


async def test_back_within_seconds_of_a_20_s_outage_with_few_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = Homeserver(tmp_path / "synapse")
    server.start()
    proxy = FaultProxy(server.port)
    await proxy.start()
    try:
        bot_user = server.register_user(unique("bot"), PASSWORD)
        bot = await start_bot(behind(bot_config(server, bot_user, tmp_path), proxy))
        citizen = await Person.create(server, "citizen")
        requests: list[float] = []
        original_send = bot.app.client.send

        async def counting_send(*args: Any, **kwargs: Any) -> Any:
            requests.append(time.monotonic())
            return await original_send(*args, **kwargs)

        bot.app.client.send = counting_send  # type: ignore[method-assign]
        try:
            room = await citizen.direct_chat_with(bot_user)
            await citizen.ask(room, "!challenges")
            server.stop()  # the proxy answers 502 meanwhile, as nginx would
            outage_start = time.monotonic()
            await asyncio.sleep(20)
            server.start()
            back = time.monotonic()
            during = [t for t in requests if outage_start <= t <= back]
            answered = await citizen.ask(room, "!challenges")
            recovered_after = time.monotonic() - back
            assert answered.sender == bot_user
            assert not bot.task.done()  # recovered without a restart
            # A look every 2 to 2.5 s: about ten requests in 20 s, never a tight loop ...
            assert 4 <= len(during) <= 14, len(during)
            # ... and the first answer within seconds of the return, not after a long backoff.
            assert recovered_after < 8, recovered_after
            with capsys.disabled():
                sys.stdout.write(
                    f"\n[outage] 20 s outage behind a proxy: {len(during)} requests during it; "
                    f"answered {recovered_after:.1f} s after the homeserver was back\n"
                )
        finally:
            await bot.stop()
            await citizen.close()
    finally:
        await proxy.close()
        server.stop()


async def test_connections_cut_again_and_again_lose_and_double_nothing(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    proxy = FaultProxy(homeserver.port)
    await proxy.start()
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path, commands_per_minute=600)
    bot = await start_bot(behind(config, proxy))
    citizen = await Person.create(homeserver, "citizen")
    cutting = True

    async def cut_repeatedly() -> int:
        cuts = 0
        while cutting:
            await asyncio.sleep(0.4)
            cuts += proxy.cut_all() > 0
        return cuts

    try:
        room = await citizen.direct_chat_with(bot_user)
        cutter = asyncio.create_task(cut_repeatedly())
        sent = []
        for number in range(30):
            sent.append(await citizen.send(room, f"!lang {'en' if number % 2 else 'nl'}"))
            await asyncio.sleep(0.1)
        await wait_until(
            lambda: all(event_id in replies_by_command(citizen, bot_user) for event_id in sent),
            90,
            "30 replies through cut connections",
        )
        cutting = False
        cuts = await cutter
        await asyncio.sleep(2)  # room for a duplicate to show up, if there were one
        counts = replies_by_command(citizen, bot_user)
        assert [counts[event_id] for event_id in sent] == [1] * 30
        assert cuts >= 5  # the connections really were cut while the replies went out
    finally:
        cutting = False
        await bot.stop()
        await citizen.close()
        await proxy.close()


async def test_a_late_first_sync_drops_nothing_and_an_author_gets_one_dm(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, bot_user = world.moderator, world.bot.user_id
    author = await Person.create(homeserver, "author")
    proxy = FaultProxy(homeserver.port)
    await proxy.start()
    try:
        _slug, room = await world.open_challenge("late-", "A slow start")
        joined = await author.client.join(room)
        assert joined.__class__.__name__ == "JoinResponse", joined
        submitted = await author.ask(room, "!idea Shade on the square")
        idea_id = int(re.search(r"#(\d+)", submitted.content["body"]).group(1))  # type: ignore[union-attr]
        config = world.bot.config
        await world.bot.stop()
        # A homeserver that answers the bot's first sync 8 s late, while its delivery loop
        # already runs; then three outcomes for an author who never wrote to the bot.
        moderation_room = world.moderation_room
        proxy.sync_delay_until = time.monotonic() + 8
        world.bot = await start_bot(behind(config, proxy))
        for command in (f"!needinfo {idea_id} How much shade?", f"!accept {idea_id}"):
            await moderator.ask(moderation_room, command)
        await moderator.ask(moderation_room, f"!implemented {idea_id} Done")

        def outcomes() -> list[Seen]:  # encrypted: this client sees that they came, not what
            return [
                s
                for s in author.seen
                if s.sender == bot_user and s.room_id != room and s.type == "m.room.encrypted"
            ]

        await wait_until(lambda: len(outcomes()) >= 3, 90, "three outcomes in a direct chat")
        await asyncio.sleep(2)
        assert len({s.room_id for s in outcomes()}) == 1  # one DM for three outcomes
        assert len(outcomes()) == 3
        assert not [s for s in author.messages_from(bot_user) if s.room_id != room]
        assert len(author.invites) == 1
        async with world.bot.app.db.transaction():
            failed = await world.bot.app.db.fetch_value(
                "SELECT COUNT(*) FROM outbox WHERE failed IS NOT NULL"
            )
        assert failed == 0
    finally:
        await world.close()
        await author.close()
        await proxy.close()


async def test_a_room_made_just_before_a_crash_is_found_again_not_made_twice(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    app = world.bot.app
    original_address_of = app.rooms.address_of
    crashes = []

    async def crash_once(room_id: str, slug: str) -> str:
        # The room exists on the homeserver, its record is not written yet: the moment a crash
        # (or a cut connection) can strike. The retry must recognise the room, not make another.
        if not crashes:
            crashes.append(room_id)
            await wait_until(lambda: room_id in app.client.rooms, 20, "the new room synced")
            raise RuntimeError("crash between the room's creation and its record")
        return await original_address_of(room_id, slug)

    app.rooms.address_of = crash_once  # type: ignore[method-assign]
    try:
        slug = unique("once-")
        await world.moderator.ask(world.moderation_room, f"!challenge new {slug} Made once")
        await world.moderator.wait_for(lambda s: f"#{slug}:" in s.content.get("body", ""), 30)
        async with app.db.transaction():
            challenge = await app.store.challenges.by_slug(slug)
        assert challenge is not None and challenge.room_id == crashes[0]
        named = [room for room in app.client.rooms.values() if room.name == "Made once"]
        assert len(named) == 1
        await asyncio.sleep(1)
        notices = [
            s
            for s in world.moderator.seen
            if s.room_id == world.moderation_room and f"#{slug}:" in s.content.get("body", "")
        ]
        assert len(notices) == 1
    finally:
        await world.close()
