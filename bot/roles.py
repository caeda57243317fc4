"""Who is a moderator when a command was sent: the config list, or the power level in the
moderation room as it stood at that moment.

matrix-nio applies a whole sync to its rooms before the bot handles a single event, so a
demotion and an earlier command in the same batch would both be judged by the new levels. The
bot keeps the moderation room's levels itself instead: from the room's state when it first sees
it, then each change as the timeline (and a gap filled from ``/messages``) brings it, in order.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime

from nio import MatrixRoom

from bot.content import PowerLevels
from handlers.settings import BotSettings


@dataclass(frozen=True)
class _Levels:
    users: dict[str, int] = field(default_factory=dict)
    users_default: int = 0

    def of(self, user_id: str) -> int:
        return self.users.get(user_id, self.users_default)


class ModeratorRoles:
    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self._base: _Levels | None = None
        self._changes: list[tuple[datetime, _Levels]] = []  # this batch's, oldest first

    @property
    def room_id(self) -> str | None:
        return self.settings.moderation_room

    def seed(self, room: MatrixRoom | None) -> None:
        """Levels as matrix-nio has them, for a start with no power-level event seen yet."""
        if self._base is not None or room is None:
            return
        levels = room.power_levels
        users = {user: int(level) for user, level in dict(levels.users).items()}
        self._base = _Levels(users, int(levels.defaults.users_default))

    def start_batch(self, state: PowerLevels | None) -> None:
        """A new batch; ``state`` is the power levels its ``state`` block holds, if any (the
        state before the batch's timeline)."""
        self._settle()
        if state is not None:
            self._base = _Levels(dict(state.users), state.users_default)

    def changed(self, levels: PowerLevels) -> None:
        """A power-level change in the moderation room's timeline, in timeline order."""
        entry = (levels.sent_at, _Levels(dict(levels.users), levels.users_default))
        index = bisect.bisect_right([at for at, _ in self._changes], levels.sent_at)
        self._changes.insert(index, entry)

    def is_moderator(self, user_id: str, at: datetime) -> bool:
        if user_id in self.settings.moderators:
            return True
        levels = self._base
        for changed_at, changed in self._changes:
            if changed_at > at:
                break
            levels = changed
        return levels is not None and levels.of(user_id) >= self.settings.moderator_power_level

    def current(self) -> frozenset[str]:
        """Who is a moderator now: the config list and, with the latest levels, the moderation
        room's members at the moderators' power level or above."""
        levels = self._changes[-1][1] if self._changes else self._base
        ranked = (
            set()
            if levels is None
            else {
                user
                for user, level in levels.users.items()
                if level >= self.settings.moderator_power_level
            }
        )
        return frozenset(self.settings.moderators) | ranked

    def _settle(self) -> None:
        if self._changes:
            self._base = self._changes[-1][1]
            self._changes = []
