"""The figures ``!status`` shows: plain numbers that the bot layer gathers, so that commands
never see Matrix or the metrics library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StatusFigures:
    """The bot's health and its counters since it started."""

    #: Seconds since the last sync batch was handled; None before the first.
    sync_lag_seconds: float | None
    #: The sync loop is current: it synced recently and the homeserver answers.
    sync_current: bool
    homeserver_up: bool
    #: Background tasks that are not running (failed, waiting to be restarted).
    failed_tasks: tuple[str, ...]
    events_handled: int
    commands: int
    command_errors: int
    #: Mean time to handle an event, in milliseconds; None before the first.
    mean_latency_ms: float | None
    outbox_pending: int
    #: Age of the oldest outbox row still waiting, in seconds; None when none waits.
    outbox_oldest_seconds: float | None
    send_failures: int
    gap_fills: int
    undecryptable: int
    database_bytes: int

    @property
    def healthy(self) -> bool:
        return self.sync_current and self.homeserver_up and not self.failed_tasks


#: What the bot gives the dispatcher: the figures as they are now.
StatusProvider = Callable[[], Awaitable[StatusFigures]]
