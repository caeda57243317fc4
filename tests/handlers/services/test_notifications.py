"""Telling followers as they chose: at once, in a daily or weekly digest at the programme's
hour (each once, none without changes), or not at all; one message per person per event; the
voters of a merged idea told where their vote went. The clock is the test's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.effects import Outcome, SendDirect
from handlers.programme import fire_due
from handlers.services.notifications import Notifier, last_digest_at
from handlers.settings import ProgrammeSettings
from storage import Frequency
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    catalogue,
    effects_of,
    new_challenge,
    says,
    submit,
    text,
)
from tests.poll_support import POLL_EVENT, T0, answer

DAVE = "@dave:city.example"
#: 18:00 in Brussels on the harness's first day (Monday 2 March 2026, winter time).
SIX_PM = datetime(2026, 3, 2, 17, tzinfo=UTC)


async def set_start_event(bot: Harness) -> None:
    """The poll's start event, as the bot records it once sent."""
    async with bot.db.transaction():
        poll = await bot.store.polls.running(1)
        assert poll is not None
        await bot.store.polls.set_start_event(poll.id, POLL_EVENT)


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


def test_digests_are_due_at_the_hour_in_the_programmes_zone() -> None:
    programme = ProgrammeSettings(digest_hour=18, digest_weekday=5)  # Friday
    before = datetime(2026, 3, 2, 16, 59, tzinfo=UTC)
    assert last_digest_at(programme, Frequency.DAILY, before) == SIX_PM - timedelta(days=1)
    assert last_digest_at(programme, Frequency.DAILY, SIX_PM) == SIX_PM
    # Summer time: 18:00 in Brussels is 16:00 UTC.
    july = datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    assert last_digest_at(programme, Frequency.DAILY, july) == datetime(2026, 7, 1, 16, tzinfo=UTC)
    assert last_digest_at(programme, Frequency.WEEKLY, SIX_PM) == datetime(
        2026, 2, 27, 17, tzinfo=UTC
    )


async def test_a_follower_is_told_of_an_acceptance_at_once_another_in_a_daily_digest_once(
    bot: Harness,
) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")
    await bot.say(BOB, f"!vote {idea}")  # voting follows the idea; daily by default
    await bot.say(CAROL, f"!volg {idea}")
    await bot.say(CAROL, "!meldingen direct")
    await bot.say(DAVE, "!notifications off")
    await bot.say(DAVE, f"!follow {idea}")
    assert await digests(bot) == {}  # the first round only notes the time

    accepted = await bot.say(MODERATOR, f"!accept {idea}", moderator=True)

    (carol,) = told(accepted, CAROL)
    assert says("nl", "notify.direct_header") in carol
    assert (
        says("nl", "notify.status", id=f"#{idea}", title="Protected lanes", status="aanvaard")
        in carol
    )
    assert says("nl", "notify.next_vote", command="!ideeën mobility") in carol
    # The author hears it once, from the decision; Bob waits for his digest; Dave chose none.
    assert len(told(accepted, ALICE)) == 1 and "notify" not in told(accepted, ALICE)[0]
    assert told(accepted, BOB) == [] and told(accepted, DAVE) == []
    assert await digests(bot) == {}  # not before the hour

    bot.clock.now = SIX_PM
    sent = await digests(bot)
    assert list(sent) == [BOB]
    (digest,) = sent[BOB]
    assert digest.startswith(says("nl", "notify.digest_header"))
    assert says("nl", "notify.challenge", title="Safer bike lanes", slug="mobility") in digest
    assert f"#{idea}" in digest and "aanvaard" in digest
    assert says("nl", "notify.footer", command="!meldingen") in digest
    assert await digests(bot) == {}  # once

    bot.clock.advance(days=1)  # a day without changes: no digest at all
    assert await digests(bot) == {}


async def test_a_digest_is_sent_once_across_a_restart(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Benches")
    await bot.say(BOB, f"!vote {idea}")
    await digests(bot)
    await bot.say(MODERATOR, f"!reject {idea} Too far", moderator=True)
    bot.clock.now = SIX_PM + timedelta(hours=3)  # the bot was down at 18:00: sent at its start
    first = await digests(bot)
    assert list(first) == [BOB]
    # A new notifier over the same database (a restart): nothing is sent again.
    assert await digests(bot) == {}


async def test_a_weekly_digest_waits_for_its_day(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Trees")
    await bot.say(BOB, f"!vote {idea}")
    await bot.say(BOB, "!meldingen wekelijks")
    await digests(bot)
    bot.clock.now = SIX_PM + timedelta(hours=1)  # Monday, after the hour: a week begins
    assert await digests(bot) == {}  # nothing had changed
    await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    bot.clock.now = SIX_PM + timedelta(days=1)  # Tuesday: others' daily digest, not Bob's
    assert await digests(bot) == {}
    bot.clock.now = SIX_PM + timedelta(days=7)  # Monday, the weekly day by default
    assert list(await digests(bot)) == [BOB]


async def test_voters_of_a_merged_idea_are_told_once_where_their_vote_went(bot: Harness) -> None:
    await new_challenge(bot)
    original = await submit(bot, ALICE, "Bike parking")
    copy = await submit(bot, CAROL, "More bike racks")
    for voter in (BOB, DAVE):
        await bot.say(voter, "!meldingen direct")
        await bot.say(voter, f"!vote {copy}")
    await bot.say(DAVE, f"!vote {original}")

    merged = await bot.say(MODERATOR, f"!duplicate {copy} {original}", moderator=True)

    assert told(merged, BOB) == [
        says("nl", "notify.direct_header")
        + "\n"
        + says("nl", "notify.challenge", title="Safer bike lanes", slug="mobility")
        + "\n"
        + says(
            "nl",
            "notify.vote_moved",
            id=f"#{copy}",
            title="More bike racks",
            original=f"#{original}",
        )
        + "\n"
        + says("nl", "notify.next_vote", command="!ideeën mobility")
        + "\n"
        + says("nl", "notify.footer", command="!meldingen")
    ]
    (dave,) = told(merged, DAVE)
    assert (
        says(
            "nl",
            "notify.vote_once",
            id=f"#{copy}",
            title="More bike racks",
            original=f"#{original}",
        )
        in dave
    )
    assert "vote_moved" not in dave and "ging mee" not in dave
    # The copy's author hears it from the decision only; the votes counted once each.
    assert len(told(merged, CAROL)) == 1
    assert await bot.store.votes.count(original) == 2


async def test_a_merge_waits_in_the_daily_digest_of_a_voter_who_chose_it(bot: Harness) -> None:
    await new_challenge(bot)
    original = await submit(bot, ALICE, "Bike parking")
    copy = await submit(bot, CAROL, "More bike racks")
    await bot.say(BOB, f"!vote {copy}")
    await digests(bot)
    merged = await bot.say(MODERATOR, f"!duplicate {copy} {original}", moderator=True)
    assert told(merged, BOB) == []
    bot.clock.now = SIX_PM
    (digest,) = (await digests(bot))[BOB]
    moved = says(
        "nl", "notify.vote_moved", id=f"#{copy}", title="More bike racks", original=f"#{original}"
    )
    assert moved in digest
    assert digest.count("#") == digest.count(f"#{copy}") + digest.count(f"#{original}")


async def test_challenge_followers_hear_of_new_ideas_in_their_language(bot: Harness) -> None:
    await new_challenge(bot)
    await bot.say(BOB, "!lang en")
    await bot.say(BOB, "!follow mobility")
    await bot.say(BOB, "!notifications direct")
    outcome = await bot.say(ALICE, "!idea mobility Night buses")
    (bob,) = told(outcome, BOB)
    assert says("en", "notify.new_idea", id="#1", title="Night buses") in bob
    assert says("en", "notify.next_vote", command="!ideas mobility") in bob
    # Its author is not told of their own idea.
    mine = await bot.say(BOB, "!idea mobility Day buses")
    assert told(mine, BOB) == []


async def test_a_premoderated_idea_is_new_to_followers_once_let_through(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --premoderated")
    await bot.say(BOB, "!volg mobility")
    await bot.say(BOB, "!meldingen direct")
    submitted = await bot.say(ALICE, "!idea mobility Quiet streets")
    assert told(submitted, BOB) == []  # nobody but the moderators sees it yet
    accepted = await bot.say(MODERATOR, "!accept 1", moderator=True)
    (bob,) = told(accepted, BOB)
    assert says("nl", "notify.new_idea", id="#1", title="Quiet streets") in bob


async def test_a_poll_is_told_to_followers_and_its_end_with_the_closing_in_one_message(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    first = await submit(bot, ALICE, "Protected lanes")
    second = await submit(bot, ALICE, "Bike parking")
    for idea in (first, second):
        await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    for person in (BOB, CAROL):
        await bot.say(person, "!meldingen direct")
    await bot.say(BOB, "!volg mobility")
    await bot.say(CAROL, f"!vote {second}")
    started = await bot.say(MODERATOR, "!poll mobility", moderator=True)
    assert told(started, BOB) == [
        "\n".join(
            [
                says("nl", "notify.direct_header"),
                says("nl", "notify.challenge", title="Safer bike lanes", slug="mobility"),
                says("nl", "notify.poll_started"),
                says("nl", "notify.next_vote", command="!ideeën mobility"),
                says("nl", "notify.footer", command="!meldingen"),
            ]
        )
    ]
    assert told(started, CAROL) == []  # Carol follows an idea, not the challenge
    await set_start_event(bot)
    await answer(bot, DAVE, (f"idea-{first}",), T0 + 1)

    bot.clock.now = datetime(2026, 3, 6, tzinfo=UTC)  # past the deadline: it closes, poll ends
    async with bot.db.transaction():
        outcomes = await fire_due(
            bot.store,
            catalogue(),
            bot.settings,
            bot.dispatcher.programme,
            bot.clock(),
            words=bot.dispatcher.words,
        )
    to_bob = [t for outcome in outcomes for t in told(outcome, BOB)]
    to_carol = [t for outcome in outcomes for t in told(outcome, CAROL)]
    assert len(to_bob) == 1 and len(to_carol) == 1  # one message each for the one event
    assert says("nl", "notify.closed") in to_bob[0]
    assert says("nl", "notify.poll_ended") in to_bob[0]
    place = says("nl", "notify.poll_place", id=f"#{second}", title="Bike parking", place=2)
    assert place in to_carol[0]
    assert says("nl", "notify.next_closed", command="!uitdaging mobility") in to_carol[0]
