"""The transactional outbox: effects are written with the command, and sent from here.

Each row is sent with a transaction id derived from its row id, so a resend after a crash is
dropped by the homeserver as a duplicate. Rows go out one at a time, in order.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from nio import (
    AsyncClient,
    ErrorResponse,
    RoomCreateError,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
    UploadResponse,
)

from bot.backoff import Backoff, retry_after, sleep_unless
from bot.render import render
from handlers.commands.challenges import room_ready
from handlers.dispatch import utc_now
from handlers.effects import (
    Announce,
    CardChanged,
    CreateChallengeRoom,
    Invite,
    Outcome,
    SendDirect,
    SendDirectFile,
    SendRoom,
)
from handlers.i18n import Catalogue
from handlers.settings import BotSettings
from storage import OutboxItem, Store

log = logging.getLogger(__name__)


#: Votes within this time after a change are shown by the same edit of a card.
CARD_EDIT_DELAY = timedelta(seconds=2)

#: How many times a message waits for its room to appear in the sync (a quarter second each).
MAX_WAIT_FOR_ROOM = 120


class Retry(Exception):
    """A temporary failure: wait (``after`` seconds if the server said so) and send again."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Permanent(Exception):
    """The homeserver refuses this row for good; it is marked failed and skipped."""


async def enqueue_outcome(
    store: Store,
    outcome: Outcome,
    *,
    room_id: str,
    event_id: str | None,
    settings: BotSettings,
    now: datetime,
    thread_root: str | None = None,
) -> None:
    """Write an outcome's messages and actions to the outbox, inside the caller's transaction."""
    if outcome.reply is not None:
        content = render(outcome.reply, reply_to=event_id, thread_root=thread_root)
        await store.outbox.enqueue(
            "message", {"content": content, "card": outcome.reply_card}, now, room_id=room_id
        )
    payload: dict[str, Any]
    for effect in outcome.effects:
        if isinstance(effect, SendRoom):
            payload = {"content": render(effect.reply), "card": effect.card}
            await store.outbox.enqueue("message", payload, now, room_id=effect.room_id)
        elif isinstance(effect, Announce):
            if settings.moderation_room is None:
                log.info("No moderation room configured; announcement not sent")
                continue
            payload = {"content": render(effect.reply), "card": None}
            await store.outbox.enqueue("message", payload, now, room_id=settings.moderation_room)
        elif isinstance(effect, SendDirect):
            payload = {"user_id": effect.user_id, "content": render(effect.reply)}
            await store.outbox.enqueue("direct", payload, now)
        elif isinstance(effect, SendDirectFile):
            note = {"user_id": effect.user_id, "content": render(effect.reply)}
            await store.outbox.enqueue("direct", note, now)
            payload = {
                "user_id": effect.user_id,
                "filename": effect.filename,
                "mimetype": effect.mimetype,
                "data": effect.data,
            }
            await store.outbox.enqueue("direct_file", payload, now)
        elif isinstance(effect, Invite):
            payload = {"user_id": effect.user_id}
            await store.outbox.enqueue("invite", payload, now, room_id=effect.room_id)
        elif isinstance(effect, CardChanged):
            await store.cards.mark_stale(effect.idea_id, now + CARD_EDIT_DELAY)
        elif isinstance(effect, CreateChallengeRoom):
            await store.outbox.enqueue("create_challenge_room", asdict(effect), now)


class OutboxSender:
    def __init__(
        self, client: AsyncClient, store: Store, catalogue: Catalogue, settings: BotSettings
    ) -> None:
        self.client = client
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self._wake = asyncio.Event()
        self._txn_prefix: str | None = None
        self._backoff = Backoff("Sending to the homeserver", log)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set."""
        while not stop.is_set():
            sent = await self.send_pending(stop)
            if sent == 0:
                self._wake.clear()
                waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
                _done, pending = await asyncio.wait(
                    waiters, timeout=5, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()

    async def drain(self, seconds: float) -> int:
        """On shutdown: send what is queued for at most ``seconds``; returns the rows left."""
        never = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                while await self.send_pending(never):
                    pass
        except TimeoutError:
            pass
        async with self.store.db.transaction():
            left = await self.store.outbox.count_pending()
        if left:
            log.warning("%d outgoing messages stay queued for the next start", left)
        return left

    async def send_pending(self, stop: asyncio.Event) -> int:
        async with self.store.db.transaction():
            items = await self.store.outbox.pending(limit=50)
        for item in items:
            if stop.is_set():
                break
            await self._deliver_with_retry(item, stop)
        return len(items)

    async def _deliver_with_retry(self, item: OutboxItem, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            attempt += 1
            try:
                await self._deliver(item, attempt)
                self._backoff.succeeded()
                return
            except Permanent as error:
                log.error(
                    "Outbox row %d (%s) refused by the homeserver: %s", item.id, item.kind, error
                )
                async with self.store.db.transaction():
                    await self.store.outbox.mark_done(item.id, utc_now(), failed=str(error))
                return
            except Retry as error:
                delay = error.after if error.after is not None else self._backoff.failed(str(error))
            except (OSError, TimeoutError) as error:
                delay = self._backoff.failed(f"{type(error).__name__}: {error}")
            async with self.store.db.transaction():
                await self.store.outbox.mark_attempt(item.id)
            await sleep_unless(stop, delay)

    async def _txn_id(self, item: OutboxItem) -> str:
        if self._txn_prefix is None:
            # Unique per database, so a fresh database on the same device never reuses an id.
            async with self.store.db.transaction():
                prefix = await self.store.state.get("txn_prefix")
                if prefix is None:
                    prefix = secrets.token_hex(8)
                    await self.store.state.set("txn_prefix", prefix)
            self._txn_prefix = prefix
        return f"cb{self._txn_prefix}.{item.id}"

    async def _deliver(self, item: OutboxItem, attempt: int) -> None:
        payload = item.payload
        if item.kind == "message":
            assert item.room_id is not None
            await self._send_message(
                item, item.room_id, payload["content"], payload.get("card"), attempt
            )
        elif item.kind == "direct":
            room_id = await self._direct_room(payload["user_id"])
            await self._send_message(item, room_id, payload["content"], None, attempt)
        elif item.kind == "direct_file":
            room_id = await self._direct_room(payload["user_id"])
            content = await self._upload_file(room_id, payload)
            await self._send_message(item, room_id, content, None, attempt)
        elif item.kind == "invite":
            assert item.room_id is not None
            await self._invite(item, item.room_id, payload["user_id"])
        elif item.kind == "create_challenge_room":
            await self._create_challenge_room(
                item, CreateChallengeRoom(**{**payload, "invite": tuple(payload["invite"])})
            )
        else:
            raise Permanent(f"unknown outbox kind {item.kind!r}")

    async def _send_message(
        self,
        item: OutboxItem,
        room_id: str,
        content: dict[str, Any],
        card: int | None,
        attempt: int,
    ) -> None:
        if room_id not in self.client.rooms:
            # A room created a moment ago shows up with the next sync; one the bot is not in never does.
            if attempt > MAX_WAIT_FOR_ROOM:
                raise Permanent(f"the bot is not in room {room_id}")
            raise Retry("room not synced yet", after=0.25)
        response = await self.client.room_send(
            room_id,
            "m.room.message",
            content,
            tx_id=await self._txn_id(item),
            ignore_unverified_devices=True,
        )
        if not isinstance(response, RoomSendResponse):
            _raise_for(response)
        async with self.store.db.transaction():
            if card is not None:
                await self.store.cards.add(response.event_id, card, room_id)
            await self.store.outbox.mark_done(item.id, utc_now())

    async def _upload_file(self, room_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Upload a file (encrypted where the room is) and return the m.file content for it."""
        data = payload["data"].encode("utf-8")
        room = self.client.rooms.get(room_id)
        encrypted = bool(room is not None and room.encrypted)
        response, keys = await self.client.upload(
            io.BytesIO(data),
            content_type=payload["mimetype"],
            filename=payload["filename"],
            encrypt=encrypted,
            filesize=len(data),
        )
        if not isinstance(response, UploadResponse):
            _raise_for(response)
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": payload["filename"],
            "filename": payload["filename"],
            "info": {"mimetype": payload["mimetype"], "size": len(data)},
            "m.mentions": {},
        }
        if encrypted and keys is not None:
            content["file"] = {**keys, "url": response.content_uri}
        else:
            content["url"] = response.content_uri
        return content

    async def _direct_room(self, user_id: str) -> str:
        async with self.store.db.transaction():
            known = await self.store.users.direct_room(user_id)
        if known is not None and known in self.client.rooms:
            return known
        response = await self.client.room_create(
            is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat
        )
        if not isinstance(response, RoomCreateResponse):
            _raise_for(response)
        async with self.store.db.transaction():
            await self.store.users.set_direct_room(user_id, response.room_id)
        return str(response.room_id)

    async def _invite(self, item: OutboxItem, room_id: str, user_id: str) -> None:
        response = await self.client.room_invite(room_id, user_id)
        if not isinstance(response, RoomInviteResponse):
            message = getattr(response, "message", "") or ""
            if "already in the room" not in message and "already joined" not in message:
                _raise_for(response)
        async with self.store.db.transaction():
            await self.store.outbox.mark_done(item.id, utc_now())

    async def _create_challenge_room(self, item: OutboxItem, request: CreateChallengeRoom) -> None:
        async with self.store.db.transaction():
            challenge = await self.store.challenges.get(request.challenge_id)
        if challenge is None:
            raise Permanent(f"challenge {request.challenge_id} no longer exists")
        if challenge.room_id is None:
            options: dict[str, Any] = {
                "visibility": RoomVisibility.public,
                "preset": RoomPreset.public_chat,
                "name": request.name,
                "topic": request.topic[:1000],
                "invite": list(request.invite),
            }
            response = await self.client.room_create(alias=request.slug, **options)
            if isinstance(response, RoomCreateError) and response.status_code == "M_ROOM_IN_USE":
                log.info("Alias #%s is taken; creating the room without it", request.slug)
                response = await self.client.room_create(**options)
            if not isinstance(response, RoomCreateResponse):
                _raise_for(response)
            room_id = str(response.room_id)
        else:
            room_id = challenge.room_id  # created before a crash: only the notice is left to do
        address = f"#{request.slug}:{self.client.user_id.split(':', 1)[1]}"
        aliases = await self.client.room_resolve_alias(address)
        shown = address if getattr(aliases, "room_id", None) == room_id else room_id
        now = utc_now()
        async with self.store.db.transaction():
            await self.store.challenges.set_room(challenge.id, room_id, now)
            notice = room_ready(self.catalogue, request.locale, challenge, shown)
            await self.store.outbox.enqueue(
                "message",
                {"content": render(notice), "card": None},
                now,
                room_id=request.notify_room,
            )
            await self.store.outbox.mark_done(item.id, now)


def _raise_for(response: Any) -> None:
    """Classify an error response from the homeserver."""
    status = getattr(response, "status_code", None)
    message = getattr(response, "message", str(response))
    wait = retry_after(response)
    if wait is not None:
        raise Retry("rate limited", after=wait)
    transport = getattr(response, "transport_response", None)
    http_status = getattr(transport, "status", None)
    if isinstance(response, ErrorResponse) and http_status is not None and 400 <= http_status < 500:
        raise Permanent(f"{status}: {message}")
    raise Retry(f"{status}: {message}")
