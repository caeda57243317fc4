"""A rate-limited join is waited out and tried again, never given up, against the real Synapse."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from nio import RoomCreateResponse, RoomPreset

from devtools.homeserver import Homeserver
from tests.matrix_support import (
    PASSWORD,
    Person,
    bot_config,
    replies_by_command,
    start_bot,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

PEOPLE = 10


async def test_ten_people_open_a_direct_chat_at_once_under_a_strict_rate_limit(
    homeserver: Homeserver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """2 messages a second with a burst of 5 for the bot (Synapse counts its joins against the
    same limit): every one of the ten is joined and answered."""
    caplog.set_level(logging.DEBUG, logger="bot.matrix.invites")
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    homeserver.override_ratelimit(
        homeserver.admin_token(), bot_user, messages_per_second=2, burst_count=5
    )
    bot = await start_bot(bot_config(homeserver, bot_user, tmp_path / "bot"))
    people = [await Person.create(homeserver, f"crowd{n}-") for n in range(PEOPLE)]
    try:

        async def open_direct_chat(person: Person) -> tuple[str, str]:
            """As Element does: the room, the invite, and the first message at once."""
            created = await person.client.room_create(
                is_direct=True, invite=[bot_user], preset=RoomPreset.trusted_private_chat
            )
            assert isinstance(created, RoomCreateResponse), created
            return created.room_id, await person.send(created.room_id, "!help")

        opened = await asyncio.gather(*(open_direct_chat(person) for person in people))

        def all_joined() -> bool:
            return all(
                room_id in bot.app.client.rooms
                and bot_user in bot.app.client.rooms[room_id].users
                and bot_user not in bot.app.client.rooms[room_id].invited_users
                for room_id, _ in opened
            )

        await wait_until(all_joined, 90, f"the bot to join all {PEOPLE} rooms")
        await wait_until(
            lambda: all(
                event_id in replies_by_command(person, bot_user)
                for person, (_, event_id) in zip(people, opened, strict=True)
            ),
            90,
            f"answers to all {PEOPLE} people",
        )
        rate_limited = [r for r in caplog.records if "rate limited, trying again" in r.getMessage()]
        assert rate_limited, "no join was rate limited: the test did not test the limit"
        assert not [r for r in caplog.records if r.getMessage().startswith("Could not join")]
    finally:
        await bot.stop()
        for person in people:
            await person.close()
