"""The homeserver's answers sorted into what to do next (:mod:`bot.server`), and how to ask
whether it is back while it is away.

nio hands back an error response rather than raising: :func:`raise_for` turns one into
:class:`~bot.server.Permanent` (a 4xx), :class:`~bot.server.Retry` (a 429, or ``M_LIMIT_EXCEEDED``)
or :class:`~bot.server.Unreachable` (a 5xx, or no HTTP answer at all). While the homeserver is
away, :class:`HomeserverReachability` asks ``/_matrix/client/versions`` every couple of seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nio import AsyncClient, ErrorResponse

from bot.backoff import retry_after
from bot.server import PROBE_INTERVAL, PROBE_TIMEOUT, Permanent, Reachability, Retry, Unreachable


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


class HomeserverReachability(Reachability):
    """Whether the homeserver answers, asked at ``/_matrix/client/versions``."""

    def __init__(self, client: AsyncClient, *, interval: float = PROBE_INTERVAL) -> None:
        super().__init__(interval=interval)
        self.client = client

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                response = await self.client.send("GET", "/_matrix/client/versions")
                async with response:
                    return bool(response.status == 200)
        except Exception:  # whatever the failure, the answer is "not yet": the watch goes on
            return False
