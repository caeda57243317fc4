"""The delivery loop: outbox rows go out in order, each with a transaction id of its own.

It knows rows, transaction ids and retries, nothing of what a row means (:mod:`bot.outgoing`
carries each kind out). A row's transaction id is derived from its row id and a secret of the
database, so a resend after a crash is dropped by the homeserver as a duplicate. Nothing is
dropped because the homeserver is slow or away: a row waits for it, and only a refusal for good
(or a row that keeps failing in a way nobody foresaw) ends a row unsent, logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from bot.backoff import Backoff, sleep_unless
from bot.homeserver import (
    NETWORK_ERRORS,
    REQUEST_TIMEOUT,
    Permanent,
    Reachability,
    Retry,
    Unreachable,
)
from handlers.dispatch import utc_now
from storage import OutboxItem, Store

log = logging.getLogger(__name__)

#: Rows sent before the loop looks up again whether it was woken or asked to stop.
BATCH = 50

#: A row that fails this many times with an error nobody foresaw is given up, so that one
#: broken row cannot hold up every row behind it.
MAX_UNEXPECTED_FAILURES = 5

_SERVER_AWAY: tuple[type[BaseException], ...] = (Unreachable, *NETWORK_ERRORS)

#: What carrying out a row leaves to write, in the transaction that marks the row sent.
Record = Callable[[], Awaitable[None]]
CarryOut = Callable[[OutboxItem, str], Awaitable[Record | None]]


class Delivery:
    def __init__(
        self,
        store: Store,
        carry_out: CarryOut,
        reachability: Reachability,
        ready: asyncio.Event,
    ) -> None:
        self.store = store
        self.carry_out = carry_out
        self.reachability = reachability
        self.ready = ready  # set once the first sync has shown the bot its rooms
        self._wake = asyncio.Event()
        self._secret: str | None = None
        self._backoff = Backoff("Sending to the homeserver", log)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; nothing before the first sync (no room is known yet)."""
        await _wait_either(self.ready, stop, seconds=None)
        while not stop.is_set():
            sent = await self.send_pending(stop)
            if sent == 0:
                self._wake.clear()
                await _wait_either(self._wake, stop, seconds=5)

    async def drain(self, seconds: float) -> int:
        """On shutdown: send what is queued for at most ``seconds``; returns the rows left.

        What is in flight when the time is up is abandoned: its row stays pending, and the same
        transaction id makes a resend at the next start harmless.
        """
        if self.ready.is_set():
            never = asyncio.Event()
            try:
                async with asyncio.timeout(seconds):
                    while await self.send_pending(never):
                        pass
            except TimeoutError:
                pass
        async with self.store.db.transaction():
            left = await self.store.outbox.count_pending()
        if left:
            log.warning("%d outgoing messages stay queued for the next start", left)
        return left

    async def send_pending(self, stop: asyncio.Event) -> int:
        """Send the oldest rows, up to a batch; returns how many were taken. Each row is read
        just before it goes: one changed meanwhile (scrubbed by an erasure) goes as it is now."""
        taken = 0
        while taken < BATCH and not stop.is_set():
            async with self.store.db.transaction():
                items = await self.store.outbox.pending(limit=1)
            if not items:
                break
            await self._deliver_with_retry(items[0], stop)
            taken += 1
        return taken

    async def _deliver_with_retry(self, item: OutboxItem, stop: asyncio.Event) -> None:
        unexpected = network = 0
        while not stop.is_set():
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT * 2):
                    record = await self.carry_out(item, await self._txn_id(item))
                async with self.store.db.transaction():
                    if record is not None:
                        await record()
                    await self.store.outbox.mark_done(item.id, utc_now())
                self._backoff.succeeded()
                return
            except Permanent as error:
                log.error(
                    "Outbox row %d (%s) refused by the homeserver: %s", item.id, item.kind, error
                )
                await self._give_up(item, str(error))
                return
            except Retry as error:
                delay = error.after if error.after is not None else self._backoff.failed(str(error))
                await self._attempted(item)
                await sleep_unless(stop, delay)
            except _SERVER_AWAY as error:
                network += 1
                await self._attempted(item)
                if network > 1:  # a connection cut once is tried again at once
                    await self.reachability.outage(f"{type(error).__name__}: {error}", stop)
            except Exception:
                unexpected += 1
                reference = secrets.token_hex(4)
                log.exception(
                    "Unexpected error sending outbox row %d (%s), try %d (ref %s)",
                    item.id,
                    item.kind,
                    unexpected,
                    reference,
                    extra={"room_id": item.room_id, "reference": reference},
                )
                if unexpected >= MAX_UNEXPECTED_FAILURES:
                    await self._give_up(item, f"unexpected error, ref {reference}")
                    return
                await self._attempted(item)
                await sleep_unless(stop, self._backoff.failed(f"ref {reference}"))

    async def _attempted(self, item: OutboxItem) -> None:
        async with self.store.db.transaction():
            await self.store.outbox.mark_attempt(item.id)

    async def _give_up(self, item: OutboxItem, reason: str) -> None:
        async with self.store.db.transaction():
            await self.store.outbox.mark_done(item.id, utc_now(), failed=reason)

    async def _txn_id(self, item: OutboxItem) -> str:
        if self._secret is None:
            # Unique per database, so a fresh database on the same device never reuses an id.
            async with self.store.db.transaction():
                self._secret = await self.store.state.instance_secret()
        return f"cb{self._secret}.{item.id}"


async def _wait_either(
    first: asyncio.Event, second: asyncio.Event, *, seconds: float | None
) -> None:
    waiters = {asyncio.create_task(first.wait()), asyncio.create_task(second.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
