"""Upkeep under a steady load, without a homeserver: the database's size hour by hour.

Three simulated days of the same traffic, every simulated hour alike: people vote and take
their votes back (so that the product's own data stays the same size: what grows is the
bookkeeping), look at ideas, list them, and now and then ask to be forgotten without confirming.
Each command goes the bot's way: the real ``Dispatcher`` handles it, its reply goes to the
outbox through the bot's ``enqueue_outcome``, and its id is marked handled, in one transaction
(the bot's pragmas: WAL, ``synchronous = FULL``). A stand-in for the delivery loop marks the
replies sent every few simulated minutes, the sync checkpoint follows the clock, and the
card refresher's queue is taken. The clock is the benchmark's own: a day takes seconds.

Run twice: without upkeep, and with the bot's ``Sweeper`` calling it every simulated
hour, at the shortest retentions the config allows (one day for handled ids beyond the replay
horizon, one day for sent messages), so that the second and third days show where the size
levels off. The size is the database file and its WAL together, as ``ls`` would show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from benchmarks.common import Run, Target, mib, ms, show, table
from bot.delivery import Delivery
from bot.matrix.sync import CHECKPOINT_TS_KEY, handled_ids_horizon
from bot.outcomes import enqueue_outcome
from bot.sweeper import Sweeper
from handlers import build_registry
from handlers.dispatch import Dispatcher, Sender
from handlers.i18n import Catalogue
from handlers.settings import BotSettings
from storage import Database, Store

HOURS = 72
COMMANDS_PER_HOUR = 300
#: Many people, each with a few commands an hour: the per-person limit (which counts real
#: seconds, not simulated ones) never refuses one.
PEOPLE = 500
IDEAS = 4
#: Commands between two simulated deliveries (the outbox's replies marked sent).
DELIVERY_EVERY = 25
#: Commands per simulated sync batch: the checkpoint moves after each.
BATCH = 10
MODERATOR = "@moderator:bench.example"
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
#: Bound on each simulation, whatever the machine.
TIME_LIMIT = 120.0


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Hour:
    hour: int
    db_bytes: int
    wal_bytes: int
    handled: int
    outbox: int
    #: How long that hour's upkeep took (0 without upkeep).
    upkeep_seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.db_bytes + self.wal_bytes


class _NoDelivery:
    """What the sweeper wakes when a dialogue expires: here nothing is sent."""

    def wake(self) -> None:
        pass


def _person(index: int) -> str:
    return f"@person{index % PEOPLE}:bench.example"


def _command(index: int, votes: int) -> tuple[str, bool]:
    """The body of command ``index``, and whether it was a vote (or unvote)."""
    kind = index % 10
    if kind < 7:
        # A sweep of votes by everyone for every idea, then a sweep taking them back.
        sweep, position = divmod(votes, PEOPLE * IDEAS)
        idea = 1 + position // PEOPLE
        return (f"!vote {idea}" if sweep % 2 == 0 else f"!unvote {idea}"), True
    if kind < 9:
        return f"!show {1 + index % IDEAS}", False
    return ("!forget" if index % 100 == 9 else "!ideas"), False


def _sizes(path: Path) -> tuple[int, int]:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def simulate(path: Path, catalogue: Catalogue, *, upkeep: bool) -> list[Hour]:
    settings = BotSettings(
        moderators=(MODERATOR,),
        commands_per_minute=600,
        handled_events_retention_days=1,
        outbox_retention_days=1,
        upkeep_interval_minutes=60,
    )
    clock = Clock()
    db = Database(path)
    await db.open()
    store = Store(db)
    dispatcher = Dispatcher(build_registry(), store, catalogue, settings, clock=clock)
    sweeper = Sweeper(
        dispatcher, cast(Delivery, _NoDelivery()), handled_horizon=handled_ids_horizon
    )
    began = time.monotonic()
    try:
        async with db.transaction():
            challenge = await store.challenges.create(
                slug="steady", title="Steady", description="", created_by=MODERATOR, now=clock()
            )
            for number in range(IDEAS):
                await store.ideas.add(
                    challenge_id=challenge.id,
                    title=f"Idea {number}",
                    description="A few words on what it would change. " * 4,
                    author=MODERATOR,
                    now=clock(),
                )
        step = timedelta(hours=1) / COMMANDS_PER_HOUR
        hours: list[Hour] = []
        index = votes = 0
        for hour in range(1, HOURS + 1):
            for _ in range(COMMANDS_PER_HOUR):
                clock.now += step
                body, is_vote = _command(index, votes)
                votes += is_vote
                user = _person(index)
                room = f"!dm-{index % PEOPLE}:bench.example"
                event_id = f"$event{index}:bench.example"
                sender = Sender(user, room, is_direct=True, is_moderator=False, sent_at=clock())
                async with db.transaction():
                    outcome = await dispatcher.handle_message(sender, body)
                    if outcome is not None:
                        await enqueue_outcome(
                            store,
                            outcome,
                            room_id=room,
                            event_id=event_id,
                            settings=settings,
                            now=clock(),
                        )
                    await store.state.mark_handled(event_id, clock())
                index += 1
                if index % BATCH == 0:
                    async with db.transaction():
                        millis = int(clock().timestamp() * 1000)
                        await store.state.set(CHECKPOINT_TS_KEY, str(millis))
                if index % DELIVERY_EVERY == 0:
                    async with db.transaction():
                        for item in await store.outbox.pending(limit=1000):
                            await store.outbox.mark_done(item.id, clock())
                        await store.cards.take_due(clock())
            took = 0.0
            if upkeep:
                upkeep_began = time.perf_counter()
                await sweeper.run_upkeep()
                took = time.perf_counter() - upkeep_began
            handled = int(await db.fetch_value("SELECT COUNT(*) FROM handled_events"))
            outbox = int(await db.fetch_value("SELECT COUNT(*) FROM outbox"))
            hours.append(Hour(hour, *_sizes(path), handled, outbox, took))
            if time.monotonic() - began > TIME_LIMIT:
                raise RuntimeError(f"the simulation took over {TIME_LIMIT:.0f}s")
        return hours
    finally:
        await db.close()


async def run_upkeep(run: Run) -> list[Target]:
    directory = run.directory("upkeep")
    catalogue = Catalogue()
    began = time.monotonic()
    without = await simulate(directory / "without.sqlite3", catalogue, upkeep=False)
    without_took = time.monotonic() - began
    began = time.monotonic()
    with_upkeep = await simulate(directory / "with.sqlite3", catalogue, upkeep=True)
    with_took = time.monotonic() - began
    rows = [
        [
            str(plain.hour),
            f"{mib(plain.db_bytes)} + {mib(plain.wal_bytes)}",
            f"{plain.handled:,}",
            f"{plain.outbox:,}",
            f"{mib(kept.db_bytes)} + {mib(kept.wal_bytes)}",
            f"{kept.handled:,}",
            f"{kept.outbox:,}",
        ]
        for plain, kept in zip(without, with_upkeep, strict=True)
        if plain.hour % 4 == 0 or plain.hour in (1, 2, 25)
    ]
    show(
        table(
            f"Database size under a steady load ({COMMANDS_PER_HOUR} commands per simulated "
            "hour), MiB",
            [
                "hour",
                "no upkeep: db + wal",
                "handled ids",
                "outbox rows",
                "upkeep hourly: db + wal",
                "handled ids",
                "outbox rows",
            ],
            rows,
        )
    )
    show(f"(simulated in {without_took:.1f}s without upkeep, {with_took:.1f}s with it)")
    rounds = sorted(hour.upkeep_seconds for hour in with_upkeep)
    show(
        f"One round of upkeep (prune, optimize, vacuum, WAL truncated): median "
        f"{ms(rounds[len(rounds) // 2])} ms, slowest {ms(rounds[-1])} ms"
    )
    day2 = [hour.total for hour in with_upkeep if 24 < hour.hour <= 48]
    day3 = [hour.total for hour in with_upkeep if 48 < hour.hour <= 72]
    bounded = max(day3) <= max(day2) * 1.05
    replies = sum(1 for hour in without if hour.outbox)  # every hour had its replies
    if without[-1].outbox < HOURS * COMMANDS_PER_HOUR * 0.9 or replies < HOURS:
        raise RuntimeError("commands went unanswered: the simulated load is not what it says")
    return [
        Target(
            "upkeep",
            "largest db + wal on day 3 vs day 2, upkeep hourly",
            f"{mib(max(day3))} vs {mib(max(day2))} MiB (without: "
            f"{mib(without[-1].total)} MiB at hour {HOURS})",
            "<= 1.05 ×",
            bounded,
        )
    ]
