"""The guided submission (``!idea`` alone) and the similar-idea check, at handler level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers.effects import Announce, CardChanged, SendRoom
from handlers.i18n import Moment
from handlers.services.guided_submission import similar_titles
from storage import Dialogue, IdeaStatus
from tests.handler_support import (
    ALICE,
    BOB,
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

ROOM = "!mobility:city.example"
DM = direct_room(ALICE)
LANES = "Safer bike lanes"  # the title of the "mobility" challenge

START_LINE = says("nl", "dialogue.start", cancel="!annuleer")
ASK_TITLE = says("nl", "dialogue.ask_title", challenge=LANES, minimum=3, limit=200)
ASK_DESCRIPTION = says("nl", "dialogue.ask_description", limit=5000)


async def step_of(bot: Harness, user: str = ALICE, room: str = DM) -> str | None:
    """Where the person's dialogue in the room stands; None when there is none."""
    found = await bot.store.dialogues.get(user, room)
    return None if found is None else found.step


def challenge_list(*challenges: tuple[str, str]) -> list[str]:
    return [says("nl", "dialogue.ask_challenge")] + [
        says("nl", "dialogue.challenge_line", number=number, title=title, slug=slug)
        for number, (slug, title) in enumerate(challenges, start=1)
    ]


def similar_list(*ideas: tuple[int, str, int]) -> list[str]:
    return [
        says("nl", "dialogue.similar_header"),
        *(
            says("nl", "dialogue.similar_line", number=number, id=f"#{idea}", title=title, count=n)
            for number, (idea, title, n) in enumerate(ideas, start=1)
        ),
        says("nl", "dialogue.ask_similar"),
    ]


def summary(title: str, description: str | None) -> list[str]:
    lines = [
        says("nl", "dialogue.summary"),
        says("nl", "dialogue.summary_challenge", title=LANES, slug="mobility"),
        says("nl", "dialogue.summary_title", title=title),
    ]
    if description:
        lines += [says("nl", "dialogue.summary_description"), *description.splitlines()]
    else:
        lines.append(says("nl", "dialogue.summary_no_description"))
    return [*lines, says("nl", "dialogue.ask_confirm")]


# --- the whole way -----------------------------------------------------------------------------


async def test_the_whole_dialogue_in_a_direct_chat_without_prefixes(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    await new_challenge(unthrottled_bot, "parks", title="Greener parks")

    started = await unthrottled_bot.ask(ALICE, "idee")
    assert started.splitlines() == [
        START_LINE,
        *challenge_list(("mobility", LANES), ("parks", "Greener parks")),
    ]
    assert await step_of(unthrottled_bot) == "challenge"

    assert await unthrottled_bot.ask(ALICE, "1") == ASK_TITLE
    assert await step_of(unthrottled_bot) == "title"

    assert (
        await unthrottled_bot.ask(ALICE, "Protected bike lanes on the Coupure") == ASK_DESCRIPTION
    )
    assert await step_of(unthrottled_bot) == "description"

    description = "Kerbs between bikes and cars.\nFrom the station to the Coupure."
    assert (await unthrottled_bot.ask(ALICE, description)).splitlines() == summary(
        "Protected bike lanes on the Coupure", description
    )
    assert await step_of(unthrottled_bot) == "confirm"
    assert await unthrottled_bot.store.ideas.by_author(ALICE) == []  # nothing before the yes

    outcome = await unthrottled_bot.say(ALICE, "ja")

    (idea,) = await unthrottled_bot.store.ideas.by_author(ALICE)
    assert (idea.challenge_slug, idea.title, idea.description, idea.status) == (
        "mobility",
        "Protected bike lanes on the Coupure",
        description,
        IdeaStatus.NEW,
    )
    # The same path as !idea: the thanks, the announcement, the card in the challenge's room.
    assert text(outcome.reply) == says(
        "nl", "idea.submitted", title=idea.title, slug="mobility", id=f"#{idea.id}"
    )
    (announce,) = effects_of(outcome, Announce)
    assert f"#{idea.id}" in text(announce.reply) and ALICE in text(announce.reply)
    (card,) = effects_of(outcome, SendRoom)
    assert (card.room_id, card.card) == (ROOM, idea.id)
    assert await step_of(unthrottled_bot) is None


async def test_the_dialogue_inside_a_challenge_room_skips_the_challenge(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    await new_challenge(unthrottled_bot, "parks", title="Greener parks")

    started = await unthrottled_bot.ask(ALICE, "!idea", room=ROOM, direct=False)
    assert started.splitlines() == [START_LINE, ASK_TITLE]
    assert await step_of(unthrottled_bot, room=ROOM) == "title"
    assert (
        await step_of(unthrottled_bot) is None
    )  # the direct chat has a dialogue of its own, or none

    # Others chat on in the room; only Alice's plain messages answer her dialogue.
    assert (
        await unthrottled_bot.send(BOB, "Nice weather for cycling", room=ROOM, direct=False) is None
    )
    ask = await unthrottled_bot.ask(ALICE, "Bike parking at the station", room=ROOM, direct=False)
    assert ask == ASK_DESCRIPTION
    ask = await unthrottled_bot.ask(ALICE, "-", room=ROOM, direct=False)
    assert ask.splitlines() == summary("Bike parking at the station", None)

    outcome = await unthrottled_bot.say(ALICE, "Yes!", room=ROOM, direct=False)

    (idea,) = await unthrottled_bot.store.ideas.by_author(ALICE)
    assert (idea.challenge_slug, idea.description) == ("mobility", "")
    assert outcome.reply_card == idea.id  # in the room, the reply is the card itself
    assert effects_of(outcome, SendRoom) == []
    assert f"!stem {idea.id}" in text(outcome.reply)
    assert await step_of(unthrottled_bot, room=ROOM) is None


async def test_idea_with_arguments_still_submits_at_once(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)

    direct = await unthrottled_bot.ask(ALICE, "!idea mobility Protected lanes\nWith kerbs.")
    in_room = await unthrottled_bot.say(ALICE, "!idea Bike parking", room=ROOM, direct=False)

    lanes, parking = sorted(
        await unthrottled_bot.store.ideas.by_author(ALICE), key=lambda idea: idea.id
    )
    assert direct == says(
        "nl", "idea.submitted", title="Protected lanes", slug="mobility", id=f"#{lanes.id}"
    )
    assert lanes.description == "With kerbs."
    assert in_room.reply_card == parking.id
    assert (
        await step_of(unthrottled_bot) is None and await step_of(unthrottled_bot, room=ROOM) is None
    )


# --- wrong answers -----------------------------------------------------------------------------


async def test_every_step_refuses_a_wrong_answer_with_its_reason_and_asks_again(
    tmp_path: Path,
) -> None:
    async with open_harness(
        tmp_path, commands_per_minute=600, max_title_length=40, max_description_length=100
    ) as bot:
        await new_challenge(bot)
        await new_challenge(bot, "parks", title="Greener parks")
        await bot.say(MODERATOR, "!challenge close parks", moderator=True)
        await new_challenge(bot, "schools", title="Schools")
        existing = await submit(bot, BOB, "Safer bike lanes on Coupure")
        ask_title = says("nl", "dialogue.ask_title", challenge=LANES, minimum=3, limit=40)
        ask_description = says("nl", "dialogue.ask_description", limit=100)
        choices = challenge_list(("mobility", LANES), ("schools", "Schools"))
        assert (await bot.ask(ALICE, "idee")).splitlines()[1:] == choices  # not the closed one

        refusals = {
            "7": says("nl", "dialogue.bad_choice", value="7", count=2),
            "???": says("nl", "dialogue.bad_choice", value="???", count=2),
            "nowhere": says("nl", "error.no_such_challenge", slug="nowhere"),
            "parks": says("nl", "error.challenge_closed", slug="parks"),
        }
        for answer, reason in refusals.items():
            assert (await bot.ask(ALICE, answer)).splitlines() == [reason, *choices], answer
            assert await step_of(bot) == "challenge"
        assert await bot.ask(ALICE, "#mobility") == ask_title

        long_title = "A very long title about bike lanes on the Coupure"
        refusals = {
            "ab": says("nl", "dialogue.title_too_short", minimum=3),
            long_title: says(
                "nl", "error.too_long", what="titel", limit=40, length=len(long_title)
            ),
        }
        for answer, reason in refusals.items():
            assert (await bot.ask(ALICE, answer)).splitlines() == [reason, ask_title], answer
            assert await step_of(bot) == "title"
        offered = similar_list((existing, "Safer bike lanes on Coupure", 0))
        assert (await bot.ask(ALICE, "Safer bike lanes at the Coupure")).splitlines() == offered

        for answer, value in (("5", "5"), ("maybe", "maybe")):
            reason = says("nl", "dialogue.bad_similar", value=value, count=1)
            assert (await bot.ask(ALICE, answer)).splitlines() == [reason, *offered], answer
            assert await step_of(bot) == "similar"
        assert await bot.ask(ALICE, "nieuw") == ask_description

        too_long = "x" * 101
        reason = says("nl", "error.too_long", what="beschrijving", limit=100, length=101)
        assert (await bot.ask(ALICE, too_long)).splitlines() == [reason, ask_description]
        assert await step_of(bot) == "description"
        ask = (await bot.ask(ALICE, "geen")).splitlines()
        assert ask == summary("Safer bike lanes at the Coupure", None)

        reason = says("nl", "dialogue.bad_confirm", value="misschien")
        assert (await bot.ask(ALICE, "misschien")).splitlines() == [reason, *ask]
        assert await step_of(bot) == "confirm"
        assert await bot.store.ideas.by_author(ALICE) == []


async def test_a_vote_instead_follows_the_rules_of_vote(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot, options="--budget=1")
    existing = await submit(unthrottled_bot, BOB, "Safer bike lanes on Coupure")
    other = await submit(unthrottled_bot, BOB, "Free bike repair")
    await unthrottled_bot.say(ALICE, f"!vote {other}")  # Alice's one vote is spent
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")
    offered = similar_list((existing, "Safer bike lanes on Coupure", 0))
    assert (
        await unthrottled_bot.ask(ALICE, "Safer bike lanes at the Coupure")
    ).splitlines() == offered

    refused = await unthrottled_bot.ask(ALICE, "1")

    assert refused.splitlines() == [
        says("nl", "vote.budget_spent", count=1, slug="mobility"),
        *offered,
    ]
    assert not await unthrottled_bot.store.votes.has_voted(existing, ALICE)
    assert await step_of(unthrottled_bot) == "similar"


# --- similar ideas -----------------------------------------------------------------------------


async def test_choosing_a_similar_idea_votes_for_it_instead(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    existing = await submit(unthrottled_bot, BOB, "Safer bike lanes on Coupure")
    await submit(unthrottled_bot, BOB, "More trees in the Citadelpark")
    await unthrottled_bot.say(MODERATOR, f"!vote {existing}", moderator=True)
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")

    offered = await unthrottled_bot.ask(ALICE, "Safer bike lanes at the Coupure")
    assert offered.splitlines() == similar_list((existing, "Safer bike lanes on Coupure", 1))
    assert await step_of(unthrottled_bot) == "similar"

    outcome = await unthrottled_bot.say(ALICE, "1")

    assert text(outcome.reply).splitlines() == [
        says("nl", "vote.counted", id=f"#{existing}", title="Safer bike lanes on Coupure", count=2),
        says("nl", "dialogue.voted_instead"),
    ]
    assert effects_of(outcome, CardChanged) == [CardChanged(existing)]  # as after !vote
    assert await unthrottled_bot.store.votes.has_voted(existing, ALICE)
    assert await unthrottled_bot.store.ideas.by_author(ALICE) == []
    assert await step_of(unthrottled_bot) is None


async def test_choosing_new_goes_on_with_the_submission(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    existing = await submit(unthrottled_bot, BOB, "Safer bike lanes on Coupure")
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")
    await unthrottled_bot.say(ALICE, "Safer bike lanes at the Coupure")

    assert await unthrottled_bot.ask(ALICE, "New") == ASK_DESCRIPTION
    await unthrottled_bot.say(ALICE, "none")
    await unthrottled_bot.say(ALICE, "yes")

    (idea,) = await unthrottled_bot.store.ideas.by_author(ALICE)
    assert idea.title == "Safer bike lanes at the Coupure"
    assert await unthrottled_bot.store.votes.count(existing) == 0
    assert await unthrottled_bot.store.votes.count(idea.id) == 0


async def test_unrelated_hidden_and_other_challenges_ideas_are_not_offered(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    await new_challenge(unthrottled_bot, "parks", title="Greener parks")
    await submit(
        unthrottled_bot, BOB, "Safer bike lanes at the Coupure", slug="parks"
    )  # another challenge
    hidden = await submit(unthrottled_bot, BOB, "Safer bike lanes on the Coupure")
    await unthrottled_bot.say(MODERATOR, f"!hide {hidden} spam", moderator=True)
    withdrawn = await submit(unthrottled_bot, BOB, "Safe bike lanes along the Coupure")
    await unthrottled_bot.say(BOB, f"!withdraw {withdrawn}")
    await submit(unthrottled_bot, BOB, "More trees near schools")
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")

    assert await unthrottled_bot.ask(ALICE, "Safer bike lanes at the Coupure") == ASK_DESCRIPTION


def test_similar_titles_ranks_the_closest_first_and_keeps_three() -> None:
    ideas = [
        (1, "More trees in the Citadelpark", 9),
        (2, "Safer bike lanes on Coupure", 0),
        (3, "Bike lanes Coupure", 4),
        (4, "SAFER BIKE-LANES at the coupure!", 0),
        (5, "Safer bike lanes on the Coupure bridge", 2),
    ]

    found = similar_titles("Safer bike lanes at the Coupure", ideas)

    # 3 and 4 score full marks: all of 3's words are in the new title, and 4 has the same words
    # but for case and punctuation; at an equal score the order given (most votes first) holds.
    # Of 5 and 2, both rewordings, the closer one is kept: three at most.
    assert found == [3, 4, 5]
    assert similar_titles("Greener parks for kids", ideas) == []
    assert similar_titles("anything", []) == []


# --- leaving, interrupting, resuming -----------------------------------------------------------


async def test_cancel_ends_the_dialogue_at_any_step(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    assert await unthrottled_bot.ask(ALICE, "!cancel") == says("nl", "dialogue.nothing_to_cancel")

    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")
    assert await unthrottled_bot.ask(ALICE, "!annuleer") == says("nl", "dialogue.cancelled")
    assert await step_of(unthrottled_bot) is None
    # The dialogue is over: in the direct chat, plain text is a command again.
    assert await unthrottled_bot.ask(ALICE, "Protected lanes") == says(
        "nl", "error.unknown_command", command="protected", help="!hulp"
    )

    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")
    await unthrottled_bot.say(ALICE, "Protected lanes")
    assert await unthrottled_bot.ask(ALICE, "cancel") == says(
        "nl", "dialogue.cancelled"
    )  # without prefix
    assert await step_of(unthrottled_bot) is None

    for answer in ("idee", "1", "Protected lanes", "-"):
        await unthrottled_bot.say(ALICE, answer)
    assert await step_of(unthrottled_bot) == "confirm"
    assert await unthrottled_bot.ask(ALICE, "nee") == says("nl", "dialogue.cancelled")
    assert await step_of(unthrottled_bot) is None
    assert await unthrottled_bot.store.ideas.by_author(ALICE) == []


async def test_a_command_takes_precedence_and_the_dialogue_goes_on(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    other = await submit(unthrottled_bot, BOB, "Free bike repair")
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(ALICE, "1")

    listing = await unthrottled_bot.ask(ALICE, "!challenges")
    voted = await unthrottled_bot.ask(ALICE, f"!vote {other}")

    assert listing.splitlines()[0] == says("nl", "challenges.header", count=1)
    assert voted == says("nl", "vote.counted", id=f"#{other}", title="Free bike repair", count=1)
    assert await step_of(unthrottled_bot) == "title"
    assert await unthrottled_bot.ask(ALICE, "Protected lanes") == ASK_DESCRIPTION

    # !idea with arguments submits at once, and leaves the open dialogue alone.
    await unthrottled_bot.say(ALICE, "!idea mobility Bike parking")
    assert await step_of(unthrottled_bot) == "description"
    assert await unthrottled_bot.ask(ALICE, "Kerbs.") == "\n".join(
        summary("Protected lanes", "Kerbs.")
    )


async def test_the_dialogue_survives_a_restart(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as before:
        await new_challenge(before)
        await before.say(ALICE, "idee")
        await before.say(ALICE, "1")
        await before.say(ALICE, "Protected lanes")

    async with open_harness(tmp_path) as after:
        assert await step_of(after) == "description"
        ask = await after.ask(ALICE, "With kerbs.")
        assert ask.splitlines() == summary("Protected lanes", "With kerbs.")
        await after.say(ALICE, "ja")

        (idea,) = await after.store.ideas.by_author(ALICE)
        assert (idea.title, idea.description) == ("Protected lanes", "With kerbs.")


# --- expiry ------------------------------------------------------------------------------------


async def expire(bot: Harness) -> list[tuple[str, str, str]]:
    """What the bot's sweep does: end the expired dialogues, in one transaction."""
    async with bot.store.db.transaction():
        ended = await bot.dispatcher.expire_dialogues()
    for _user, _room, outcome in ended:
        assert outcome.effects == ()
    return [(user, room, text(outcome.reply)) for user, room, outcome in ended]


async def test_the_sweep_ends_dialogues_that_ran_out_of_time(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    await unthrottled_bot.say(BOB, "!lang en")
    await unthrottled_bot.say(ALICE, "idee")
    await unthrottled_bot.say(BOB, "!idea", room=ROOM, direct=False)
    unthrottled_bot.clock.advance(minutes=20)
    await unthrottled_bot.say(ALICE, "1")  # an answer gives another 30 minutes

    unthrottled_bot.clock.advance(minutes=9)
    assert await expire(unthrottled_bot) == []
    unthrottled_bot.clock.advance(minutes=1)

    assert await expire(unthrottled_bot) == [
        (BOB, ROOM, says("en", "dialogue.expired", count=30, command="!idea")),
    ]
    assert await step_of(unthrottled_bot, BOB, ROOM) is None
    assert await step_of(unthrottled_bot) == "title"

    unthrottled_bot.clock.advance(minutes=19)
    assert await expire(unthrottled_bot) == []
    unthrottled_bot.clock.advance(minutes=1)
    assert await expire(unthrottled_bot) == [
        (ALICE, DM, says("nl", "dialogue.expired", count=30, command="!idee")),
    ]
    assert await expire(unthrottled_bot) == []
    # Gone: plain text in the direct chat is a command again, and no note comes twice.
    assert await unthrottled_bot.ask(ALICE, "Protected lanes") == says(
        "nl", "error.unknown_command", command="protected", help="!hulp"
    )
    assert await unthrottled_bot.store.ideas.by_author(ALICE) == []


async def test_writing_after_the_timeout_ends_the_dialogue_with_a_note(tmp_path: Path) -> None:
    async with open_harness(tmp_path, dialogue_timeout_minutes=5) as bot:
        await new_challenge(bot)
        note = says("nl", "dialogue.expired", count=5, command="!idee")
        await bot.say(ALICE, "idee")
        await bot.say(ALICE, "1")
        await bot.say(ALICE, "!idea", room=ROOM, direct=False)
        bot.clock.advance(minutes=5)

        listing = await bot.ask(ALICE, "!challenges")
        in_room = await bot.ask(ALICE, "Nice weather for cycling", room=ROOM, direct=False)
        again = await bot.send(ALICE, "Still nice", room=ROOM, direct=False)

        assert listing.splitlines()[0] == note  # then the command, handled as usual
        assert listing.splitlines()[1] == says("nl", "challenges.header", count=1)
        assert in_room == note  # chatter in a room gets the note alone
        assert again is None
        assert await step_of(bot) is None and await step_of(bot, room=ROOM) is None
        assert await expire(bot) == []


# --- refusals at the start and at the end ------------------------------------------------------


async def test_no_dialogue_without_an_open_challenge_or_for_a_blocked_person(
    unthrottled_bot: Harness,
) -> None:
    assert await unthrottled_bot.ask(ALICE, "idee") == says("nl", "challenges.none")
    await new_challenge(unthrottled_bot, options="--deadline=2026-03-05")
    unthrottled_bot.clock.advance(days=4)  # past the deadline
    assert await unthrottled_bot.ask(ALICE, "idee") == says("nl", "challenges.none")
    closed_room = await unthrottled_bot.ask(ALICE, "!idea", room=ROOM, direct=False)
    assert closed_room == says(
        "nl",
        "error.deadline_passed",
        slug="mobility",
        deadline=Moment(datetime(2026, 3, 5, 23, tzinfo=UTC), "Europe/Brussels"),
    )

    await new_challenge(unthrottled_bot, "parks", title="Greener parks")
    await unthrottled_bot.say(MODERATOR, f"!block {ALICE} spam", moderator=True)
    assert await unthrottled_bot.ask(ALICE, "idee") == says("nl", "error.blocked")
    assert (
        await step_of(unthrottled_bot) is None and await step_of(unthrottled_bot, room=ROOM) is None
    )


async def test_a_change_before_the_yes_ends_the_dialogue_with_the_reason(
    unthrottled_bot: Harness,
) -> None:
    await new_challenge(unthrottled_bot)
    for answer in ("idee", "1", "Protected lanes", "-"):
        await unthrottled_bot.say(ALICE, answer)
    await unthrottled_bot.say(MODERATOR, "!challenge close mobility", moderator=True)

    refused = await unthrottled_bot.ask(ALICE, "ja")

    assert refused.splitlines() == [
        says("nl", "error.challenge_closed", slug="mobility"),
        says("nl", "dialogue.not_submitted"),
    ]
    assert await unthrottled_bot.store.ideas.by_author(ALICE) == []
    assert await step_of(unthrottled_bot) is None


async def test_a_dialogue_this_version_cannot_read_is_ended(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    async with unthrottled_bot.store.db.transaction():
        await unthrottled_bot.store.dialogues.save(
            user_id=ALICE,
            room_id=DM,
            flow="idea",
            step="a-step-from-the-future",
            data={},
            expires_at=START + timedelta(minutes=30),
            now=START,
        )

    reply = await unthrottled_bot.ask(ALICE, "1")

    assert reply == says("nl", "dialogue.lost", command="!idee")
    assert await step_of(unthrottled_bot) is None


# --- storage and personal data -----------------------------------------------------------------


async def test_the_repository_keeps_one_dialogue_per_person_and_room(
    unthrottled_bot: Harness,
) -> None:
    later = START + timedelta(minutes=30)
    async with unthrottled_bot.store.db.transaction():
        saved = await unthrottled_bot.store.dialogues.save(
            user_id=ALICE,
            room_id=DM,
            flow="idea",
            step="title",
            data={"challenge": "mobility", "choices": ["mobility"]},
            expires_at=later,
            now=START,
        )
        await unthrottled_bot.store.dialogues.save(
            user_id=ALICE,
            room_id=DM,
            flow="idea",
            step="description",
            data={"challenge": "mobility", "title": "Lanes “with” kerbs"},
            expires_at=later + timedelta(minutes=5),
            now=START,
        )
        await unthrottled_bot.store.dialogues.save(
            user_id=BOB,
            room_id=ROOM,
            flow="idea",
            step="title",
            data={},
            expires_at=later,
            now=START,
        )

    found = await unthrottled_bot.store.dialogues.get(ALICE, DM)
    assert isinstance(found, Dialogue) and isinstance(saved, Dialogue)
    assert (found.step, found.data["title"], found.expires_at) == (
        "description",
        "Lanes “with” kerbs",
        later + timedelta(minutes=5),
    )
    with pytest.raises(ValueError):
        found.step = "title"  # type: ignore[misc]
    assert await unthrottled_bot.store.dialogues.get(ALICE, ROOM) is None
    assert [d.user_id for d in await unthrottled_bot.store.dialogues.expired(later)] == [BOB]
    assert len(await unthrottled_bot.store.dialogues.expired(later + timedelta(minutes=5))) == 2
    async with unthrottled_bot.store.db.transaction():
        assert await unthrottled_bot.store.dialogues.delete(BOB, ROOM)
        assert not await unthrottled_bot.store.dialogues.delete(BOB, ROOM)
    assert await unthrottled_bot.store.dialogues.get(BOB, ROOM) is None
