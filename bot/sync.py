"""Our own sync loop: the checkpoint lives in SQLite and moves only after a batch is handled.

A crash between handling and checkpoint replays the batch; ``handled_events`` makes the replay
a no-op. A limited timeline is filled from ``/messages`` before the batch is handled. Events
from before the bot joined a room are history, not commands.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientError
from nio import (
    AsyncClient,
    EncryptionError,
    JoinError,
    MegolmEvent,
    MessageDirection,
    RoomMemberEvent,
    RoomMessagesResponse,
    SyncError,
    SyncResponse,
)

from bot.backoff import Backoff, retry_after, sleep_unless
from bot.events import EventHandler
from storage import Store

log = logging.getLogger(__name__)

TOKEN_KEY = "sync_token"
CHECKPOINT_TS_KEY = "sync_checkpoint_ts"
HANDLED_TYPES = [
    "m.room.message",
    "m.reaction",
    "m.room.redaction",
    "m.room.encrypted",
    "m.room.member",
]
#: How far before the last checkpoint a gap fill looks; replays are harmless, misses are not.
GAP_MARGIN_MS = 5 * 60 * 1000
MAX_GAP_PAGES = 50
#: Read receipts wait this long after their batch: a receipt that reaches Synapse before the
#: batch's replies delays them (it is handled first), and a busy room gets one per wait.
RECEIPT_DELAY = 0.25
#: Encrypted events whose keys never came are given up after this long.
UNDECRYPTED_KEPT_FOR = timedelta(days=7)
MAX_UNDECRYPTED_RETRIES = 200


def sync_filter(timeline_limit: int = 50) -> dict[str, Any]:
    """Only what the bot acts on: its event types, lazily loaded members, no presence."""
    return {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"limit": timeline_limit, "types": HANDLED_TYPES},
            "state": {"lazy_load_members": True},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    }


class SyncLoop:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        events: EventHandler,
        *,
        timeout_ms: int = 30_000,
        allowed_servers: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.store = store
        self.events = events
        self.timeout_ms = timeout_ms
        self.allowed_servers = allowed_servers
        self.filter = sync_filter()
        self._backoff = Backoff("Sync with the homeserver", log)
        self._failed_invites: set[str] = set()
        self._unread: dict[str, str] = {}  # room -> newest handled event, not yet marked read
        self._receipts: asyncio.Task[None] | None = None
        self.first_sync_done = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with self.store.db.transaction():
            token = await self.store.state.get(TOKEN_KEY)
        while not stop.is_set():
            response = await self._sync_once(token, stop)
            if response is None:
                continue
            if token is None:
                await self._start_fresh(response)
            else:
                await self._handle_batch(response, since=token)
            await self._accept_invites()
            await self._maintain_encryption()
            token = response.next_batch
            self.first_sync_done.set()
        if self._receipts is not None:
            self._receipts.cancel()

    async def _sync_once(self, token: str | None, stop: asyncio.Event) -> SyncResponse | None:
        """One sync request; None on failure (after waiting) or when asked to stop."""
        # The first sync of a run returns at once, also after a restart with nothing new, and
        # brings every joined room's state: matrix-nio keeps rooms in memory only, and the bot
        # needs all of them (the moderation room's power levels, the direct chats), not only
        # those with news since its checkpoint.
        first = not self.first_sync_done.is_set()
        request = asyncio.create_task(
            self.client.sync(
                timeout=0 if first else self.timeout_ms,
                sync_filter=self.filter,
                since=token,
                full_state=first,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not request.done():
            request.cancel()
            return None
        try:
            response = request.result()
        except (ClientError, OSError, TimeoutError) as error:
            await sleep_unless(stop, self._backoff.failed(f"{type(error).__name__}: {error}"))
            return None
        if isinstance(response, SyncError):
            if response.status_code == "M_UNKNOWN_TOKEN":
                raise RuntimeError("The homeserver no longer accepts the bot's access token")
            wait = retry_after(response)
            if wait is not None:
                await sleep_unless(stop, wait)
                return None
            await sleep_unless(
                stop, self._backoff.failed(f"{response.status_code}: {response.message}")
            )
            return None
        self._backoff.succeeded()
        return response

    async def _start_fresh(self, response: SyncResponse) -> None:
        """First start: remember the rooms and the position; what came before is history."""
        async with self.store.db.transaction():
            await self._checkpoint(response)
        log.info(
            "First start: joined to %d rooms; earlier messages are not acted on",
            len(response.rooms.join),
        )

    async def _handle_batch(self, response: SyncResponse, *, since: str) -> None:
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            events = list(info.timeline.events)
            joined_at = self._own_join_index(events)
            if joined_at is not None:
                events = events[joined_at + 1 :]
            elif info.timeline.limited and info.timeline.prev_batch:
                events = await self._fill_gap(room_id, info.timeline.prev_batch, since) + events
            last_handled = None
            for event in events:
                if await self.events.handle(room, event):
                    last_handled = event.event_id
            if last_handled is not None:
                self._unread[room_id] = last_handled
        if self.client.olm:
            await self._retry_undecrypted()
        async with self.store.db.transaction():
            await self._checkpoint(response)
        if self._unread and (self._receipts is None or self._receipts.done()):
            self._receipts = asyncio.create_task(self._send_receipts(), name="read receipts")

    async def _send_receipts(self) -> None:
        """The newest handled event of each room marked read, once the replies are on their way."""
        while self._unread:
            await asyncio.sleep(RECEIPT_DELAY)
            unread, self._unread = self._unread, {}
            for room_id, event_id in unread.items():
                await self._mark_read(room_id, event_id)

    async def _mark_read(self, room_id: str, event_id: str) -> None:
        """A read receipt: the person sees that the bot has read their command."""
        try:
            await self.client.room_read_markers(
                room_id, fully_read_event=event_id, read_event=event_id
            )
        except (ClientError, OSError, TimeoutError) as error:
            log.debug("Read receipt for %s not sent: %s", room_id, error)

    async def _retry_undecrypted(self) -> None:
        """Handle the kept encrypted events whose keys have arrived since."""
        async with self.store.db.transaction():
            pending = await self.store.undecrypted.all()
            if pending:  # nothing to write in the common case of nothing kept
                cutoff = datetime.now(UTC) - UNDECRYPTED_KEPT_FOR
                await self.store.undecrypted.drop_older_than(cutoff)
        for event_id, room_id, source in pending[-MAX_UNDECRYPTED_RETRIES:]:
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            encrypted = MegolmEvent.from_dict(source)
            if not isinstance(encrypted, MegolmEvent):
                continue
            encrypted.room_id = room_id
            try:
                decrypted = self.client.decrypt_event(encrypted)
            except EncryptionError:
                continue
            log.info("Decrypted %s now that its key has arrived", event_id)
            await self.events.handle(room, decrypted)  # exactly once: safe to repeat after a crash
            async with self.store.db.transaction():
                await self.store.undecrypted.remove(event_id)

    def _own_join_index(self, events: list[Any]) -> int | None:
        found = None
        for index, event in enumerate(events):
            if (
                isinstance(event, RoomMemberEvent)
                and event.state_key == self.client.user_id
                and event.membership == "join"
                and event.prev_membership != "join"
            ):
                found = index
        return found

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """Events the sync skipped, oldest first, back to the last checkpoint or our join.

        ``since`` bounds the pages to the sync's own gap: without it, every gap in a busy room
        would page back through all of the margin's events again.
        """
        async with self.store.db.transaction():
            checkpoint = await self.store.state.get(CHECKPOINT_TS_KEY)
        horizon = int(checkpoint or 0) - GAP_MARGIN_MS
        collected: list[Any] = []
        start = prev_batch
        for _page in range(MAX_GAP_PAGES):
            page = await self.client.room_messages(
                room_id,
                start=start,
                end=since,
                direction=MessageDirection.back,
                limit=100,
                message_filter={"types": HANDLED_TYPES},
            )
            if not isinstance(page, RoomMessagesResponse):
                log.warning("Could not page back in %s: %s", room_id, page)
                break
            reached_end = not page.chunk or not page.end
            for event in page.chunk:  # newest first
                if event.server_timestamp < horizon or self._own_join_index([event]) is not None:
                    reached_end = True
                    break
                collected.append(event)
            if reached_end:
                break
            start = page.end
        else:
            log.warning(
                "Gap in %s longer than %d pages; older events not handled", room_id, MAX_GAP_PAGES
            )
        log.info("Filled a gap of %d events in %s", len(collected), room_id)
        return [self._decrypt(room_id, event) for event in reversed(collected)]

    def _decrypt(self, room_id: str, event: Any) -> Any:
        """Events paged from /messages come encrypted; those we cannot read stay MegolmEvents
        and take the undecryptable path."""
        if not isinstance(event, MegolmEvent) or not self.client.olm:
            return event
        event.room_id = room_id
        try:
            return self.client.decrypt_event(event)
        except EncryptionError:
            return event

    async def _checkpoint(self, response: SyncResponse) -> None:
        latest = 0
        for info in response.rooms.join.values():
            for event in info.timeline.events:
                latest = max(latest, int(getattr(event, "server_timestamp", 0) or 0))
        await self.store.state.set(TOKEN_KEY, response.next_batch)
        if latest:
            await self.store.state.set(CHECKPOINT_TS_KEY, str(latest))

    async def _accept_invites(self) -> None:
        for room_id, room in list(self.client.invited_rooms.items()):
            if room_id in self._failed_invites:
                continue
            if not self._may_invite(room.inviter):
                log.warning(
                    "Declining the invite to %s from %s: server not allowed", room_id, room.inviter
                )
                await self.client.room_leave(room_id)
                self._failed_invites.add(room_id)
                continue
            response = await self.client.join(room_id)
            if isinstance(response, JoinError):
                log.warning("Could not join %s: %s", room_id, response.message)
                self._failed_invites.add(room_id)
            else:
                log.info("Joined %s", room_id)

    def _may_invite(self, inviter: str | None) -> bool:
        """Only users of allowed servers (by default the bot's own) may bring the bot into a room."""
        if not inviter or ":" not in inviter:
            return False
        server = inviter.split(":", 1)[1]
        allowed = self.allowed_servers or (self.client.user_id.split(":", 1)[1],)
        return server in allowed

    async def _maintain_encryption(self) -> None:
        if not self.client.olm:
            return
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        await self.client.send_to_device_messages()
