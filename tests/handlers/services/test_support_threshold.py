"""The support threshold (handlers/services/support_threshold.py): an idea reaching it is flagged
to the moderators and its author once, kept across a restart, and its followers are told as they
chose; !queue, the export and the challenge's details show it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from handlers.accounts import FORGOTTEN, discord_account
from handlers.effects import Announce, Outcome, SendDirect, SendRoom
from handlers.export import export_data, to_csv
from handlers.incoming import ReactionAdded
from handlers.services.notifications import Notifier
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
FRANK = "@frank:city.example"
DISCORD_AUTHOR = discord_account(81234567890123456)
#: 18:00 in Brussels on the harness's first day: the hour of the daily digests.
SIX_PM = datetime(2026, 3, 2, 17, tzinfo=UTC)


def flags(outcome: object) -> list[str]:
    """The moderation room's messages about a reached threshold in an outcome."""
    return [
        text(announce.reply)
        for announce in effects_of(outcome, Announce)  # type: ignore[arg-type]
        if "steundrempel" in text(announce.reply)
    ]


def told(outcome: Outcome | None, user_id: str) -> list[str]:
    """The direct messages an outcome sends to one person, as text."""
    return [text(e.reply) for e in effects_of(outcome, SendDirect) if e.user_id == user_id]


async def digests(bot: Harness) -> dict[str, list[str]]:
    """One round of digests, as the sweeper runs it (in one transaction): person -> texts."""
    async with bot.db.transaction():
        outcomes = await Notifier.of(bot.dispatcher).digests(bot.clock())
    found: dict[str, list[str]] = {}
    for outcome in outcomes:
        for effect in effects_of(outcome, SendDirect):
            found.setdefault(effect.user_id, []).append(text(effect.reply))
    return found


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


async def test_followers_are_told_as_they_chose_and_the_author_once(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=2")
    idea = await submit(bot, ALICE, "Car-free school streets")
    await bot.say(ALICE, "!meldingen direct")  # the author also follows the idea
    for person, frequency in ((CAROL, "direct"), (DAVE, "dagelijks"), (ERIN, "uit")):
        await bot.say(person, f"!volg {idea}")
        await bot.say(person, f"!meldingen {frequency}")
    assert await digests(bot) == {}  # the first round only notes the time
    await bot.say(BOB, f"!vote {idea}")

    reached = await bot.say(FRANK, f"!vote {idea}")

    line = says("nl", "notify.support_reached", id=f"#{idea}", title="Car-free school streets")
    (carol,) = told(reached, CAROL)
    assert carol.startswith(says("nl", "notify.direct_header")) and line in carol
    # The author: their own message once, no follower's notice beside it.
    (alice,) = told(reached, ALICE)
    assert "notify" not in alice and line not in alice
    assert "steundrempel" in alice
    assert told(reached, DAVE) == [] and told(reached, ERIN) == []
    # Bob and Frank follow what they voted for, daily by default: their digest, like Dave's.
    assert {d.user_id for d in effects_of(reached, SendDirect)} == {ALICE, CAROL}

    bot.clock.now = SIX_PM
    sent = await digests(bot)
    assert sorted(sent) == sorted([BOB, DAVE, FRANK])  # Erin chose none, Alice was told
    (dave,) = sent[DAVE]
    assert dave.startswith(says("nl", "notify.digest_header")) and line in dave
    assert await digests(bot) == {}  # once


async def test_followers_read_it_in_their_own_language(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=1")
    idea = await submit(bot, ALICE, "Bike parking")
    await bot.say(CAROL, "!language en")
    await bot.say(CAROL, f"!follow {idea}")
    await bot.say(CAROL, "!notifications direct")

    reached = await bot.say(BOB, f"!vote {idea}")

    (carol,) = told(reached, CAROL)
    assert says("en", "notify.support_reached", id=f"#{idea}", title="Bike parking") in carol


async def test_a_discord_author_is_told(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=1")
    idea = await submit(bot, DISCORD_AUTHOR, "Benches by the river")

    reached = await bot.say(BOB, f"!vote {idea}")

    (told_author,) = told(reached, DISCORD_AUTHOR)
    assert told_author == says(
        "nl",
        "support.reached_author",
        id=f"#{idea}",
        title="Benches by the river",
        slug="mobility",
        count=1,
    )


async def test_a_forgotten_author_is_not_told_but_followers_are(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --threshold=1")
    idea = await submit(bot, ALICE, "Benches by the river")
    await bot.say(CAROL, f"!volg {idea}")
    await bot.say(CAROL, "!meldingen direct")
    await bot.ask(ALICE, "!forget")
    await bot.ask(ALICE, "!forget confirm")
    assert (await bot.idea(idea)).author == FORGOTTEN

    reached = await bot.say(BOB, f"!vote {idea}")

    assert len(flags(reached)) == 1
    assert [d.user_id for d in effects_of(reached, SendDirect)] == [CAROL]
