"""A final poll in the handler harness: started, its start event recorded as the bot records it
once sent, and answered as the bot hands on a person's response (with what the city's
homeserver says of them, where a test gives it)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from pydantic import SecretStr

from bot.outcomes import enqueue_outcome
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import Outcome, StartPoll
from handlers.incoming import PollAnswered
from handlers.settings import IdentitySettings
from storage import Verification
from tests.handler_support import MODERATION_ROOM, MODERATOR, Harness, effects_of

ROOM = "!mobility:city.example"
POLL_EVENT = "$poll-start"
#: The bot's homeserver, where people are verified (and the one listed server).
CITY = "city.example"
ITSME = "oidc-itsme"


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


def verifying(bot: Harness) -> None:
    """Give the harness a bot that can verify people on ``city.example`` (needed for a
    ``--eligibility=verified`` challenge)."""
    bot.dispatcher = Dispatcher(
        bot.dispatcher.registry,
        bot.store,
        bot.dispatcher.catalogue,
        bot.settings,
        clock=bot.clock,
        identity=IdentitySettings(
            admin_token=SecretStr("syt_the_admin_token_of_the_city"), auth_providers=(ITSME,)
        ),
        server_name=CITY,
    )


def verified(user_id: str, identity: str | None) -> Verification:
    """What the city's homeserver says of an account: verified as ``identity`` (a keyed hash;
    accounts that share it are one person), or not verified (None)."""
    return Verification(
        user_id=user_id,
        provider=ITSME if identity is not None else None,
        identity=identity,
        checked_at=datetime(2026, 3, 2, tzinfo=UTC),
        account_created_at=None,
    )


_responses = itertools.count(1)


async def answer(
    bot: Harness,
    person: str,
    answers: tuple[str, ...],
    sent_ms: int,
    *,
    room: str = ROOM,
    verification: Verification | None = None,
) -> Outcome | None:
    """A response as the bot hands it on; what the bot does (never a reply in the room)."""
    event_id = f"$response{next(_responses)}"
    who = Sender(
        user_id=person,
        room_id=room,
        is_direct=False,
        is_moderator=False,
        verification=verification,
    )
    async with bot.store.db.transaction():
        outcome = await bot.dispatcher.handle_event(
            who, PollAnswered(POLL_EVENT, event_id, answers, sent_ms)
        )
    assert outcome is None or outcome.reply is None  # a response is never answered
    return outcome
