"""The delivery loop: outbox rows go out in order, each with a transaction id of its own.

It knows rows, transaction ids and retries, nothing of what a row means (a front end carries
each kind out: :mod:`bot.matrix.outgoing`). A row's transaction id is derived from its row id
and a secret of the database, so a resend after a crash is dropped by the homeserver as a
duplicate. Nothing is
dropped because the homeserver is slow or away: a row waits for it, and only a refusal for good
(or a row that keeps failing in a way nobody foresaw) ends a row unsent, logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.backoff import Backoff, sleep_unless
from bot.logs import log_failure
from bot.metrics import Metrics
from bot.outbox import UnreadableRow
from bot.server import (
    NETWORK_ERRORS,
    REQUEST_TIMEOUT,
    Dropped,
    Permanent,
    Reachability,
    Retry,
    Unreachable,
)
from handlers.clock import Clock, system_clock
from storage import OutboxItem, Store

log = logging.getLogger(__name__)

#: How long what a command caused besides its reply waits, so that the reply goes first.
HOLD_BACK = 0.15

#: A row that fails this many times with an error nobody foresaw is given up, so that one
#: broken row cannot hold up every row behind it.
MAX_UNEXPECTED_FAILURES = 5

_SERVER_AWAY: tuple[type[BaseException], ...] = (Unreachable, *NETWORK_ERRORS)

#: What carrying out a row leaves to write, in the transaction that marks the row sent.
Record = Callable[[], Awaitable[None]]
CarryOut = Callable[[OutboxItem, str], Awaitable[Record | None]]


@dataclass(frozen=True)
class Joining:
    """A front end's way of joining the short confirmations at the head of a lane into one
    message (Matrix: :data:`bot.matrix.joining.JOIN_CONFIRMATIONS`)."""

    #: The rows at the head of a lane's next rows that go out as one; empty: the head goes alone.
    run: Callable[[list[OutboxItem]], list[OutboxItem]]
    #: The one row that carries the rows of a run.
    join: Callable[[list[OutboxItem]], OutboxItem]
    #: At most this many rows are joined: a lane's next rows are read this many at a time.
    at_most: int


class Delivery:
    """Rows go out in order within their lane (a room, or one person's direct chat) and lanes
    go out side by side, at most ``max_in_flight`` at once: a busy room never holds up another
    room or a direct chat."""

    def __init__(
        self,
        store: Store,
        carry_out: CarryOut,
        reachability: Reachability,
        ready: asyncio.Event,
        *,
        joining: Joining,
        max_in_flight: int = 8,
        metrics: Metrics | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.store = store
        self.carry_out = carry_out
        self.reachability = reachability
        self.ready = ready  # set once the first sync has shown the bot its rooms
        self.joining = joining
        self.max_in_flight = max_in_flight
        self.metrics = metrics or Metrics()
        self._wake = asyncio.Event()
        #: Lane workers that are sending, not waiting out a retry; see :meth:`settled`.
        self._sending = 0
        self._settled = asyncio.Event()
        self._settled.set()
        self._secret: str | None = None
        self._backoff = Backoff("Sending to the homeserver", log)

    def wake(self) -> None:
        self._wake.set()
        self._settled.clear()

    async def settled(self, at_most: float) -> None:
        """Until what was queued before now has gone out (at most ``at_most`` seconds).

        Rows held back behind the replies (:data:`HOLD_BACK`) and lanes waiting out a retry do
        not count: only what is being sent, or about to be.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._settled.wait()

    def _note_sending(self, change: int) -> None:
        self._sending += change
        if self._sending == 0 and not self._wake.is_set():
            self._settled.set()
        else:
            self._settled.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; nothing before the first sync (no room is known yet)."""
        await wait_either(self.ready, stop, seconds=None)
        if not stop.is_set():
            await self._send_lanes(stop, until_empty=False)

    async def drain(self, seconds: float) -> int:
        """On shutdown: send what is queued for at most ``seconds``; returns the rows left.

        What is in flight when the time is up is abandoned: its row stays pending, and the same
        transaction id makes a resend at the next start harmless.
        """
        if self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._send_lanes(asyncio.Event(), until_empty=True)
        async with self.store.db.transaction():
            left = await self.store.outbox.count_pending()
        if left:
            log.warning("%d outgoing messages stay queued for the next start", left)
        return left

    async def _send_lanes(self, stop: asyncio.Event, *, until_empty: bool) -> None:
        """Keep a worker on each lane with rows waiting, up to ``max_in_flight`` at once."""
        workers: dict[str, asyncio.Task[None]] = {}
        seen: dict[int, float] = {}  # a held-back lane's next row: when the loop first saw it
        try:
            while not stop.is_set():
                self._wake.clear()
                async with self.store.db.transaction():
                    waiting = await self.store.outbox.waiting_lanes(self.max_in_flight * 4)
                now = time.monotonic()
                held_back: list[float] = []
                for lane, head, answers in waiting:
                    if lane in workers or len(workers) >= self.max_in_flight:
                        continue
                    # Replies go first: what else a command caused (an announcement, a new
                    # card, a message to someone else) waits a moment after the loop first saw
                    # it, so that it does not slow the reply down at the homeserver. Draining
                    # waits for nothing.
                    wait = seen.setdefault(head, now) + HOLD_BACK - now
                    if not answers and wait > 0 and not until_empty:
                        held_back.append(wait)
                        continue
                    seen.pop(head, None)
                    workers[lane] = asyncio.create_task(self._worker(lane, stop))
                    self._note_sending(+1)
                self._note_sending(0)
                if not workers and not held_back and until_empty:
                    return
                woken = asyncio.create_task(self._wake.wait())
                stopping = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait(
                        {woken, stopping, *workers.values()},
                        timeout=min([5.0, *held_back]),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    woken.cancel()
                    stopping.cancel()
                for lane, worker in list(workers.items()):
                    if worker.done():
                        del workers[lane]
                        if not worker.cancelled() and worker.exception() is not None:
                            log.error(
                                "Delivery to lane %s failed", lane, exc_info=worker.exception()
                            )
        finally:
            # Stopped, drained or timed out: a row in flight stays pending, and its transaction
            # id makes the resend harmless.
            for worker in workers.values():
                worker.cancel()
            await asyncio.gather(*workers.values(), return_exceptions=True)

    async def _worker(self, lane: str, stop: asyncio.Event) -> None:
        try:
            await self._send_lane(lane, stop)
        finally:
            self._note_sending(-1)

    @contextlib.asynccontextmanager
    async def _waiting_out(self) -> AsyncIterator[None]:
        """A worker waiting out a retry or an outage: it is not sending meanwhile."""
        self._note_sending(-1)
        try:
            yield
        finally:
            self._note_sending(+1)

    async def _send_lane(self, lane: str, stop: asyncio.Event) -> None:
        """A lane's rows in order, each read just before it goes: one changed meanwhile
        (scrubbed by an erasure) goes as it is now."""
        while not stop.is_set():
            async with self.store.db.transaction():
                items = await self.store.outbox.next_in_lane(lane, limit=self.joining.at_most)
            if not items:
                return
            run = self.joining.run(items)
            if run:
                await self._deliver_with_retry(self.joining.join(run), stop, rows=run)
            else:
                await self._deliver_with_retry(items[0], stop)

    async def _deliver_with_retry(
        self, item: OutboxItem, stop: asyncio.Event, *, rows: list[OutboxItem] | None = None
    ) -> None:
        """Send ``item`` until it is sent or refused for good; then ``rows`` (those it carries:
        itself, or the confirmations it joins) are marked done together."""
        rows = rows or [item]
        unexpected = network = 0
        while not stop.is_set():
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT * 2):
                    record = await self.carry_out(item, await self._txn_id(rows))
                async with self.store.db.transaction():
                    if record is not None:
                        await record()
                    for row in rows:
                        await self.store.outbox.mark_done(row.id, self.clock())
                self._backoff.succeeded()
                self.metrics.sent.inc(len(rows))
                return
            except Permanent as error:
                self.metrics.send_failures.labels("permanent").inc()
                if isinstance(error, Dropped):
                    log.warning("Outbox row %d (%s) dropped: %s", item.id, item.kind, error)
                elif isinstance(error, UnreadableRow):
                    log.error("Outbox row %d (%s) cannot be read: %s", item.id, item.kind, error)
                else:
                    log.error(
                        "Outbox row %d (%s) refused by the homeserver: %s",
                        item.id,
                        item.kind,
                        error,
                    )
                await self._give_up(rows, str(error))
                return
            except Retry as error:
                self.metrics.send_failures.labels("retry").inc()
                delay = error.after if error.after is not None else self._backoff.failed(str(error))
                await self._attempted(item)
                async with self._waiting_out():
                    await sleep_unless(stop, delay)
            except _SERVER_AWAY as error:
                self.metrics.send_failures.labels("unreachable").inc()
                network += 1
                await self._attempted(item)
                if network > 1:  # a connection cut once is tried again at once
                    async with self._waiting_out():
                        await self.reachability.outage(f"{type(error).__name__}: {error}", stop)
            except Exception:
                self.metrics.send_failures.labels("unexpected").inc()
                unexpected += 1
                reference = log_failure(
                    log,
                    "Unexpected error sending outbox row %d (%s), try %d",
                    item.id,
                    item.kind,
                    unexpected,
                    room_id=item.room_id,
                )
                if unexpected >= MAX_UNEXPECTED_FAILURES:
                    await self._give_up(rows, f"unexpected error, ref {reference}")
                    return
                await self._attempted(item)
                async with self._waiting_out():
                    await sleep_unless(stop, self._backoff.failed(f"ref {reference}"))

    async def _attempted(self, item: OutboxItem) -> None:
        async with self.store.db.transaction():
            await self.store.outbox.mark_attempt(item.id)

    async def _give_up(self, rows: list[OutboxItem], reason: str) -> None:
        async with self.store.db.transaction():
            for row in rows:
                await self.store.outbox.mark_done(row.id, self.clock(), failed=reason)

    async def _txn_id(self, rows: list[OutboxItem]) -> str:
        """From the rows a message carries: the same rows give the same id after a crash."""
        if self._secret is None:
            # Unique per database, so a fresh database on the same device never reuses an id.
            async with self.store.db.transaction():
                self._secret = await self.store.state.instance_secret()
        span = str(rows[0].id) if len(rows) == 1 else f"{rows[0].id}-{rows[-1].id}"
        return f"cb{self._secret}.{span}"


async def wait_either(
    first: asyncio.Event, second: asyncio.Event, *, seconds: float | None = None
) -> None:
    """Until either event is set (or ``seconds`` have passed, when given)."""
    waiters = {asyncio.create_task(first.wait()), asyncio.create_task(second.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
