"""The bot's time: one clock for everything the bot judges by time (commands against deadlines,
the schedule's firings, dialogues running out), and the homeserver's timestamps read on it.

In a running bot the clock is the machine's. A test can move it by ``offset`` to put the bot at
another moment (just before a deadline, or a day after it) instead of waiting. A command sent
"now" must then still count as sent "now": an event's ``origin_server_ts`` is the homeserver's
time, so it is moved by the same offset before it is compared with deadlines
(:func:`judged_at`). With no offset, both are what the machine and the
homeserver say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class BotClock:
    #: How far the bot's time is from the machine's; zero unless a test moves it.
    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def of_homeserver(self, instant: datetime) -> datetime:
        """A timestamp the homeserver gave (an event's sending time), on the bot's clock."""
        return instant + self.offset

    def of_homeserver_ms(self, milliseconds: int) -> int:
        """The same for a timestamp in milliseconds, as events carry it."""
        return milliseconds + int(self.offset / timedelta(milliseconds=1))

    def set(self, instant: datetime) -> None:
        """Move the clock so that it reads ``instant`` now (and runs on from there)."""
        self.offset = instant - datetime.now(UTC)


#: A timestamp further back than this is not believed: the command is judged when handled.
TRUSTED_PAST = timedelta(days=1)


def judged_at(sent_at: datetime, now: datetime) -> datetime:
    """When a command counts as given: when it was sent (a vote cast before a deadline counts,
    even if the bot handles it later), clamped to ``now`` when the timestamp lies in the future
    or more than a day in the past."""
    if sent_at > now or sent_at < now - TRUSTED_PAST:
        return now
    return sent_at
