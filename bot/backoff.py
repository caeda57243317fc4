"""Exponential backoff with jitter that logs changes of state, not every attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any


class Backoff:
    def __init__(
        self, what: str, logger: logging.Logger, *, base: float = 1.0, cap: float = 60.0
    ) -> None:
        self.what = what
        self.base = base
        self.cap = cap
        self.failures = 0
        self._log = logger

    def failed(self, reason: str) -> float:
        """Count a failure; returns how long to wait before the next try."""
        self.failures += 1
        if self.failures == 1:
            self._log.warning("%s failing (%s); retrying with backoff", self.what, reason)
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        return float(delay * random.uniform(0.5, 1.0))

    def succeeded(self) -> None:
        if self.failures:
            self._log.warning("%s recovered after %d failed tries", self.what, self.failures)
        self.failures = 0


async def sleep_unless(stop: asyncio.Event, delay: float) -> None:
    """Wait ``delay`` seconds, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)


def retry_after(response: Any) -> float | None:
    """Seconds a rate-limited (429) response asks us to wait, or None if it is not one.

    ``Retry-After`` (the header, newer servers) wins over ``retry_after_ms`` (the body).
    """
    transport = getattr(response, "transport_response", None)
    limited = getattr(response, "status_code", None) in ("M_LIMIT_EXCEEDED", 429)
    if not limited and getattr(transport, "status", None) != 429:
        return None
    headers = getattr(transport, "headers", None) or {}
    header = headers.get("Retry-After")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass  # an HTTP date: fall back to the body
    retry_ms = getattr(response, "retry_after_ms", None)
    return (retry_ms or 5000) / 1000
