"""Latency against the floor: command-to-reply time of ``!vote`` and ``!idea``, beside an echo bot.

One Synapse, two bots in their own processes (the real bot, and a minimal matrix-nio echo bot
that answers every message with one notice), and one matrix-nio client that measures, in the
same run and interleaved in random order: from just before it sends a message to the moment its
own sync brings the reply. Each bot is in a direct chat with the measuring client; the real bot
also has a moderation room (new ideas are announced there) and a challenge room it opened itself
(``!challenge new``), where each idea has a card that a vote makes the bot edit, and the echo
bot a public room beside it. Both bot accounts are exempt from Synapse's message rate limit, as
the README tells deployers to do.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

from nio import JoinResponse

from benchmarks.common import Run, Summary, Target, ms, show, table
from benchmarks.matrix import (
    Watcher,
    bot_process,
    bot_settings,
    db_rows,
    echo_process,
    register,
    write_config,
)
from devtools.seed import seed_challenge

#: Each round: one !vote and one !idea in the direct chat, one !vote in the challenge room, and
#: the same three texts to the echo bot (in its direct chat and its public room).
ROUNDS = 200
WARMUP = 10
#: Between two commands, so that each one meets a bot at rest (as a person's next command would).
PAUSE = 0.03
SLUG = "latency"
#: Bound on the whole measuring loop.
TIME_LIMIT = 300.0


async def run_latency(run: Run) -> list[Target]:
    homeserver = await run.homeserver()
    admin = await run.admin_token()
    directory = run.directory("latency")
    bot_user, echo_user, tester_user, moderator_user, author = await register(
        homeserver, ["lat-bot", "lat-echo", "lat-tester", "lat-moderator", "lat-author"]
    )
    for account in (bot_user, echo_user):
        await asyncio.to_thread(homeserver.override_ratelimit, admin, account)
    database = directory / "bot.sqlite3"
    titles = [f"Seeded idea {number}" for number in range(ROUNDS + WARMUP)]
    idea_ids = await seed_challenge(database, SLUG, titles, author=author, title="Fietsen in Gent")

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
    echo = echo_process(homeserver, echo_user, directory / "echo.log")
    tester: Watcher | None = None
    try:
        await bot.start()
        await echo.start()
        await bot.fact("first_sync_at")
        await echo.fact("ready")
        tester = await Watcher.start(homeserver, tester_user)
        bot_room = await tester.create_room([bot_user], direct=True)
        echo_room = await tester.create_room([echo_user], direct=True)
        await tester.wait_joined(bot_room, bot_user)
        await tester.wait_joined(echo_room, echo_user)
        await moderator.wait_joined(moderation_room, bot_user)
        challenge_room, room_ideas = await open_challenge_room(
            moderator, tester, moderation_room, f"#{SLUG}:{homeserver.server_name}"
        )
        public_room = await tester.create_room([echo_user], name="Echo")
        await tester.wait_joined(public_room, echo_user)
        # With the challenge room's members (its moderator too): the homeserver's work on each
        # event grows with who is in the room.
        echo_of_three = await tester.create_room([echo_user, moderator_user], name="Echo of 3")
        await tester.wait_joined(echo_of_three, echo_user)
        await tester.wait_joined(echo_of_three, moderator_user)

        samples: dict[str, list[float]] = {
            "echo": [],
            "!vote": [],
            "!idea": [],
            "echo, public room": [],
            "echo, room of 3": [],
            "!vote, challenge room": [],
        }
        replies: dict[str, list[dict[str, Any]]] = {kind: [] for kind in samples}
        rng = random.Random(1)
        began = time.monotonic()
        for number in range(WARMUP + ROUNDS):
            vote = f"!vote {idea_ids[number]}"
            idea = f"!idea {SLUG} Meer fietsenstallingen aan station {number}"
            steps = [
                ("echo", echo_room, vote),
                ("!vote", bot_room, vote),
                ("echo", echo_room, idea),
                ("!idea", bot_room, idea),
                ("echo, public room", public_room, f"!vote {room_ideas[number]}"),
                ("echo, room of 3", echo_of_three, f"!vote {room_ideas[number]}"),
                ("!vote, challenge room", challenge_room, f"!vote {room_ideas[number]}"),
            ]
            rng.shuffle(steps)
            for kind, room, text in steps:
                seconds, reply = await tester.ask(room, text)
                if number >= WARMUP:
                    samples[kind].append(seconds)
                    replies[kind].append(reply.event)
                await asyncio.sleep(PAUSE)
            if time.monotonic() - began > TIME_LIMIT:
                show(f"(stopped after {number + 1} rounds: time limit)")
                break
        counted = await db_rows(
            database, "SELECT COUNT(*) FROM votes WHERE voter = ?", (tester_user,)
        )
        # The homeserver's own clock: from the command's arrival there to the reply's.
        stamps = {str(a.event.get("event_id")): a.event for a in tester.arrivals}
        at_homeserver = {
            kind: Summary.of(
                [
                    (
                        int(event["origin_server_ts"])
                        - int(stamps[answered(event)]["origin_server_ts"])
                    )
                    / 1000
                    for event in events
                    if answered(event) in stamps
                ]
            )
            for kind, events in replies.items()
        }
        submitted = await db_rows(
            database, "SELECT COUNT(*) FROM ideas WHERE author = ?", (tester_user,)
        )
    finally:
        if tester is not None:
            await tester.close()
        await moderator.close()
        await bot.stop()
        await echo.stop()

    summaries = {kind: Summary.of(values) for kind, values in samples.items()}
    floors = {kind: summaries["echo"].p50 for kind in summaries}
    floors["!vote, challenge room"] = summaries["echo, public room"].p50
    rows = [
        [kind, s.count, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.mean), f"{s.p50 / floors[kind]:.2f}"]
        for kind, s in summaries.items()
    ]
    show(
        table(
            "Command-to-reply latency, ms (measured by a matrix-nio client; the challenge "
            "room beside the echo bot's public room, the rest beside its direct chat)",
            ["to", "n", "p50", "p95", "p99", "mean", "p50 / echo p50"],
            rows,
        )
    )
    show(
        table(
            "The same, from the command's arrival at the homeserver to the reply's, ms "
            "(its own clock: the bot's share and the homeserver's work on both events)",
            ["to", "n", "p50", "p95", "mean"],
            [[k, s.count, ms(s.p50), ms(s.p95), ms(s.mean)] for k, s in at_homeserver.items()],
        )
    )
    in_room, of_three = summaries["!vote, challenge room"].p50, summaries["echo, room of 3"].p50
    show(
        f"!vote in the challenge room beside the echo bot in a room of three: {in_room / of_three:.2f}"
    )
    show(
        f"Sanity: the bot counted {counted[0][0]} votes and stored {submitted[0][0]} ideas "
        f"for {WARMUP + ROUNDS} of each sent."
    )
    limits = {"!vote": 1.10, "!idea": 1.25, "!vote, challenge room": 1.10}
    return [
        Target(
            "latency",
            f"{kind} p50 vs echo bot p50",
            f"{ms(summaries[kind].p50)} ms vs {ms(floors[kind])} ms = "
            f"{summaries[kind].p50 / floors[kind]:.2f}",
            f"<= {limit:.2f}",
            summaries[kind].p50 <= limit * floors[kind],
        )
        for kind, limit in limits.items()
    ]


def answered(reply: dict[str, Any]) -> str:
    """The id of the command a reply answers."""
    return str(reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"])


async def open_challenge_room(
    moderator: Watcher, tester: Watcher, moderation_room: str, alias: str
) -> tuple[str, list[int]]:
    """The challenge room the bot opens at a moderator's ``!challenge new``, joined by the
    tester, with ideas submitted there (each with its card in the room): the room and the
    ideas' numbers."""
    await moderator.ask(moderation_room, f"!challenge new {SLUG}-room Fietsen in de kamer")
    joined = None
    began = time.monotonic()
    while joined is None:
        response = await tester.client.join(alias.replace(SLUG, f"{SLUG}-room", 1))
        if isinstance(response, JoinResponse):
            joined = str(response.room_id)
        elif time.monotonic() - began > 60:
            raise RuntimeError(f"could not join the challenge room: {response}")
        else:
            await asyncio.sleep(0.2)
    await tester.wait_joined(joined, tester.user_id)
    ideas: list[int] = []
    for number in range(ROUNDS + WARMUP):
        _seconds, reply = await tester.ask(joined, f"!idee Idee in de kamer {number}")
        found = re.search(r"#(\d+)", str(reply.event.get("content", {}).get("body", "")))
        if found is None:
            raise RuntimeError(f"no idea number in {reply.event}")
        ideas.append(int(found[1]))
    return joined, ideas
