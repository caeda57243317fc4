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
from storage.timestamps import to_ms
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATION_ROOM,
    MODERATOR,
    START,
    Harness,
    direct_room,
    effects_of,
    new_challenge,
    submit,
)
from tests.identity_support import CITY, ITSME

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


# --- a city of known people: who is verified, and as whom ---------------------------------------

T0 = to_ms(START)
DAVE = "@dave:city.example"
#: Alice and Bob: two accounts of one verified person. Dave: another verified person. Carol is
#: on the city's server but not verified; Erin is elsewhere.
KNOWN = {
    ALICE: verified(ALICE, "jana"),
    BOB: verified(BOB, "jana"),
    DAVE: verified(DAVE, "piet"),
    CAROL: verified(CAROL, None),
}


async def say(bot: Harness, user_id: str, body: str, *, moderator: bool = False) -> Outcome:
    """A command in the person's direct chat, with what the city's homeserver says of them."""
    sender = Sender(
        user_id=user_id,
        room_id=direct_room(user_id),
        is_direct=True,
        is_moderator=moderator,
        verification=KNOWN.get(user_id),
    )
    async with bot.db.transaction():
        outcome = await bot.dispatcher.handle_message(sender, body)
    assert outcome is not None
    return outcome


async def poll_among_two(bot: Harness, eligibility: str = "verified") -> tuple[int, int]:
    """A challenge open to ``eligibility`` with a running poll among two accepted ideas."""
    verifying(bot)
    await new_challenge(bot)
    ideas = []
    for title in ("Protected lanes", "Bike parking"):
        idea = await submit(bot, ALICE, title)
        await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
        ideas.append(idea)
    edited = await bot.ask(
        MODERATOR, f"!challenge edit mobility --eligibility={eligibility}", moderator=True
    )
    assert "mobility" in edited
    await start(bot)
    return ideas[0], ideas[1]


async def respond(bot: Harness, user_id: str, idea: int | None, sent_ms: int) -> Outcome | None:
    answers = () if idea is None else (f"idea-{idea}",)
    return await answer(bot, user_id, answers, sent_ms, verification=KNOWN.get(user_id))
