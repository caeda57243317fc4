"""Latency against the floor: command-to-reply time of ``!vote`` and ``!idea``, beside an echo bot.

One Synapse, two bots in their own processes (the real bot, and a minimal matrix-nio echo bot
that answers every message with one notice), and one matrix-nio client that measures, in the
same run and interleaved in random order: from just before it sends a message to the moment its
own sync brings the reply. Each bot is in a direct chat with the measuring client; the real bot
also has a moderation room (new ideas are announced there). Both bot accounts are exempt from
Synapse's message rate limit, as the README tells deployers to do.
"""

from __future__ import annotations

import asyncio
import random
import time

from benchmarks.common import Run, Summary, Target, ms, show, table
from benchmarks.matrix import (
    Watcher,
    bot_process,
    bot_settings,
    db_rows,
    echo_process,
    log_in,
    register,
    write_config,
)
from devtools.seed import seed_challenge

ROUNDS = 200  # each round: one !vote, one !idea, and the same two texts to the echo bot
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

    moderator = await log_in(homeserver, moderator_user)
    moderation_room = await Watcher(moderator).create_room([bot_user], name="Moderation")
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

        samples: dict[str, list[float]] = {"echo": [], "!vote": [], "!idea": []}
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
            ]
            rng.shuffle(steps)
            for kind, room, text in steps:
                seconds, _reply = await tester.ask(room, text)
                if number >= WARMUP:
                    samples[kind].append(seconds)
                await asyncio.sleep(PAUSE)
            if time.monotonic() - began > TIME_LIMIT:
                show(f"(stopped after {number + 1} rounds: time limit)")
                break
        counted = await db_rows(
            database, "SELECT COUNT(*) FROM votes WHERE voter = ?", (tester_user,)
        )
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
    floor = summaries["echo"].p50
    rows = [
        [kind, s.count, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.mean), f"{s.p50 / floor:.2f}"]
        for kind, s in summaries.items()
    ]
    show(
        table(
            "Command-to-reply latency, ms (measured by a matrix-nio client)",
            ["to", "n", "p50", "p95", "p99", "mean", "p50 / echo p50"],
            rows,
        )
    )
    show(
        f"Sanity: the bot counted {counted[0][0]} votes and stored {submitted[0][0]} ideas "
        f"for {WARMUP + ROUNDS} of each sent."
    )
    return [
        Target(
            "latency",
            f"{kind} p50 vs echo bot p50",
            f"{ms(summaries[kind].p50)} ms vs {ms(floor)} ms = {summaries[kind].p50 / floor:.2f}",
            "<= 1.25",
            summaries[kind].p50 <= 1.25 * floor,
        )
        for kind in ("!vote", "!idea")
    ]
