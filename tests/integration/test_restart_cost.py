"""What a restart and a backlog of invites cost, against the real homeserver: no full-state sync
at restart (the rooms' state is the bot's own), invites accepted in the background while answers
go out, ``m.direct`` written in batches, SIGTERM during joins, and rooms that are done."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from nio import RoomCreateResponse, RoomPreset

from bot.app import BotApp
from bot.config import Config
from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.matrix_support import (
    PASSWORD,
    BotProcess,
    Person,
    RunningBot,
    bot_config,
    idea_number,
    start_bot,
    start_moderated_bot,
    unique,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration

REASON = "Outside the city's remit, sorry"
#: What the README and docs/operators.md promise for a stop (systemd waits 30 s).
STOP_WITHIN = 14.0


async def start_recording(config: Config) -> tuple[RunningBot, list[dict[str, Any]]]:
    """The bot, with every sync request it makes recorded (its arguments)."""
    app = BotApp(config)
    syncs: list[dict[str, Any]] = []
    sync = app.client.sync

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        syncs.append(kwargs)
        return await sync(*args, **kwargs)

    app.client.sync = recorded  # type: ignore[method-assign]
    task = asyncio.create_task(app.run())
    await wait_until(lambda: app.sync.first_sync_done.is_set() or task.done(), 30, "first sync")
    if task.done():
        task.result()
    return RunningBot(app, task, config), syncs


async def direct_invite(person: Person, bot_user: str) -> str:
    """A direct chat as Element makes it, the bot invited and not (yet) joined."""
    response = await person.client.room_create(
        is_direct=True, invite=[bot_user], preset=RoomPreset.trusted_private_chat
    )
    assert isinstance(response, RoomCreateResponse), response
    return str(response.room_id)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute(sql)]


async def test_a_restart_asks_for_no_full_state_and_knows_its_rooms(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """After a restart the bot syncs from its position without full state, and still: sends
    encrypted to a direct chat that had no news since (matrix-nio loads its members then), and
    knows a moderator by power level in a moderation room that had no news either."""
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user, moderation_room = world.bot.user_id, world.moderation_room
    author = await Person.create(homeserver, "author", store_path=tmp_path / "author-keys")
    helper = await Person.create(homeserver, "helper")
    bot: RunningBot | None = None
    try:
        slug, _room = await world.open_challenge("restart-", "Quiet streets")
        invited = await world.moderator.client.room_invite(moderation_room, helper.user_id)
        assert invited.__class__.__name__ == "RoomInviteResponse", invited
        await world.moderator.wait_joined(moderation_room, helper.user_id)
        await world.moderator.set_power_level(moderation_room, helper.user_id, 50)
        helper_dm = await helper.direct_chat_with(bot_user)
        author_dm = await author.direct_chat_with(bot_user, encrypted=True)
        idea_id = idea_number(await author.ask(author_dm, f"!idea {slug} Benches in the shade"))
        await helper.ask(helper_dm, "!help")  # known as a direct chat before the restart
        config = world.bot.config
        await world.bot.stop()

        bot, syncs = await start_recording(config)
        room = bot.app.client.rooms[author_dm]
        assert room.encrypted  # rebuilt from the database, before any news from the room
        assert all(not call.get("full_state") for call in syncs), syncs
        assert syncs[0].get("since")  # from the saved position

        # A moderator by power level; the moderation room had no news since the restart.
        blocked = await helper.ask(helper_dm, "!block @restart-target:localhost spam")
        assert "moderator" not in blocked.content["body"]
        # The author's encrypted direct chat had no news either: the bot sends there, encrypted,
        # and the author reads it.
        await world.moderator.ask(moderation_room, f"!reject {idea_id} {REASON}")
        told = await author.wait_for(
            lambda s: s.room_id == author_dm and REASON in str(s.content.get("body", ""))
        )
        assert told.type == "m.room.message"  # decrypted by the author's client
        assert all(not call.get("full_state") for call in syncs)
    finally:
        if bot is not None:
            await bot.stop()
        await world.moderator.close()
        for person in (author, helper):
            await person.close()


async def test_a_backlog_of_invites_never_holds_up_an_answer(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """60 invites wait at start: a command in a direct chat that exists is answered at once, the
    invites are accepted oldest first in the background, the first message in a room invited
    to is answered once the bot is in it, and ``m.direct`` is written in batches."""
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "data", commands_per_minute=600)
    await seed_challenge(config.storage.path, unique("backlog-"), [], author="@city:localhost")
    citizen = await Person.create(homeserver, "citizen")
    inviters = [await Person.create(homeserver, f"inviter{number}") for number in range(6)]
    bot: RunningBot | None = None
    try:
        bot = await start_bot(config)
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, "!help")
        await bot.stop()

        invited = [
            await direct_invite(inviter, bot_user) for _ in range(10) for inviter in inviters
        ]
        # The last one's person types at once, before the bot has joined (as Element does).
        first_words = await inviters[-1].send(invited[-1], "!challenges")

        app = BotApp(config)
        direct_writes: list[float] = []
        send = app.client.send

        async def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            if method == "PUT" and path.endswith("/account_data/m.direct"):
                direct_writes.append(time.monotonic())
            return await send(method, path, *args, **kwargs)

        app.client.send = counted  # type: ignore[method-assign]
        task = asyncio.create_task(app.run())
        bot = RunningBot(app, task, config)
        await wait_until(app.sync.first_sync_done.is_set, 30, "first sync")
        asked = time.monotonic()
        answer = await citizen.ask(dm, "!help")
        answered_in = time.monotonic() - asked
        assert answer.sender == bot_user
        assert answered_in < 3.0, answered_in
        assert app.sync.invites.waiting > 0  # the answer did not wait for the joins

        await wait_until(lambda: app.sync.invites.waiting == 0, 60, "every invite accepted")
        reply = await inviters[-1].reply_to(invited[-1], first_words)
        assert reply.sender == bot_user
        # One read and one write per batch, not per invite.
        await wait_until(lambda: not app.sync.invites.joining, 10, "the joins to finish")
        assert 1 <= len(direct_writes) <= 2, direct_writes
        listed = await app.client.list_direct_rooms()
        for number, inviter in enumerate(inviters):
            assert set(listed.rooms[inviter.user_id]) == set(invited[number::6])  # type: ignore[union-attr]
        assert rows(config.storage.path, "SELECT count(*) FROM pending_invites") == [(0,)]
    finally:
        if bot is not None:
            await bot.stop()
        for person in (citizen, *inviters):
            await person.close()


async def test_sigterm_during_a_backlog_of_invites_exits_promptly(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "data")
    config_path = write_config(config, tmp_path / "config.toml")
    log_path = tmp_path / "bot.log"
    inviters = [await Person.create(homeserver, f"inviter{number}") for number in range(4)]
    process = BotProcess(config_path, log_path)
    try:
        for _ in range(20):
            for inviter in inviters:
                await direct_invite(inviter, bot_user)
        await process.start()
        await wait_until(
            lambda: log_path.exists() and "Joined !" in log_path.read_text(), 60, "a first join"
        )
        assert process.process is not None
        asked = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(process.process.wait(), timeout=60)
        took = time.monotonic() - asked
        assert status == 0
        assert took < STOP_WITHIN, took
        joined = len(re.findall(r"Joined !", log_path.read_text()))
        waiting = rows(config.storage.path, "SELECT count(*) FROM pending_invites")[0][0]
        assert waiting > 0 and joined + waiting >= 80  # the rest waits for the next start
    finally:
        await process.close()
        for inviter in inviters:
            await inviter.close()


async def test_a_direct_chat_its_person_left_is_left_and_forgotten(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "data")
    citizen = await Person.create(homeserver, "citizen")
    bot = await start_bot(config)
    try:
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, "!help")
        assert rows(config.storage.path, f"SELECT count(*) FROM room_state WHERE room_id = '{dm}'")
        left = await citizen.client.room_leave(dm)
        assert left.__class__.__name__ == "RoomLeaveResponse", left

        async def bot_is_out() -> bool:
            joined = await bot.app.client.joined_rooms()
            return dm not in joined.rooms  # type: ignore[union-attr]

        deadline = time.monotonic() + 20
        while not await bot_is_out():
            assert time.monotonic() < deadline, "the bot did not leave"
            await asyncio.sleep(0.2)
        await wait_until(lambda: dm not in bot.app.client.rooms, 10, "the room forgotten")
        assert rows(config.storage.path, "SELECT * FROM direct_rooms") == []
        assert rows(config.storage.path, f"SELECT * FROM room_state WHERE room_id = '{dm}'") == []
    finally:
        await bot.stop()
        await citizen.close()


async def test_a_direct_chat_made_readable_to_all_stays_refused_across_a_restart(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """The change came before the restart, so the first sync after it does not repeat it: the
    bot knows it from its own record of the room, and sends nothing personal there."""
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "data")
    # The bot opens its new direct chat encrypted: the citizen reads it with keys.
    citizen = await Person.create(homeserver, "citizen", store_path=tmp_path / "citizen-keys")
    bot = await start_bot(config)
    try:
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, "!help")
        await citizen.set_state(
            dm, "m.room.history_visibility", {"history_visibility": "world_readable"}
        )
        query = f"SELECT history_visibility FROM room_state WHERE room_id = '{dm}'"
        await wait_until(
            lambda: rows(config.storage.path, query) == [("world_readable",)], 20, "the change kept"
        )
        await bot.stop()

        bot, syncs = await start_recording(config)
        assert all(not call.get("full_state") for call in syncs)
        assert bot.app.client.rooms[dm].history_visibility == "world_readable"
        answered = await citizen.ask(dm, "!mydata")
        assert "niet hierheen" in answered.content["body"]  # not here: anyone can read it
        file_event = await citizen.wait_for(
            lambda s: s.type == "m.room.message" and s.content.get("msgtype") == "m.file"
        )
        assert file_event.room_id != dm
    finally:
        await bot.stop()
        await citizen.close()


async def test_a_database_from_before_asks_for_full_state_once(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """Migration 20 makes the rooms' table empty: the first start after it asks for every
    room's state once and keeps it; the next start does not."""
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "data")
    citizen = await Person.create(homeserver, "citizen")
    bot = await start_bot(config)
    try:
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, "!help")
        await bot.stop()
        with sqlite3.connect(config.storage.path) as conn:  # as migration 20 leaves it
            conn.execute("DELETE FROM room_state")
            conn.execute("DELETE FROM bot_state WHERE key = 'room_state_complete'")

        bot, syncs = await start_recording(config)
        assert syncs[0].get("full_state") is True and syncs[0].get("since")
        query = f"SELECT join_rule FROM room_state WHERE room_id = '{dm}'"
        assert rows(config.storage.path, query) == [("invite",)]
        await citizen.ask(dm, "!help")
        assert not any(call.get("full_state") for call in syncs[1:])
        await bot.stop()

        bot, syncs = await start_recording(config)
        assert not any(call.get("full_state") for call in syncs)
        await citizen.ask(dm, "!help")
    finally:
        await bot.stop()
        await citizen.close()
