"""Direct chats against the real homeserver: a room marked direct by someone else, a direct chat
that stops being private, and someone who declines every direct chat the bot opens."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from devtools.homeserver import Homeserver
from tests.matrix_support import Person, Seen, idea_number, start_moderated_bot

pytestmark = pytest.mark.integration

REASON = "Not within the city's remit, sorry Carol"


def is_file(seen: Seen) -> bool:
    return seen.type == "m.room.message" and seen.content.get("msgtype") == "m.file"


async def test_a_borrowed_world_readable_direct_chat_gets_no_personal_data(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    """Eve makes a public, world-readable room, marks it direct, invites the bot and Carol and
    leaves. What is Carol's goes to a direct chat of her own, never there, where anyone reads."""
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    eve = await Person.create(homeserver, "eve")
    # The bot opens its direct chats encrypted, as Element does: Carol reads them with keys.
    carol = await Person.create(homeserver, "carol", store_path=tmp_path / "carol-keys")
    outsider = await Person.create(homeserver, "outsider")
    try:
        slug, _room = await world.open_challenge("borrowed-", "Rooms of one's own")
        lure = await eve.create_public_room(
            [bot_user, carol.user_id], is_direct=True, world_readable=True
        )
        await eve.wait_joined(lure, bot_user)
        await eve.wait_joined(lure, carol.user_id)
        await eve.client.room_leave(lure)
        await carol.wait_for(
            lambda s: (
                s.room_id == lure
                and s.type == "m.room.member"
                and s.sender == eve.user_id
                and s.content.get("membership") == "leave"
            )
        )

        idea_id = idea_number(await carol.ask(lure, f"!idea {slug} Carol's own idea"))
        answered = await carol.ask(lure, "!mydata")
        assert "niet hierheen" in answered.content["body"]  # where it went, nothing more
        file_event = await carol.wait_for(is_file)
        fresh = file_event.room_id
        assert fresh != lure and file_event.sender == bot_user
        assert file_event.content["body"] == "challenge-bot-data.json"

        await world.moderator.ask(world.moderation_room, f"!reject {idea_id} {REASON}")
        told = await carol.wait_for(lambda s: REASON in str(s.content.get("body", "")))
        assert told.room_id == fresh

        # Anyone can read the borrowed room without joining; nothing of Carol's is there.
        events = await outsider.read_without_joining(lure)
        assert any(event["content"].get("body") == "!mydata" for event in events)
        everything = json.dumps(events)
        assert "m.file" not in everything and REASON not in everything
        assert "challenge-bot-data" not in everything
        async with world.bot.app.db.transaction():
            assert await world.bot.app.store.users.direct_room(carol.user_id) == fresh
            assert await world.bot.app.store.users.direct_room(eve.user_id) != fresh
        room = world.bot.app.client.rooms[fresh]
        assert room.join_rule == "invite" and room.history_visibility != "world_readable"
        assert set(room.users) == {bot_user, carol.user_id}
    finally:
        await world.close()
        for person in (eve, carol, outsider):
            await person.close()


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        ("m.room.join_rules", {"join_rule": "public"}),
        ("m.room.history_visibility", {"history_visibility": "world_readable"}),
    ],
)
async def test_a_direct_chat_made_public_is_no_longer_used_for_personal_data(
    homeserver: Homeserver, tmp_path: Path, event_type: str, content: dict[str, Any]
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    citizen = await Person.create(homeserver, "citizen", store_path=tmp_path / "citizen-keys")
    try:
        dm = await citizen.direct_chat_with(bot_user)
        first = await citizen.ask(dm, "!mydata")
        assert "privégesprek" in first.content["body"]
        await citizen.wait_for(lambda s: is_file(s) and s.room_id == dm)

        await citizen.set_state(dm, event_type, content)
        answered = await citizen.ask(dm, "!mydata")
        assert "niet hierheen" in answered.content["body"]  # not here: the room is not private
        moved = await citizen.wait_for(lambda s: is_file(s) and s.room_id != dm)
        assert moved.sender == bot_user
        assert len([s for s in citizen.seen if is_file(s) and s.room_id == dm]) == 1
        async with world.bot.app.db.transaction():
            assert await world.bot.app.store.users.direct_room(citizen.user_id) == moved.room_id
    finally:
        await world.close()
        await citizen.close()


async def test_someone_who_declines_every_direct_chat_costs_at_most_one_room(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    eve = await Person.create(homeserver, "eve")
    eve.auto_join = False

    async def decline_every_invite() -> None:
        declined: set[str] = set()
        while True:
            for room_id in [room for room in eve.invites if room not in declined]:
                declined.add(room_id)
                await eve.client.room_leave(room_id)
            await asyncio.sleep(0.05)

    decliner = asyncio.create_task(decline_every_invite())
    try:
        _slug, room = await world.open_challenge("decline-", "Declined chats")
        await eve.client.join(room)
        await eve.wait_joined(room, eve.user_id)
        for _ in range(6):
            answered = await eve.ask(room, "!mydata")  # each one a file for her direct chat
            assert "niet hierheen" in answered.content["body"]
            await asyncio.sleep(0.5)
        store = world.bot.app.store

        async def queued() -> int:
            async with world.bot.app.db.transaction():
                return await store.outbox.count_pending()

        pending = 1
        deadline = asyncio.get_running_loop().time() + 20
        while pending and asyncio.get_running_loop().time() < deadline:
            pending = await queued()
            await asyncio.sleep(0.2)
        assert pending == 0  # dropped, not stuck: nothing holds the lane up
        async with world.bot.app.db.transaction():
            dropped = await world.bot.app.db.fetch_value(
                "SELECT COUNT(*) FROM outbox WHERE failed LIKE '%declined%'"
            )
        assert int(dropped) >= 4  # the note and the file of each !mydata after she declined
        await asyncio.sleep(1)
        assert len(set(eve.invites)) == 1, eve.invites  # one room opened, declined, no more
    finally:
        decliner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await decliner
        await world.close()
        await eve.close()
