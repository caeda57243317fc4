"""Events declared on routers like commands, run by the dispatcher; a message read once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers import build_registry
from handlers.context import Context
from handlers.dispatch import Sender
from handlers.effects import Outcome
from handlers.incoming import PollAnswered, PollEnded, ReactionAdded, ReactionRemoved, Undecryptable
from handlers.registry import CommandRegistry, CommandRouter
from tests.handler_support import ALICE, MODERATOR, Harness, direct_room, new_challenge, says, text


def test_every_kind_of_event_has_one_handler_and_only_the_bots_poll_end_is_not_limited() -> None:
    registry = build_registry()
    kinds = (ReactionAdded, ReactionRemoved, PollAnswered, PollEnded, Undecryptable)
    routes = {kind: registry.event_route(kind) for kind in kinds}
    assert all(route is not None for route in routes.values())
    limited = {kind for kind, route in routes.items() if route is not None and route.limited}
    assert limited == {ReactionAdded, ReactionRemoved, PollAnswered, Undecryptable}
    # A 👍 votes and a poll answer counts: both depend on who the person is.
    identified = {kind for kind, route in routes.items() if route and route.needs_identity}
    assert identified == {ReactionAdded, PollAnswered}


def test_an_event_handled_twice_is_refused() -> None:
    first, second = CommandRouter(), CommandRouter()

    async def ignore(_ctx: Context, _event: Undecryptable) -> Outcome | None:
        return None

    first.on(Undecryptable)(ignore)
    second.on(Undecryptable)(ignore)
    registry = CommandRegistry()
    registry.include(first)
    with pytest.raises(ValueError, match="Undecryptable"):
        registry.include(second)


async def test_an_undecryptable_message_is_explained_through_its_router(
    unthrottled_bot: Harness,
) -> None:
    who = Sender(user_id=ALICE, room_id=direct_room(ALICE), is_direct=True, is_moderator=False)
    async with unthrottled_bot.store.db.transaction():
        outcome = await unthrottled_bot.dispatcher.handle_event(who, Undecryptable())
    assert outcome is not None
    assert text(outcome.reply) == says("nl", "e2e.undecryptable")


async def test_a_poll_end_for_no_poll_of_the_bots_changes_nothing(unthrottled_bot: Harness) -> None:
    who = Sender(user_id=MODERATOR, room_id="!x:city.example", is_direct=False, is_moderator=True)
    async with unthrottled_bot.store.db.transaction():
        ended = PollEnded("$no-such-poll", datetime(2026, 3, 2, tzinfo=UTC))
        assert await unthrottled_bot.dispatcher.handle_event(who, ended) is None


async def test_a_message_is_prepared_once_and_says_whether_it_needs_the_identity(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    dm = direct_room(ALICE)
    alice = Sender(user_id=ALICE, room_id=dm, is_direct=True, is_moderator=False)
    vote = await unthrottled_bot.dispatcher.prepare(alice, "!vote 1")
    assert vote.needs_identity and vote.resolved is not None
    assert vote.resolved[0].name == "vote"
    assert not (await unthrottled_bot.dispatcher.prepare(alice, "!help")).needs_identity
    unknown = await unthrottled_bot.dispatcher.prepare(alice, "!nonsense")
    assert unknown.text is not None and unknown.resolved is None
    # In an open dialogue, a message without the prefix is its answer: it may end in a
    # submission, which depends on who the person is.
    await unthrottled_bot.say(ALICE, "!idea")
    answer = await unthrottled_bot.dispatcher.prepare(alice, "1")
    assert answer.needs_identity
    async with unthrottled_bot.store.db.transaction():
        handled = await unthrottled_bot.dispatcher.handle_message(alice, answer)
    assert handled is not None and handled.reply is not None
