"""Burst: 100 people cast 2,000 votes, commands and 👍 reactions mixed, as fast as Synapse takes them.

A moderator opens a challenge with ``!challenge new`` (the bot creates its room) and submits 20
ideas there, each with its card. 100 people join the room; each votes for all 20 ideas, 10 with
``!vote <id>`` and 10 with a 👍 on the card, in random order, all 100 at once, each with its
own matrix-nio client sending as fast as the homeserver answers. Synapse's rate limits are
raised (the ``Homeserver`` defaults) and the bot is exempt from them.

Measured: how fast Synapse accepted the votes, and the time from the last vote accepted to the
moment the bot's database (read from outside, every few milliseconds) holds all 2,000.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from nio import AsyncClient, JoinResponse, RoomSendResponse

from benchmarks.common import Run, Summary, Target, ms, show, table
from benchmarks.matrix import (
    Watcher,
    bot_process,
    bot_settings,
    db_rows,
    db_value,
    gather_limited,
    log_in,
    register,
    write_config,
)

VOTERS = 100
IDEAS = 20
BY_COMMAND = 10  # of each person's 20 votes; the other 10 are reactions
SLUG = "hackathon"
#: Bounds: for the burst itself, and for the bot to record it afterwards.
SEND_LIMIT = 300.0
RECORD_LIMIT = 120.0
POLL = 0.005


async def _cast(
    client: AsyncClient,
    room_id: str,
    plan: list[tuple[int, str]],
    cards: dict[int, str],
    sent: dict[tuple[int, str], float],
    events: dict[tuple[int, str], str],
    deadline: float,
) -> None:
    for idea_id, how in plan:
        if how == "command":
            kind = "m.room.message"
            content: dict[str, Any] = {"msgtype": "m.text", "body": f"!vote {idea_id}"}
        else:
            kind = "m.reaction"
            content = {
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": cards[idea_id],
                    "key": "👍",
                }
            }
        for _attempt in range(5):
            response = await client.room_send(room_id, kind, content)
            if isinstance(response, RoomSendResponse):
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"{client.user_id} could not vote: {response}")
        sent[(idea_id, str(client.user_id))] = time.time()
        events[(idea_id, str(client.user_id))] = str(response.event_id)
        if time.monotonic() > deadline:
            raise TimeoutError("the burst took too long")


async def run_burst(run: Run) -> list[Target]:
    homeserver = await run.homeserver()
    admin = await run.admin_token()
    directory = run.directory("burst")
    bot_user, moderator_user = await register(homeserver, ["burst-bot", "burst-moderator"])
    voter_ids = await register(homeserver, [f"burst-voter-{n}" for n in range(VOTERS)])
    await asyncio.to_thread(homeserver.override_ratelimit, admin, bot_user)
    database = directory / "bot.sqlite3"
    moderator = await Watcher.start(homeserver, moderator_user, auto_join=True)
    moderation_room = await moderator.create_room([bot_user], name="Moderation")
    config = write_config(
        directory / "bot.toml",
        homeserver,
        bot_user,
        database,
        bot_settings(moderators=[moderator_user], moderation_room=moderation_room),
    )
    bot = bot_process(config, directory / "bot.log")
    voters: list[AsyncClient] = []
    try:
        await bot.start()
        await bot.fact("first_sync_at")
        await moderator.wait_joined(moderation_room, bot_user)

        # The challenge and its room, made by the bot; then the ideas, each with its card.
        await moderator.ask(moderation_room, f"!challenge new {SLUG} Hackathon: a greener Ghent")
        await wait_until_db(database, "SELECT room_id FROM challenges WHERE slug = ?", (SLUG,))
        room_id = str(
            await db_value(database, "SELECT room_id FROM challenges WHERE slug = ?", (SLUG,))
        )
        await moderator.wait_joined(room_id, moderator_user)
        for number in range(1, IDEAS + 1):
            await moderator.ask(room_id, f"!idea More trees in street {number}")
        if not await wait_for_count(database, "SELECT COUNT(*) FROM idea_cards", IDEAS):
            raise TimeoutError("the bot did not post all cards")
        cards = {
            int(idea): str(event)
            for idea, event in await db_rows(database, "SELECT idea_id, event_id FROM idea_cards")
        }

        # 100 people, each with its own client, in the challenge's room.
        voters = await gather_limited(VOTERS, lambda n: log_in(homeserver, voter_ids[n]))

        async def join(index: int) -> None:
            response = await voters[index].join(room_id)
            if not isinstance(response, JoinResponse):
                raise RuntimeError(f"could not join: {response}")

        await gather_limited(VOTERS, join)
        await moderator.wait_joined(room_id, voter_ids[-1])
        await asyncio.sleep(2)  # let the bot's sync pass the joins

        rng = random.Random(2)
        plans: dict[str, list[tuple[int, str]]] = {}
        for voter in voter_ids:
            ideas = list(cards)
            rng.shuffle(ideas)
            hows = ["command"] * BY_COMMAND + ["reaction"] * (IDEAS - BY_COMMAND)
            rng.shuffle(hows)
            plans[voter] = list(zip(ideas, hows, strict=True))
        before = int(await db_value(database, "SELECT COUNT(*) FROM votes"))
        sent: dict[tuple[int, str], float] = {}
        events: dict[tuple[int, str], str] = {}
        recorded_at: list[float] = []

        async def poll() -> None:
            while True:
                count = int(await db_value(database, "SELECT COUNT(*) FROM votes"))
                if count - before >= VOTERS * IDEAS:
                    recorded_at.append(time.perf_counter())
                    return
                await asyncio.sleep(POLL)

        poller = asyncio.create_task(poll())
        began = time.perf_counter()
        deadline = time.monotonic() + SEND_LIMIT
        await asyncio.gather(
            *(
                _cast(client, room_id, plans[str(client.user_id)], cards, sent, events, deadline)
                for client in voters
            )
        )
        last_sent = time.perf_counter()
        try:
            await asyncio.wait_for(poller, RECORD_LIMIT)
        except TimeoutError:
            show(f"(not all votes were recorded within {RECORD_LIMIT:.0f}s)")
        recorded = int(await db_value(database, "SELECT COUNT(*) FROM votes")) - before
        replies_done = await wait_for_count(
            database,
            "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL",
            0,
            within=RECORD_LIMIT,
            at_most=True,
        )
        replies_done_at = time.perf_counter()
        rows = await db_rows(database, "SELECT idea_id, voter, created_at FROM votes")
        # When each vote's event was handled: a vote's own time is when it was cast.
        handled = dict(await db_rows(database, "SELECT event_id, handled_at FROM handled_events"))
        reaction_votes = int(await db_value(database, "SELECT COUNT(*) FROM reaction_votes"))
        gap_fills = _count_in_log(directory / "bot.log", "Filled a gap")
    finally:
        for client in voters:
            await client.close()
        await moderator.close()
        await bot.stop()

    expected = {(idea, voter) for voter, plan in plans.items() for idea, _how in plan}
    stored = {(int(idea), str(voter)) for idea, voter, _at in rows}
    missing = len(expected - stored)
    lags = [
        datetime.fromisoformat(str(handled[event_id])).timestamp() - sent[key]
        for key, event_id in events.items()
        if event_id in handled
    ]
    sending = last_sent - began
    catch_up = recorded_at[0] - last_sent if recorded_at else float("inf")
    lag = Summary.of(lags)
    show(
        table(
            f"Burst: {VOTERS} people, {VOTERS * IDEAS} votes ({BY_COMMAND * VOTERS} commands, "
            f"{(IDEAS - BY_COMMAND) * VOTERS} reactions) in one room",
            ["figure", "value"],
            [
                [
                    "votes accepted by Synapse",
                    f"{len(sent)} in {sending:.1f} s ({len(sent) / sending:.0f}/s)",
                ],
                ["votes recorded by the bot", f"{recorded} ({missing} missing)"],
                ["of which by reaction", reaction_votes],
                ["last vote accepted → all recorded", f"{ms(catch_up)} ms"],
                [
                    "per vote, accepted → recorded: p50 / p95 / p99 / max",
                    f"{ms(lag.p50)} / {ms(lag.p95)} / {ms(lag.p99)} / {ms(lag.max)} ms",
                ],
                [
                    "last vote accepted → outbox empty (replies, card edits)",
                    f"{replies_done_at - last_sent:.1f} s"
                    if replies_done
                    else "not within the limit",
                ],
                ["gap fills (limited sync timelines)", gap_fills],
            ],
        )
    )
    return [
        Target(
            "burst",
            "every vote counted",
            f"{recorded} of {len(expected)}",
            "all",
            missing == 0 and recorded == len(expected),
        ),
        Target(
            "burst",
            "last vote sent → last vote recorded",
            f"{ms(catch_up)} ms",
            "< 2000 ms",
            catch_up < 2.0,
        ),
    ]


async def wait_until_db(database: Path, sql: str, params: tuple[Any, ...]) -> None:
    deadline = time.monotonic() + 60
    while await db_value(database, sql, params) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited for {sql}")
        await asyncio.sleep(0.05)


async def wait_for_count(
    database: Path, sql: str, count: int, *, within: float = 60, at_most: bool = False
) -> bool:
    deadline = time.monotonic() + within
    while True:
        value = int(await db_value(database, sql))
        if (value <= count) if at_most else (value >= count):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


def _count_in_log(path: Path, needle: str) -> int:
    try:
        return sum(needle in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0
