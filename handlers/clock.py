"""The one clock the core reads "now" from: a callable that returns an aware UTC datetime.

The bot passes a single clock object everywhere (its ``bot.bot_clock.BotClock``, which a test can
move); whatever judges by time (deadlines, limits, dialogues, card refreshes) asks that clock,
so moving it moves them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> datetime:
        """Now, as an aware datetime in UTC."""
        ...


def system_clock() -> datetime:
    """The machine's time: the clock wherever no other is given."""
    return datetime.now(UTC)
