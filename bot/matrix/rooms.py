"""Which rooms are direct chats, and the rooms the bot opens: found again, never made twice.

A room is a person's direct chat only while :func:`not_direct_because` says so, the one rule
every caller follows: it was made for that person and the bot (they invited the bot with
``is_direct``, as Element does, or the bot opened it for them), it holds nobody else, nobody
can join it uninvited and its history is not world-readable. ``is_direct`` is the inviter's
claim, not a fact: anyone can make a public, world-readable room, mark it direct, invite the bot
and someone else, and leave. Never the moderation room, never a challenge room (those are
public). Where the rule stops holding, personal data goes to a new direct chat instead.

Someone who declines or leaves the bot's direct chat gets no new one for a day, and nobody gets
more than one new room an hour: what was for them is dropped, logged (:class:`Dropped`).

Opening a room is idempotent across a crash between the request and its record: the intent is
written first, the room carries a marker derived from it in a state event set at creation, and
a retry after a crash looks for that marker before it creates anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from nio import (
    AsyncClient,
    DirectRoomsResponse,
    MatrixRoom,
    RoomCreateError,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMemberEvent,
    RoomPreset,
    RoomPutStateResponse,
    RoomVisibility,
)
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from bot.matrix.homeserver_errors import raise_for
from bot.server import REQUEST_TIMEOUT, Dropped, Retry, Unreachable
from handlers.clock import Clock, system_clock
from handlers.effects import CreateChallengeRoom
from handlers.policy import server_of
from handlers.settings import BotSettings
from storage import Store

log = logging.getLogger(__name__)

#: A state event of the bot's own, set when a room is created, by which the bot recognises a
#: room it asked for.
INTENT_EVENT = "challenge_bot.intent"
_PENDING = "room_intent:"
SPACE_KEY = "space_id"
_BACKOFF = "direct_backoff:"

#: After a person declined or left the bot's direct chat, no new one for them for this long.
DECLINED_PAUSE = timedelta(days=1)
#: At most one new direct chat per person in this time.
OPEN_INTERVAL = timedelta(hours=1)
#: Join rules under which nobody comes in without an invite.
PRIVATE_JOIN_RULES = frozenset({"invite", "private"})


class NotDirect(StrEnum):
    """Why a room is not a person's direct chat with the bot."""

    UNKNOWN = "the bot is not in the room"
    MODERATION_ROOM = "it is the moderation room"
    NOT_THEIRS = "it was not made for this person"
    GONE = "the person left it or declined it"
    OTHERS = "someone else is in it"
    JOINABLE = "others may join it"
    WORLD_READABLE = "anyone may read its history"


@dataclass(frozen=True)
class RoomFacts:
    """What the rule looks at in a room, as the sync last showed it."""

    room_id: str
    members: frozenset[str]  # joined or invited, as far as the sync has loaded them
    member_count: int  # joined and invited, from the room's summary where there is one
    join_rule: str
    history_visibility: str

    @classmethod
    def of(cls, room: MatrixRoom) -> RoomFacts:
        return cls(
            room_id=room.room_id,
            members=frozenset(room.users),  # nio lists the invited there too
            member_count=int(room.member_count),
            join_rule=str(room.join_rule),
            history_visibility=str(room.history_visibility),
        )


def not_direct_because(
    facts: RoomFacts | None,
    person: str,
    *,
    owner: str | None,
    bot_user: str,
    moderation_room: str | None,
) -> NotDirect | None:
    """Whether a room is ``person``'s direct chat with the bot: None when it is, else why not.

    ``owner`` is whom the room was recorded for (the person who invited the bot with
    ``is_direct``, or for whom the bot opened it); a room recorded for one person is never
    another's, whoever is left in it.
    """
    if facts is None:
        return NotDirect.UNKNOWN
    if facts.room_id == moderation_room:
        return NotDirect.MODERATION_ROOM
    if owner is None or owner != person:
        return NotDirect.NOT_THEIRS
    if person not in facts.members:
        return NotDirect.GONE
    if facts.members - {person, bot_user} or facts.member_count > 2:
        return NotDirect.OTHERS
    if facts.join_rule not in PRIVATE_JOIN_RULES:
        return NotDirect.JOINABLE
    if facts.history_visibility == "world_readable":
        return NotDirect.WORLD_READABLE
    return None


class _Backoff(BaseModel):
    """A person's new direct chats: when the last was opened, and the last one they declined."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    opened_at: datetime | None = None
    declined_room: str | None = None
    declined_at: datetime | None = None


def _owners(recorded: Collection[tuple[str, str]]) -> dict[str, str | None]:
    """Each recorded room's owner; a room recorded for several people (as an older version of
    the bot could) is nobody's."""
    owners: dict[str, str | None] = {}
    for user_id, room_id in recorded:
        owners[room_id] = user_id if owners.get(room_id, user_id) == user_id else None
    return owners


class _InviteContent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    membership: StrictStr
    is_direct: StrictBool = False


def invited_as_direct(invite_state: list[Any], bot_user: str) -> bool | None:
    """Whether the bot's own invite in ``invite_state`` says ``is_direct``; None without one."""
    for event in invite_state:
        if getattr(event, "state_key", None) != bot_user:
            continue
        try:
            content = _InviteContent.model_validate(getattr(event, "content", None))
        except ValidationError:
            continue
        if content.membership == "invite":
            return content.is_direct
    return None


def _intent_state(intent: str) -> dict[str, Any]:
    return {"type": INTENT_EVENT, "state_key": "", "content": {"intent": intent}}


class Rooms:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        settings: BotSettings,
        clock: Clock = system_clock,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.clock = clock
        #: Each direct chat's owner (None: contested). Kept after ``!forget`` erases the
        #: record, so that the person's next command in it records it again.
        self._owners: dict[str, str | None] = {}
        #: Rooms whose members were asked for in this run. The sync loads members lazily and
        #: after a restart Synapse does not repeat those it sent before: without asking, a
        #: direct chat would look empty.
        self._members_known: set[str] = set()
        #: Rooms opened in this run that the sync has not shown yet.
        self.awaiting_sync: set[str] = set()
        self._secret: bytes | None = None
        # m.direct is read, changed and written back whole: one change at a time, or two
        # direct chats opened side by side (the outbox sends to several at once) lose one.
        self._direct_list = asyncio.Lock()
        #: Changes to m.direct not written yet (user -> rooms to add, rooms to remove): joins
        #: are published in batches, one read and one write for many rooms.
        self._direct_added: dict[str, list[str]] = {}
        self._direct_removed: dict[str, set[str]] = {}
        #: When the bot last sent an event to each room in this run (``time.monotonic()``).
        self._last_sent: dict[str, float] = {}

    async def load(self) -> None:
        """At start: the direct chats recorded, and the secret the intents are keyed with."""
        async with self.store.db.transaction():
            self._owners = _owners(await self.store.users.all_direct_rooms())
            self._secret = (await self.store.state.instance_secret()).encode()

    async def is_direct(self, room: MatrixRoom, user_id: str) -> bool:
        """Whether ``room`` is ``user_id``'s own direct chat with the bot, now. Where its members
        cannot be asked for, it is not (a reply there then says only where to ask)."""
        owner = self._owners.get(room.room_id)
        if owner != user_id:
            # The rule's answer already (NOT_THEIRS), without gathering a busy room's members
            # for every event in it: most events come from rooms that are nobody's chat.
            return False
        try:
            fault = await self._fault(room.room_id, user_id, owner)
        except Exception as error:
            log.warning(
                "Members of %s unknown (%s): not taken as a direct chat", room.room_id, error
            )
            return False
        return fault is None

    async def _fault(self, room_id: str, user_id: str, owner: str | None) -> NotDirect | None:
        """:func:`not_direct_because` for a room the bot is in, its members asked for first
        where it could be the person's (no request for a room that is not theirs anyway)."""
        if owner == user_id and not await self._know_members(room_id):
            return NotDirect.UNKNOWN
        return self._not_direct(room_id, user_id, owner)

    async def _know_members(self, room_id: str) -> bool:
        """The room's members (joined, invited) as the homeserver has them, asked once per run
        (the sync's membership events keep them up to date from there); False when it would
        not say. Raises :class:`Retry` or :class:`Unreachable` for a homeserver to wait for."""
        room = self.client.rooms.get(room_id)
        if room is None or room_id in self._members_known:
            return room is not None
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/members?not_membership=leave"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        response = await self.client.send("GET", path, headers=headers)
        try:
            if response.status == 429:
                raise Retry("rate limited listing a room's members", after=1.0)
            if response.status >= 500:
                raise Unreachable(f"{response.status} listing a room's members")
            if response.status != 200:
                log.warning("Members of %s not listed: %s", room_id, response.status)
                return False
            body = await response.json()
        finally:
            response.release()
        chunk = body.get("chunk") if isinstance(body, dict) else None
        present: set[str] = set()
        for source in chunk if isinstance(chunk, list) else []:
            event = RoomMemberEvent.from_dict(source) if isinstance(source, dict) else None
            if isinstance(event, RoomMemberEvent) and event.membership in ("join", "invite"):
                room.handle_membership(event)
                present.add(event.state_key)
        for user_id in set(room.users) - present:
            room.remove_member(user_id)
        self._members_known.add(room_id)
        return True

    def _not_direct(self, room_id: str, user_id: str, owner: str | None) -> NotDirect | None:
        room = self.client.rooms.get(room_id)
        return not_direct_because(
            None if room is None else RoomFacts.of(room),
            user_id,
            owner=owner,
            bot_user=self.client.user_id,
            moderation_room=self.settings.moderation_room,
        )

    async def joined(self, room_id: str, inviter: str | None, *, direct: bool) -> None:
        """The bot accepted an invite; one sent as a direct chat becomes the inviter's DM. It
        is recorded at once and added to ``m.direct`` at the next
        :meth:`publish_direct_list`."""
        if not direct or inviter is None:
            return
        if room_id == self.settings.moderation_room:
            return
        await self._record_direct(inviter, room_id)
        self._direct_added.setdefault(inviter, []).append(room_id)

    def note_sent(self, room_id: str) -> None:
        """The bot sent an event to the room just now."""
        self._last_sent[room_id] = time.monotonic()

    def sent_since(self, room_id: str, moment: float) -> bool:
        """Whether the bot sent an event to the room at ``moment`` (``time.monotonic()``) or
        later. Clients count a sender's own event as read by them (matrix-js-sdk synthesises
        the receipt), so a reply marks what came before it read."""
        return self._last_sent.get(room_id, float("-inf")) >= moment

    def owner_of(self, room_id: str) -> str | None:
        """Whom the room was recorded for as a direct chat, if anyone."""
        return self._owners.get(room_id)

    async def person_left(self, room_id: str, user_id: str) -> bool:
        """The person of a direct chat left it (or was removed from it) and nobody else is in
        it: the bot leaves and forgets it too, and its record goes, so that it costs nothing
        from now on (no state kept, no request at the next start). As when someone declines
        one, they get no new direct chat for :data:`DECLINED_PAUSE`. A room someone else is
        still in (a borrowed "direct chat") stays, as any other room. Returns whether the bot
        left it."""
        if self._owners.get(room_id) != user_id:
            return False
        self._members_known.discard(room_id)  # as they are now, not as the sync last said
        try:
            if not await self._know_members(room_id):
                return False
        except Exception as error:
            log.warning("Members of %s unknown (%s): the room is kept", room_id, error)
            return False
        room = self.client.rooms.get(room_id)
        if room is None or set(room.users) - {self.client.user_id}:
            return False
        key = _BACKOFF + self._intent("direct-backoff", user_id)
        async with self.store.db.transaction():
            await self.store.users.forget_direct_room(user_id, room_id)
            stored = await self.store.state.get(key)
            backoff = _Backoff.model_validate_json(stored) if stored else _Backoff()
            declined = {"declined_room": room_id, "declined_at": self.clock()}
            await self.store.state.set(key, backoff.model_copy(update=declined).model_dump_json())
        del self._owners[room_id]
        self._members_known.discard(room_id)
        self._last_sent.pop(room_id, None)
        self._direct_removed.setdefault(user_id, set()).add(room_id)
        log.info("The person left direct chat %s: leaving and forgetting it", room_id)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await self.client.room_leave(room_id)
                await self.client.room_forget(room_id)
        except Exception as error:  # the room costs a little until the next try; no harm
            log.warning("Could not leave %s: %s: %s", room_id, type(error).__name__, error)
        await self.publish_direct_list()
        return True

    # -- direct chats -----------------------------------------------------------------------

    async def direct_room_for(self, user_id: str) -> str:
        """The person's direct chat with the bot: the one they opened or the bot recorded, else
        the one in the bot's ``m.direct``, else a new one (encrypted where the bot can be).

        Raises :class:`Dropped` when no new one may be opened now (:meth:`_may_open`).
        """
        async with self.store.db.transaction():
            known = await self.store.users.direct_room(user_id)
        declined = None
        if known is not None:
            if known in self.awaiting_sync:
                return known
            fault = await self._fault(known, user_id, self._owners.get(known))
            if fault is None:
                return known
            log.info("Direct chat %s is no longer one: %s", known, fault.value)
            declined = known if fault is NotDirect.GONE else None
        for room_id in await self._listed_direct(user_id):
            if await self._usable_dm(room_id, user_id):
                await self._record_direct(user_id, room_id)
                return room_id
        return await self._open_direct(user_id, declined=declined)

    async def _usable_dm(self, room_id: str, user_id: str) -> bool:
        """A room the bot itself listed for the person: theirs unless recorded as someone
        else's."""
        owner = self._owners.get(room_id, user_id)  # a stored None stays None: contested
        return await self._fault(room_id, user_id, owner) is None

    async def _listed_direct(self, user_id: str) -> list[str]:
        response = await self.client.list_direct_rooms()
        if not isinstance(response, DirectRoomsResponse):
            return []  # none recorded yet is an error response too
        rooms = response.rooms.get(user_id)
        return [room for room in rooms if isinstance(room, str)] if isinstance(rooms, list) else []

    async def _may_open(self, user_id: str, declined: str | None) -> str:
        """Whether a new direct chat may be opened for the person now; if not, raises
        :class:`Dropped`. Returns the key of their backoff state (kept in the database, so that
        a restart does not reset it; a hash that names nobody)."""
        key = _BACKOFF + self._intent("direct-backoff", user_id)
        now = self.clock()
        async with self.store.db.transaction():
            stored = await self.store.state.get(key)
            backoff = _Backoff.model_validate_json(stored) if stored else _Backoff()
            if declined is not None and backoff.declined_room != declined:
                backoff = backoff.model_copy(update={"declined_room": declined, "declined_at": now})
                await self.store.state.set(key, backoff.model_dump_json())
                log.info(
                    "Direct chat %s was declined or left; no new one for its person until %s",
                    declined,
                    (now + DECLINED_PAUSE).isoformat(timespec="minutes"),
                )
        if backoff.declined_at is not None and now < backoff.declined_at + DECLINED_PAUSE:
            raise Dropped("the person declined or left the bot's direct chat: none opened")
        if backoff.opened_at is not None and now < backoff.opened_at + OPEN_INTERVAL:
            raise Dropped("a direct chat was opened for the person within the hour: none opened")
        return key

    async def _open_direct(self, user_id: str, *, declined: str | None = None) -> str:
        backoff_key = await self._may_open(user_id, declined)
        intent = self._intent("direct", user_id)
        # A room made for the intent before a crash was never recorded as anyone's.
        found = await self._find_intended(
            intent,
            lambda room: room not in self._owners and self.client.rooms[room].member_count <= 2,
        )
        if found is None:
            initial_state = []
            if self.client.olm is not None:  # as Element does: encrypted from the start
                algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
                initial_state.append(
                    {"type": "m.room.encryption", "state_key": "", "content": algorithm}
                )
            response = await self.client.room_create(
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=[*initial_state, _intent_state(intent)],
            )
            if not isinstance(response, RoomCreateResponse):
                raise_for(response)
            found = str(response.room_id)
            self.awaiting_sync.add(found)
            log.info("Opened a direct chat %s", found)
        await self._record_direct(user_id, found, intent=intent, backoff_key=backoff_key)
        await self._publish_direct(user_id, found)
        return found

    async def _record_direct(
        self,
        user_id: str,
        room_id: str,
        *,
        intent: str | None = None,
        backoff_key: str | None = None,
    ) -> None:
        async with self.store.db.transaction():
            await self.store.users.set_direct_room(user_id, room_id)
            if intent is not None:
                await self.store.state.delete(_PENDING + intent)
            if backoff_key is not None:
                stored = await self.store.state.get(backoff_key)
                backoff = _Backoff.model_validate_json(stored) if stored else _Backoff()
                opened = backoff.model_copy(update={"opened_at": self.clock()})
                await self.store.state.set(backoff_key, opened.model_dump_json())
        self._owners[room_id] = user_id

    async def _publish_direct(self, user_id: str, room_id: str) -> None:
        """Add the room to the bot's ``m.direct``, as clients do; a courtesy, never a failure."""
        self._direct_added.setdefault(user_id, []).append(room_id)
        await self.publish_direct_list()

    async def publish_direct_list(self) -> None:
        """Write the changes to the bot's ``m.direct`` made since the last time: one read, the
        changes merged in, one write (none when nothing changes). A courtesy, never a failure:
        what could not be written is tried again with the next changes."""
        async with self._direct_list:
            added, self._direct_added = self._direct_added, {}
            removed, self._direct_removed = self._direct_removed, {}
            if not added and not removed:
                return
            try:
                await self._change_direct_list(added, removed)
            except Exception as error:
                log.debug("m.direct not updated: %s", error)
                for user_id, rooms in added.items():
                    self._direct_added.setdefault(user_id, [])[:0] = rooms
                for user_id, gone in removed.items():
                    self._direct_removed.setdefault(user_id, set()).update(gone)

    async def _change_direct_list(
        self, added: dict[str, list[str]], removed: dict[str, set[str]]
    ) -> None:
        response = await self.client.list_direct_rooms()
        if isinstance(response, DirectRoomsResponse):
            listed: dict[str, Any] = dict(response.rooms)
        elif getattr(response, "status_code", None) == "M_NOT_FOUND":
            listed = {}  # none written yet
        else:
            raise RuntimeError(f"m.direct not read: {response}")
        changed = False
        for user_id in set(added) | set(removed):
            rooms = listed.get(user_id)
            before = (
                [room for room in rooms if isinstance(room, str)] if isinstance(rooms, list) else []
            )
            after = [room for room in before if room not in removed.get(user_id, set())]
            after += [room for room in dict.fromkeys(added.get(user_id, [])) if room not in after]
            if after != before:
                changed = True
                if after:
                    listed[user_id] = after
                else:
                    listed.pop(user_id, None)
        if changed:
            path = f"/_matrix/client/v3/user/{self.client.user_id}/account_data/m.direct"
            headers = {
                "Authorization": f"Bearer {self.client.access_token}",
                "Content-Type": "application/json",
            }
            answer = await self.client.send("PUT", path, json.dumps(listed), headers=headers)
            status = answer.status
            answer.release()
            if status >= 400:
                raise RuntimeError(f"m.direct not written: {status}")

    # -- challenge rooms --------------------------------------------------------------------

    async def open_challenge_room(self, request: CreateChallengeRoom) -> str:
        """The challenge's public room, created once: a retry finds the room it made before."""
        intent = self._intent("challenge", str(request.challenge_id))
        found = await self._find_intended(
            intent, lambda room_id: self._named(room_id, request.name)
        )
        if found is not None:
            return found
        options: dict[str, Any] = {
            "visibility": RoomVisibility.public,
            "preset": RoomPreset.public_chat,
            "name": request.name,
            "topic": request.topic[:1000],
            "invite": list(request.invite),
            "initial_state": [_intent_state(intent)],
        }
        response = await self.client.room_create(alias=request.slug, **options)
        if isinstance(response, RoomCreateError) and response.status_code == "M_ROOM_IN_USE":
            log.info("Alias #%s is taken; creating the room without it", request.slug)
            response = await self.client.room_create(**options)
        if not isinstance(response, RoomCreateResponse):
            raise_for(response)
        room_id = str(response.room_id)
        self.awaiting_sync.add(room_id)
        return room_id

    async def finish_intent(self, kind: str, key: str) -> None:
        """The room asked for is recorded: a later retry need not look for it. Call inside the
        transaction that records the room."""
        await self.store.state.delete(_PENDING + self._intent(kind, key))

    async def space(self, name: str, topic: str) -> str:
        """The programme's Space, created at first need and found again afterwards (also after a
        crash between its creation and its record)."""
        async with self.store.db.transaction():
            known = await self.store.state.get(SPACE_KEY)
        if known is not None:
            return known
        intent = self._intent("space", "programme")
        found = await self._find_intended(intent, lambda room_id: self._named(room_id, name))
        if found is None:
            response = await self.client.room_create(
                space=True,
                visibility=RoomVisibility.public,
                preset=RoomPreset.public_chat,
                name=name,
                topic=topic,
                initial_state=[_intent_state(intent)],
            )
            if not isinstance(response, RoomCreateResponse):
                raise_for(response)
            found = str(response.room_id)
            log.info("Created the programme's Space %s", found)
        async with self.store.db.transaction():
            await self.store.state.set(SPACE_KEY, found)
            await self.store.state.delete(_PENDING + intent)
        return found

    async def known_space(self) -> str | None:
        """The Space's room id, if it was made; call inside a transaction."""
        return await self.store.state.get(SPACE_KEY)

    async def link_to_space(self, space_id: str, room_id: str, *, order: str) -> None:
        """The room as the Space's child at ``order`` (its phase decides:
        :func:`handlers.programme.space_order`; closed ones are kept, last), and the Space as
        the room's parent."""
        via = [server_of(self.client.user_id)]
        child = {"via": via, "order": order}
        await self._set_state(space_id, "m.space.child", room_id, child)
        await self._set_state(room_id, "m.space.parent", space_id, {"via": via, "canonical": True})

    async def _set_state(
        self, room_id: str, event_type: str, state_key: str, content: dict[str, Any]
    ) -> None:
        """A state event, sent only when it says something new (a restart repeats nothing)."""
        current = await self.client.room_get_state_event(room_id, event_type, state_key)
        if isinstance(current, RoomGetStateEventResponse) and current.content == content:
            return
        response = await self.client.room_put_state(room_id, event_type, content, state_key)
        if not isinstance(response, RoomPutStateResponse):
            raise_for(response)

    async def give_moderators_power(self, room_id: str, moderators: list[str]) -> None:
        """The moderators have ``moderator_power_level`` in a room the bot runs, and those no
        longer moderators lose what they had at exactly that level. Read, changed and written
        back whole, as every client changes power levels; no change, no request."""
        state = await self.client.room_get_state_event(room_id, "m.room.power_levels")
        if not isinstance(state, RoomGetStateEventResponse):
            raise_for(state)
        content = dict(state.content)
        users = content.get("users")
        users = dict(users) if isinstance(users, dict) else {}
        level = self.settings.moderator_power_level
        changed = dict(users)
        for user, user_level in users.items():
            if user_level == level and user not in moderators and user != self.client.user_id:
                del changed[user]
        for moderator in moderators:
            current = changed.get(moderator)
            if not isinstance(current, int) or current < level:
                changed[moderator] = level
        if changed == users:
            return
        response = await self.client.room_put_state(
            room_id, "m.room.power_levels", {**content, "users": changed}
        )
        if not isinstance(response, RoomPutStateResponse):
            raise_for(response)

    async def address_of(self, room_id: str, slug: str) -> str:
        """``#slug:server`` where that alias points at the room, else the room id."""
        address = f"#{slug}:{self.client.user_id.split(':', 1)[1]}"
        aliases = await self.client.room_resolve_alias(address)
        return address if getattr(aliases, "room_id", None) == room_id else room_id

    def _named(self, room_id: str, name: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and room.name == name

    # -- intents ----------------------------------------------------------------------------

    def _intent(self, kind: str, key: str) -> str:
        """An opaque marker for "a room of ``kind`` for ``key``", the same on every retry. It
        names no person: it is a hash keyed with this database's own secret."""
        if self._secret is None:
            raise RuntimeError("Rooms.load() was not called")
        return hmac.new(self._secret, f"{kind}:{key}".encode(), hashlib.sha256).hexdigest()[:32]

    async def _find_intended(self, intent: str, candidate: Callable[[str], bool]) -> str | None:
        """A room made for ``intent`` before a crash, if there is one; else the intent is
        written down, so that a crash after the request that follows is recognised."""
        async with self.store.db.transaction():
            pending = await self.store.state.get(_PENDING + intent)
            if pending is None:
                await self.store.state.set(_PENDING + intent, "1")
        if pending is None:
            return None
        for room_id in [room for room in self.client.rooms if candidate(room)]:
            response = await self.client.room_get_state_event(room_id, INTENT_EVENT)
            if (
                isinstance(response, RoomGetStateEventResponse)
                and response.content.get("intent") == intent
            ):
                log.info("Found room %s, made before a restart", room_id)
                return str(room_id)
        return None
