"""How a request to a chat server can end, and the watch over a server that is away.

Front-end neutral: the delivery loop (:mod:`bot.delivery`) and every front end share these. A
front end sorts its platform's answers into them (Matrix: :mod:`bot.matrix.homeserver_errors`).
Every request ends in one of four ways: it worked; the server refused this request for good
(:class:`Permanent`); it asked us to wait (:class:`Retry`, a 429); or the server could not be
reached or failed (:class:`Unreachable`: a connection refused, cut or stalled, a 5xx, a proxy's
error page). The last is an outage: instead of each loop backing off on its own up to a minute
(and sleeping through the server's return), they all wait on one :class:`Reachability`, which
asks the server every couple of seconds whether it is back and wakes them when it answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from abc import ABC, abstractmethod

from aiohttp import ClientError

log = logging.getLogger(__name__)

#: What the network and aiohttp raise when a request did not get a usable answer: a refused or
#: cut connection (``ServerDisconnectedError``, ``ClientPayloadError``…), a timeout, and a body
#: that is not JSON (a proxy's HTML error page).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ClientError,
    OSError,
    TimeoutError,
    json.JSONDecodeError,
)

#: No single request waits longer than this (a stalled connection, a half-open socket).
REQUEST_TIMEOUT = 30.0
#: While the server is away, how often it is asked whether it is back.
PROBE_INTERVAL = 2.5
PROBE_TIMEOUT = 5.0


class Retry(Exception):
    """A temporary refusal: send again after ``after`` seconds (or a backoff)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Permanent(Exception):
    """The server refuses this request for good."""


class Dropped(Permanent):
    """Not sent, by the bot's own rule (no direct chat may be opened for the person now)."""


class Unreachable(Exception):
    """The server could not be reached or failed (5xx): wait for it to come back."""


class Reachability(ABC):
    """Whether the server answers; loops that met an outage wait here for its end. A front end
    says how its server is asked (:meth:`_answers`)."""

    def __init__(self, *, interval: float = PROBE_INTERVAL) -> None:
        self.interval = interval
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None
        self._down_since = 0.0
        self.outages = 0

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    async def outage(self, reason: str, stop: asyncio.Event) -> None:
        """Report that a request found the server away, and wait until it answers again (or
        ``stop`` is set). Several loops may report the same outage; it is probed once."""
        if self._up.is_set():
            self._up.clear()
            self._down_since = time.monotonic()
            self.outages += 1
            log.warning("Homeserver unreachable (%s); checking every %.1f s", reason, self.interval)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._watch(), name="homeserver probe")
        waiting = asyncio.create_task(self._up.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopping.cancel()

    async def _watch(self) -> None:
        while not self._up.is_set():
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.0))
            if await self._answers():
                log.warning(
                    "Homeserver answers again after %.1f s", time.monotonic() - self._down_since
                )
                self._up.set()

    @abstractmethod
    async def _answers(self) -> bool:
        """Whether the server answers now; any failure is a "not yet"."""

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
