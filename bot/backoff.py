"""Exponential backoff with jitter that logs changes of state, not every attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random


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
