"""What citizens do with ideas (handlers/commands/ideas.py): submit, list, show, vote (also by
👍), withdraw and edit. At handler level: real SQLite in a temporary directory, no Matrix."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.effects import Announce, SendDirect, SendRoom
from handlers.i18n import Moment
from storage import IdeaStatus
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


# --- ideas -----------------------------------------------------------------------------------


async def test_idea_in_a_direct_chat(bot: Harness) -> None:
    await new_challenge(bot)

    outcome = await bot.say(
        ALICE, "!idea mobility Protected bike lanes\nOn the Main Street.\nWith kerbs."
    )

    (idea,) = await bot.store.ideas.by_author(ALICE)
    assert idea.title == "Protected bike lanes"
    assert idea.description == "On the Main Street.\nWith kerbs."
    assert idea.challenge_slug == "mobility"
    assert idea.status is IdeaStatus.NEW
    assert f"#{idea.id}" in text(outcome.reply)
    assert text(outcome.reply) == says(
        "nl", "idea.submitted", title="Protected bike lanes", slug="mobility", id=f"#{idea.id}"
    )
    assert outcome.reply_card is None

    (announce,) = effects_of(outcome, Announce)
    assert f"#{idea.id}" in text(announce.reply)
    assert ALICE in text(announce.reply)
    (card,) = effects_of(outcome, SendRoom)
    assert card.room_id == ROOM
    assert card.card == idea.id
    assert "Protected bike lanes" in text(card.reply)
    assert f"!stem {idea.id}" in text(card.reply)


async def test_idea_inside_the_challenge_room(bot: Harness) -> None:
    await new_challenge(bot)

    outcome = await bot.say(ALICE, "!idea Bike parking at the station", room=ROOM, direct=False)

    (idea,) = await bot.store.ideas.by_author(ALICE)
    assert idea.challenge_slug == "mobility"
    assert idea.title == "Bike parking at the station"
    assert outcome.reply_card == idea.id  # the reply is the card itself
    assert effects_of(outcome, SendRoom) == []
    assert len(effects_of(outcome, Announce)) == 1
    assert f"!stem {idea.id}" in text(outcome.reply)


async def test_ideas_top_new_and_paging(tmp_path: Path) -> None:
    async with open_harness(tmp_path, page_size=2) as bot:
        await new_challenge(bot)
        ids = [await submit(bot, ALICE, f"Idea {n}") for n in range(1, 6)]
        for voter in (ALICE, BOB):
            await bot.say(voter, f"!vote {ids[2]}")
        await bot.say(CAROL, f"!vote {ids[4]}")

        first = (await bot.ask(BOB, "!ideas mobility top")).splitlines()
        second = (await bot.ask(BOB, "!ideas mobility top 2")).splitlines()
        last = (await bot.ask(BOB, "!ideas mobility top 3")).splitlines()
        beyond = (await bot.ask(BOB, "!ideas mobility top 99")).splitlines()
        newest = (await bot.ask(BOB, "!ideas mobility new")).splitlines()
        in_room = (await bot.ask(BOB, "!ideas", room=ROOM, direct=False)).splitlines()

    assert first[0] == says(
        "nl", "ideas.header", title="Safer bike lanes", page=1, pages=3, count=5
    )
    assert [line.split()[0] for line in first[1:3]] == [f"#{ids[2]}", f"#{ids[4]}"]
    assert first[1].endswith("— nieuw — 2 stemmen")
    assert first[3] == says("nl", "ideas.more", command="!ideeën mobility top 2")
    assert [line.split()[0] for line in second[1:3]] == [f"#{ids[0]}", f"#{ids[1]}"]
    assert [line.split()[0] for line in last[1:]] == [f"#{ids[3]}"]  # no "next page" line
    assert beyond == last
    assert [line.split()[0] for line in newest[1:3]] == [f"#{ids[4]}", f"#{ids[3]}"]
    assert newest[3] == says("nl", "ideas.more", command="!ideeën mobility new 2")
    assert in_room == first


async def test_no_ideas_yet(bot: Harness) -> None:
    await new_challenge(bot)

    assert await bot.ask(ALICE, "!ideas mobility") == says("nl", "ideas.none", slug="mobility")


async def test_show_an_idea(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes", description="Like in Utrecht.")
    await bot.say(BOB, f"!vote {idea}")

    plain = await bot.ask(BOB, f"!show {idea}")
    hashed = await bot.ask(BOB, f"!toon #{idea}")
    missing = await bot.ask(BOB, "!show 999")

    lines = plain.splitlines()
    assert lines[0] == f"#{idea} Protected lanes"
    assert "mobility" in lines[1] and "nieuw" in lines[1]
    assert ALICE not in lines[1]  # bot.show_authors: the author's ID is for moderators
    assert "1 stem " in lines[1]
    assert lines[2] == "Like in Utrecht."
    assert hashed == plain
    assert missing == says("nl", "error.no_such_idea", id="#999")


async def test_one_vote_per_person(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    first = await bot.ask(BOB, f"!vote {idea}")
    twice = await bot.ask(BOB, f"!stem #{idea}")
    other = await bot.ask(CAROL, f"!vote {idea}")

    assert first == says("nl", "vote.counted", id=f"#{idea}", title="Protected lanes", count=1)
    assert twice == says("nl", "vote.already", id=f"#{idea}")
    assert other == says("nl", "vote.counted", id=f"#{idea}", title="Protected lanes", count=2)
    assert await bot.store.votes.count(idea) == 2

    removed = await bot.ask(BOB, f"!unvote {idea}")
    not_voted = await bot.ask(BOB, f"!unvote {idea}")

    assert removed == says("nl", "vote.removed", id=f"#{idea}", count=1)
    assert not_voted == says("nl", "vote.not_voted", id=f"#{idea}")
    assert await bot.store.votes.count(idea) == 1
    assert not await bot.store.votes.has_voted(idea, BOB)


async def test_vote_budget(bot: Harness) -> None:
    await new_challenge(bot, options="--budget=2")
    first, second, third = [await submit(bot, ALICE, f"Idea {n}") for n in (1, 2, 3)]
    await bot.say(BOB, f"!vote {first}")
    await bot.say(BOB, f"!vote {second}")

    spent = await bot.ask(BOB, f"!vote {third}")
    again = await bot.ask(BOB, f"!vote {first}")

    assert spent == says("nl", "vote.budget_spent", count=2, slug="mobility")
    assert again == says("nl", "vote.already", id=f"#{first}")
    assert await bot.store.votes.count(third) == 0
    assert await bot.store.votes.used_in_challenge(BOB, (await bot.idea(first)).challenge_id) == 2

    await bot.say(BOB, f"!unvote {second}")
    moved = await bot.ask(BOB, f"!vote {third}")
    assert moved == says("nl", "vote.counted", id=f"#{third}", title="Idea 3", count=1)


async def test_a_budget_belongs_to_one_challenge(bot: Harness) -> None:
    await new_challenge(bot, options="--budget=1")
    await new_challenge(bot, "parks", options="--budget=1", title="Greener parks")
    lanes = await submit(bot, ALICE, "Lanes")
    trees = await submit(bot, ALICE, "Trees", slug="parks")

    await bot.say(BOB, f"!vote {lanes}")
    await bot.say(BOB, f"!vote {trees}")

    assert await bot.store.votes.count(lanes) == 1
    assert await bot.store.votes.count(trees) == 1


async def test_no_votes_on_a_closed_challenge(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")
    await bot.say(BOB, f"!vote {idea}")
    await bot.say(MODERATOR, "!challenge close mobility", moderator=True)

    vote = await bot.ask(CAROL, f"!vote {idea}")
    unvote = await bot.ask(BOB, f"!unvote {idea}")

    assert vote == says("nl", "error.challenge_closed", slug="mobility")
    assert unvote == vote
    assert await bot.store.votes.count(idea) == 1
    assert await bot.store.votes.has_voted(idea, BOB)


async def test_no_votes_or_ideas_after_the_deadline(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    idea = await submit(bot, ALICE, "Protected lanes")

    bot.clock.advance(days=3)  # the deadline day itself still counts
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("Je stem")
    bot.clock.advance(days=1)
    late_vote = await bot.ask(CAROL, f"!vote {idea}")
    late_idea = await bot.ask(CAROL, "!idea mobility Too late")

    deadline = Moment(datetime(2026, 3, 5, 23, tzinfo=UTC), "Europe/Brussels")
    expected = says("nl", "error.deadline_passed", slug="mobility", deadline=deadline)
    assert late_vote == expected
    assert late_idea == expected
    assert await bot.store.votes.count(idea) == 1
    assert await bot.store.ideas.by_author(CAROL) == []


async def test_mine_lists_my_own_ideas(bot: Harness) -> None:
    await new_challenge(bot)
    await new_challenge(bot, "parks", title="Greener parks")

    assert await bot.ask(ALICE, "!mine") == says("nl", "mine.none", command="!idee")

    lanes = await submit(bot, ALICE, "Protected lanes")
    trees = await submit(bot, ALICE, "More trees", slug="parks")
    await submit(bot, BOB, "Not mine")
    mine = (await bot.ask(ALICE, "!mijn")).splitlines()

    assert mine[0] == says("nl", "mine.header", count=2)
    assert mine[1].startswith(f"parks #{trees} More trees")
    assert mine[2].startswith(f"mobility #{lanes} Protected lanes")
    assert len(mine) == 3


async def test_only_the_author_withdraws(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    refused = await bot.ask(BOB, f"!withdraw {idea}")
    assert refused == says("nl", "withdraw.not_author", id=f"#{idea}")
    assert (await bot.idea(idea)).status is IdeaStatus.NEW

    done = await bot.ask(ALICE, f"!withdraw {idea}")
    twice = await bot.ask(ALICE, f"!intrekken {idea}")
    vote = await bot.ask(BOB, f"!vote {idea}")

    assert done == says("nl", "withdraw.done", id=f"#{idea}")
    assert twice == says("nl", "withdraw.not_possible", id=f"#{idea}", status="ingetrokken")
    assert vote == says("nl", "vote.not_votable", id=f"#{idea}", status="ingetrokken")
    assert (await bot.idea(idea)).status is IdeaStatus.WITHDRAWN
    assert await bot.ask(BOB, "!ideas mobility") == says("nl", "ideas.none", slug="mobility")
    entry = (await bot.store.audit.for_idea(idea))[-1]
    assert (entry.actor, entry.action) == (ALICE, "withdraw")


# --- reactions -------------------------------------------------------------------------------


async def _idea_with_card(bot: Harness, options: str = "") -> tuple[int, str]:
    await new_challenge(bot, options=options)
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes")
    (card,) = effects_of(outcome, SendRoom)
    assert card.card is not None
    await bot.card_posted(card, "$card")
    return card.card, "$card"


async def test_a_reaction_is_a_vote(bot: Harness) -> None:
    idea, card = await _idea_with_card(bot)

    reaction = await bot.react(BOB, card, ROOM)
    assert await bot.store.votes.has_voted(idea, BOB)

    await bot.react(CAROL, card, ROOM)
    assert await bot.store.votes.count(idea) == 2

    await bot.redact(BOB, reaction, ROOM)
    assert not await bot.store.votes.has_voted(idea, BOB)
    assert await bot.store.votes.count(idea) == 1


async def test_a_reaction_and_a_command_count_once(bot: Harness) -> None:
    idea, card = await _idea_with_card(bot)

    await bot.react(BOB, card, ROOM)
    command = await bot.ask(BOB, f"!vote {idea}")
    await bot.react(BOB, card, ROOM)

    assert command == says("nl", "vote.already", id=f"#{idea}")
    assert await bot.store.votes.count(idea) == 1


async def test_a_command_then_a_reaction_count_once(bot: Harness) -> None:
    idea, card = await _idea_with_card(bot)

    await bot.say(BOB, f"!vote {idea}")
    await bot.react(BOB, card, ROOM)

    assert await bot.store.votes.count(idea) == 1


async def test_reactions_that_are_no_votes(bot: Harness) -> None:
    idea, card = await _idea_with_card(bot, options="--budget=1")
    other = await submit(bot, ALICE, "Other")
    await bot.say(BOB, f"!vote {other}")

    await bot.react(BOB, card, ROOM)  # over budget: ignored, silently
    await bot.react(CAROL, "$not-a-card", ROOM)
    await bot.redact(CAROL, "$never-seen", ROOM)
    await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    await bot.react(CAROL, card, ROOM)

    assert await bot.store.votes.count(idea) == 0
    assert await bot.store.votes.count(other) == 1
    for reaction in ("$reaction1", "$reaction2", "$reaction3"):  # nothing was recorded
        assert await bot.store.votes.pop_reaction(reaction) is None


async def test_a_redaction_of_a_moved_vote_takes_it_from_the_original(bot: Harness) -> None:
    copy, card = await _idea_with_card(bot)
    original = await submit(bot, CAROL, "Lanes with kerbs")
    reaction = await bot.react(BOB, card, ROOM)
    await bot.say(MODERATOR, f"!duplicate {copy} {original}", moderator=True)
    assert await bot.store.votes.has_voted(original, BOB)

    await bot.redact(BOB, reaction, ROOM)

    assert not await bot.store.votes.has_voted(original, BOB)


@pytest.mark.usefixtures("a_challenge")
async def test_only_the_author_edits_and_an_answer_returns_to_triage(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Vague idea")
    assert "Alleen" in await bot.ask(BOB, f"!edit {idea} Hijacked")
    await bot.say(MODERATOR, f"!needinfo {idea} Where?", moderator=True)
    outcome = await bot.say(ALICE, f"!edit {idea} Clear idea\nOn the Korenmarkt.")
    assert effects_of(outcome, Announce)
    found = await bot.idea(idea)
    assert (found.title, found.description, found.status) == (
        "Clear idea",
        "On the Korenmarkt.",
        IdeaStatus.NEW,
    )


# --- !open: what is still open to me -----------------------------------------------------------


async def test_open_lists_exactly_the_unvoted_ideas_the_person_may_vote_for(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --budget=3")
    own = await submit(bot, ALICE, "Alice's own idea")
    voted = await submit(bot, BOB, "Already voted for")
    popular = await submit(bot, BOB, "Popular and open")
    quiet = await submit(bot, CAROL, "Quiet and open")
    rejected = await submit(bot, BOB, "Rejected one")
    hidden = await submit(bot, BOB, "Hidden one")
    await bot.say(ALICE, f"!vote {voted}")
    await bot.say(CAROL, f"!vote {popular}")
    await bot.say(MODERATOR, f"!reject {rejected} Not feasible", moderator=True)
    await bot.say(MODERATOR, f"!hide {hidden}", moderator=True)
    # A challenge closed by hand, and a pre-moderated one whose idea nobody let through.
    await new_challenge(bot, "parks")
    in_closed = await submit(bot, BOB, "Benches", "parks")
    await bot.say(MODERATOR, "!challenge close parks", moderator=True)
    await new_challenge(bot, "green", options="--premoderated")
    not_let_through = await submit(bot, BOB, "Roof gardens", "green")

    outcome = await bot.say(ALICE, "!open")
    listing = text(outcome.reply)

    assert outcome.effects == ()  # asked in her direct chat: the answer is the list
    assert listing.startswith(says("nl", "open.header"))
    shown = [int(number) for number in re.findall(r"#(\d+)", listing)]
    assert shown == [popular, quiet]  # best first
    for left_out in (own, voted, rejected, hidden, in_closed, not_let_through):
        assert f"#{left_out} " not in listing
    assert "parks" not in listing
    assert says("nl", "open.votes_left", count=2, total=3) in listing
    assert f"!stem {popular}" in listing
    assert "green" in listing and says("nl", "open.none_left") in listing


async def test_open_follows_the_vote_itself_and_the_budget(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --budget=1")
    first = await submit(bot, BOB, "First")
    second = await submit(bot, BOB, "Second")

    before = await bot.ask(ALICE, "!open")
    assert f"#{first} " in before and f"#{second} " in before

    await bot.say(ALICE, f"!vote {second}")
    after = await bot.ask(ALICE, "!open")
    assert f"#{first} " not in after and f"#{second} " not in after
    assert says("nl", "open.budget_spent") in after
    assert says("nl", "open.votes_left", count=0, total=1) in after

    # What !open lists, !vote accepts: after taking the vote back, both are open again.
    await bot.say(ALICE, f"!unvote {second}")
    again = await bot.ask(ALICE, "!open")
    assert f"#{first} " in again and f"#{second} " in again


async def test_open_in_a_shared_room_answers_in_the_direct_chat(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, BOB, "Bike parking")

    outcome = await bot.say(ALICE, "!open", room=ROOM, direct=False)

    assert text(outcome.reply) == says("nl", "open.sent_elsewhere")
    assert f"#{idea}" not in text(outcome.reply)
    (direct,) = effects_of(outcome, SendDirect)
    assert direct.user_id == ALICE
    assert f"#{idea} " in text(direct.reply)


async def test_open_says_why_a_challenge_is_not_open_to_the_person(bot: Harness) -> None:
    await new_challenge(bot)
    await submit(bot, BOB, "Bike parking")
    # Open to the listed servers only (none here): nobody's vote counts, and !open says why.
    await bot.say(MODERATOR, "!challenge edit mobility --eligibility=listed", moderator=True)

    listing = await bot.ask(ALICE, "!open")

    assert "Bike parking" not in listing
    refusal = await bot.ask(ALICE, "!vote 1")
    assert refusal in listing  # the reason !vote gives
