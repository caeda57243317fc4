"""A handler's outcome to outbox rows, in the caller's transaction: what the bot will send.

Each kind of row is carried out by a front end (:mod:`bot.matrix.outgoing`); the rows wait in
the database until the delivery loop (:mod:`bot.delivery`) has sent them, across crashes and
restarts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from bot.outbox import (
    CreateChallengeRoomPayload,
    DirectFilePayload,
    DirectPayload,
    InvitePayload,
    Joinable,
    MessagePayload,
    PollEndPayload,
    PollStartPayload,
    RedactPayload,
    RoomFilePayload,
    RoomProfilePayload,
    SpaceChildPayload,
    direct_lane,
    enqueue,
)
from handlers.accounts import Network, network_of
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


async def challenge_room_on(store: Store, challenge_id: int, network: Network) -> str | None:
    """The challenge's room on ``network``, if it has one there."""
    rooms = await store.challenges.rooms_of(challenge_id)
    return next((room for room in rooms if network_of(room) == network), None)


async def _rooms(store: Store, room_id: str) -> tuple[str, ...]:
    """Where a message to ``room_id`` goes: to each of its challenge's rooms when it is a
    challenge's (a challenge on both networks shows one set of ideas in both), else there."""
    return await store.challenges.rooms_with(room_id)


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
    review_room: str | None = None,
) -> None:
    """Write an outcome's messages and actions to the outbox, inside the caller's transaction.

    ``sender`` is whose command it answers: a short confirmation may be joined with others.
    ``review_room`` is a second room where moderators read announcements (Discord's review
    channel), beside the configured moderation room.
    """
    if outcome.reply is not None:
        reply = MessagePayload(reply=outcome.reply, card=outcome.reply_card)
        if event_id is not None:
            reply = reply.model_copy(update={"reply_to": event_id})
        if thread_root is not None:
            reply = reply.model_copy(update={"thread_root": thread_root})
        if outcome.confirmation and sender is not None:
            joinable = Joinable(user_id=sender, thread_root=thread_root)
            reply = reply.model_copy(update={"joinable": joinable})
        await enqueue(store, reply, now, room_id=room_id)
    for effect in outcome.effects:
        if isinstance(effect, SendRoom):
            message = MessagePayload(reply=effect.reply, card=effect.card)
            for room in await _rooms(store, effect.room_id):
                await enqueue(store, message, now, room_id=room)
        elif isinstance(effect, Announce):
            rooms = [room for room in (settings.moderation_room, review_room) if room]
            if not rooms:
                log.info("No moderation room configured; announcement not sent")
            for room in rooms:
                message = MessagePayload(reply=effect.reply, card=None)
                if effect.idea is not None:
                    message = message.model_copy(update={"review_of": effect.idea})
                await enqueue(store, message, now, room_id=room)
        elif isinstance(effect, SendDirect):
            direct = DirectPayload(user_id=effect.user_id, reply=effect.reply)
            if effect.about_idea is not None:
                direct = direct.model_copy(update={"about_idea": effect.about_idea})
            await enqueue(store, direct, now, lane=direct_lane(effect.user_id))
        elif isinstance(effect, SendDirectFile):
            note = DirectPayload(user_id=effect.user_id, reply=effect.reply)
            lane = direct_lane(effect.user_id)
            await enqueue(store, note, now, lane=lane)
            file = DirectFilePayload(
                user_id=effect.user_id,
                filename=effect.filename,
                mimetype=effect.mimetype,
                data=effect.data,
            )
            await enqueue(store, file, now, lane=lane)
        elif isinstance(effect, SendRoomFile):
            message = MessagePayload(reply=effect.reply, card=None)
            room_file = RoomFilePayload(
                filename=effect.filename, mimetype=effect.mimetype, data=effect.data
            )
            for room in await _rooms(store, effect.room_id):
                await enqueue(store, message, now, room_id=room)
                await enqueue(store, room_file, now, room_id=room)
        elif isinstance(effect, Invite):
            # Into the challenge's place on the person's own network.
            network = network_of(effect.user_id)
            places = await _rooms(store, effect.room_id)
            into = next((room for room in places if network_of(room) == network), None)
            if into is None:
                log.info("No room on %s to invite %s into", network, effect.user_id)
                continue
            await enqueue(store, InvitePayload(user_id=effect.user_id), now, room_id=into)
        elif isinstance(effect, CardChanged):
            await store.cards.mark_stale(effect.idea_id, now + CARD_EDIT_DELAY)
        elif isinstance(effect, Redact):
            redact = RedactPayload(event_id=effect.event_id)
            await enqueue(store, redact, now, room_id=effect.room_id)
        elif isinstance(effect, SetRoomProfile):
            profile = RoomProfilePayload(name=effect.name, topic=effect.topic)
            for room in await _rooms(store, effect.room_id):
                await enqueue(store, profile, now, room_id=room)
        elif isinstance(effect, PlaceInSpace):
            child = SpaceChildPayload(challenge_id=effect.challenge_id, order=effect.order)
            await enqueue(store, child, now, lane="space")
        elif isinstance(effect, StartPoll):
            start = PollStartPayload(
                poll_id=effect.poll_id, question=effect.question, answers=effect.answers
            )
            for room in await _rooms(store, effect.room_id):
                await enqueue(store, start, now, room_id=room)
        elif isinstance(effect, EndPoll):
            # After the start in the room's lane: the end is sent once the start is.
            end = PollEndPayload(poll_id=effect.poll_id, summary=effect.summary)
            for room in await _rooms(store, effect.room_id):
                await enqueue(store, end, now, room_id=room)
        elif isinstance(effect, CreateChallengeRoom):
            create = CreateChallengeRoomPayload(**asdict(effect))
            await enqueue(store, create, now, lane=f"create:{effect.challenge_id}")
