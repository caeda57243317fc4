"""How much one person can make the bot do: commands and actions per minute, and how often a
refused 👍 is explained. Kept in memory: a restart forgives, and a flood never reaches SQLite."""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter

#: Above this many people with a limiter in memory, the idle ones are forgotten.
_MAX_TRACKED_PEOPLE = 10_000
#: The explanations remembered (who was told about which idea), the oldest forgotten first.
_MAX_REMEMBERED_NOTICES = 100_000


class CommandLimiter:
    """Commands and actions (a 👍, a redaction, a poll answer) per person per minute. The first
    refused command gets a reply; the rest of a flood is ignored, so that the bot never
    amplifies it."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._limiters: dict[str, AsyncLimiter] = {}
        self._warned: set[str] = set()

    async def admit(self, user_id: str, *, quietly: bool = False) -> bool | None:
        """True: go ahead. False: refuse with a reply. None: refuse silently (always so when
        ``quietly``: an action gets no reply, and the person's next command is still told)."""
        limiter = self._limiters.get(user_id)
        if limiter is None:
            if len(self._limiters) >= _MAX_TRACKED_PEOPLE:
                self._forget_idle()
            limiter = self._limiters[user_id] = AsyncLimiter(self.per_minute, 60)
        if limiter.has_capacity():
            await limiter.acquire()
            self._warned.discard(user_id)
            return True
        if quietly or user_id in self._warned:
            return None
        self._warned.add(user_id)
        return False

    def _forget_idle(self) -> None:
        for user_id in [
            user
            for user, limiter in self._limiters.items()
            if limiter.has_capacity(self.per_minute)
        ]:
            del self._limiters[user_id]
            self._warned.discard(user_id)


class ReactionNotices:
    """Whether to explain a 👍 that cannot count (or cannot be taken back) in the person's
    direct chat: once per person, idea and kind of explanation, and at most ``per_minute`` a
    minute per person. A storm of 👍 variants on the cards of a closed challenge thus makes a
    handful of direct messages, not one per reaction."""

    def __init__(self, per_minute: int = 3) -> None:
        self.per_minute = per_minute
        self._told: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self._limiters: dict[str, AsyncLimiter] = {}

    async def may_tell(self, kind: str, user_id: str, idea_id: int) -> bool:
        key = (kind, user_id, idea_id)
        if key in self._told:
            return False
        limiter = self._limiters.get(user_id)
        if limiter is None:
            if len(self._limiters) >= _MAX_TRACKED_PEOPLE:
                self._limiters = {
                    user: kept
                    for user, kept in self._limiters.items()
                    if not kept.has_capacity(self.per_minute)
                }
            limiter = self._limiters[user_id] = AsyncLimiter(self.per_minute, 60)
        if not limiter.has_capacity():
            return False
        await limiter.acquire()
        self._told[key] = None
        if len(self._told) > _MAX_REMEMBERED_NOTICES:
            self._told.popitem(last=False)
        return True


class WrongCodes:
    """How many wrong link codes (``!link <code>``) one account may send: ``allowed`` within
    ``minutes`` (of the commands' own time), then none until the oldest is that long ago. With
    codes of 40 random bits that live 15 minutes, guessing one is hopeless; this keeps anyone
    from trying."""

    def __init__(self, allowed: int = 5, minutes: int = 15) -> None:
        self.allowed = allowed
        self.window = timedelta(minutes=minutes)
        self._wrong: OrderedDict[str, deque[datetime]] = OrderedDict()

    def may_try(self, account: str, now: datetime) -> bool:
        return len(self._recent(account, now)) < self.allowed

    def wrong(self, account: str, now: datetime) -> None:
        """Count a wrong code of ``account``'s."""
        self._recent(account, now).append(now)
        self._wrong.move_to_end(account)
        while len(self._wrong) > _MAX_TRACKED_PEOPLE:
            self._wrong.popitem(last=False)

    def _recent(self, account: str, now: datetime) -> deque[datetime]:
        times = self._wrong.setdefault(account, deque(maxlen=self.allowed))
        while times and now - times[0] >= self.window:
            times.popleft()
        return times
