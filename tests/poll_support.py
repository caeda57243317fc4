"""A final poll in the handler harness: started, its start event recorded as the bot records it
once sent, and answered as the bot hands on a person's response."""

from __future__ import annotations

import itertools

from bot.effects import enqueue_outcome
from handlers.effects import StartPoll
from handlers.polls import respond
from tests.handler_support import MODERATION_ROOM, MODERATOR, Harness, effects_of

ROOM = "!mobility:city.example"
POLL_EVENT = "$poll-start"


async def start(bot: Harness, arguments: str = "") -> StartPoll:
    """A poll of mobility started, queued, and its start event sent (as the bot records it)."""
    outcome = await bot.say(MODERATOR, f"!poll mobility {arguments}".strip(), moderator=True)
    (effect,) = effects_of(outcome, StartPoll)
    async with bot.db.transaction():
        await enqueue_outcome(
            bot.store,
            outcome,
            room_id=MODERATION_ROOM,
            event_id=None,
            settings=bot.settings,
            now=bot.clock(),
        )
        await bot.store.polls.set_start_event(effect.poll_id, POLL_EVENT)
    return effect


_responses = itertools.count(1)


async def answer(
    bot: Harness, person: str, answers: tuple[str, ...], sent_ms: int, *, room: str = ROOM
) -> None:
    event_id = f"$response{next(_responses)}"
    outcome = await bot.run(
        person, lambda ctx: respond(ctx, POLL_EVENT, event_id, answers, sent_ms), room=room
    )
    assert outcome is None  # a response is never answered
