"""Sync cost: bytes the homeserver sends the bot, with the bot's sync filter and without one.

The bot's account is in a challenge room with 100 people and a moderator, a moderation room, and
ten direct chats. Two of its devices sync side by side, the way the bot does (the same request
matrix-nio builds, read raw to count its bytes): one with ``bot.matrix.sync.sync_filter()``, one
without a filter. First the initial sync (full state), then long-polling syncs while people are
busy: commands and chat, 👍 reactions, read receipts, typing, a few display-name changes, and the
bot's replies; both stop at the same final message. Then the two syncs a start makes afterwards:
a first start's (full state, no position) and a restart's (full state from the saved position,
which the bot asks for on every start).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nio import Api, AsyncClient, RoomSendResponse

from benchmarks.common import Run, Target, show, table
from benchmarks.matrix import Watcher, gather_limited, log_in, register
from bot.matrix.sync import sync_filter
from devtools.homeserver import Homeserver

PEOPLE = 100
DIRECT_CHATS = 10
STEPS = 200
PAUSE = 0.02
#: Bound on the wait for both devices to see the last message.
CATCH_UP = 60.0


@dataclass
class Device:
    label: str
    token: str
    use_filter: bool
    sizes: list[int] = field(default_factory=list)
    initial: int = 0
    first_start: int = 0
    restart: int = 0
    since: str = ""
    seen_marker: asyncio.Event = field(default_factory=asyncio.Event)

    def path(self, since: str | None, wait_ms: int | None, full_state: bool | None) -> str:
        _method, path = Api.sync(
            self.token,
            since=since,
            timeout=wait_ms,
            filter=sync_filter() if self.use_filter else None,
            full_state=full_state,
        )
        return str(path)

    async def sync(
        self,
        http: aiohttp.ClientSession,
        base: str,
        since: str | None,
        wait_ms: int | None,
        full_state: bool | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        async with http.get(base + self.path(since, wait_ms, full_state)) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"sync failed: {response.status} {body[:200]!r}")
        return body, json.loads(body)

    async def follow(
        self, http: aiohttp.ClientSession, base: str, since: str, marker: list[str]
    ) -> None:
        """Long-poll as the bot does, until a sync brings the final message."""
        while True:
            body, parsed = await self.sync(http, base, since, 30_000)
            self.sizes.append(len(body))
            since = self.since = parsed["next_batch"]
            if marker and marker[0].encode() in body:
                self.seen_marker.set()
                return


async def _device(homeserver: Homeserver, user_id: str, label: str, use_filter: bool) -> Device:
    client = await log_in(homeserver, user_id)
    token = str(client.access_token)
    await client.close()
    return Device(label, token, use_filter)


async def _send(client: AsyncClient, room_id: str, kind: str, content: dict[str, Any]) -> str:
    response = await client.room_send(room_id, kind, content)
    if not isinstance(response, RoomSendResponse):
        raise RuntimeError(f"could not send: {response}")
    return str(response.event_id)


async def run_sync_cost(run: Run) -> list[Target]:
    homeserver = await run.homeserver()
    bot_user, moderator_user = await register(homeserver, ["sync-bot", "sync-moderator"])
    people_ids = await register(homeserver, [f"sync-person-{n}" for n in range(PEOPLE)])
    rng = random.Random(3)
    bot = await Watcher.start(homeserver, bot_user, auto_join=True)  # joins, and replies below
    moderator = await log_in(homeserver, moderator_user)
    people = await gather_limited(PEOPLE, lambda n: log_in(homeserver, people_ids[n]))
    try:
        moderation_room = await Watcher(moderator).create_room([bot_user], name="Moderation")
        challenge_room = await Watcher(moderator).create_room([bot_user], name="Challenge")
        await moderator.room_put_state(challenge_room, "m.room.join_rules", {"join_rule": "public"})
        await gather_limited(PEOPLE, lambda n: people[n].join(challenge_room))
        direct_rooms = [
            await Watcher(people[n]).create_room([bot_user], direct=True)
            for n in range(DIRECT_CHATS)
        ]
        for room in (moderation_room, challenge_room, *direct_rooms):
            await bot.wait_joined(room, bot_user)
        devices = [
            await _device(homeserver, bot_user, "with the bot's filter", True),
            await _device(homeserver, bot_user, "without a filter", False),
        ]
        marker: list[str] = []
        async with aiohttp.ClientSession() as http:
            tokens: list[str] = []
            for device in devices:
                body, parsed = await device.sync(http, homeserver.url, None, 0, True)
                device.initial = len(body)
                tokens.append(parsed["next_batch"])
            followers = [
                asyncio.create_task(device.follow(http, homeserver.url, token, marker))
                for device, token in zip(devices, tokens, strict=True)
            ]
            try:
                await _activity(
                    rng, bot.client, moderator, people, challenge_room, direct_rooms, marker
                )
                await asyncio.wait_for(asyncio.gather(*followers), CATCH_UP)
            finally:
                for task in followers:
                    task.cancel()
                await asyncio.gather(*followers, return_exceptions=True)
            for device in devices:
                body, _parsed = await device.sync(http, homeserver.url, None, 0, True)
                device.first_start = len(body)
                body, _parsed = await device.sync(http, homeserver.url, device.since, 0, True)
                device.restart = len(body)
    finally:
        await bot.close()
        await moderator.close()
        for person in people:
            await person.close()

    filtered, unfiltered = devices

    def bytes_row(label: str, mine: int, other: int) -> list[object]:
        return [label, f"{mine:,}", f"{other:,}", f"{mine / other:.2f}"]

    rows: list[list[object]] = [
        bytes_row("initial sync before the activity, bytes", filtered.initial, unfiltered.initial),
        [
            "syncs while people were busy",
            len(filtered.sizes),
            len(unfiltered.sizes),
            f"{len(filtered.sizes) / len(unfiltered.sizes):.2f}",
        ],
        [
            "bytes in those syncs",
            f"{sum(filtered.sizes):,}",
            f"{sum(unfiltered.sizes):,}",
            f"{sum(filtered.sizes) / sum(unfiltered.sizes):.2f}",
        ],
        [
            "bytes per sync (mean)",
            f"{sum(filtered.sizes) / len(filtered.sizes):,.0f}",
            f"{sum(unfiltered.sizes) / len(unfiltered.sizes):,.0f}",
            f"{(sum(filtered.sizes) / len(filtered.sizes)) / (sum(unfiltered.sizes) / len(unfiltered.sizes)):.2f}",
        ],
        bytes_row(
            "afterwards: a first start's sync, bytes", filtered.first_start, unfiltered.first_start
        ),
        bytes_row("afterwards: a restart's sync, bytes", filtered.restart, unfiltered.restart),
    ]
    show(
        table(
            f"Sync cost: the bot's account in {DIRECT_CHATS + 2} rooms, {STEPS} steps of activity",
            ["", "with the bot's filter", "without a filter", "ratio"],
            rows,
        )
    )
    return [
        Target(
            "sync",
            "restart sync bytes, filter vs none",
            f"{filtered.restart:,} vs {unfiltered.restart:,}",
            "(report)",
            None,
        ),
        Target(
            "sync",
            "bytes per sync while busy, filter vs none",
            f"{sum(filtered.sizes) / len(filtered.sizes):,.0f} vs "
            f"{sum(unfiltered.sizes) / len(unfiltered.sizes):,.0f}",
            "(report)",
            None,
        ),
    ]


async def _activity(
    rng: random.Random,
    bot: AsyncClient,
    moderator: AsyncClient,
    people: list[AsyncClient],
    challenge_room: str,
    direct_rooms: list[str],
    marker: list[str],
) -> None:
    """People busy in the rooms, the bot answering commands; then one last message."""
    began = time.monotonic()
    messages: list[str] = []
    reacted: set[tuple[int, str]] = set()
    for step in range(STEPS):
        person = people[rng.randrange(PEOPLE)]
        text = f"!vote {rng.randrange(1, 50)}" if rng.random() < 0.7 else "Goed idee!"
        event_id = await _send(
            person, challenge_room, "m.room.message", {"msgtype": "m.text", "body": text}
        )
        messages.append(event_id)
        if text.startswith("!"):
            await _send(
                bot,
                challenge_room,
                "m.room.message",
                {
                    "msgtype": "m.notice",
                    "body": "Stem geteld.",
                    "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
                },
            )
        reactor, target = rng.randrange(PEOPLE), rng.choice(messages)
        if rng.random() < 0.2 and (reactor, target) not in reacted:
            reacted.add((reactor, target))
            await _send(
                people[reactor],
                challenge_room,
                "m.reaction",
                {
                    "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"},
                },
            )
        reader = people[rng.randrange(PEOPLE)]
        await reader.room_read_markers(challenge_room, event_id, event_id)
        await people[rng.randrange(PEOPLE)].room_typing(challenge_room, True, 3000)
        if step % 10 == 0:
            n = rng.randrange(DIRECT_CHATS)
            await _send(
                people[n],
                direct_rooms[n],
                "m.room.message",
                {"msgtype": "m.text", "body": "!ideas"},
            )
        if step % 40 == 0:
            await people[rng.randrange(PEOPLE)].set_displayname(f"Person {step}")
        await asyncio.sleep(PAUSE)
        if time.monotonic() - began > 300:
            break
    marker.append(
        await _send(
            moderator,
            challenge_room,
            "m.room.message",
            {"msgtype": "m.text", "body": "That's all."},
        )
    )
