"""One Matrix event in, its effects out: each event is handled exactly once, in one transaction.

No event can stop the bot. Its content is validated first (:mod:`bot.matrix.content`); one
that does not fit is not for the bot. An unexpected failure while handling one is logged with a
reference, the event is marked handled on its own, and the next event goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from nio import AsyncClient, MatrixRoom, MegolmEvent

from bot.bot_clock import BotClock, judged_at
from bot.logs import log_failure
from bot.matrix.content import (
    Incoming,
    Message,
    PollEnd,
    PollResponse,
    Reaction,
    Redaction,
    parse,
)
from bot.matrix.identity_lookup import IdentityChecker
from bot.matrix.roles import ModeratorRoles
from bot.matrix.rooms import Rooms
from bot.metrics import Metrics
from bot.outcomes import enqueue_outcome
from handlers.dispatch import Dispatcher, PreparedMessage, Sender
from handlers.effects import Outcome
from handlers.incoming import (
    IncomingEvent,
    PollAnswered,
    PollEnded,
    ReactionAdded,
    ReactionRemoved,
    Undecryptable,
    is_vote_reaction,
)
from storage import Store

log = logging.getLogger(__name__)

#: A command that takes longer than this shows the bot as typing.
TYPING_AFTER = 0.4


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted ``> <@user> ...`` lines that older clients put before a reply."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


async def _always(_sender: Sender) -> bool:
    return True


class _PreparedOnce:
    """A message's text read once by the dispatcher: asked whether it needs the person's
    identity (before the transaction), then handled (in it)."""

    __slots__ = ("_body", "_dispatcher", "_prepared")

    def __init__(self, dispatcher: Dispatcher, body: str) -> None:
        self._dispatcher = dispatcher
        self._body = body
        self._prepared: PreparedMessage | None = None

    async def _message(self, sender: Sender) -> PreparedMessage:
        if self._prepared is None:
            self._prepared = await self._dispatcher.prepare(sender, self._body)
        return self._prepared

    async def needs_identity(self, sender: Sender) -> bool:
        return (await self._message(sender)).needs_identity

    async def handle(self, sender: Sender) -> Outcome | None:
        return await self._dispatcher.handle_message(sender, await self._message(sender))


class _Typing:
    """Shows "typing" in a room while a command takes more than a moment.

    A timer, not a task, and a class, not a generator: nearly every command is done long
    before the timer fires, and this costs a tenth of a task to set up and cancel.
    """

    __slots__ = ("_client", "_room_id", "_shown", "_timer")

    def __init__(self, client: AsyncClient, room_id: str) -> None:
        self._client = client
        self._room_id = room_id
        self._timer: asyncio.TimerHandle | None = None
        self._shown: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(TYPING_AFTER, self._show)

    def _show(self) -> None:
        typing = self._client.room_typing(self._room_id, True, timeout=10_000)
        self._shown = asyncio.create_task(typing)

    async def __aexit__(self, *_exception: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._shown is not None:
            with contextlib.suppress(Exception):
                await self._shown
            with contextlib.suppress(Exception):
                await self._client.room_typing(self._room_id, False)


class EventHandler:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        dispatcher: Dispatcher,
        rooms: Rooms,
        roles: ModeratorRoles,
        wake_outbox: Callable[[], None],
        metrics: Metrics | None = None,
        clock: BotClock | None = None,
        identity: IdentityChecker | None = None,
    ) -> None:
        #: Reads the homeserver's timestamps on the bot's clock; "now" is the dispatcher's.
        self.clock = clock or BotClock()
        self.client = client
        self.store = store
        self.dispatcher = dispatcher
        self.rooms = rooms
        self.roles = roles
        self.wake_outbox = wake_outbox
        self.settings = dispatcher.settings
        self.metrics = metrics or Metrics()
        self.identity = identity
        #: Where else moderators read announcements (Discord's review channel), if anywhere.
        self.review_room: str | None = None

    async def handle(self, room: MatrixRoom, event: Any) -> bool:
        """Handle one event; True when it was addressed to the bot (and is now handled).

        Raises only when the database cannot record that the event was handled.
        """
        if isinstance(event, MegolmEvent):
            await self._guard(room, event.event_id, lambda: self._undecryptable(room, event))
            return False
        parsed = parse(getattr(event, "source", None))
        if parsed is None:
            return False
        own = parsed.sender == self.client.user_id
        if isinstance(parsed, PollEnd):
            if not own:  # only the bot ends its polls (one ended with its account elsewhere too)
                return False
        elif own:  # the bot's own doing
            return False
        started = time.perf_counter()
        handled = await self._guard(
            room, parsed.event_id, lambda: self._handle_parsed(room, parsed)
        )
        if handled:
            kind = type(parsed).__name__.lower()
            self.metrics.events_handled.labels(kind).inc()
            self.metrics.handler_seconds.labels(kind).observe(time.perf_counter() - started)
        return handled

    async def _guard(
        self, room: MatrixRoom, event_id: str, handle: Callable[[], Awaitable[bool]]
    ) -> bool:
        try:
            return await handle()
        except Exception:
            log_failure(
                log,
                "Unexpected error handling %s in %s; passed over",
                event_id,
                room.room_id,
                event_id=event_id,
                room_id=room.room_id,
            )
        async with self.store.db.transaction():
            await self.store.state.mark_handled(event_id, self.dispatcher.clock())
        return True

    async def _handle_parsed(self, room: MatrixRoom, event: Incoming) -> bool:
        if isinstance(event, Message):
            if event.is_edit:
                return False  # an edit: the original was the command
            message = _PreparedOnce(self.dispatcher, strip_reply_fallback(event.body))
            async with self._typing(room.room_id):
                return await self._handle(
                    room,
                    event,
                    message.handle,
                    thread_root=event.thread_root,
                    needs_identity=message.needs_identity,
                )
        core = self._core_event(event)
        if core is None:
            return False
        needs_identity = self.dispatcher.event_needs_identity(core)
        return await self._handle(
            room,
            event,
            lambda sender: self.dispatcher.handle_event(sender, core),
            always_mark=True,
            needs_identity=_always if needs_identity else None,
        )

    def _core_event(self, event: Incoming) -> IncomingEvent | None:
        """The core's event for a Matrix reaction, redaction or poll event; None for what is
        not for the bot (another reaction, memberships and power levels: the sync loop reads
        those)."""
        if isinstance(event, Reaction):
            return (
                ReactionAdded(event.reacts_to, event.event_id)
                if is_vote_reaction(event.key)
                else None
            )
        if isinstance(event, Redaction):
            return ReactionRemoved(event.redacts)
        if isinstance(event, PollResponse):
            sent_ms = self.clock.of_homeserver_ms(event.sent_ms)
            return PollAnswered(event.poll, event.event_id, event.answers, sent_ms)
        if isinstance(event, PollEnd):
            return PollEnded(event.poll, self.clock.of_homeserver(event.sent_at))
        return None

    async def _undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> bool:
        """Keep the event for when its key arrives, ask for the key, and explain once per
        session (not once per message: a missing session fails every message sent with it)."""
        log.warning(
            "Cannot decrypt %s in %s yet (session %s)",
            event.event_id,
            room.room_id,
            event.session_id,
        )
        self.metrics.undecryptable.inc()
        async with self.store.db.transaction():
            await self.store.undecrypted.add(
                event.event_id, room.room_id, event.source, self.dispatcher.clock()
            )
        with contextlib.suppress(Exception):  # a key request is a courtesy; failing it is fine
            await self.client.request_room_key(event)
        # The key names no person: it is a hash of the room, the sender and the session.
        parts = f"{room.room_id}\n{event.sender}\n{event.session_id}".encode()
        explained = Incoming(
            event_id="undecryptable:" + hashlib.sha256(parts).hexdigest()[:32],
            sender=event.sender,
            sent_at=self.dispatcher.clock(),
        )
        await self._handle(
            room,
            explained,
            lambda sender: self.dispatcher.handle_event(sender, Undecryptable()),
            reply_to=event.event_id,
        )
        return False

    def _typing(self, room_id: str) -> _Typing:
        return _Typing(self.client, room_id)

    async def _handle(
        self,
        room: MatrixRoom,
        event: Incoming,
        run: Callable[[Sender], Awaitable[Outcome | None]],
        *,
        always_mark: bool = False,
        reply_to: str | None = None,
        thread_root: str | None = None,
        needs_identity: Callable[[Sender], Awaitable[bool]] | None = None,
    ) -> bool:
        """Run ``run`` exactly once for the event, with its effects in one transaction.

        The command is judged at the time it was sent: the moderator's role then, and its
        timestamp (within reason, :func:`judged_at`) for deadlines and limits. Where what it
        may do depends on who the person is (``needs_identity``), their verification is looked
        up first, outside the transaction: asking the homeserver holds up no other command's
        commit. A replay after a crash finds it in the cache.
        """
        now = self.dispatcher.clock()
        sender = Sender(
            user_id=event.sender,
            room_id=room.room_id,
            is_direct=await self.rooms.is_direct(room, event.sender),
            is_moderator=self.roles.is_moderator(event.sender, event.sent_at),
            sent_at=judged_at(self.clock.of_homeserver(event.sent_at), now),
        )
        key = event.event_id
        if (
            self.identity is not None
            and needs_identity is not None
            and self.identity.asks(event.sender)
            and not await self.store.state.is_handled(key)
            and await needs_identity(sender)
        ):
            found = await self.identity.lookup(event.sender)
            sender = replace(
                sender, verification=found.verification, verification_failed=found.failed
            )
        async with self.store.db.transaction():
            if await self.store.state.is_handled(key):
                log.debug("Event %s was handled before; skipping", key)
                return False
            if sender.is_direct and not always_mark:
                # Before the command runs, so that !forget erases it like everything else.
                await self.store.users.set_direct_room(event.sender, room.room_id)
            outcome = await run(sender)
            if outcome is None and not always_mark:
                return False
            if outcome is not None:
                await enqueue_outcome(
                    self.store,
                    outcome,
                    room_id=room.room_id,
                    event_id=reply_to or key,
                    settings=self.settings,
                    now=now,
                    thread_root=thread_root,
                    sender=event.sender,
                    review_room=self.review_room,
                )
            await self.store.state.mark_handled(key, now)
        if outcome is not None:
            self.wake_outbox()
        return True
