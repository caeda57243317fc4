"""What the bot counts about itself, in the Prometheus text format (``prometheus_client``).

One :class:`Metrics` holds a registry of its own rather than the library's global one, so that
several bots (in the tests) never share a counter. The loops count as they go, one line at the
place where a thing happens; what lives in the database (the outbox, its size) is read when
someone asks, by :meth:`Metrics.refresh`, so that nothing polls the database in between.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from storage import Store

#: Handler latency buckets, in seconds: a command is a few milliseconds; one that waits on a
#: busy disk (the fsync of its commit) can take a good part of a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: Outcomes of a command, as the dispatcher reports them.
COMMAND_OUTCOMES = ("ok", "refused", "usage", "error", "unknown")


class StoredFigures(NamedTuple):
    """What :meth:`Metrics.refresh` read from the database."""

    outbox_pending: int
    #: Seconds the oldest waiting row has waited; None when none waits.
    outbox_oldest_seconds: float | None
    database_bytes: int


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.events_handled = Counter(
            "challenge_bot_events_handled",
            "Events addressed to the bot and handled, by kind",
            ["kind"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "challenge_bot_handler_seconds",
            "Time to handle one event, its transaction's commit included",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commands = Counter(
            "challenge_bot_commands",
            "Commands run, by command and outcome (ok, refused, usage, error, unknown)",
            ["command", "outcome"],
            registry=registry,
        )
        self.command_seconds = Histogram(
            "challenge_bot_command_seconds",
            "Time a command's handler took, without the commit",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.syncs = Counter(
            "challenge_bot_syncs", "Sync batches handled and checkpointed", registry=registry
        )
        self.sync_lag = Gauge(
            "challenge_bot_sync_lag_seconds",
            "Seconds since the last sync batch was handled (-1 before the first)",
            registry=registry,
        )
        self.gap_fills = Counter(
            "challenge_bot_gap_fills",
            "Limited timelines filled in from /messages",
            registry=registry,
        )
        self.undecryptable = Counter(
            "challenge_bot_undecryptable_events",
            "Encrypted events the bot could not decrypt when they came",
            registry=registry,
        )
        self.sent = Counter(
            "challenge_bot_outbox_sent", "Outbox rows sent to the homeserver", registry=registry
        )
        self.send_failures = Counter(
            "challenge_bot_send_failures",
            "Failed attempts to send an outbox row, by class (permanent, retry, unreachable, "
            "unexpected)",
            ["class"],
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "challenge_bot_outbox_depth", "Outbox rows waiting to be sent", registry=registry
        )
        self.outbox_oldest = Gauge(
            "challenge_bot_outbox_oldest_seconds",
            "Age of the oldest outbox row waiting to be sent (0 when none waits)",
            registry=registry,
        )
        self.database_bytes = Gauge(
            "challenge_bot_database_bytes",
            "Size of the SQLite database with its write-ahead log",
            registry=registry,
        )
        self._last_sync: float | None = None

    def synced(self) -> None:
        """A sync batch was handled and checkpointed."""
        self._last_sync = time.monotonic()
        self.syncs.inc()

    def since_sync(self) -> float | None:
        """Seconds since the last batch was handled; None before the first."""
        return None if self._last_sync is None else time.monotonic() - self._last_sync

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        """The dispatcher's hook: one command run, and how long the command itself took."""
        self.commands.labels(command, outcome).inc()
        self.command_seconds.observe(seconds)

    async def refresh(self, store: Store, now: datetime | None = None) -> StoredFigures:
        """Set the gauges read from the database and the clock; call before a scrape."""
        summary = await store.outbox.pending_summary()
        now = now or datetime.now(UTC)
        oldest = None if summary.oldest is None else max((now - summary.oldest).total_seconds(), 0)
        figures = StoredFigures(summary.waiting, oldest, store.db.size_bytes())
        self.outbox_depth.set(figures.outbox_pending)
        self.outbox_oldest.set(oldest or 0.0)
        self.database_bytes.set(figures.database_bytes)
        lag = self.since_sync()
        self.sync_lag.set(-1 if lag is None else lag)
        return figures

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    def total(self, metric: Counter | Histogram, suffix: str = "_total", **labels: str) -> float:
        """The sum of a metric's samples ending in ``suffix`` (``_total`` of a counter, ``_sum``
        or ``_count`` of a histogram) over the label values that match ``labels``."""
        value = 0.0
        for family in metric.collect():
            for sample in family.samples:
                if sample.name.endswith(suffix) and all(
                    sample.labels.get(key) == wanted for key, wanted in labels.items()
                ):
                    value += sample.value
        return value
