"""A busy room never holds up anyone else (issue #14).

One Synapse. A room of 31 members: the bot and 30 people, who each send 10 ``!vote`` commands
at once (300 in all). Measured by a watching client: from the first command sent to the moment
every command's confirmation has arrived (on its own, or as a line of a joined message). Beside
it, the floor in the same run: in another room of the same size, the same 300 messages come in
while one bare client sends 300 notices one after the other, as a bot that sends in order
would; the floor is the time until its last notice was accepted. And a person in a direct chat
asks ``!challenges`` while the burst runs: its latency beside the same command's when idle.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from nio import AsyncClient, JoinResponse, RoomSendResponse

from benchmarks.common import Run, Summary, Target, ms, show, table
from benchmarks.matrix import (
    Arrival,
    Watcher,
    bot_process,
    bot_settings,
    db_rows,
    echo_process,
    gather_limited,
    log_in,
    register,
    wait_until,
    write_config,
)
from devtools.seed import seed_challenge

PEOPLE = 30
COMMANDS = 10  # each
IDLE_SAMPLES = 7
TIME_LIMIT = 240.0


async def _send_all(client: AsyncClient, room_id: str, bodies: list[str]) -> None:
    for body in bodies:
        for _attempt in range(5):
            response = await client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": body}
            )
            if isinstance(response, RoomSendResponse):
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"{client.user_id} could not send: {response}")


def confirmations(watcher: Watcher, room_id: str, bot_user: str) -> int:
    """Commands confirmed in the room: a joined message confirms one per line."""
    total = 0
    for arrival in watcher.arrivals:
        event = arrival.event
        if arrival.room_id != room_id or event.get("sender") != bot_user:
            continue
        if event.get("type") != "m.room.message":
            continue
        mentioned = event.get("content", {}).get("m.mentions", {}).get("user_ids") or []
        body = str(event.get("content", {}).get("body", ""))
        total += len(body.splitlines()) if mentioned else 1
    return total


async def _timed_ask(asker: Watcher, room_id: str, body: str) -> tuple[float, float, Arrival]:
    """(wall-clock time just before sending, seconds until the reply was seen, the reply)."""
    sent_at = time.time()
    seconds, reply = await asker.ask(room_id, body)
    return sent_at, seconds, reply


def _split(asks: list[tuple[float, float, Arrival]], handled: dict[str, str]) -> str:
    """Where a command's time went, medians in ms: until the bot had handled it, until its
    reply had the homeserver's timestamp, until the reply reached the asker (one machine, one
    clock)."""
    to_handled, to_reply, to_seen = [], [], []
    for sent_at, seconds, reply in asks:
        command_id = reply.event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        handled_at = handled.get(command_id)
        if handled_at is None:
            continue
        handled_ts = datetime.fromisoformat(handled_at).timestamp()
        reply_ts = reply.event["origin_server_ts"] / 1000
        to_handled.append(handled_ts - sent_at)
        to_reply.append(reply_ts - handled_ts)
        to_seen.append(sent_at + seconds - reply_ts)
    medians = [Summary.of(values).p50 for values in (to_handled, to_reply, to_seen)]
    return " / ".join(ms(value) for value in medians)


async def run_busy_room(run: Run) -> list[Target]:
    homeserver = await run.homeserver()
    admin = await run.admin_token()
    directory = run.directory("busy")
    bot_user, watcher_user, asker_user, floor_user, echo_user = await register(
        homeserver, ["busy-bot", "busy-watcher", "busy-asker", "busy-floor", "busy-echo"]
    )
    people_ids = await register(homeserver, [f"busy-person-{n}" for n in range(PEOPLE)])
    for account in (bot_user, floor_user, echo_user, *people_ids):
        await asyncio.to_thread(homeserver.override_ratelimit, admin, account)
    database = directory / "bot.sqlite3"
    titles = [f"Idea {number}" for number in range(COMMANDS)]
    ideas = await seed_challenge(database, "busy", titles, author=watcher_user)
    config = write_config(directory / "bot.toml", homeserver, bot_user, database, bot_settings())
    bot = bot_process(config, directory / "bot.log")
    # The floor for the direct chat: a minimal echo bot, asked the same way at the same times.
    echo = echo_process(homeserver, echo_user, directory / "echo.log")
    watcher = await Watcher.start(homeserver, watcher_user, timeline_limit=1000)
    asker: Watcher | None = None
    floor = await log_in(homeserver, floor_user)
    people = await gather_limited(PEOPLE, lambda n: log_in(homeserver, people_ids[n]))
    try:
        await bot.start()
        await echo.start()
        await bot.fact("first_sync_at")
        await echo.fact("ready")
        # The watcher is the 31st member of both rooms and sees everything arrive.
        busy_room = await watcher.create_room([bot_user, *people_ids], name="Busy")
        floor_room = await watcher.create_room([floor_user, *people_ids], name="Floor")
        await watcher.wait_joined(busy_room, bot_user)
        for client in (*people, floor):
            rooms = (busy_room, floor_room) if client is not floor else (floor_room,)
            for room in rooms:
                joined = await client.join(room)
                if not isinstance(joined, JoinResponse):
                    raise RuntimeError(f"{client.user_id} could not join: {joined}")
        asker = await Watcher.start(homeserver, asker_user)
        direct = await asker.create_room([bot_user], direct=True)
        echo_direct = await asker.create_room([echo_user], direct=True)
        await asker.wait_joined(direct, bot_user)
        await asker.wait_joined(echo_direct, echo_user)
        idle_asks, echo_idle = [], []
        for _ in range(IDLE_SAMPLES):
            idle_asks.append(await _timed_ask(asker, direct, "!challenges"))
            echo_idle.append((await asker.ask(echo_direct, "!challenges"))[0])
        idle = [seconds for _sent, seconds, _reply in idle_asks]

        commands = [f"!vote {idea}" for idea in ideas]
        began = time.perf_counter()
        burst = asyncio.gather(*(_send_all(client, busy_room, commands) for client in people))
        await asyncio.sleep(0.5)  # the burst is under way
        during_asks, echo_during = [], []
        for _ in range(3):
            during_asks.append(await _timed_ask(asker, direct, "!challenges"))
            echo_during.append((await asker.ask(echo_direct, "!challenges"))[0])
        during = [seconds for _sent, seconds, _reply in during_asks]
        await burst
        await wait_until(
            lambda: confirmations(watcher, busy_room, bot_user) >= PEOPLE * COMMANDS,
            TIME_LIMIT,
            "every command confirmed",
        )
        answered = time.perf_counter() - began
        joined_messages = sum(
            1
            for a in watcher.arrivals
            if a.room_id == busy_room
            and a.event.get("sender") == bot_user
            and a.event.get("content", {}).get("m.mentions", {}).get("user_ids")
        )

        # The floor: the same 300 messages come in while one client sends 300 notices.
        floor_began = time.perf_counter()
        incoming = asyncio.gather(*(_send_all(client, floor_room, commands) for client in people))
        notices = [f"notice {number}" for number in range(PEOPLE * COMMANDS)]
        await _send_all(floor, floor_room, notices)
        floor_took = time.perf_counter() - floor_began
        await incoming
    finally:
        for client in (*people, floor):
            await client.close()
        if asker is not None:
            await asker.close()
        await watcher.close()
        await bot.stop()
        await echo.stop()

    handled = dict(await db_rows(database, "SELECT event_id, handled_at FROM handled_events"))
    idle_split = _split(idle_asks, handled)
    during_split = _split(during_asks, handled)
    idle_p50 = Summary.of(idle).p50
    during_p50 = Summary.of(during).p50
    show(
        table(
            f"Busy room: {PEOPLE} people × {COMMANDS} commands at once, in a room of {PEOPLE + 1}",
            ["figure", "value"],
            [
                ["first command → every command confirmed", f"{answered:.1f} s"],
                ["floor: 300 notices sent one after the other", f"{floor_took:.1f} s"],
                ["messages the bot sent that joined confirmations", joined_messages],
                ["`!challenges` in a direct chat, idle, p50", f"{ms(idle_p50)} ms"],
                ["`!challenges` in a direct chat during the burst, p50", f"{ms(during_p50)} ms"],
                [
                    "the echo bot in a direct chat, idle / during the burst, p50",
                    f"{ms(Summary.of(echo_idle).p50)} / {ms(Summary.of(echo_during).p50)} ms",
                ],
                ["  of it, idle: sent → handled / → reply sent / → reply seen", idle_split],
                ["  of it, during: sent → handled / → reply sent / → reply seen", during_split],
            ],
        )
    )
    return [
        Target(
            "busy",
            "burst answered vs the floor",
            f"{answered:.1f} s vs {floor_took:.1f} s",
            "<= floor",
            answered <= floor_took,
        ),
        Target(
            "busy",
            "direct chat during the burst vs idle, p50",
            f"{ms(during_p50)} ms vs {ms(idle_p50)} ms = {during_p50 / idle_p50:.2f}",
            "<= 1.5",
            during_p50 <= 1.5 * idle_p50,
        ),
        Target(
            "busy",
            "direct chat during the burst vs the echo bot's during it, p50",
            f"{ms(during_p50)} ms vs {ms(Summary.of(echo_during).p50)} ms",
            "(report)",
            None,
        ),
    ]
