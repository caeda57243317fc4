"""Accepting invites, in a task of its own, so that a backlog of them never holds up answering.

Invites are kept in the database as the sync shows them (an incremental sync shows each one
only once: a restart finds the rest there), and accepted oldest first at a bounded pace
(:data:`JOIN_INTERVAL` between joins; Synapse counts a join against the bot's message rate
limit, and each join brings the room's state in the next sync). A rate-limited join waits as
the homeserver asks and is tried again, an outage or a 5xx backs off, and only a refusal (the
invite withdrawn, the room gone) gives an invite up. Invites from servers that are not allowed
are declined, in the same queue. Direct chats joined are added to the bot's ``m.direct`` in
batches (:meth:`bot.matrix.rooms.Rooms.publish_direct_list`): one read and one write per batch,
not per invite. Waiting never holds up the sync loop, nor a stop.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nio import AsyncClient, JoinError, SyncResponse

from bot.backoff import Backoff, retry_after, sleep_unless
from bot.logs import log_failure
from bot.matrix.homeserver_errors import is_server_failure
from bot.matrix.rooms import Rooms, invited_as_direct
from bot.server import NETWORK_ERRORS, REQUEST_TIMEOUT
from handlers.clock import Clock, system_clock
from handlers.policy import server_of
from storage import Store
from storage.room_state_records import PendingInvite

log = logging.getLogger(__name__)

#: At least this long between two joins (or declines): at most 10 a second, leaving the
#: homeserver (and the bot's rate limit) to the answers.
JOIN_INTERVAL = 0.1
#: Direct chats joined are added to ``m.direct`` after this many joins, or when the queue is
#: empty, or after :data:`PUBLISH_AFTER` seconds, whichever comes first.
PUBLISH_EVERY = 100
PUBLISH_AFTER = 10.0


class InviteAcceptor:
    def __init__(
        self,
        client: AsyncClient,
        rooms: Rooms,
        store: Store,
        allowed_servers: tuple[str, ...] = (),
        *,
        clock: Clock = system_clock,
        join_interval: float = JOIN_INTERVAL,
    ) -> None:
        self.client = client
        self.rooms = rooms
        self.store = store
        self.allowed_servers = allowed_servers
        self.clock = clock
        self.join_interval = join_interval
        #: Invites given up in this run (a refusal): the sync may show them again.
        self._failed: set[str] = set()
        #: Invites waiting, oldest first (dicts keep their order), and those accepted in this
        #: run whose invite a sync may still show.
        self._to_join: dict[str, PendingInvite] = {}
        self._joined: set[str] = set()
        self._joiner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def load(self) -> int:
        """At start: the invites kept from earlier runs, oldest first; returns how many."""
        async with self.store.db.transaction():
            pending = await self.store.invites.pending()
        for invite in pending:
            self._to_join.setdefault(invite.room_id, invite)
        if pending:
            log.info("%d invites wait to be accepted", len(pending))
        return len(pending)

    def seen(self, response: SyncResponse) -> list[PendingInvite]:
        """The invites of a sync that are new to the bot."""
        new: list[PendingInvite] = []
        for room_id, info in response.rooms.invite.items():
            if room_id in self._failed or room_id in self._joined or room_id in self._to_join:
                continue
            invited = self.client.invited_rooms.get(room_id)
            direct = invited_as_direct(list(info.invite_state), self.client.user_id)
            new.append(
                PendingInvite(
                    room_id=room_id,
                    inviter=getattr(invited, "inviter", None),
                    is_direct=bool(direct),
                )
            )
        return new

    async def keep(self, invites: list[PendingInvite]) -> None:
        """Write new invites down; call inside the transaction that checkpoints their sync."""
        now = self.clock()
        for invite in invites:
            await self.store.invites.add(invite, now)

    def queue(self, invites: list[PendingInvite], stop: asyncio.Event) -> None:
        """Queue invites for the joining task, started if it is not running."""
        self._stop = stop
        for invite in invites:
            self._to_join.setdefault(invite.room_id, invite)
        if self._to_join and (self._joiner is None or self._joiner.done()):
            self._joiner = asyncio.create_task(self._join_all(), name="joins")

    async def wait(self) -> None:
        """Until the joining task (if any) is done: for tests and a stop."""
        if self._joiner is not None:
            await asyncio.gather(self._joiner, return_exceptions=True)

    @property
    def joining(self) -> bool:
        return self._joiner is not None and not self._joiner.done()

    @property
    def waiting(self) -> int:
        return len(self._to_join)

    async def close(self) -> None:
        if self._joiner is not None:
            self._joiner.cancel()
        await self.wait()

    async def _join_all(self) -> None:
        """Accept (or decline) the queued invites one by one, oldest first, at a bounded pace."""
        backoff = Backoff("Joining invited rooms", log)
        unpublished = 0
        published_at = time.monotonic()
        try:
            while self._to_join and not self._stop.is_set():
                invite = next(iter(self._to_join.values()))
                outcome = await self._accept_one(invite, backoff)
                if outcome is None:
                    continue  # waited; the same invite again
                await self._done(invite.room_id)
                if outcome:
                    unpublished += 1
                due = time.monotonic() - published_at >= PUBLISH_AFTER
                if unpublished and (unpublished >= PUBLISH_EVERY or due or not self._to_join):
                    await self.rooms.publish_direct_list()
                    unpublished, published_at = 0, time.monotonic()
                await sleep_unless(self._stop, self.join_interval)
        finally:
            if unpublished and not self._stop.is_set():
                await self.rooms.publish_direct_list()

    async def _accept_one(self, invite: PendingInvite, backoff: Backoff) -> bool | None:
        """Join (or decline) one invite: True when joined, False when given up or declined,
        None after a wait (rate limit, outage) when it is to be tried again."""
        room_id = invite.room_id
        if not self._may_invite(invite.inviter):
            log.warning(
                "Declining the invite to %s from %s: server not allowed", room_id, invite.inviter
            )
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await self.client.room_leave(room_id)
            except NETWORK_ERRORS as error:
                await sleep_unless(self._stop, backoff.failed(f"{type(error).__name__}: {error}"))
                return None
            self._failed.add(room_id)
            return False
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                response = await self.client.join(room_id)
        except NETWORK_ERRORS as error:
            await sleep_unless(self._stop, backoff.failed(f"{type(error).__name__}: {error}"))
            return None
        if isinstance(response, JoinError):
            wait = retry_after(response)
            if wait is not None:
                log.debug("Joining %s: rate limited, trying again in %.1f s", room_id, wait)
                await sleep_unless(self._stop, wait)
                return None
            if is_server_failure(response):
                await sleep_unless(self._stop, backoff.failed(f"{response.status_code}"))
                return None
            log.warning("Could not join %s: %s", room_id, response.message)
            self._failed.add(room_id)
            return False
        backoff.succeeded()
        self._joined.add(room_id)
        log.info("Joined %s", room_id)
        try:
            await self.rooms.joined(room_id, invite.inviter, direct=invite.is_direct)
        except Exception:
            log_failure(log, "Joined %s, but could not record it as a direct chat", room_id)
        return invite.is_direct

    async def _done(self, room_id: str) -> None:
        self._to_join.pop(room_id, None)
        async with self.store.db.transaction():
            await self.store.invites.remove(room_id)

    def _may_invite(self, inviter: str | None) -> bool:
        """Only users of allowed servers (by default the bot's own) may bring the bot into a room."""
        if not inviter or ":" not in inviter:
            return False
        allowed = self.allowed_servers or (server_of(self.client.user_id),)
        return server_of(inviter) in allowed
