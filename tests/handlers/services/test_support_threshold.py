"""The support threshold (handlers/services/support_threshold.py): an idea reaching it is flagged
to the moderators and its author once, kept across a restart; !queue, the export and the
challenge's details show it."""

from __future__ import annotations

import json
from pathlib import Path

from handlers.effects import Announce, SendDirect, SendRoom
from handlers.export import export_data, to_csv
from handlers.incoming import ReactionAdded
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
    text,
)

ROOM = "!mobility:city.example"
DAVE = "@dave:city.example"
ERIN = "@erin:city.example"


def flags(outcome: object) -> list[str]:
    """The moderation room's messages about a reached threshold in an outcome."""
    return [
        text(announce.reply)
        for announce in effects_of(outcome, Announce)  # type: ignore[arg-type]
        if "steundrempel" in text(announce.reply)
    ]


async def test_an_idea_crossing_the_threshold_is_flagged_once_also_across_a_restart(
    tmp_path: Path,
) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot, options="--deadline=2099-12-31 --threshold=2")
        older = await submit(bot, CAROL, "Older idea, below the threshold")
        idea = await submit(bot, ALICE, "Car-free school streets")

        first = await bot.say(BOB, f"!vote {idea}")
        assert flags(first) == [] and effects_of(first, SendDirect) == []
        assert (await bot.idea(idea)).support_reached_at is None

        second = await bot.say(CAROL, f"!vote {idea}")
        (flag,) = flags(second)
        assert flag == says(
            "nl",
            "support.reached_moderators",
            id=f"#{idea}",
            title="Car-free school streets",
            slug="mobility",
            count=2,
            command=f"!toon {idea}",
        )
        (told,) = effects_of(second, SendDirect)
        assert told.user_id == ALICE
        assert text(told.reply) == says(
            "nl",
            "support.reached_author",
            id=f"#{idea}",
            title="Car-free school streets",
            slug="mobility",
            count=2,
        )
        reached = (await bot.idea(idea)).support_reached_at
        assert reached == bot.clock()

        # Down below the threshold and up again: no second flag.
        await bot.say(CAROL, f"!unvote {idea}")
        again = await bot.say(CAROL, f"!vote {idea}")
        assert flags(again) == [] and effects_of(again, SendDirect) == []

    # A restart: a new bot over the same database.
    async with open_harness(tmp_path) as bot:
        later = await bot.say(DAVE, f"!vote {idea}")
        assert flags(later) == [] and effects_of(later, SendDirect) == []
        assert (await bot.idea(idea)).support_reached_at == reached

        # !queue lists it first, though the other idea is older, and says since when.
        queue = await bot.ask(MODERATOR, "!queue", moderator=True)
        assert queue.index(f"#{idea} ") < queue.index(f"#{older} ")
        assert "steundrempel" in queue

        # The export says when it reached the threshold; the other idea did not.
        async with bot.store.db.transaction():
            data = await export_data(bot.store)
        (challenge,) = data["challenges"]
        assert challenge["support_threshold"] == 2
        by_id = {row["id"]: row for row in challenge["ideas"]}
        assert by_id[idea]["support_reached_at"] == reached.isoformat()
        assert by_id[older]["support_reached_at"] is None
        header, *rows = to_csv(data).splitlines()
        assert "support_reached_at" in header.split(",")
        assert any(reached.isoformat() in row for row in rows)
        json.dumps(data)  # still plain JSON


async def test_a_reaction_vote_crossing_the_threshold_flags_too(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=1")
    submitted = await bot.say(ALICE, "!idea mobility Bike parking")
    (card,) = effects_of(submitted, SendRoom)
    await bot.card_posted(card, "$card")

    added = await bot.event(BOB, ReactionAdded("$card", "$thumb"), room=ROOM)

    assert added is not None and added.reply is None
    assert len(flags(added)) == 1
    assert [d.user_id for d in effects_of(added, SendDirect)] == [ALICE]


async def test_lowering_the_threshold_flags_ideas_that_have_the_votes(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=5")
    idea = await submit(bot, ALICE, "Bike parking")
    other = await submit(bot, BOB, "Benches")
    for voter in (BOB, CAROL):
        await bot.say(voter, f"!vote {idea}")
    await bot.say(CAROL, f"!vote {other}")

    edited = await bot.say(MODERATOR, "!challenge edit mobility --threshold=2", moderator=True)

    (flag,) = flags(edited)
    assert f"#{idea}" in flag
    assert [d.user_id for d in effects_of(edited, SendDirect)] == [ALICE]
    assert (await bot.idea(other)).support_reached_at is None
    # Raised again and lowered again: the idea stays marked, and is not flagged twice.
    await bot.say(MODERATOR, "!challenge edit mobility --threshold=9", moderator=True)
    lowered = await bot.say(MODERATOR, "!challenge edit mobility --threshold=2", moderator=True)
    assert flags(lowered) == []


async def test_votes_moved_from_a_duplicate_can_reach_the_threshold(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=2")
    original = await submit(bot, ALICE, "Bike parking")
    copy = await submit(bot, BOB, "Bicycle parking")
    await bot.say(CAROL, f"!vote {original}")
    await bot.say(DAVE, f"!vote {copy}")

    merged = await bot.say(MODERATOR, f"!duplicate {copy} {original}", moderator=True)

    (flag,) = flags(merged)
    assert f"#{original}" in flag
    assert ALICE in [d.user_id for d in effects_of(merged, SendDirect)]


async def test_the_challenge_shows_its_threshold(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=50")
    assert says("nl", "challenge.threshold", count=50) in await bot.ask(ERIN, "!challenge mobility")
    await new_challenge(bot, "parks")
    assert "steundrempel" not in await bot.ask(ERIN, "!challenge parks")
