"""Who takes part counts, in the final poll and toward hiding a reported idea, without a
homeserver: in a verified-only challenge only eligible people count, linked accounts (one
verified identity) once, the latest answer of any of them; a blocked person's answer does not
count; every report reaches the moderators, but only those of people who may take part hide
an idea, once per person. (What is kept is in !mydata and goes with !forget:
tests/handlers/commands/test_privacy.py.)"""

from __future__ import annotations

from pathlib import Path

from handlers.effects import Announce, SendDirect
from storage import PollResult
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATION_ROOM,
    MODERATOR,
    Harness,
    effects_of,
    new_challenge,
    open_harness,
    says,
    text,
)
from tests.poll_support import CITY, DAVE, T0, poll_among_two, respond, say, verifying

ERIN = "@erin:elsewhere.example"


async def standing(bot: Harness) -> PollResult:
    async with bot.db.snapshot():
        found = await bot.store.polls.latest_result(1)
    assert found is not None
    return found


def counts(result: PollResult) -> dict[int, int]:
    return {entry.idea_id: entry.count for entry in result.answers}


async def test_a_verified_only_poll_counts_eligible_people_once_each(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        first, second = await poll_among_two(bot)
        # Bob's later answer arrives first; Alice's earlier one (the same person) after it.
        assert await respond(bot, BOB, second, T0 + 5) is None
        assert await respond(bot, ALICE, first, T0 + 1) is None
        assert await respond(bot, DAVE, first, T0 + 2) is None
        # Not verified, elsewhere: taken in, not counted, and told why (once per poll).
        refused = await respond(bot, CAROL, first, T0 + 3)
        (told,) = effects_of(refused, SendDirect)
        assert told.user_id == CAROL
        reason = says("nl", "identity.not_verified", slug="mobility", server=CITY)
        assert text(told.reply) == says(
            "nl", "poll.answer_not_counted", slug="mobility", reason=reason
        )
        assert await respond(bot, CAROL, second, T0 + 4) is None  # not told twice
        assert effects_of(await respond(bot, ERIN, second, T0 + 3), SendDirect)

        running = await standing(bot)
        assert (running.voters, counts(running)) == (2, {first: 1, second: 1})

        # The person's latest answer counts, from whichever of their accounts it came.
        await respond(bot, ALICE, first, T0 + 9)
        assert counts(await standing(bot)) == {first: 2, second: 0}
        await respond(bot, BOB, None, T0 + 10)  # withdrawn, for the person
        assert ((await standing(bot)).voters, counts(await standing(bot))) == (
            1,
            {first: 1, second: 0},
        )

        bot.clock.advance(minutes=5)
        outcome = await bot.say(
            MODERATOR, "!poll end mobility", room=MODERATION_ROOM, direct=False, moderator=True
        )
        assert says("nl", "poll.result_header", title="Safer bike lanes", count=1) in text(
            outcome.reply
        )
        stats = await bot.ask(MODERATOR, "!stats mobility", moderator=True)
        assert says("nl", "stats.poll", count=1) in stats


async def test_a_poll_open_to_anyone_still_counts_linked_accounts_once(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        first, second = await poll_among_two(bot, "anyone")
        await respond(bot, ALICE, first, T0 + 1)
        await respond(bot, BOB, second, T0 + 2)
        await respond(bot, CAROL, first, T0 + 1)
        await respond(bot, ERIN, first, T0 + 1)
        running = await standing(bot)
        assert (running.voters, counts(running)) == (3, {first: 2, second: 1})


async def test_a_blocked_persons_answer_does_not_count(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        first, _second = await poll_among_two(bot)
        await bot.say(MODERATOR, f"!block {DAVE} spam", moderator=True)
        refused = await respond(bot, DAVE, first, T0 + 1)
        (told,) = effects_of(refused, SendDirect)
        assert says("nl", "error.blocked") in text(told.reply)
        await respond(bot, ALICE, first, T0 + 1)
        running = await standing(bot)
        assert (running.voters, counts(running)[first]) == (1, 1)
        # Unblocked, the answer they gave while blocked still does not count; a new one does.
        await bot.say(MODERATOR, f"!unblock {DAVE}", moderator=True)
        assert (await standing(bot)).voters == 1
        await respond(bot, DAVE, first, T0 + 2)
        assert (await standing(bot)).voters == 2


async def reported(bot: Harness, user_id: str, idea: int) -> list[str]:
    """What the moderators read of a report."""
    outcome = await say(bot, user_id, f"!report {idea} spam")
    assert text(outcome.reply) == says("nl", "report.thanks", id=f"#{idea}")
    return [text(effect.reply) for effect in effects_of(outcome, Announce)]


async def test_reports_of_people_who_may_not_take_part_reach_moderators_but_hide_nothing(
    tmp_path: Path,
) -> None:
    async with open_harness(tmp_path) as bot:
        verifying(bot)
        await new_challenge(bot, options="--deadline=2099-12-31 --eligibility=verified")
        idea = await submit_verified(bot)
        for throwaway in ("@x1:city.example", "@x2:elsewhere.example", CAROL):
            (announced,) = await reported(bot, throwaway, idea)
            assert throwaway in announced
            assert says("nl", "report.not_counted", slug="mobility") in announced
        assert not (await bot.idea(idea)).hidden
        async with bot.db.snapshot():
            assert await bot.store.reports.count(idea) == 3
            assert await bot.store.reports.people_counted(idea) == 0


async def test_reports_of_linked_accounts_count_once_toward_hiding(tmp_path: Path) -> None:
    async with open_harness(tmp_path, report_threshold=2) as bot:
        verifying(bot)
        await new_challenge(bot, options="--deadline=2099-12-31 --eligibility=verified")
        idea = await submit_verified(bot)
        await reported(bot, ALICE, idea)
        (announced,) = await reported(bot, BOB, idea)  # the same person
        assert says("nl", "report.linked") in announced
        assert not (await bot.idea(idea)).hidden
        hidden = await reported(bot, DAVE, idea)  # a second person
        assert (await bot.idea(idea)).hidden
        assert any(
            says(
                "nl",
                "report.hidden",
                id=f"#{idea}",
                count=2,
                unhide=f"!toon-weer {idea}",
                reject=f"!weiger {idea} <reden>",
            )
            in line
            for line in hidden
        )


async def test_in_a_challenge_open_to_anyone_every_person_counts(tmp_path: Path) -> None:
    async with open_harness(tmp_path, report_threshold=2) as bot:
        verifying(bot)
        await new_challenge(bot)
        idea = await submit_verified(bot)
        await reported(bot, CAROL, idea)
        await reported(bot, ERIN, idea)
        assert (await bot.idea(idea)).hidden


async def submit_verified(bot: Harness) -> int:
    """An idea by Dave (verified), so that it may be submitted in any challenge."""
    before = {idea.id for idea in await bot.store.ideas.by_author(DAVE)}
    await say(bot, DAVE, "!idea mobility Bike lanes")
    (added,) = {idea.id for idea in await bot.store.ideas.by_author(DAVE)} - before
    return added
