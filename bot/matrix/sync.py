"""Our own sync loop: the checkpoint lives in SQLite and moves only after a batch is handled.

A crash between handling and checkpoint replays the batch; ``handled_events`` makes the replay
a no-op. A limited timeline is filled from ``/messages`` before the batch is handled, retrying
until it can be read: the checkpoint never moves past an event that was not handled.

Where history ends in a room: at the bot's own invite. Element creates a direct chat only when
its first message is sent, so that message reaches the room before the bot joins; a moderator
who invites the bot and types a command at once does the same. What came after the invite is
meant for the bot; what came before is history. Where the bot joined without an invite (a
public room, by its alias), its join marks the line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nio import (
    AsyncClient,
    EncryptionError,
    JoinedMembersResponse,
    MegolmEvent,
    MessageDirection,
    RoomGetStateEventResponse,
    RoomMessagesResponse,
    SyncError,
    SyncResponse,
)

from bot.backoff import Backoff, retry_after, sleep_unless
from bot.logs import log_failure
from bot.matrix.client import unreadable
from bot.matrix.content import Membership, PowerLevels, parse
from bot.matrix.events import EventHandler
from bot.matrix.homeserver_errors import is_server_failure
from bot.matrix.invites import InviteAcceptor
from bot.matrix.roles import ModeratorRoles
from bot.matrix.room_state import RoomStateKeeper
from bot.matrix.rooms import Rooms
from bot.metrics import Metrics
from bot.outbox import ModeratorLevelsPayload, enqueue
from bot.server import NETWORK_ERRORS, REQUEST_TIMEOUT, Reachability
from handlers.clock import Clock, system_clock
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
    # State the bot relies on, in the timeline too: a change there is not repeated in the state
    # block (and Synapse can leave it out of that as well). A demoted moderator loses the rights
    # from the next command; a room the bot created, whose creation events all come in the
    # timeline, is known to be encrypted before the bot sends a word there.
    "m.room.power_levels",
    "m.room.encryption",
    "m.room.name",
    # Whether a direct chat is still private (bot.matrix.rooms): who may join it, who may read it.
    "m.room.join_rules",
    "m.room.history_visibility",
    # Poll responses and ends (MSC3381) under both names; in an encrypted room they come as
    # m.room.encrypted, and nio hands over the decrypted event with its type and content.
    "org.matrix.msc3381.poll.response",
    "m.poll.response",
    "org.matrix.msc3381.poll.end",
    "m.poll.end",
]
#: How far before the last checkpoint a gap fill looks; replays are harmless, misses are not.
GAP_MARGIN_MS = 5 * 60 * 1000
#: Read receipts wait this long after their batch: a receipt that reaches Synapse before the
#: batch's replies delays them (it is handled first), and a busy room gets one per wait. Where
#: the bot has replied since, none is sent: the reply marks the command read.
RECEIPT_DELAY = 0.25
#: After a batch in which the bot handled something, the next sync waits this long at most for
#: what that queued (the replies) to go out: a sync already waiting at the homeserver is woken by
#: the bot's own reply, and Synapse's work for it walks every room of the account (5 ms of its
#: CPU at 2,000 rooms, 21 ms at 5,000: docs/benchmarks.md, section 15), done while it still
#: answers the reply and wakes the person's sync for it.
ANSWERS_SENT_WITHIN = 0.5
#: Encrypted events whose keys never came are given up after this long.
UNDECRYPTED_KEPT_FOR = timedelta(days=7)
MAX_UNDECRYPTED_RETRIES = 200


def handled_ids_cutoff(
    checkpoint_ms: str | None, now: datetime, retention: timedelta
) -> datetime | None:
    """The time before which a handled event's id can no longer be needed; None to keep all.

    After a crash the sync replays from the checkpoint, and a gap fill pages back to the
    checkpoint's time less ``GAP_MARGIN_MS``: an event either can bring again was handled
    after that time, by the bot's clock. ``retention`` is a margin on top, for a homeserver's
    clock that differs from the bot's; a checkpoint in the future counts as now. Without a
    checkpoint (or with one that cannot be read) nothing is deleted.
    """
    try:
        checkpoint = datetime.fromtimestamp(int(checkpoint_ms or "") / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return min(checkpoint, now) - timedelta(milliseconds=GAP_MARGIN_MS) - retention


async def handled_ids_horizon(store: Store, now: datetime, retention: timedelta) -> datetime | None:
    """:func:`handled_ids_cutoff` from the checkpoint saved in the database (the sweeper's
    :data:`bot.sweeper.HandledHorizon` for Matrix)."""
    async with store.db.transaction():
        checkpoint = await store.state.get(CHECKPOINT_TS_KEY)
    return handled_ids_cutoff(checkpoint, now, retention)


class Stopped(Exception):
    """The bot was asked to stop in the middle of a batch: it is not checkpointed."""


@dataclass(frozen=True)
class HistoryLine:
    """The bot's own membership event before which a room's events are history."""

    index: int
    invited: bool  # the line is the bot's invite
    invite_earlier: bool = False  # a join after an invite that lies further back


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


def own_membership(event: Any, bot_user: str) -> Membership | None:
    source = getattr(event, "source", None)
    if not isinstance(source, dict) or source.get("type") != "m.room.member":
        return None
    if source.get("state_key") != bot_user:
        return None
    parsed = parse(source)
    return parsed if isinstance(parsed, Membership) else None


def history_line(events: list[Any], bot_user: str) -> HistoryLine | None:
    """Where history ends among ``events`` (oldest first), or None if they don't say."""
    line: HistoryLine | None = None
    for index, event in enumerate(events):
        membership = own_membership(event, bot_user)
        if membership is None:
            continue
        if membership.membership == "invite":
            line = HistoryLine(index, invited=True)
        elif membership.membership == "join" and membership.previous != "join":
            if line is None or not line.invited:
                line = HistoryLine(
                    index, invited=False, invite_earlier=membership.previous == "invite"
                )
        elif membership.membership in ("leave", "ban"):
            line = HistoryLine(index, invited=False)
    return line


class SyncLoop:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        events: EventHandler,
        rooms: Rooms,
        roles: ModeratorRoles,
        reachability: Reachability,
        *,
        timeout_ms: int = 30_000,
        allowed_servers: tuple[str, ...] = (),
        metrics: Metrics | None = None,
        clock: Clock = system_clock,
        answers_sent: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.clock = clock
        self.client = client
        #: Until what the handled events queued has gone out, at most the seconds given
        #: (:meth:`bot.delivery.Delivery.settled`).
        self.answers_sent = answers_sent
        self.store = store
        self.events = events
        self.rooms = rooms
        self.roles = roles
        self.reachability = reachability
        self.timeout_ms = timeout_ms
        self.metrics = metrics or Metrics()
        self.filter = sync_filter()
        self._backoff = Backoff("Sync with the homeserver", log)
        self.invites = InviteAcceptor(client, rooms, store, allowed_servers, clock=clock)
        self.room_state = RoomStateKeeper(client, store)
        #: Whether the sync in hand asked for every room's state (once, for a database from
        #: before the rooms were kept: see :mod:`bot.matrix.room_state`).
        self._full_state_asked = False
        #: Direct chats whose person left in the last batch: the bot leaves them after it.
        self._left_by_person: list[tuple[str, str]] = []
        #: room -> the newest handled event not yet marked read, and when it was handled
        #: (``time.monotonic()``)
        self._unread: dict[str, tuple[str, float]] = {}
        self._receipts: asyncio.Task[None] | None = None
        self.first_sync_done = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with self.store.db.transaction():
            token = await self.store.state.get(TOKEN_KEY)
        await self.room_state.restore()
        await self.invites.load()
        self.invites.queue([], stop)  # those kept from an earlier run, in the background
        try:
            while not stop.is_set():
                response = await self._sync_once(token, stop)
                if response is None:
                    continue
                try:
                    await self._handle_batch(response, since=token, stop=stop)
                except Stopped:
                    break
                except Exception:
                    # Not checkpointed: the same batch comes again, and handled events are
                    # recognised. An event's own failure never gets here (EventHandler).
                    reference = log_failure(log, "A sync batch could not be handled")
                    await sleep_unless(stop, self._backoff.failed(f"ref {reference}"))
                    continue
                await self._after_batch(response, stop)
                token = response.next_batch
                self.metrics.synced()
                self.first_sync_done.set()
        finally:
            if self._receipts is not None:
                self._receipts.cancel()
            await self.invites.close()

    async def _sync_once(self, token: str | None, stop: asyncio.Event) -> SyncResponse | None:
        """One sync request; None on failure (after waiting) or when asked to stop."""
        # The first sync of a run returns at once, also after a restart with nothing new. It
        # does not ask for every room's state: what the bot needs of each room is kept in its
        # database (bot.matrix.room_state), so a restart costs the same at 5,000 rooms as at
        # 50. Only a database that does not hold the rooms yet asks for it, once.
        first = not self.first_sync_done.is_set()
        timeout_ms = 0 if first else self.timeout_ms
        full_state = first and token is not None and not self.room_state.complete
        self._full_state_asked = full_state
        request = asyncio.create_task(self._request_sync(token, timeout_ms, full_state))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not request.done():
            request.cancel()
            return None
        try:
            response = request.result()
        except NETWORK_ERRORS as error:
            await self.reachability.outage(f"{type(error).__name__}: {error}", stop)
            return None
        except Exception:
            reference = log_failure(log, "Unexpected error in a sync request")
            await sleep_unless(stop, self._backoff.failed(f"ref {reference}"))
            return None
        if isinstance(response, SyncError):
            if response.status_code == "M_UNKNOWN_TOKEN":
                raise RuntimeError("The homeserver no longer accepts the bot's access token")
            wait = retry_after(response)
            if wait is not None:
                await sleep_unless(stop, wait)
            elif is_server_failure(response):
                await self.reachability.outage(f"{response.status_code}", stop)
            else:
                reason = f"{response.status_code}: {response.message}"
                await sleep_unless(stop, self._backoff.failed(reason))
            return None
        self._backoff.succeeded()
        return response

    async def _request_sync(self, token: str | None, timeout_ms: int, full_state: bool) -> Any:
        # A stalled connection must not hang the bot: past the long poll and a margin, give up.
        async with asyncio.timeout(timeout_ms / 1000 + REQUEST_TIMEOUT):
            return await self.client.sync(
                timeout=timeout_ms, sync_filter=self.filter, since=token, full_state=full_state
            )

    async def _handle_batch(
        self, response: SyncResponse, *, since: str | None, stop: asyncio.Event
    ) -> None:
        """Handle every room's new events, then checkpoint. On the very first start (no
        ``since``) everything is history: only the position and the moderators' levels count."""
        rooms = [
            (room, info)
            for room_id, info in response.rooms.join.items()
            if (room := self.client.rooms.get(room_id)) is not None
        ]
        # The moderation room first (its power levels judge every command of the batch), then
        # the rooms whose timeline came whole, fewest events first, and last the rooms whose
        # gap must be paged from /messages: a direct chat's one command never waits behind a
        # busy room's hundreds, nor behind the requests that fill its gap. (Order matters only
        # within a room.)
        rooms.sort(
            key=lambda entry: (
                entry[0].room_id != self.roles.room_id,
                bool(entry[1].timeline.limited),
                len(entry[1].timeline.events),
            )
        )
        if self.roles.needs_members and await self._read_moderation_members(stop):
            assert self.roles.room_id is not None
            before = self.roles.current()
            await self._read_moderation_levels(self.roles.room_id)
            if self.roles.current() != before:  # the first look at a start, as a change
                await self._moderators_changed()
        handled_any = False
        for room, info in rooms:
            if stop.is_set():
                raise Stopped  # not checkpointed: the batch comes again at the next start
            if since is None:  # everything is history
                events, start = list(info.timeline.events), len(info.timeline.events)
            else:
                events, start = await self._events_for(room.room_id, info, since, stop)
            if room.room_id == self.roles.room_id:
                before = self.roles.current()
                if self._follow_power_levels(info, events):
                    # The bot joined it only now: whom it could not read before, it can now.
                    await self._read_moderation_members(stop)
                if self.roles.current() != before:
                    await self._moderators_changed()
            self.roles.seed(self.client.rooms.get(self.roles.room_id or ""))
            last_handled = None
            for event in events[start:]:
                if await self.events.handle(room, event):
                    last_handled = event.event_id
            if last_handled is not None:
                self._unread[room.room_id] = (last_handled, time.monotonic())
                handled_any = True
            self._note_person_left(room.room_id, events)
        if handled_any and self.answers_sent is not None and self.first_sync_done.is_set():
            # Before the batch's own writes, and before the next sync: see ANSWERS_SENT_WITHIN.
            await self.answers_sent(ANSWERS_SENT_WITHIN)
        if self.client.olm:
            await self._retry_undecrypted()
        invites = self.invites.seen(response)
        left = [room_id for room_id in response.rooms.leave if room_id not in response.rooms.join]
        async with self.store.db.transaction():
            await self.room_state.save(
                response.rooms.join, left, full=since is None or self._full_state_asked
            )
            await self.invites.keep(invites)
            await self._checkpoint(response)
        for room_id in left:
            self.client.rooms.pop(room_id, None)  # matrix-nio keeps a room the bot left
        self.invites.queue(invites, stop)
        if since is None:
            log.info(
                "First start: joined to %d rooms; earlier messages are not acted on",
                len(response.rooms.join),
            )
        if self._unread and (self._receipts is None or self._receipts.done()):
            self._receipts = asyncio.create_task(self._send_receipts(), name="read receipts")

    def _note_person_left(self, room_id: str, events: list[Any]) -> None:
        """Whether the person of a direct chat left it in these events (and did not come back)."""
        owner = self.rooms.owner_of(room_id)
        if owner is None:
            return
        last: str | None = None
        for event in events:
            parsed = parse(getattr(event, "source", None))
            if isinstance(parsed, Membership) and parsed.member == owner:
                last = parsed.membership
        if last in ("leave", "ban"):
            self._left_by_person.append((room_id, owner))

    def _follow_power_levels(self, info: Any, events: list[Any]) -> bool:
        """The moderation room's levels and members: its state before the timeline, then each
        change. True when the bot itself joined the room in this batch."""
        state = None
        members: list[Membership] = []
        for event in info.state:
            parsed = parse(getattr(event, "source", None))
            if isinstance(parsed, PowerLevels):
                state = parsed
            elif isinstance(parsed, Membership):
                members.append(parsed)
        self.roles.start_batch(state, members)
        bot_joined = False
        for event in events:
            parsed = parse(getattr(event, "source", None))
            if isinstance(parsed, PowerLevels):
                self.roles.changed(parsed)
            elif isinstance(parsed, Membership):
                self.roles.member_changed(parsed)
                if parsed.member == self.client.user_id and parsed.membership == "join":
                    bot_joined = bot_joined or parsed.previous != "join"
        return bot_joined

    async def _read_moderation_members(self, stop: asyncio.Event) -> bool:
        """Who is joined to the moderation room, asked of the homeserver until it answers (a
        lazy-loaded sync names only the members who spoke); whether it did. Where the bot may
        not read them (it is not in the room), nobody is a moderator by power level until it
        is."""
        room_id = self.roles.room_id
        assert room_id is not None
        while True:
            if stop.is_set():
                raise Stopped
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    response = await self.client.joined_members(room_id)
            except NETWORK_ERRORS as error:
                await self.reachability.outage(f"{type(error).__name__}: {error}", stop)
                continue
            if isinstance(response, JoinedMembersResponse):
                self.roles.seed_members(member.user_id for member in response.members)
                return True
            wait = retry_after(response)
            if wait is not None:
                await sleep_unless(stop, wait)
            elif is_server_failure(response):
                await self.reachability.outage(f"reading the moderators: {response}", stop)
            else:
                log.warning(
                    "Cannot read the members of the moderation room %s (%s): moderators by "
                    "power level are recognised once the bot is in it",
                    room_id,
                    response,
                )
                self.roles.seed_members(())
                return False

    async def _read_moderation_levels(self, room_id: str) -> None:
        """The moderation room's power levels as they stand, at start: a restart no longer
        brings the room's state, and the levels may not have changed since the checkpoint.
        Where they cannot be read now, members and levels are read again at the next batch;
        until then nobody is a moderator by power level (the side of refusing)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                response = await self.client.room_get_state_event(room_id, "m.room.power_levels")
        except NETWORK_ERRORS as error:
            response = None
            log.warning("Moderation room's levels not read: %s: %s", type(error).__name__, error)
        if not isinstance(response, RoomGetStateEventResponse):
            if response is not None:
                log.warning("Moderation room's levels not read: %s", response)
            self.roles.forget_members()
            return
        parsed = parse(
            {
                "type": "m.room.power_levels",
                "state_key": "",
                "sender": self.client.user_id,
                "event_id": "$levels-at-start",
                "origin_server_ts": 0,
                "content": response.content,
            }
        )
        if isinstance(parsed, PowerLevels):
            self.roles.start_batch(parsed)

    async def _moderators_changed(self) -> None:
        """Moderators have the moderators' power in every challenge room and in the Space: a
        change (and the first look at a start) goes to each, as an outbox row like every other
        effect."""
        moderators = sorted(self.roles.current())
        now = self.clock()
        async with self.store.db.transaction():
            rooms = [
                challenge.room_id
                for challenge in await self.store.challenges.list(open_only=False)
                if challenge.room_id is not None
            ]
            space = await self.rooms.known_space()
            for room_id in [*rooms, *([space] if space else [])]:
                levels = ModeratorLevelsPayload(moderators=tuple(moderators))
                await enqueue(self.store, levels, now, room_id=room_id)
        self.events.wake_outbox()

    async def _events_for(
        self, room_id: str, info: Any, since: str, stop: asyncio.Event
    ) -> tuple[list[Any], int]:
        """A room's events of this batch, oldest first, gaps filled; and the index of the first
        one meant for the bot (those before it are history)."""
        events = list(info.timeline.events)
        bot = self.client.user_id
        line = history_line(events, bot)
        if info.timeline.limited and info.timeline.prev_batch:
            if line is None:  # events skipped since the last batch
                async with self.store.db.transaction():
                    checkpoint = await self.store.state.get(CHECKPOINT_TS_KEY)
                horizon = int(checkpoint or 0) - GAP_MARGIN_MS
                gap = await self._fill_gap(room_id, info.timeline.prev_batch, since, horizon, stop)
                events = gap + events
            elif line.invite_earlier:  # joined now; what followed the invite lies further back
                gap = await self._fill_gap(room_id, info.timeline.prev_batch, None, None, stop)
                events = gap + events
            line = history_line(events, bot)
        return events, 0 if line is None else line.index + 1

    async def _fill_gap(
        self,
        room_id: str,
        prev_batch: str,
        end: str | None,
        horizon: int | None,
        stop: asyncio.Event,
    ) -> list[Any]:
        """Events the sync skipped, oldest first: back to ``end`` (the last batch's position),
        ``horizon`` (a time), or the bot's own invite or join, which is included.

        ``end`` bounds the pages to the sync's own gap: without it, every gap in a busy room
        would page back through all of the margin's events again.
        """
        collected: list[Any] = []
        start = prev_batch
        bot = self.client.user_id
        while True:
            page = await self._page(room_id, start, end, stop)
            if page is None:
                break
            reached_end = not page.chunk or not page.end
            for event in page.chunk:  # newest first
                if horizon is not None and event.server_timestamp < horizon:
                    reached_end = True
                    break
                collected.append(event)
                line = history_line([event], bot)
                if line is not None and not line.invite_earlier:
                    reached_end = True
                    break
            if reached_end:
                break
            start = page.end
        log.info("Filled a gap of %d events in %s", len(collected), room_id)
        self.metrics.gap_fills.inc()
        return [self._decrypt(room_id, event) for event in reversed(collected)]

    async def _page(
        self, room_id: str, start: str, end: str | None, stop: asyncio.Event
    ) -> RoomMessagesResponse | None:
        """One page of ``/messages``, tried until the homeserver gives it; None only when it
        refuses for good (the bot may not read that history)."""
        while True:
            if stop.is_set():
                raise Stopped
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    page = await self.client.room_messages(
                        room_id,
                        start=start,
                        end=end,
                        direction=MessageDirection.back,
                        limit=100,
                        message_filter={"types": HANDLED_TYPES},
                    )
            except NETWORK_ERRORS as error:
                await self.reachability.outage(f"{type(error).__name__}: {error}", stop)
                continue
            if isinstance(page, RoomMessagesResponse):
                return page
            wait = retry_after(page)
            if wait is not None:
                await sleep_unless(stop, wait)
            elif is_server_failure(page):
                await self.reachability.outage(f"paging back: {page}", stop)
            else:
                log.error("Cannot page back in %s (%s); that gap is not handled", room_id, page)
                return None

    async def _after_batch(self, response: SyncResponse, stop: asyncio.Event) -> None:
        """Rooms that are done, and encryption upkeep; a failure here waits for the next batch."""
        left, self._left_by_person = self._left_by_person, []
        try:
            for room_id, person in left:
                if await self.rooms.person_left(room_id, person):
                    async with self.store.db.transaction():
                        await self.room_state.forget(room_id)
            await self._maintain_encryption()
        except NETWORK_ERRORS as error:
            log.warning("Invites or key upkeep postponed: %s: %s", type(error).__name__, error)
        except Exception:
            log.exception("Invites or key upkeep failed; tried again after the next sync")

    async def _send_receipts(self) -> None:
        """The newest handled event of each room marked read, once the replies are on their way;
        not where the bot has sent something there since (its reply is the mark: a receipt
        would only cost the homeserver a request, and wake every member's sync)."""
        while self._unread:
            await asyncio.sleep(RECEIPT_DELAY)
            unread, self._unread = self._unread, {}
            for room_id, (event_id, handled_at) in unread.items():
                if not self.rooms.sent_since(room_id, handled_at):
                    await self._mark_read(room_id, event_id)

    async def _mark_read(self, room_id: str, event_id: str) -> None:
        """A read receipt: the person sees that the bot has read their command."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await self.client.room_read_markers(
                    room_id, fully_read_event=event_id, read_event=event_id
                )
        except Exception as error:  # a receipt is a courtesy; the next one will do
            log.debug("Read receipt for %s not sent: %s", room_id, error)

    async def _retry_undecrypted(self) -> None:
        """Handle the kept encrypted events whose keys have arrived since."""
        async with self.store.db.transaction():
            pending = await self.store.undecrypted.all()
            if pending:  # nothing to write in the common case of nothing kept
                cutoff = self.clock() - UNDECRYPTED_KEPT_FOR
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
            except Exception:  # a kept event that cannot be read is let go, not retried forever
                log.exception(
                    "Kept event %s cannot be decrypted; dropped",
                    event_id,
                    extra={"event_id": event_id, "room_id": room.room_id},
                )
                async with self.store.db.transaction():
                    await self.store.undecrypted.remove(event_id)
                continue
            log.info("Decrypted %s now that its key has arrived", event_id)
            await self.events.handle(room, decrypted)  # exactly once: safe to repeat after a crash
            async with self.store.db.transaction():
                await self.store.undecrypted.remove(event_id)

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
        except Exception as error:  # content that breaks the decryption: that event alone
            return unreadable(event, room_id, error)

    async def _checkpoint(self, response: SyncResponse) -> None:
        latest = 0
        for info in response.rooms.join.values():
            for event in info.timeline.events:
                latest = max(latest, int(getattr(event, "server_timestamp", 0) or 0))
        await self.store.state.set(TOKEN_KEY, response.next_batch)
        if latest:
            await self.store.state.set(CHECKPOINT_TS_KEY, str(latest))

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
