"""One Matrix event in, its effects out: each event is handled exactly once, in one transaction."""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from nio import AsyncClient, MatrixRoom, ReactionEvent, RedactionEvent, RoomMessageText

from bot.outbox import OutboxSender, enqueue_outcome
from handlers.commands.common import VOTE_REACTION
from handlers.commands.ideas import unvote_by_redaction, vote_by_reaction
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import Outcome
from storage import Store

log = logging.getLogger(__name__)

_SKIN_TONES_AND_VARIANTS = {chr(code) for code in range(0x1F3FB, 0x1F400)} | {"\ufe0f", "\ufe0e"}


def is_vote_reaction(key: str) -> bool:
    """👍 in any skin tone or presentation."""
    core = "".join(
        ch for ch in unicodedata.normalize("NFC", key) if ch not in _SKIN_TONES_AND_VARIANTS
    )
    return core == VOTE_REACTION


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted ``> <@user> ...`` lines that older clients put before a reply."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


class EventHandler:
    def __init__(
        self, client: AsyncClient, store: Store, dispatcher: Dispatcher, outbox: OutboxSender
    ) -> None:
        self.client = client
        self.store = store
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.settings = dispatcher.settings

    def is_moderator(self, user_id: str) -> bool:
        if user_id in self.settings.moderators:
            return True
        room = self.client.rooms.get(self.settings.moderation_room or "")
        if room is None:
            return False
        level = int(room.power_levels.get_user_level(user_id))
        return level >= self.settings.moderator_power_level

    def is_direct(self, room: MatrixRoom) -> bool:
        return room.room_id != self.settings.moderation_room and int(room.member_count) <= 2

    async def handle(self, room: MatrixRoom, event: Any) -> None:
        if event.sender == self.client.user_id:
            return
        if isinstance(event, RoomMessageText):
            relation = event.source.get("content", {}).get("m.relates_to", {})
            if relation.get("rel_type") == "m.replace":
                return  # an edit: the original was the command
            body = strip_reply_fallback(event.body)
            await self._handle(
                room, event, lambda sender: self.dispatcher.handle_message(sender, body)
            )
        elif isinstance(event, ReactionEvent):
            if is_vote_reaction(event.key):
                reacts_to, reaction_id = event.reacts_to, event.event_id
                await self._handle(
                    room,
                    event,
                    lambda sender: self.dispatcher.run(
                        sender, lambda ctx: vote_by_reaction(ctx, reacts_to, reaction_id)
                    ),
                    always_mark=True,
                )
        elif isinstance(event, RedactionEvent):
            redacts = event.redacts
            await self._handle(
                room,
                event,
                lambda sender: self.dispatcher.run(
                    sender, lambda ctx: unvote_by_redaction(ctx, redacts)
                ),
                always_mark=True,
            )

    async def _handle(
        self, room: MatrixRoom, event: Any, run: Any, *, always_mark: bool = False
    ) -> None:
        sender = Sender(
            user_id=event.sender,
            room_id=room.room_id,
            is_direct=self.is_direct(room),
            is_moderator=self.is_moderator(event.sender),
        )
        async with self.store.db.transaction():
            if await self.store.state.is_handled(event.event_id):
                log.debug("Event %s was handled before; skipping", event.event_id)
                return
            if sender.is_direct and isinstance(event, RoomMessageText):
                # Before the command runs, so that !forget erases it like everything else.
                await self.store.users.set_direct_room(sender.user_id, room.room_id)
            outcome: Outcome | None = await run(sender)
            if outcome is None and not always_mark:
                return
            now = self.dispatcher.clock()
            if outcome is not None:
                await enqueue_outcome(
                    self.store,
                    outcome,
                    room_id=room.room_id,
                    event_id=event.event_id,
                    settings=self.settings,
                    now=now,
                )
            await self.store.state.mark_handled(event.event_id, now)
        if outcome is not None:
            self.outbox.wake()
