"""Scale: handler times on a large database, and the bot's start-up and memory on Synapse.

1. Handler time: on the generated database (``benchmarks.dataset``), each command goes
   through the real ``Dispatcher`` (parse, role, handler, reply) inside a transaction, as the
   bot runs it; timed from before ``BEGIN`` to after ``COMMIT``.
2. Start-up: the bot in its own process with that database, from process start (interpreter
   and imports included) to its first sync handled: first ever (log-in and initial sync), and
   again after a restart (device restored, sync from the saved position).
3. Memory: resident set size of the bot's process after it answered commands on that
   database, and when idle after a restart with its account in 500 rooms.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from nio import AsyncClient, RoomCreateResponse, RoomPreset

from benchmarks.common import Run, Summary, Target, mib, ms, show, stopwatch, table
from benchmarks.dataset import MODERATOR, VOTERS, Dataset, build, user
from benchmarks.matrix import (
    Process,
    Watcher,
    bot_process,
    bot_settings,
    db_value,
    register,
    write_config,
)
from handlers import build_registry
from handlers.dispatch import Dispatcher, Sender
from handlers.i18n import Catalogue
from handlers.settings import BotSettings
from storage import Database, Store

SAMPLES = 300
WARMUP = 20
MODERATION_ROOM = "!moderation:bench.example"
ROOMS = 500
#: Over Matrix, per kind of command, once the bot runs on the large database.
OVER_MATRIX = 20
SETTLE = 5.0  # seconds an idle bot is left alone before its memory is read


def _commands(data: Dataset, rng: random.Random) -> dict[str, Callable[[int], tuple[Sender, str]]]:
    """For each measured command: a function giving (sender, text) for the n-th sample."""
    votable = list(data.votable)
    rng.shuffle(votable)

    def citizen(number: int) -> Sender:
        who = user("voter", rng.randrange(VOTERS))
        return Sender(
            user_id=who, room_id=f"!dm-{number}:bench.example", is_direct=True, is_moderator=False
        )

    moderator = Sender(
        user_id=MODERATOR, room_id=MODERATION_ROOM, is_direct=False, is_moderator=True
    )
    return {
        "!ideas <slug> top": lambda n: (citizen(n), f"!ideas {rng.choice(data.slugs)} top"),
        "!show <id>": lambda n: (citizen(n), f"!show {rng.randrange(1, data.ideas + 1)}"),
        "!queue": lambda n: (moderator, "!queue"),
        "!vote <id>": lambda n: (
            Sender(
                user_id=f"@scale-voter{n}:bench.example",
                room_id=f"!dm-v{n}:bench.example",
                is_direct=True,
                is_moderator=False,
            ),
            f"!vote {votable[n]}",
        ),
        # Not among the targets; shown for what they cost on the same data.
        "!ideas <slug> new 3": lambda n: (citizen(n), f"!ideas {rng.choice(data.slugs)} new 3"),
        "!queue <slug>": lambda n: (moderator, f"!queue {rng.choice(data.slugs)}"),
        "!challenges": lambda n: (citizen(n), "!challenges"),
    }


TARGETED = ("!ideas <slug> top", "!show <id>", "!queue", "!vote <id>")


async def handler_times(data: Dataset, catalogue: Catalogue) -> dict[str, Summary]:
    settings = BotSettings.model_validate(
        bot_settings(moderators=(MODERATOR,), moderation_room=MODERATION_ROOM)
    )
    db = Database(data.path)
    await db.open()
    store = Store(db)
    dispatcher = Dispatcher(build_registry(), store, catalogue, settings)
    rng = random.Random(7)
    results: dict[str, Summary] = {}
    try:
        votes_before = int(await db.fetch_value("SELECT COUNT(*) FROM votes"))
        for name, make in _commands(data, rng).items():
            times: list[float] = []
            for number in range(WARMUP + SAMPLES):
                sender, text = make(number)
                began = time.perf_counter()
                async with db.transaction():
                    outcome = await dispatcher.handle_message(sender, text)
                took = time.perf_counter() - began
                if outcome is None or outcome.reply is None:
                    raise RuntimeError(f"no reply to {text!r}")
                if number >= WARMUP:
                    times.append(took)
            results[name] = Summary.of(times)
        added = int(await db.fetch_value("SELECT COUNT(*) FROM votes")) - votes_before
        if added != WARMUP + SAMPLES:
            raise RuntimeError(f"{added} of {WARMUP + SAMPLES} votes were counted")
    finally:
        await db.close()
    return results


async def _started(process: Process) -> tuple[float, float]:
    """Seconds from spawning the process to the bot object, and to its first sync."""
    constructed = float(await process.fact("constructed_at"))
    synced = float(await process.fact("first_sync_at"))
    return constructed - process.spawned_at, synced - process.spawned_at


async def _create_rooms(client: AsyncClient, people: list[str], count: int) -> float:
    """The bot's account opens ``count`` direct chats, as its outbox does for notifications."""
    gate = asyncio.Semaphore(4)

    async def one(number: int) -> None:
        async with gate:
            response = await client.room_create(
                is_direct=True,
                invite=[people[number % len(people)]],
                preset=RoomPreset.trusted_private_chat,
            )
            if not isinstance(response, RoomCreateResponse):
                raise RuntimeError(f"could not create a room: {response}")

    with stopwatch() as took:
        await asyncio.gather(*(one(number) for number in range(count)))
    return took[0]


async def run_scale(run: Run) -> list[Target]:
    directory = run.directory("scale")
    with stopwatch() as took:
        data = await asyncio.to_thread(build, directory / "scale.sqlite3")
    size = data.path.stat().st_size
    show(
        f"Generated {len(data.slugs)} challenges, {data.ideas:,} ideas and {data.votes:,} votes "
        f"({mib(size)} MiB) in {took[0]:.1f} s"
    )
    catalogue = Catalogue()
    times = await handler_times(data, catalogue)
    show(
        table(
            f"Handler time on the large database, ms ({SAMPLES} each, BEGIN to COMMIT)",
            ["command", "p50", "p95", "p99", "max"],
            [[name, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)] for name, s in times.items()],
        )
    )
    targets = [
        Target(
            "scale",
            f"p99 handler time, {name}",
            f"{ms(times[name].p99)} ms",
            "< 10 ms",
            times[name].p99 < 0.010,
        )
        for name in TARGETED
    ]
    targets += await _on_matrix(run, data, directory)
    return targets


async def _on_matrix(run: Run, data: Dataset, directory: Path) -> list[Target]:
    homeserver = await run.homeserver()
    admin = await run.admin_token()
    bot_user, moderator_user, tester_user = await register(
        homeserver, ["scale-bot", "scale-moderator", "scale-tester"]
    )
    people = await register(homeserver, [f"scale-citizen-{n}" for n in range(20)])
    await asyncio.to_thread(homeserver.override_ratelimit, admin, bot_user)
    moderator = await Watcher.start(homeserver, moderator_user)
    tester = await Watcher.start(homeserver, tester_user)
    moderation_room = await moderator.create_room([bot_user], name="Moderation")
    config = write_config(
        directory / "bot.toml",
        homeserver,
        bot_user,
        data.path,
        bot_settings(moderators=[moderator_user], moderation_room=moderation_room),
    )
    rows: list[list[object]] = []
    figures: dict[str, float] = {}
    rng = random.Random(11)
    runs = 0
    bot: Process | None = None

    async def start(label: str, *, settle: bool = True) -> Process:
        """Start the bot; one row of the table: start-up, rooms known, memory once idle."""
        nonlocal runs
        runs += 1
        process = bot_process(config, directory / f"bot-{runs}.log")
        await process.start()
        constructed, synced = await _started(process)
        figures[label] = synced
        first_rooms = int(await process.fact("rooms"))
        if settle:
            await asyncio.sleep(SETTLE)
        rooms = int(process.facts.get("rooms_now", first_rooms))
        figures[f"{label} rss"] = process.rss()
        rows.append(
            [
                label,
                f"{constructed:.2f}",
                f"{synced:.2f}",
                first_rooms,
                rooms,
                mib(figures[f"{label} rss"]),
            ]
        )
        return process

    try:
        # First start ever on this database: log in, initial sync; then answer commands.
        bot = await start("first start (log-in, initial sync)", settle=False)
        await moderator.wait_joined(moderation_room, bot_user)
        direct = await tester.create_room([bot_user], direct=True)
        await tester.wait_joined(direct, bot_user)
        answer_times: list[float] = []
        for number in range(OVER_MATRIX):
            for room, asker, text in (
                (direct, tester, f"!ideas {rng.choice(data.slugs)} top"),
                (direct, tester, f"!show {rng.randrange(1, data.ideas + 1)}"),
                (direct, tester, f"!vote {data.votable[-1 - number]}"),
                (moderation_room, moderator, "!queue"),
            ):
                seconds, _reply = await asker.ask(room, text)
                answer_times.append(seconds)
        figures["busy rss"] = bot.rss()
        answered = Summary.of(answer_times)
        rows.append(
            [
                f"after answering {len(answer_times)} commands over Matrix",
                "",
                "",
                "",
                "",
                mib(figures["busy rss"]),
            ]
        )
        await bot.stop()

        # A restart: the device and the sync position come from the database.
        bot = await start("restart")
        await bot.stop()

        # The bot's account in 500 rooms, made while it is stopped.
        session = json.loads(
            await db_value(data.path, "SELECT value FROM bot_state WHERE key = 'session'")
        )
        creator = AsyncClient(homeserver.url, bot_user)
        creator.restore_login(session["user_id"], session["device_id"], session["access_token"])
        try:
            took = await _create_rooms(creator, people, ROOMS - 2)
        finally:
            await creator.close()
        show(f"(the bot's account opened {ROOMS - 2} more direct chats in {took:.0f} s)")
        bot = await start(f"restart, {ROOMS - 2} rooms joined meanwhile")
        await bot.stop()
        bot = await start(f"restart, in {ROOMS} rooms")
    finally:
        if bot is not None:
            await bot.stop()
        await moderator.close()
        await tester.close()
    show(
        table(
            "The bot on the large database (its own process; seconds from process start)",
            [
                "when",
                "bot constructed, s",
                "first sync done, s",
                "rooms then",
                f"rooms {SETTLE:.0f} s later",
                "resident memory, MiB",
            ],
            rows,
        )
    )
    show(
        f"Over Matrix on that database: {answered.count} commands, command-to-reply p50 "
        f"{ms(answered.p50)} ms, p99 {ms(answered.p99)} ms."
    )
    peak = max(value for name, value in figures.items() if name.endswith("rss"))
    in_rooms = f"restart, in {ROOMS} rooms"
    return [
        Target(
            "scale",
            "start-up to first sync (restart)",
            f"{figures['restart']:.2f} s",
            "< 2 s",
            figures["restart"] < 2,
        ),
        Target(
            "scale",
            "start-up to first sync (first start)",
            f"{figures['first start (log-in, initial sync)']:.2f} s",
            "< 2 s",
            figures["first start (log-in, initial sync)"] < 2,
        ),
        Target(
            "scale",
            "resident memory of the bot (highest measured)",
            f"{mib(peak)} MiB",
            "< 150 MiB",
            peak < 150 * 2**20,
        ),
        Target(
            "scale",
            f"idle memory in {ROOMS} rooms",
            f"{mib(figures[in_rooms + ' rss'])} MiB",
            "(report)",
            None,
        ),
        Target(
            "scale",
            f"start-up to first sync in {ROOMS} rooms",
            f"{figures[in_rooms]:.2f} s",
            "(report)",
            None,
        ),
    ]
