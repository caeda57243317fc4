"""A handler's outcome to outbox rows, in the caller's transaction: what the bot will send.

Each kind of row is carried out by a front end (:mod:`bot.matrix.outgoing`); the rows wait in
the database until the delivery loop (:mod:`bot.delivery`) has sent them, across crashes and
restarts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bot.matrix.rendering import render
from handlers.effects import (
    Announce,
    CardChanged,
    CreateChallengeRoom,
    EndPoll,
    Invite,
    Outcome,
    PlaceInSpace,
    Redact,
    SendDirect,
    SendDirectFile,
    SendRoom,
    SendRoomFile,
    SetRoomProfile,
    StartPoll,
)
from handlers.settings import BotSettings
from storage import Store

log = logging.getLogger(__name__)

#: Votes within this time after a change are shown by the same edit of a card.
CARD_EDIT_DELAY = timedelta(seconds=2)


def direct_lane(user_id: str) -> str:
    """The lane of a person's direct messages: in order among themselves. A hash, so that the
    queue names nobody (and a sent row keeps no lane at all)."""
    return "direct:" + hashlib.sha256(user_id.encode()).hexdigest()[:16]


async def enqueue_outcome(
    store: Store,
    outcome: Outcome,
    *,
    room_id: str,
    event_id: str | None,
    settings: BotSettings,
    now: datetime,
    thread_root: str | None = None,
    sender: str | None = None,
) -> None:
    """Write an outcome's messages and actions to the outbox, inside the caller's transaction.

    ``sender`` is whose command it answers: a short confirmation may be joined with others.
    """
    if outcome.reply is not None:
        content = render(outcome.reply, reply_to=event_id, thread_root=thread_root)
        reply: dict[str, Any] = {"content": content, "card": outcome.reply_card}
        if outcome.confirmation and sender is not None:
            reply["joinable"] = {"user_id": sender, "thread_root": thread_root}
        await store.outbox.enqueue("message", reply, now, room_id=room_id)
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
            await store.outbox.enqueue("direct", payload, now, lane=direct_lane(effect.user_id))
        elif isinstance(effect, SendDirectFile):
            note = {"user_id": effect.user_id, "content": render(effect.reply)}
            lane = direct_lane(effect.user_id)
            await store.outbox.enqueue("direct", note, now, lane=lane)
            payload = {
                "user_id": effect.user_id,
                "filename": effect.filename,
                "mimetype": effect.mimetype,
                "data": effect.data,
            }
            await store.outbox.enqueue("direct_file", payload, now, lane=lane)
        elif isinstance(effect, SendRoomFile):
            payload = {"content": render(effect.reply), "card": None}
            await store.outbox.enqueue("message", payload, now, room_id=effect.room_id)
            payload = {
                "filename": effect.filename,
                "mimetype": effect.mimetype,
                "data": effect.data,
            }
            await store.outbox.enqueue("room_file", payload, now, room_id=effect.room_id)
        elif isinstance(effect, Invite):
            payload = {"user_id": effect.user_id}
            await store.outbox.enqueue("invite", payload, now, room_id=effect.room_id)
        elif isinstance(effect, CardChanged):
            await store.cards.mark_stale(effect.idea_id, now + CARD_EDIT_DELAY)
        elif isinstance(effect, Redact):
            payload = {"event_id": effect.event_id}
            await store.outbox.enqueue("redact", payload, now, room_id=effect.room_id)
        elif isinstance(effect, SetRoomProfile):
            payload = {"name": effect.name, "topic": effect.topic}
            await store.outbox.enqueue("room_profile", payload, now, room_id=effect.room_id)
        elif isinstance(effect, PlaceInSpace):
            payload = {"challenge_id": effect.challenge_id, "order": effect.order}
            await store.outbox.enqueue("space_child", payload, now, lane="space")
        elif isinstance(effect, StartPoll):
            payload = {
                "poll_id": effect.poll_id,
                "question": effect.question,
                "answers": [list(answer) for answer in effect.answers],
            }
            await store.outbox.enqueue("poll_start", payload, now, room_id=effect.room_id)
        elif isinstance(effect, EndPoll):
            # After the start in the room's lane: the end is sent once the start is.
            payload = {"poll_id": effect.poll_id, "text": render(effect.summary)["body"]}
            await store.outbox.enqueue("poll_end", payload, now, room_id=effect.room_id)
        elif isinstance(effect, CreateChallengeRoom):
            lane = f"create:{effect.challenge_id}"
            await store.outbox.enqueue("create_challenge_room", asdict(effect), now, lane=lane)
