"""Personal reminders before a challenge's last deadline: to those who took part and still
have votes left, or have not answered the running poll; once; not to those who used their
votes and answered, nor to those who chose ``off``. The room's reminder stays."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.effects import Outcome, SendDirect, SendRoom
from handlers.programme import fire_due
from handlers.services.reminders import reminds_last_deadline
from storage import ScheduleKind
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
from tests.poll_support import T0, answer, start

DAVE = "@dave:city.example"
ROOM = "!mobility:city.example"
#: Within a day of --deadline=2026-03-05 (its end in Brussels: 23:00 UTC): reminders are due.
REMINDER_TIME = datetime(2026, 3, 5, 1, tzinfo=UTC)


async def fire(bot: Harness) -> list[Outcome]:
    async with bot.db.transaction():
        return await fire_due(
            bot.store,
            catalogue(),
            bot.settings,
            bot.dispatcher.programme,
            bot.clock(),
            words=bot.dispatcher.words,
        )


def reminded(outcomes: list[Outcome]) -> dict[str, str]:
    found: dict[str, str] = {}
    for outcome in outcomes:
        for effect in effects_of(outcome, SendDirect):
            assert effect.user_id not in found, "one reminder per person"
            found[effect.user_id] = text(effect.reply)
    return found


async def test_those_with_votes_left_are_reminded_once_those_who_used_them_not(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05 --budget=2")
    first = await submit(bot, ALICE, "Protected lanes")
    second = await submit(bot, ALICE, "Bike parking")
    third = await submit(bot, CAROL, "Night buses")
    for idea in (first, second):
        await bot.say(BOB, f"!vote {idea}")  # Bob used his two votes
    await bot.say(CAROL, f"!vote {first}")  # Carol has one left
    await bot.say(DAVE, f"!vote {third}")
    await bot.say(DAVE, "!meldingen uit")  # Dave has one left, and wants no messages
    await bot.say(CAROL, "!lang en")

    bot.clock.now = REMINDER_TIME
    outcomes = await fire(bot)

    sent = reminded(outcomes)
    assert sorted(sent) == [ALICE, CAROL]  # Alice, who wrote ideas and has two votes left
    assert (
        says("nl", "remind.votes_left", count=2, ideas=3, command="!ideeën mobility")
        in (sent[ALICE])
    )
    assert (
        says("en", "remind.votes_left", count=1, ideas=2, command="!ideas mobility")
        in (sent[CAROL])
    )
    assert says("en", "remind.footer", command="!notifications off") in sent[CAROL]
    assert says("nl", "remind.footer", command="!meldingen uit") in sent[ALICE]
    # The room is reminded as before.
    room = [text(e.reply) for o in outcomes for e in effects_of(o, SendRoom) if e.room_id == ROOM]
    assert len(room) == 1 and room[0].startswith("Herinnering")
    assert reminded(await fire(bot)) == {}  # once


async def test_those_who_have_not_answered_the_running_poll_are_reminded(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    first = await submit(bot, ALICE, "Protected lanes")
    await bot.say(MODERATOR, f"!accept {first}", moderator=True)
    await bot.say(BOB, f"!vote {first}")
    await bot.say(CAROL, f"!vote {first}")
    await start(bot)
    await answer(bot, CAROL, (f"idea-{first}",), T0 + 1)  # Carol voted and answered

    bot.clock.now = REMINDER_TIME
    sent = reminded(await fire(bot))

    assert sorted(sent) == [ALICE, BOB]
    assert says("nl", "remind.poll") in sent[BOB]
    assert "!ideeën" not in sent[BOB]  # without a budget, Bob's vote is all that was asked
    assert says("nl", "remind.poll") in sent[ALICE]
    assert says("nl", "remind.not_voted", ideas=1, command="!ideeën mobility") in sent[ALICE]


async def test_only_the_reminder_before_the_last_deadline_is_personal(bot: Harness) -> None:
    with_voting = await new_challenge(
        bot, options="--deadline=2026-03-05 --voting-deadline=2026-03-12"
    )
    assert not reminds_last_deadline(ScheduleKind.REMINDER_SUBMISSION, with_voting)
    assert reminds_last_deadline(ScheduleKind.REMINDER_VOTING, with_voting)
    await submit(bot, ALICE, "Protected lanes")
    bot.clock.now = REMINDER_TIME  # the submissions' reminder: for the room only
    assert reminded(await fire(bot)) == {}
    bot.clock.now = datetime(2026, 3, 12, 1, tzinfo=UTC)
    assert list(reminded(await fire(bot))) == [ALICE]
