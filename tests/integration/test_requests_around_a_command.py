"""What the bot asks of the homeserver around one command, against the real homeserver.

In thousands of rooms each of the bot's requests costs Synapse more than it does a person's
client (docs/scale.md): the bot's next sync waits until its reply has gone out, and a reply
is the read mark of the command it answers (no receipt of its own). What got no reply in its
room, a 👍 on a card, still gets a receipt.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from nio import SyncResponse

from devtools.homeserver import Homeserver
from tests.matrix_support import Person, start_moderated_bot, wait_until

pytestmark = pytest.mark.integration


async def test_the_next_sync_waits_for_the_reply_and_the_reply_is_the_read_mark(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot = world.bot
    citizen = await Person.create(homeserver, "citizen")
    author = await Person.create(homeserver, "author")
    client = bot.app.client
    sync_started: list[float] = []
    command_seen: dict[str, float] = {}  # command's event id -> when its sync came back
    sends: dict[str, tuple[float, float]] = {}  # room -> last send's start and end
    sync, room_send = client.sync, client.room_send

    async def recorded_sync(*args: Any, **kwargs: Any) -> Any:
        sync_started.append(time.monotonic())
        response = await sync(*args, **kwargs)
        if isinstance(response, SyncResponse):
            for info in response.rooms.join.values():
                for event in info.timeline.events:
                    command_seen.setdefault(event.event_id, time.monotonic())
        return response

    async def recorded_send(room_id: str, *args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        response = await room_send(room_id, *args, **kwargs)
        sends[room_id] = (began, time.monotonic())
        return response

    client.sync = recorded_sync  # type: ignore[method-assign]
    client.room_send = recorded_send  # type: ignore[method-assign]
    try:
        dm = await citizen.direct_chat_with(bot.user_id)
        await citizen.ask(dm, "!help")  # the direct chat is known from here on
        for _round in range(3):
            command = await citizen.send(dm, "!challenges")
            await citizen.reply_to(dm, command)
            seen = command_seen[command]
            await wait_until(lambda at=seen: sends[dm][1] > at, 10, "the bot's send to return")
            _began, sent = sends[dm]
            # No sync went out between the batch with the command and the end of the reply.
            assert not [at for at in sync_started if seen < at < sent], (seen, sent)
        # The reply marks the command read; no receipt of the bot's own for it.
        await asyncio.sleep(1)
        assert not [r for r in citizen.receipts if r[0] == dm and r[2] == bot.user_id]

        # A 👍 on a card gets no reply in the room: the bot marks it read.
        _slug, room = await world.open_challenge("receipts-", "Quieter streets")
        for person in (citizen, author):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        card = await author.ask(room, "!idea Fewer delivery vans at night")
        await citizen.wait_for(lambda s: s.event_id == card.event_id)
        reaction = await citizen.react(room, card.event_id)
        await wait_until(
            lambda: (room, reaction, bot.user_id) in citizen.receipts, 10, "a read receipt"
        )
    finally:
        await citizen.close()
        await author.close()
        await world.close()
