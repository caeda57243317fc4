"""A challenge's own room: what happens once the bot has created it."""

from __future__ import annotations

from datetime import datetime

from handlers.accounts import network_of
from handlers.command_words import CommandWords
from handlers.effects import CreateChallengeRoom, Outcome, SendRoom
from handlers.i18n import Catalogue
from handlers.reply import Code, Reply
from storage import Store


async def challenge_room_created(
    store: Store,
    catalogue: Catalogue,
    request: CreateChallengeRoom,
    *,
    room_id: str,
    address: str,
    now: datetime,
    words: CommandWords,
) -> Outcome:
    """The challenge's room on a network exists: record it (as its ``room_id`` or, where it
    has one on the other network, beside it), and say so where the challenge was created.

    Call in the transaction that marks the room's creation done, so that it is said once.
    """
    challenge = await store.challenges.get(request.challenge_id)
    if challenge is None:  # deleted meanwhile: nothing to record, nobody to tell
        return Outcome()
    if challenge.room_id in (None, room_id):
        await store.challenges.set_room(challenge.id, room_id, now)
    else:  # its place on the other network: both show the one set of ideas
        await store.challenges.add_room(challenge.id, room_id, network_of(room_id).value)
    notice = Reply.of(
        catalogue.span(
            request.locale,
            "challenge.room_ready",
            slug=Code(challenge.slug),
            room=Code(address),
            join=words.typed(request.locale, "join", challenge.slug),
        )
    )
    return Outcome(effects=(SendRoom(request.notify_room, notice),))
