"""Reactions, redactions and cards as an attacker uses them: someone else's redaction, a flood
of 👍, the same refusal asked for again and again, an idea shown over and over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.dispatch import Sender
from handlers.effects import SendDirect, SendRoom
from handlers.services.voting import unvote_by_redaction, vote_by_reaction
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
)

ROOM = "!mobility:city.example"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        yield harness


async def _idea_with_card(bot: Harness, card: str = "$card") -> int:
    await new_challenge(bot)
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes")
    (posted,) = effects_of(outcome, SendRoom)
    assert posted.card is not None
    await bot.card_posted(posted, card)
    return posted.card


async def test_only_the_voter_takes_a_vote_back_by_redaction(bot: Harness) -> None:
    idea = await _idea_with_card(bot)
    reaction = await bot.react(BOB, "$card", ROOM)

    # A room admin, a moderator, anyone else: their redaction of Bob's 👍 changes nothing.
    assert await bot.redact(CAROL, reaction, ROOM) is None
    assert await bot.store.votes.has_voted(idea, BOB)
    moderator = Sender(user_id=MODERATOR, room_id=ROOM, is_direct=False, is_moderator=True)
    async with bot.store.db.transaction():
        moderated = await bot.dispatcher.run(
            moderator, lambda ctx: unvote_by_redaction(ctx, reaction)
        )
    assert moderated is None
    assert await bot.store.votes.count(idea) == 1
    # Bob's own !unvote still takes it back.
    assert await bot.ask(BOB, f"!unvote {idea}") == says(
        "nl", "vote.removed", id=f"#{idea}", count=0
    )


async def test_reactions_count_against_the_limit_of_commands(tmp_path: Path) -> None:
    async with open_harness(tmp_path, commands_per_minute=5) as bot:
        ideas = [await _idea_with_card(bot)]
        for n, author in enumerate((CAROL, CAROL, MODERATOR, MODERATOR, MODERATOR)):
            other = await submit(bot, author, f"Idea {n}")
            async with bot.store.db.transaction():
                await bot.store.cards.add(f"$card{n}", other, ROOM)
            ideas.append(other)
        # Five 👍 on five cards use up Bob's five actions a minute; the sixth is ignored.
        for n in range(6):
            await bot.react(BOB, f"$card{n}" if n < 5 else "$card", ROOM)
        voted = [await bot.store.votes.has_voted(idea, BOB) for idea in ideas]
        assert voted == [False, True, True, True, True, True]
        # So is a redaction: Bob's 👍 on the first of them stays.
        assert await bot.redact(BOB, "$reaction1", ROOM) is None
        assert await bot.store.votes.has_voted(ideas[1], BOB)
        # A command after the flood of reactions is told why it is refused, not ignored.
        assert await bot.ask(BOB, "!challenges") == says("nl", "limit.commands", count=5)
        # Moderators are not limited, their actions neither.
        moderator = Sender(user_id=MODERATOR, room_id=ROOM, is_direct=False, is_moderator=True)
        cards = ["$card", *(f"$card{n}" for n in range(5))]
        for n, card in enumerate(cards):  # after the moderator's own three !idea, too
            async with bot.store.db.transaction():
                await bot.dispatcher.run(
                    moderator, lambda ctx, card=card, n=n: vote_by_reaction(ctx, card, f"$m{n}")
                )
        assert [await bot.store.votes.has_voted(idea, MODERATOR) for idea in ideas] == [True] * 6


async def test_a_refused_thumb_is_explained_once_per_idea(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        idea = await _idea_with_card(bot)
        await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
        told: list[SendDirect] = []
        for n in range(10):
            outcome = await bot.run(
                BOB, lambda ctx, n=n: vote_by_reaction(ctx, "$card", f"$storm{n}"), room=ROOM
            )
            told.extend(effects_of(outcome, SendDirect) if outcome else [])
        assert len(told) == 1 and told[0].user_id == BOB
        # Someone else is told too, once.
        outcome = await bot.run(CAROL, lambda ctx: vote_by_reaction(ctx, "$card", "$c"), room=ROOM)
        assert [effect.user_id for effect in effects_of(outcome, SendDirect)] == [CAROL]
        assert await bot.store.votes.count(idea) == 0


async def test_explanations_are_a_few_a_minute_across_ideas(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await _idea_with_card(bot)
        cards = ["$card"]
        for n in range(6):
            other = await submit(bot, ALICE, f"Idea {n}")
            async with bot.store.db.transaction():
                await bot.store.cards.add(f"$card{n}", other, ROOM)
            cards.append(f"$card{n}")
        await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
        told = 0
        for n, card in enumerate(cards):
            outcome = await bot.run(
                BOB, lambda ctx, card=card, n=n: vote_by_reaction(ctx, card, f"$r{n}"), room=ROOM
            )
            told += len(effects_of(outcome, SendDirect)) if outcome else 0
        assert told == 3  # of seven ideas, in one minute


async def test_the_live_card_is_the_latest_in_the_room(bot: Harness) -> None:
    idea = await _idea_with_card(bot, "$first")
    async with bot.store.db.transaction():
        for n in range(8):
            await bot.store.cards.add(f"$shown{n}", idea, ROOM)
        await bot.store.cards.add("$elsewhere", idea, "!dm:city.example")
        assert await bot.store.cards.live_in_room(idea, ROOM) == "$shown7"
        assert await bot.store.cards.live_in_room(idea, "!other:city.example") is None
        # Every card still takes a 👍.
        assert await bot.store.cards.idea_for("$first") == idea
    await bot.react(BOB, "$first", ROOM)
    assert await bot.store.votes.has_voted(idea, BOB)
