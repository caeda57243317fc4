"""Who takes part counts, in the final poll and toward hiding a reported idea, without a
homeserver: in a verified-only challenge only eligible people count, linked accounts (one
verified identity) once, the latest answer of any of them; a blocked person's answer does not
count; every report reaches the moderators, but only those of people who may take part hide
an idea, once per person; what is kept is in !mydata and goes with !forget."""

from __future__ import annotations

from pathlib import Path

from handlers.dispatch import Sender
from handlers.effects import Announce, Outcome, SendDirect
from storage import PollResult
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
    open_harness,
    says,
    submit,
    text,
)
from tests.poll_support import CITY, answer, start, verified, verifying

T0 = to_ms(START)
DAVE = "@dave:city.example"
ERIN = "@erin:elsewhere.example"
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
                unhide=f"!unhide {idea}",
                reject=f"!reject {idea} <reason>",
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


async def test_mydata_holds_what_was_kept_and_forget_erases_it(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        first, _second = await poll_among_two(bot)
        await respond(bot, ALICE, first, T0 + 1)
        await respond(bot, CAROL, first, T0 + 1)
        await say(bot, ALICE, f"!report {first} spam")
        await say(bot, CAROL, f"!report {first} spam")
        async with bot.db.snapshot():
            alice = await bot.store.personal_data.collect(ALICE)
            carol = await bot.store.personal_data.collect(CAROL)
        (response,) = alice["poll_responses"]
        assert (response["standing"], response["identity"], response["counted"]) == (
            "verified",
            "jana",
            True,
        )
        (report,) = alice["reports"]
        assert (report["standing"], report["identity"], report["counted"]) == (
            "verified",
            "jana",
            True,
        )
        (response,) = carol["poll_responses"]
        assert (response["standing"], response["counted"], response["told"]) == (
            "listed",
            False,
            True,
        )
        assert carol["reports"][0]["counted"] is False

        await say(bot, ALICE, "!forget")
        await say(bot, ALICE, "!forget confirm")
        for table in ("poll_responses", "reports"):
            left = await bot.db.fetch_value(f"SELECT COUNT(*) FROM {table} WHERE identity = 'jana'")
            assert left == 0, table


async def submit_verified(bot: Harness) -> int:
    """An idea by Dave (verified), so that it may be submitted in any challenge."""
    before = {idea.id for idea in await bot.store.ideas.by_author(DAVE)}
    await say(bot, DAVE, "!idea mobility Bike lanes")
    (added,) = {idea.id for idea in await bot.store.ideas.by_author(DAVE)} - before
    return added
