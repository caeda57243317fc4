"""Any interleaving of votes, reactions, triage and withdrawals gives the counts of a simple model."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    new_challenge,
    open_harness,
    submit,
)

PEOPLE = (ALICE, BOB, CAROL, MODERATOR)
AUTHORS = (ALICE, BOB, CAROL)
VOTABLE = {"new", "needs_info", "accepted", "implemented"}
ROOM = "!mobility:city.example"


@dataclass
class Model:
    """The rules, written as plainly as possible."""

    status: dict[int, str]
    votes: set[tuple[int, str]] = field(default_factory=set)
    reactions: dict[str, tuple[int, str]] = field(default_factory=dict)

    def vote(self, idea: int, voter: str) -> None:
        if self.status[idea] in VOTABLE:
            self.votes.add((idea, voter))

    def unvote(self, idea: int, voter: str) -> None:
        self.votes.discard((idea, voter))

    def react(self, reaction: str, idea: int, voter: str) -> None:
        if self.status[idea] in VOTABLE:
            self.reactions[reaction] = (idea, voter)
            self.votes.add((idea, voter))

    def unreact(self, reaction: str) -> None:
        if reaction in self.reactions:
            self.votes.discard(self.reactions.pop(reaction))

    def duplicate(self, idea: int, original: int) -> None:
        if idea == original or self.status[original] not in VOTABLE:
            return
        if self.status[idea] not in {"new", "needs_info", "accepted", "rejected"}:
            return
        self.status[idea] = "duplicate"
        moved = {voter for (target, voter) in self.votes if target == idea}
        self.votes = {(target, voter) for (target, voter) in self.votes if target != idea}
        self.votes |= {(original, voter) for voter in moved}
        self.reactions = {
            key: (original if target == idea else target, voter)
            for key, (target, voter) in self.reactions.items()
        }

    def decide(self, idea: int, status: str, allowed: set[str]) -> None:
        if self.status[idea] in allowed:
            self.status[idea] = status

    def count(self, idea: int) -> int:
        return sum(1 for target, _voter in self.votes if target == idea)


IDEAS = st.integers(min_value=0, max_value=2)
OPERATION = st.one_of(
    st.tuples(st.just("vote"), st.sampled_from(PEOPLE), IDEAS),
    st.tuples(st.just("unvote"), st.sampled_from(PEOPLE), IDEAS),
    st.tuples(st.just("react"), st.sampled_from(PEOPLE), IDEAS),
    st.tuples(st.just("unreact"), st.integers(min_value=0, max_value=20), st.just(0)),
    st.tuples(st.just("duplicate"), IDEAS, IDEAS),
    st.tuples(st.just("withdraw"), IDEAS, st.just(0)),
    st.tuples(st.just("reject"), IDEAS, st.just(0)),
    st.tuples(st.just("accept"), IDEAS, st.just(0)),
)


async def play(operations: list[tuple[str, object, object]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with open_harness(Path(directory)) as harness:
            await new_challenge(harness, room_id=ROOM)
            ideas = [await submit(harness, author, f"Idea by {author}") for author in AUTHORS]
            async with harness.db.transaction():
                for idea in ideas:
                    await harness.store.cards.add(f"$card{idea}", idea, ROOM)
            model = Model(status=dict.fromkeys(ideas, "new"))
            reactions: list[str] = []
            for operation in operations:
                await apply(harness, model, reactions, ideas, operation)
                for idea in ideas:
                    stored = await harness.idea(idea)
                    assert stored.status.value == model.status[idea], operation
                    assert stored.votes == model.count(idea), operation


async def apply(
    harness: Harness,
    model: Model,
    reactions: list[str],
    ideas: list[int],
    operation: tuple[str, object, object],
) -> None:
    kind, first, second = operation
    if kind in ("vote", "unvote", "react"):
        assert isinstance(first, str) and isinstance(second, int)
        idea = ideas[second]
        if kind == "react":
            reaction = await harness.react(first, f"$card{idea}", ROOM)
            reactions.append(reaction)
            model.react(reaction, idea, first)
        else:
            await harness.say(first, f"!{kind} {idea}")
            (model.vote if kind == "vote" else model.unvote)(idea, first)
    elif kind == "unreact":
        assert isinstance(first, int)
        if reactions:
            reaction = reactions[first % len(reactions)]
            voter = model.reactions.get(reaction, (0, ALICE))[1]
            await harness.redact(voter, reaction, ROOM)
            model.unreact(reaction)
    elif kind == "duplicate":
        assert isinstance(first, int) and isinstance(second, int)
        await harness.say(MODERATOR, f"!duplicate {ideas[first]} {ideas[second]}", moderator=True)
        model.duplicate(ideas[first], ideas[second])
    elif kind == "withdraw":
        assert isinstance(first, int)
        idea = ideas[first]
        await harness.say(AUTHORS[first], f"!withdraw {idea}")
        model.decide(idea, "withdrawn", {"new", "needs_info", "accepted"})
    elif kind == "reject":
        assert isinstance(first, int)
        await harness.say(MODERATOR, f"!reject {ideas[first]} Not now", moderator=True)
        model.decide(ideas[first], "rejected", {"new", "needs_info", "accepted"})
    elif kind == "accept":
        assert isinstance(first, int)
        await harness.say(MODERATOR, f"!accept {ideas[first]}", moderator=True)
        model.decide(ideas[first], "accepted", {"new", "needs_info", "rejected"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATION, max_size=25))
def test_any_interleaving_matches_the_model(operations: list[tuple[str, object, object]]) -> None:
    asyncio.run(play(operations))
