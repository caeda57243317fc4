"""Who is a moderator when a command was sent: the config list, or a *joined member* of the
moderation room with the moderators' power level, as both stood at that moment.

A power level alone is not enough: a ban, a kick or leaving the room does not remove a user's
entry from ``m.room.power_levels``, so someone who was banned would otherwise keep their rights
(and their level in every room the bot runs). Membership is read beside the levels.

matrix-nio applies a whole sync to its rooms before the bot handles a single event, so a
demotion (or a ban) and an earlier command in the same batch would both be judged by the new
state. The bot keeps the moderation room's levels and members itself instead: the members from
``/joined_members`` when it first needs them (lazy-loaded syncs name only some members), the
levels from the room's state when it first sees it, then each change as the timeline (and a gap
filled from ``/messages``) brings it, in order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from nio import MatrixRoom

from bot.matrix.content import Membership, PowerLevels
from handlers.settings import BotSettings


@dataclass(frozen=True)
class _Levels:
    users: dict[str, int] = field(default_factory=dict)
    users_default: int = 0

    def of(self, user_id: str) -> int:
        return self.users.get(user_id, self.users_default)


@dataclass(frozen=True)
class _MemberChange:
    member: str
    joined: bool


class ModeratorRoles:
    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self._base: _Levels | None = None
        self._changes: list[tuple[datetime, _Levels]] = []  # this batch's, oldest first
        #: The room's joined members before this batch; None until the bot has read them.
        self._joined: set[str] | None = None
        self._member_changes: list[tuple[datetime, _MemberChange]] = []  # this batch's

    @property
    def room_id(self) -> str | None:
        return self.settings.moderation_room

    @property
    def needs_members(self) -> bool:
        """Whether the joined members are still to be read (at start, or after the bot joined
        the moderation room)."""
        return self.room_id is not None and self._joined is None

    def seed(self, room: MatrixRoom | None) -> None:
        """Levels as matrix-nio has them, for a start with no power-level event seen yet."""
        if self._base is not None or room is None:
            return
        levels = room.power_levels
        users = {user: int(level) for user, level in dict(levels.users).items()}
        self._base = _Levels(users, int(levels.defaults.users_default))

    def seed_members(self, joined: Iterable[str]) -> None:
        """The room's joined members as the homeserver has them now. Changes this batch brings
        are applied over them in order: a command sent before a ban in the same batch is judged
        by the later membership, which only ever errs on the side of refusing."""
        self._joined = set(joined)

    def forget_members(self) -> None:
        """The bot (re)joined the room: what it knew of the members is to be read again."""
        self._joined = None
        self._member_changes = []

    def start_batch(self, state: PowerLevels | None, members: Iterable[Membership] = ()) -> None:
        """A new batch; ``state`` is the power levels its ``state`` block holds, if any, and
        ``members`` the membership events it holds (the state before the batch's timeline)."""
        self._settle()
        if state is not None:
            self._base = _Levels(dict(state.users), state.users_default)
        if self._joined is not None:
            for membership in members:
                self._apply(self._joined, _change_of(membership))

    def changed(self, levels: PowerLevels) -> None:
        """A power-level change in the moderation room's timeline, in timeline order."""
        entry = (levels.sent_at, _Levels(dict(levels.users), levels.users_default))
        index = bisect.bisect_right([at for at, _ in self._changes], levels.sent_at)
        self._changes.insert(index, entry)

    def member_changed(self, membership: Membership) -> None:
        """A membership change in the moderation room's timeline: a join, leave, kick or ban."""
        entry = (membership.sent_at, _change_of(membership))
        index = bisect.bisect_right([at for at, _ in self._member_changes], membership.sent_at)
        self._member_changes.insert(index, entry)

    def is_moderator(self, user_id: str, at: datetime) -> bool:
        if user_id in self.settings.moderators:
            return True
        levels = self._base
        for changed_at, changed in self._changes:
            if changed_at > at:
                break
            levels = changed
        if levels is None or levels.of(user_id) < self.settings.moderator_power_level:
            return False
        return self._was_joined(user_id, at)

    def current(self) -> frozenset[str]:
        """Who is a moderator now: the config list and, with the latest levels, the moderation
        room's joined members at the moderators' power level or above."""
        levels = self._changes[-1][1] if self._changes else self._base
        joined = self._joined_now()
        ranked = (
            set()
            if levels is None
            else {
                user
                for user, level in levels.users.items()
                if level >= self.settings.moderator_power_level and user in joined
            }
        )
        return frozenset(self.settings.moderators) | ranked

    def _was_joined(self, user_id: str, at: datetime) -> bool:
        joined = self._joined is not None and user_id in self._joined
        for changed_at, change in self._member_changes:
            if changed_at > at:
                break
            if change.member == user_id:
                joined = change.joined
        return joined

    def _joined_now(self) -> set[str]:
        joined = set(self._joined or ())
        for _at, change in self._member_changes:
            self._apply(joined, change)
        return joined

    @staticmethod
    def _apply(joined: set[str], change: _MemberChange) -> None:
        if change.joined:
            joined.add(change.member)
        else:
            joined.discard(change.member)

    def _settle(self) -> None:
        if self._changes:
            self._base = self._changes[-1][1]
            self._changes = []
        if self._member_changes:
            if self._joined is not None:
                self._joined = self._joined_now()
            self._member_changes = []


def _change_of(membership: Membership) -> _MemberChange:
    return _MemberChange(membership.member, membership.membership == "join")
