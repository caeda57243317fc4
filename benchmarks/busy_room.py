"""A busy room never holds up anyone else (issue #14).

One Synapse. A room of 31 members: the bot and 30 people, who each send 10 ``!vote`` commands
at once (300 in all). Measured by a watching client: from the first command sent to the moment
every command's confirmation has arrived (on its own, or as a line of a joined message). Beside
it, the floor in the same run: in another room of the same size, the same 300 messages come in
while one bare client sends 300 notices one after the other, as a bot that sends in order
would; the floor is the time until its last notice was accepted. And a person in a direct chat
asks ``!challenges`` while the burst runs: its latency beside the same command's when idle, and
beside a minimal echo bot's. That person asks from a process of their own
(:mod:`benchmarks.asker`), as a citizen's client would be, not from this one, which is busy with
the 30 senders and a watcher that reads every event of the burst.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from nio import AsyncClient, JoinResponse, RoomSendResponse

from benchmarks.common import Run, Summary, Target, ms, show, table
from benchmarks.matrix import (
    Process,
    Watcher,
    asker_process,
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
DURING_SAMPLES = 3
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


def _split(asks: list[dict[str, Any]], handled: dict[str, str]) -> str:
    """Where a command's time went, medians in ms: until the bot had handled it, until its
    reply had the homeserver's timestamp, until the reply reached the asker (one machine, one
    clock)."""
    to_handled, to_reply, to_seen = [], [], []
    for ask in asks:
        reply = ask["reply"]
        command_id = reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        handled_at = handled.get(command_id)
        if handled_at is None:
            continue
        handled_ts = datetime.fromisoformat(handled_at).timestamp()
        reply_ts = reply["origin_server_ts"] / 1000
        to_handled.append(handled_ts - ask["sent_at"])
        to_reply.append(reply_ts - handled_ts)
        to_seen.append(ask["sent_at"] + ask["seconds"] - reply_ts)
    medians = [Summary.of(values).p50 for values in (to_handled, to_reply, to_seen)]
    return " / ".join(ms(value) for value in medians)


def _seconds(asks: list[dict[str, Any]]) -> list[float]:
    return [float(ask["seconds"]) for ask in asks]


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
    asker: Process | None = None
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
        # The person in the direct chats opens them here, then asks from a process of their
        # own (benchmarks/asker.py), so that the replies are not seen late because this
        # process is busy with the senders and the watcher.
        opener = await Watcher.start(homeserver, asker_user)
        try:
            direct = await opener.create_room([bot_user], direct=True)
            echo_direct = await opener.create_room([echo_user], direct=True)
            await opener.wait_joined(direct, bot_user)
            await opener.wait_joined(echo_direct, echo_user)
        finally:
            await opener.close()
        asker = asker_process(
            homeserver,
            asker_user,
            (direct, echo_direct),
            (IDLE_SAMPLES, DURING_SAMPLES),
            directory / "asker.log",
        )
        await asker.start()
        idle_round = await asker.fact("idle", within=TIME_LIMIT)

        commands = [f"!vote {idea}" for idea in ideas]
        began = time.perf_counter()
        burst = asyncio.gather(*(_send_all(client, busy_room, commands) for client in people))
        await asyncio.sleep(0.5)  # the burst is under way
        await asker.tell("burst")
        during_round = await asker.fact("during", within=TIME_LIMIT)
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
            await asker.stop()
        await watcher.close()
        await bot.stop()
        await echo.stop()

    handled = dict(await db_rows(database, "SELECT event_id, handled_at FROM handled_events"))
    idle_split = _split(idle_round["bot"], handled)
    during_split = _split(during_round["bot"], handled)
    idle_p50 = Summary.of(_seconds(idle_round["bot"])).p50
    during_p50 = Summary.of(_seconds(during_round["bot"])).p50
    echo_idle = _seconds(idle_round["echo"])
    echo_during = _seconds(during_round["echo"])
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
