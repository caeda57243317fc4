"""Accepting invites, in a task of its own: a rate-limited join waits as the homeserver asks and
is tried again, an outage or a 5xx backs off, and only a refusal (the invite withdrawn, the room
gone) gives an invite up. Waiting never holds up the sync loop, nor a stop. Invites from servers
that are not allowed are declined at once."""

from __future__ import annotations

import asyncio
import logging

from nio import AsyncClient, JoinError

from bot.backoff import Backoff, retry_after, sleep_unless
from bot.logs import log_failure
from bot.matrix.homeserver_errors import is_server_failure
from bot.matrix.rooms import Rooms
from bot.server import NETWORK_ERRORS, REQUEST_TIMEOUT
from handlers.policy import server_of

log = logging.getLogger(__name__)


class InviteAcceptor:
    def __init__(
        self, client: AsyncClient, rooms: Rooms, allowed_servers: tuple[str, ...] = ()
    ) -> None:
        self.client = client
        self.rooms = rooms
        self.allowed_servers = allowed_servers
        self._failed: set[str] = set()
        #: Invites waiting to be accepted (room -> inviter), in the order they came, and those
        #: accepted whose invite the sync still shows.
        self._to_join: dict[str, str | None] = {}
        self._joined: set[str] = set()
        self._joiner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def accept(self, stop: asyncio.Event) -> None:
        """After a sync: decline the invites of servers not allowed, queue the others for the
        joining task (started if it is not running)."""
        self._stop = stop
        invited = self.client.invited_rooms
        self._joined &= set(invited)
        for room_id, room in list(invited.items()):
            if room_id in self._failed or room_id in self._joined or room_id in self._to_join:
                continue
            if not self._may_invite(room.inviter):
                log.warning(
                    "Declining the invite to %s from %s: server not allowed", room_id, room.inviter
                )
                await self.client.room_leave(room_id)
                self._failed.add(room_id)
                continue
            self._to_join[room_id] = room.inviter
        if self._to_join and (self._joiner is None or self._joiner.done()):
            self._joiner = asyncio.create_task(self._join_all(), name="joins")

    async def wait(self) -> None:
        """Until the joining task (if any) is done: for tests and a stop."""
        if self._joiner is not None:
            await asyncio.gather(self._joiner, return_exceptions=True)

    @property
    def joining(self) -> bool:
        return self._joiner is not None and not self._joiner.done()

    async def close(self) -> None:
        if self._joiner is not None:
            self._joiner.cancel()
        await self.wait()

    async def _join_all(self) -> None:
        """Join the queued rooms one by one, oldest first."""
        backoff = Backoff("Joining invited rooms", log)
        while self._to_join and not self._stop.is_set():
            room_id, inviter = next(iter(self._to_join.items()))
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    response = await self.client.join(room_id)
            except NETWORK_ERRORS as error:
                await sleep_unless(self._stop, backoff.failed(f"{type(error).__name__}: {error}"))
                continue
            if isinstance(response, JoinError):
                wait = retry_after(response)
                if wait is not None:
                    log.debug("Joining %s: rate limited, trying again in %.1f s", room_id, wait)
                    await sleep_unless(self._stop, wait)
                elif is_server_failure(response):
                    await sleep_unless(self._stop, backoff.failed(f"{response.status_code}"))
                else:
                    log.warning("Could not join %s: %s", room_id, response.message)
                    self._failed.add(room_id)
                    self._to_join.pop(room_id, None)
                continue
            backoff.succeeded()
            self._to_join.pop(room_id, None)
            self._joined.add(room_id)
            log.info("Joined %s", room_id)
            try:
                await self.rooms.joined(room_id, inviter)
            except Exception:
                log_failure(log, "Joined %s, but could not record it as a direct chat", room_id)

    def _may_invite(self, inviter: str | None) -> bool:
        """Only users of allowed servers (by default the bot's own) may bring the bot into a room."""
        if not inviter or ":" not in inviter:
            return False
        allowed = self.allowed_servers or (server_of(self.client.user_id),)
        return server_of(inviter) in allowed
