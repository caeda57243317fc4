"""The homeserver's answers sorted into what to do next, and a cheap watch while it is away.

Every request the bot makes ends in one of four ways: it worked; the server refused this request
for good (:class:`Permanent`); it asked us to wait (:class:`Retry`, a 429); or the server could
not be reached or failed (:class:`Unreachable`: a connection refused, cut or stalled, a 5xx, a
proxy's error page). The last is an outage: instead of each loop backing off on its own up to a
minute (and sleeping through the server's return), they all wait on one :class:`Reachability`,
which asks ``/_matrix/client/versions`` every couple of seconds and wakes them when it answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

from aiohttp import ClientError
from nio import AsyncClient, ErrorResponse

from bot.backoff import retry_after

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
#: While the homeserver is away, how often it is asked whether it is back.
PROBE_INTERVAL = 2.5
PROBE_TIMEOUT = 5.0


class Retry(Exception):
    """A temporary refusal: send again after ``after`` seconds (or a backoff)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Permanent(Exception):
    """The homeserver refuses this request for good."""


class Dropped(Permanent):
    """Not sent, by the bot's own rule (no direct chat may be opened for the person now)."""


class Unreachable(Exception):
    """The homeserver could not be reached or failed (5xx): wait for it to come back."""


def raise_for(response: Any) -> None:
    """Classify an error response from the homeserver into one of the exceptions above."""
    status = getattr(response, "status_code", None)
    message = getattr(response, "message", str(response))
    wait = retry_after(response)
    if wait is not None:
        raise Retry("rate limited", after=wait)
    transport = getattr(response, "transport_response", None)
    http_status = getattr(transport, "status", None)
    if isinstance(response, ErrorResponse) and http_status is not None and 400 <= http_status < 500:
        raise Permanent(f"{status}: {message}")
    raise Unreachable(f"{http_status or status}: {message}")


def is_server_failure(response: Any) -> bool:
    """A 5xx, or an answer with no HTTP status at all."""
    http_status = getattr(getattr(response, "transport_response", None), "status", None)
    return http_status is None or http_status >= 500


class Reachability:
    """Whether the homeserver answers; loops that met an outage wait here for its end."""

    def __init__(self, client: AsyncClient, *, interval: float = PROBE_INTERVAL) -> None:
        self.client = client
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

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                response = await self.client.send("GET", "/_matrix/client/versions")
                async with response:
                    return bool(response.status == 200)
        except Exception:  # whatever the failure, the answer is "not yet": the watch goes on
            return False

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
