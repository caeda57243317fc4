"""Whether the bot is well: the rule behind ``/healthz`` and the figures behind ``!status``.

Healthy means: the sync loop is current (its last batch was handled within twice the long
poll plus 30 s, and the homeserver answers) and every supervised background task is running.
A task that failed is unhealthy until it runs again (it is restarted after a backoff).
"""

from __future__ import annotations

from bot.metrics import Metrics
from bot.server import Reachability
from handlers.health import StatusFigures
from storage import Store

#: Added to twice the long poll: how late a sync may be before the loop counts as stuck.
SYNC_GRACE_SECONDS = 30.0


class Health:
    def __init__(
        self,
        metrics: Metrics,
        reachability: Reachability,
        store: Store,
        *,
        sync_timeout_ms: int,
        tasks: tuple[str, ...] = (),
    ) -> None:
        self.metrics = metrics
        self.reachability = reachability
        self.store = store
        self.stale_after = 2 * sync_timeout_ms / 1000 + SYNC_GRACE_SECONDS
        #: Each supervised task: None while it runs, else why not.
        self._tasks: dict[str, str | None] = dict.fromkeys(tasks, "not started")

    def task_running(self, name: str) -> None:
        self._tasks[name] = None

    def task_failed(self, name: str, reference: str) -> None:
        self._tasks[name] = f"failed (ref {reference}), restarting"

    @property
    def sync_current(self) -> bool:
        lag = self.metrics.since_sync()
        return lag is not None and lag <= self.stale_after

    def failed_tasks(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, reason in self._tasks.items() if reason is not None))

    def problems(self) -> list[str]:
        """Why the bot is not healthy, one line each; empty when it is."""
        found: list[str] = []
        if not self.reachability.is_up:
            found.append("homeserver unreachable")
        lag = self.metrics.since_sync()
        if lag is None:
            found.append("no sync yet")
        elif lag > self.stale_after:
            found.append(f"last sync {lag:.0f} s ago (more than {self.stale_after:.0f} s)")
        for name in self.failed_tasks():
            found.append(f"background task {name}: {self._tasks[name]}")
        return found

    async def figures(self) -> StatusFigures:
        """The figures as they are now, the database's included (for ``!status``)."""
        metrics = self.metrics
        stored = await metrics.refresh(self.store)
        handled = metrics.total(metrics.handler_seconds, "_count")
        return StatusFigures(
            sync_lag_seconds=metrics.since_sync(),
            sync_current=self.sync_current,
            homeserver_up=self.reachability.is_up,
            failed_tasks=self.failed_tasks(),
            events_handled=int(metrics.total(metrics.events_handled)),
            commands=int(metrics.total(metrics.commands)),
            command_errors=int(metrics.total(metrics.commands, outcome="error")),
            mean_latency_ms=(
                metrics.total(metrics.handler_seconds, "_sum") / handled * 1000 if handled else None
            ),
            outbox_pending=stored.outbox_pending,
            outbox_oldest_seconds=stored.outbox_oldest_seconds,
            send_failures=int(metrics.total(metrics.send_failures)),
            gap_fills=int(metrics.total(metrics.gap_fills)),
            undecryptable=int(metrics.total(metrics.undecryptable)),
            database_bytes=stored.database_bytes,
        )
