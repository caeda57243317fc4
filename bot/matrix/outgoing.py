"""What each kind of outbox row does on the homeserver: messages, direct messages, files,
invites and challenge rooms. The delivery loop (:mod:`bot.delivery`) decides when; this, how.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from typing import Any, assert_never

from nio import (
    AsyncClient,
    JoinedRoomsResponse,
    RoomInviteResponse,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    UploadResponse,
)

from bot.delivery import Record
from bot.matrix.homeserver_errors import raise_for
from bot.matrix.poll_events import POLL_END_TYPE, POLL_START_TYPE, end_content, start_content
from bot.matrix.rendering import content_of, poll_end_text
from bot.matrix.rooms import Rooms
from bot.outbox import (
    CreateChallengeRoomPayload,
    DirectFilePayload,
    DirectPayload,
    InvitePayload,
    MessagePayload,
    ModeratorLevelsPayload,
    PollEndPayload,
    PollStartPayload,
    RedactPayload,
    RoomFilePayload,
    RoomProfilePayload,
    SpaceChildPayload,
    enqueue,
    read,
)
from bot.outcomes import challenge_room_on, enqueue_outcome
from bot.server import Permanent, Retry
from handlers.accounts import Network
from handlers.clock import Clock, system_clock
from handlers.command_words import CommandWords
from handlers.effects import CreateChallengeRoom, Outcome
from handlers.i18n import Catalogue
from handlers.programme import place_in_space, space_order
from handlers.services.challenge_rooms import challenge_room_created
from handlers.settings import BotSettings, ProgrammeSettings
from storage import OutboxItem, Store

log = logging.getLogger(__name__)

#: How long a room the bot just opened may take to show up in the sync before it is asked for.
ROOM_SYNC_WAIT = 0.25


class Outgoing:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        catalogue: Catalogue,
        settings: BotSettings,
        rooms: Rooms,
        moderators: Callable[[], frozenset[str]] = frozenset,
        programme: ProgrammeSettings | None = None,
        clock: Clock = system_clock,
        words: CommandWords | None = None,
    ) -> None:
        #: How commands are typed, for the notice that a challenge's room is ready.
        self.words = words or CommandWords(settings.prefix)
        self.programme = programme or ProgrammeSettings()
        self.clock = clock  # the bot's: a new room's place in the Space follows its phase
        self.client = client
        self.moderators = moderators  # who moderates now, to be given power in a new room
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self.rooms = rooms

    async def carry_out(self, item: OutboxItem, txn_id: str) -> Record | None:
        """Carry a row out on the homeserver; what is left to record once it is sent."""
        room_id = item.room_id
        payload = read(item)
        match payload:
            case MessagePayload():
                return await self._send(
                    _room(room_id, "a message"),
                    content_of(payload),
                    txn_id,
                    card=payload.card,
                    edit_of=payload.edit_of,
                )
            case DirectPayload():
                direct = await self.rooms.direct_room_for(payload.user_id)
                return await self._send(direct, content_of(payload), txn_id)
            case DirectFilePayload():
                direct = await self.rooms.direct_room_for(payload.user_id)
                return await self._send_file(direct, payload, txn_id)
            case RoomFilePayload():
                return await self._send_file(_room(room_id, "a file"), payload, txn_id)
            case PollStartPayload():
                return await self._poll_start(_room(room_id, "a poll"), payload, txn_id)
            case PollEndPayload():
                await self._poll_end(_room(room_id, "a poll's end"), payload, txn_id)
                return None
            case RedactPayload():
                await self._redact(_room(room_id, "a redaction"), payload.event_id, txn_id)
                return None
            case SpaceChildPayload():
                await self._space_child(payload.challenge_id, payload.order)
                return None
            case ModeratorLevelsPayload():
                await self.rooms.give_moderators_power(
                    _room(room_id, "power levels"), list(payload.moderators)
                )
                return None
            case InvitePayload():
                await self._invite(_room(room_id, "an invite"), payload.user_id)
                return None
            case RoomProfilePayload():
                await self._room_profile(
                    _room(room_id, "a room profile"), payload.name, payload.topic
                )
                return None
            case CreateChallengeRoomPayload():
                request = CreateChallengeRoom(**payload.model_dump(exclude={"network"}))
                return await self._challenge_room(request)
            case _:
                assert_never(payload)

    async def _send_file(
        self, room_id: str, payload: DirectFilePayload | RoomFilePayload, txn_id: str
    ) -> Record | None:
        await self._room_ready(room_id)  # an encrypted room takes an encrypted file
        content = await self._upload_file(room_id, payload)
        return await self._send(room_id, content, txn_id)

    async def _room_ready(self, room_id: str) -> None:
        """Sending needs the room as the sync shows it (members and encryption included)."""
        room = self.client.rooms.get(room_id)
        if room is not None:
            self.rooms.awaiting_sync.discard(room_id)
            if room.encrypted and self.client.should_query_keys:
                # A person invited a moment ago: know their devices before the room key is
                # shared, or they could not read what the bot sends.
                with contextlib.suppress(Exception):
                    await self.client.keys_query()
            return
        if room_id in self.rooms.awaiting_sync:
            raise Retry("room not synced yet", after=ROOM_SYNC_WAIT)
        joined = await self.client.joined_rooms()
        if isinstance(joined, JoinedRoomsResponse) and room_id not in joined.rooms:
            raise Permanent(f"the bot is not in room {room_id}")
        if not isinstance(joined, JoinedRoomsResponse):
            raise_for(joined)
        self.rooms.awaiting_sync.add(room_id)
        raise Retry("room not synced yet", after=ROOM_SYNC_WAIT)

    async def _send(
        self,
        room_id: str,
        content: dict[str, Any],
        txn_id: str,
        *,
        card: int | None = None,
        edit_of: int | None = None,
    ) -> Record | None:
        """Send a message; a card, or the edit of one, is recorded once it is sent."""
        event_id = await self._send_event(room_id, "m.room.message", content, txn_id)
        if card is None and edit_of is None:
            return None

        async def record_card() -> None:
            if card is not None:
                await self.store.cards.add(event_id, card, room_id)
            if edit_of is not None:
                await self.store.cards.add_edit(event_id, edit_of, room_id)

        return record_card

    async def _send_event(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        """Send one event (encrypted where the room is); its event id."""
        await self._room_ready(room_id)
        response = await self.client.room_send(
            room_id, event_type, content, tx_id=txn_id, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise_for(response)
        self.rooms.note_sent(room_id)
        return str(response.event_id)

    async def _poll_start(self, room_id: str, payload: PollStartPayload, txn_id: str) -> Record:
        """Start a poll; its start event is recorded in the transaction that marks it sent."""
        content = start_content(payload.question, list(payload.answers))
        event_id = await self._send_event(room_id, POLL_START_TYPE, content, txn_id)
        poll_id = payload.poll_id

        async def record_start() -> None:
            await self.store.polls.set_start_event(poll_id, event_id, room_id)

        return record_start

    async def _poll_end(self, room_id: str, payload: PollEndPayload, txn_id: str) -> None:
        """End a poll; its start went before it in the room's lane, so it is recorded."""
        async with self.store.db.transaction():
            start = await self.store.polls.start_event_in(payload.poll_id, room_id)
        if start is None:
            raise Permanent(f"poll {payload.poll_id} was never started in room {room_id}")
        content = end_content(start, poll_end_text(payload))
        await self._send_event(room_id, POLL_END_TYPE, content, txn_id)

    async def _redact(self, room_id: str, event_id: str, txn_id: str) -> None:
        response = await self.client.room_redact(room_id, event_id, tx_id=txn_id)
        if not isinstance(response, RoomRedactResponse):
            raise_for(response)

    async def _upload_file(
        self, room_id: str, payload: DirectFilePayload | RoomFilePayload
    ) -> dict[str, Any]:
        """Upload a file (encrypted where the room is) and return the m.file content for it."""
        data = payload.data.encode("utf-8")
        room = self.client.rooms.get(room_id)
        encrypted = bool(room is not None and room.encrypted)
        response, keys = await self.client.upload(
            io.BytesIO(data),
            content_type=payload.mimetype,
            filename=payload.filename,
            encrypt=encrypted,
            filesize=len(data),
        )
        if not isinstance(response, UploadResponse):
            raise_for(response)
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": payload.filename,
            "filename": payload.filename,
            "info": {"mimetype": payload.mimetype, "size": len(data)},
            "m.mentions": {},
        }
        if encrypted and keys is not None:
            content["file"] = {**keys, "url": response.content_uri}
        else:
            content["url"] = response.content_uri
        return content

    async def _room_profile(self, room_id: str, name: str, topic: str) -> None:
        """The room's name and topic, as its challenge's title and description now read."""
        for event_type, content in (
            ("m.room.name", {"name": name}),
            ("m.room.topic", {"topic": topic}),
        ):
            response = await self.client.room_put_state(room_id, event_type, content)
            if not isinstance(response, RoomPutStateResponse):
                raise_for(response)

    async def _invite(self, room_id: str, user_id: str) -> None:
        response = await self.client.room_invite(room_id, user_id)
        if not isinstance(response, RoomInviteResponse):
            message = getattr(response, "message", "") or ""
            if "already in the room" not in message and "already joined" not in message:
                raise_for(response)

    async def _space_child(self, challenge_id: int, order: str | None) -> None:
        """The room as the Space's child, at the ``order`` its phase had when the row was
        queued (rows of the Space go out in order: the last change is the last word)."""
        async with self.store.db.transaction():
            challenge = await self.store.challenges.get(challenge_id)
            room_id = await challenge_room_on(self.store, challenge_id, Network.MATRIX)
        if challenge is None or room_id is None:
            return  # gone, or its room is still to come (its creation queues this again)
        if order is None:  # a row queued before rows carried their order
            order = space_order(challenge, self.clock())
        space = await self.rooms.space(self.programme.space_name, self.programme.space_topic)
        await self.rooms.give_moderators_power(space, sorted(self.moderators()))
        await self.rooms.link_to_space(space, room_id, order=order)

    async def _challenge_room(self, request: CreateChallengeRoom) -> Record:
        async with self.store.db.transaction():
            challenge = await self.store.challenges.get(request.challenge_id)
            recorded = await challenge_room_on(self.store, request.challenge_id, Network.MATRIX)
        if challenge is None:
            raise Permanent(f"challenge {request.challenge_id} no longer exists")
        # A room recorded before a crash: only the notice is left to do.
        room_id = recorded or await self.rooms.open_challenge_room(request)
        address = await self.rooms.address_of(room_id, request.slug)

        async def record_room() -> None:
            now = self.clock()
            outcome = await challenge_room_created(
                self.store,
                self.catalogue,
                request,
                room_id=room_id,
                address=address,
                now=now,
                words=self.words,
            )
            await enqueue_outcome(
                self.store,
                outcome,
                room_id=request.notify_room,
                event_id=None,
                settings=self.settings,
                now=now,
            )
            await self.rooms.finish_intent("challenge", str(request.challenge_id))
            levels = ModeratorLevelsPayload(moderators=tuple(sorted(self.moderators())))
            await enqueue(self.store, levels, now, room_id=room_id)
            if outcome.effects:  # recorded (not deleted meanwhile): its place in the Space
                placed = challenge.model_copy(update={"room_id": room_id})
                await enqueue_outcome(
                    self.store,
                    Outcome(effects=(place_in_space(placed, now),)),
                    room_id=request.notify_room,
                    event_id=None,
                    settings=self.settings,
                    now=now,
                )

        return record_room


def _room(room_id: str | None, what: str) -> str:
    """The row's room; a row of a kind that goes to a room but names none is refused."""
    if room_id is None:
        raise Permanent(f"{what} without a room")
    return room_id
