"""The journey of a challenge at handler level: real SQLite in a temporary directory, no Matrix."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.effects import Announce, CreateChallengeRoom, Invite, SendDirect, SendRoom
from handlers.i18n import Moment
from storage import ChallengeStatus, IdeaStatus
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    direct_room,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)

#: --deadline=2099-12-31: the end of that day in Brussels.
END_OF_2099 = Moment(datetime(2099, 12, 31, 23, tzinfo=UTC), "Europe/Brussels")

ROOM = "!mobility:city.example"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        yield harness


# --- challenges ------------------------------------------------------------------------------


async def test_moderator_creates_a_challenge_and_asks_for_its_room(bot: Harness) -> None:
    outcome = await bot.say(
        MODERATOR,
        "!challenge new --deadline=2099-12-31 --budget=2 mobility Safer bike lanes\n"
        "Where do you feel unsafe on a bike?\nTell us which street.",
        moderator=True,
    )

    assert "mobility" in text(outcome.reply)
    assert "Safer bike lanes" in text(outcome.reply)
    (room,) = effects_of(outcome, CreateChallengeRoom)
    assert room.slug == "mobility"
    assert room.name == "Safer bike lanes"
    assert room.topic == "Where do you feel unsafe on a bike?\nTell us which street."
    assert room.invite == (MODERATOR,)
    assert room.notify_room == direct_room(MODERATOR)
    assert room.locale == "nl"

    stored = await bot.store.challenges.by_slug("mobility")
    assert stored is not None
    assert stored.id == room.challenge_id
    assert stored.title == "Safer bike lanes"
    # The end of that day in the programme's time zone (Brussels, winter time: UTC+1).
    assert stored.submission_deadline_at == datetime(2099, 12, 31, 23, tzinfo=UTC)
    assert stored.vote_budget == 2
    assert not stored.premoderated
    assert stored.status is ChallengeStatus.OPEN
    assert stored.room_id is None  # until the bot has made the room

    (entry,) = await bot.store.audit.all()
    assert (entry.actor, entry.action, entry.challenge_id, entry.detail) == (
        MODERATOR,
        "challenge_new",
        stored.id,
        "Safer bike lanes",
    )

    await bot.room_created(outcome, ROOM)
    assert await bot.store.challenges.by_room(ROOM) is not None


async def test_a_citizen_cannot_create_a_challenge(bot: Harness) -> None:
    reply = await bot.ask(ALICE, "!challenge new mobility Safer bike lanes")

    assert reply == says("nl", "error.moderators_only", command="!uitdaging nieuw")
    assert await bot.store.challenges.list(open_only=False) == []
    assert await bot.store.audit.all() == []


async def test_slugs_are_unique_and_not_command_words(bot: Harness) -> None:
    await new_challenge(bot)

    taken = await bot.ask(MODERATOR, "!challenge new mobility Again", moderator=True)
    reserved = await bot.ask(MODERATOR, "!challenge new top Top ideas", moderator=True)
    past = await bot.ask(
        MODERATOR, "!challenge new --deadline=2020-01-01 parks Parks", moderator=True
    )

    assert taken == says("nl", "challenge.slug_taken", slug="mobility")
    assert reserved == says("nl", "challenge.slug_reserved", slug="top")
    end_of_2020_01_01 = Moment(datetime(2020, 1, 1, 23, tzinfo=UTC), "Europe/Brussels")
    assert past == says("nl", "challenge.deadline_in_past", deadline=end_of_2020_01_01)
    assert "1 januari 2020 (einde van de dag)" in past
    assert [c.slug for c in await bot.store.challenges.list(open_only=False)] == ["mobility"]


async def test_citizens_list_and_read_challenges(bot: Harness) -> None:
    assert await bot.ask(ALICE, "!challenges") == says("nl", "challenges.none")
    await new_challenge(bot, options="--deadline=2099-12-31 --budget=2")
    await new_challenge(bot, "parks", options="", title="Greener parks")
    await submit(bot, ALICE, "Protected lanes")
    hidden = await submit(bot, BOB, "Something reported")
    await bot.ask(MODERATOR, f"!hide {hidden}", moderator=True)
    reported = await bot.store.ideas.get(hidden)
    assert reported is not None and reported.hidden

    listing = (await bot.ask(ALICE, "!challenges")).splitlines()
    details = await bot.ask(ALICE, "!challenge mobility")

    assert listing[0] == says("nl", "challenges.header", count=2)
    assert listing[1] == says(
        "nl",
        "challenges.line",
        slug="mobility",
        title="Safer bike lanes",
        phase=says("nl", "programme.open_until", deadline=END_OF_2099),
        count=1,
    )
    assert listing[2] == says(
        "nl",
        "challenges.line",
        slug="parks",
        title="Greener parks",
        phase=says("nl", "challenge.status_open"),
        count=0,
    )
    assert listing[3] == says("nl", "challenges.footer", command="!challenge <uitdaging>")
    assert "What would help?" in details
    assert says("nl", "programme.open_until", deadline=END_OF_2099) in details
    assert "31 december 2099 (einde van de dag)" in details
    assert says("nl", "challenge.budget", count=2) in details
    assert says("nl", "challenge.idea_count", count=1) in details.splitlines()  # not the hidden one
    assert (
        says(
            "nl",
            "challenge.how_to_take_part",
            join="!join mobility",
            idea="!idea mobility <titel>",
            ideas="!ideas mobility",
        )
        in details.splitlines()
    )

    unknown = await bot.ask(ALICE, "!challenge nope")
    assert unknown == says("nl", "error.no_such_challenge", slug="nope")


async def test_the_room_of_a_challenge_implies_the_challenge(bot: Harness) -> None:
    await new_challenge(bot)

    details = await bot.ask(ALICE, "!challenge", room=ROOM, direct=False)
    in_direct_chat = await bot.ask(ALICE, "!challenge")

    assert "Safer bike lanes (mobility)" in details
    assert in_direct_chat == says("nl", "error.which_challenge", command="!challenges")


async def test_join_invites_to_the_challenge_room(bot: Harness) -> None:
    outcome = await bot.say(MODERATOR, "!challenge new mobility Safer bike lanes", moderator=True)
    not_yet = await bot.ask(ALICE, "!join mobility")
    await bot.room_created(outcome, ROOM)

    joined = await bot.say(ALICE, "!join mobility")
    already = await bot.ask(ALICE, "!join mobility", room=ROOM, direct=False)

    assert not_yet == says("nl", "join.no_room_yet", slug="mobility")
    assert effects_of(joined, Invite) == [Invite(ROOM, ALICE)]
    assert text(joined.reply) == says("nl", "join.invited", title="Safer bike lanes")
    assert already == says("nl", "join.already_here", slug="mobility")


async def test_close_and_reopen_a_challenge(bot: Harness) -> None:
    await new_challenge(bot)

    closed = await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    again = await bot.ask(MODERATOR, "!challenge sluit mobility", moderator=True)
    refused = await bot.ask(ALICE, "!idea mobility Too late")

    # Closed by hand: the closing summary, as at a deadline, in the room and for the moderators.
    (notice,) = effects_of(closed, SendRoom)
    assert notice.room_id == ROOM
    assert text(notice.reply).startswith(says("nl", "programme.closed", title="Safer bike lanes"))
    (announced,) = effects_of(closed, Announce)
    assert "mobility" in text(announced.reply)
    assert again == says("nl", "challenge.already_closed", slug="mobility")
    assert refused == says("nl", "error.challenge_closed", slug="mobility")
    assert await bot.store.ideas.by_author(ALICE) == []
    assert [c.slug for c in await bot.store.challenges.list(open_only=True)] == []

    await bot.say(MODERATOR, "!challenge open mobility", moderator=True)
    await submit(bot, ALICE, "Just in time")
    assert [e.action for e in await bot.store.audit.all()] == [
        "challenge_new",
        "challenge_closed",
        "challenge_open",
    ]


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
    assert f"!vote {idea.id}" in text(card.reply)


async def test_idea_inside_the_challenge_room(bot: Harness) -> None:
    await new_challenge(bot)

    outcome = await bot.say(ALICE, "!idea Bike parking at the station", room=ROOM, direct=False)

    (idea,) = await bot.store.ideas.by_author(ALICE)
    assert idea.challenge_slug == "mobility"
    assert idea.title == "Bike parking at the station"
    assert outcome.reply_card == idea.id  # the reply is the card itself
    assert effects_of(outcome, SendRoom) == []
    assert len(effects_of(outcome, Announce)) == 1
    assert f"!vote {idea.id}" in text(outcome.reply)


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
    assert first[3] == says("nl", "ideas.more", command="!ideas mobility top 2")
    assert [line.split()[0] for line in second[1:3]] == [f"#{ids[0]}", f"#{ids[1]}"]
    assert [line.split()[0] for line in last[1:]] == [f"#{ids[3]}"]  # no "next page" line
    assert beyond == last
    assert [line.split()[0] for line in newest[1:3]] == [f"#{ids[4]}", f"#{ids[3]}"]
    assert newest[3] == says("nl", "ideas.more", command="!ideas mobility new 2")
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

    assert await bot.ask(ALICE, "!mine") == says("nl", "mine.none", command="!idea")

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


async def test_language_choice_is_remembered(bot: Harness) -> None:
    await new_challenge(bot)

    assert await bot.ask(ALICE, "!lang en") == says("en", "lang.set")
    assert await bot.store.users.language(ALICE) == "en"
    assert (await bot.ask(ALICE, "!challenges")).startswith(
        says("en", "challenges.header", count=1)
    )
    assert await bot.ask(ALICE, "!vote 42") == says("en", "error.no_such_idea", id="#42")
    assert await bot.ask(BOB, "!vote 42") == says("nl", "error.no_such_idea", id="#42")

    assert await bot.ask(ALICE, "!taal NL") == says("nl", "lang.set")
    assert await bot.ask(ALICE, "!vote 42") == says("nl", "error.no_such_idea", id="#42")


async def test_a_command_that_fails_halfway_leaves_nothing_behind(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    async def broken_audit(**_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bot.store.audit, "record", broken_audit)
    reply = await bot.ask(ALICE, f"!withdraw {idea}")  # sets the status, then audits

    assert reply.startswith("Sorry, er ging bij mij iets mis.")
    assert "disk on fire" not in reply
    reference = reply.split("referentie ")[1].split()[0]
    assert any(reference in record.getMessage() for record in caplog.records)
    assert (await bot.idea(idea)).status is IdeaStatus.NEW

    monkeypatch.undo()
    assert await bot.ask(ALICE, f"!withdraw {idea}") == says("nl", "withdraw.done", id=f"#{idea}")


# --- help ------------------------------------------------------------------------------------


async def test_help_lists_what_the_asker_may_run(bot: Harness) -> None:
    citizen = (await bot.ask(ALICE, "!help")).splitlines()
    moderator = (await bot.ask(MODERATOR, "!hulp", moderator=True)).splitlines()

    assert citizen[0] == says("nl", "help.header")
    assert citizen[-1] == says("nl", "help.footer", command="!hulp <commando>")
    assert f"!stem <idee-nummer> — {says('nl', 'help.vote')}" in citizen
    assert not any(
        line.startswith(("!aanvaard", "!wachtrij", "!uitdaging nieuw")) for line in citizen
    )
    assert set(citizen) < set(moderator)
    assert f"!weiger <idee-nummer> <reden> — {says('nl', 'help.reject')}" in moderator
    assert any(
        line.startswith("!uitdaging nieuw [--deadline=JJJJ-MM-DD[Tuu:mm]]") for line in moderator
    )


async def test_help_on_one_command(bot: Harness) -> None:
    await bot.say(ALICE, "!lang en")

    vote = await bot.ask(ALICE, "!help !vote")
    hidden = await bot.ask(ALICE, "!help challenge new")
    shown = await bot.ask(MODERATOR, "!help challenge new", moderator=True)

    assert vote.splitlines() == [
        says("en", "help.vote"),
        says("en", "help.usage", usage="!vote <idea-number>"),
        says("en", "help.aliases", aliases="stem"),
    ]
    assert hidden == says("en", "help.no_such_command", command="challenge new")
    assert shown.splitlines()[0] == says("nl", "help.challenge.new")


async def test_a_dutch_reader_sees_the_dutch_names_and_the_english_ones_work(bot: Harness) -> None:
    vote = await bot.ask(ALICE, "!hulp vote")
    ideas = await bot.ask(ALICE, "!help ideeën")
    new = await bot.ask(MODERATOR, "!hulp uitdaging nieuw", moderator=True)

    assert vote.splitlines()[1:] == [
        says("nl", "help.usage", usage="!stem <idee-nummer>"),
        says("nl", "help.aliases", aliases="vote"),
    ]
    assert ideas.splitlines()[2] == says("nl", "help.aliases", aliases="ideas, ideeen")
    assert new.splitlines()[1].startswith(says("nl", "help.usage", usage="!uitdaging nieuw ["))
    assert new.splitlines()[-1] == says("nl", "help.aliases", aliases="new")
    listing = (await bot.ask(ALICE, "!help")).splitlines()
    assert f"!uitdagingen — {says('nl', 'help.challenges')}" in listing
    assert not any(line.startswith(("!challenges ", "!vote ", "!idea ")) for line in listing)
    # The English names still work for a Dutch reader, and answer in Dutch.
    assert (await bot.ask(ALICE, "!challenges")) == (await bot.ask(ALICE, "!uitdagingen"))


# --- triage ----------------------------------------------------------------------------------

TRIAGE = [
    ("accept", "!accept {id} Great plan, we start in May.", IdeaStatus.ACCEPTED),
    ("reject", "!reject {id} This is not up to the city.", IdeaStatus.REJECTED),
    ("needinfo", "!needinfo {id} Which street do you mean?", IdeaStatus.NEEDS_INFO),
    ("implemented", "!implemented {id} Built last week.", IdeaStatus.IMPLEMENTED),
]


@pytest.mark.parametrize(("action", "command", "status"), TRIAGE, ids=[t[0] for t in TRIAGE])
async def test_triage_tells_the_author_in_their_language(
    bot: Harness, action: str, command: str, status: IdeaStatus
) -> None:
    await new_challenge(bot)
    await bot.say(ALICE, "!lang en")
    idea = await submit(bot, ALICE, "Protected lanes")
    moderator_text = command.split(" ", 2)[2]

    outcome = await bot.say(MODERATOR, command.format(id=idea), moderator=True)

    assert text(outcome.reply) == says(
        "nl", "triage.done", id=f"#{idea}", status=says("nl", f"status.{status.value}")
    )
    (direct,) = effects_of(outcome, SendDirect)
    assert direct.user_id == ALICE
    told = text(direct.reply).splitlines()
    assert told[0] == says(
        "en",
        f"triage.author.{action}",
        id=f"#{idea}",
        title="Protected lanes",
        command=f"!show {idea}",
    )
    assert told[-1] == moderator_text
    assert (await bot.idea(idea)).status is status
    entry = (await bot.store.audit.for_idea(idea))[-1]
    assert (entry.actor, entry.action, entry.detail) == (MODERATOR, action, moderator_text)


async def test_triage_by_alias_with_a_multi_line_reason(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    outcome = await bot.say(
        MODERATOR, f"!weiger #{idea} Not here.\nThe region decides this.", moderator=True
    )

    (direct,) = effects_of(outcome, SendDirect)
    assert text(direct.reply).endswith("Not here.\nThe region decides this.")
    assert (await bot.idea(idea)).status is IdeaStatus.REJECTED
    assert (await bot.store.audit.for_idea(idea))[
        -1
    ].detail == "Not here.\nThe region decides this."


async def test_accept_without_a_message(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    outcome = await bot.say(MODERATOR, f"!accept {idea}", moderator=True)

    (direct,) = effects_of(outcome, SendDirect)
    assert len(direct.reply.blocks) == 1  # no quote without a message
    assert (await bot.store.audit.for_idea(idea))[-1].detail == ""


async def test_citizens_cannot_triage(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, ALICE, "Protected lanes")

    outcome = await bot.say(ALICE, f"!accept {idea}")

    assert text(outcome.reply) == says("nl", "error.moderators_only", command="!aanvaard")
    assert outcome.effects == ()
    assert (await bot.idea(idea)).status is IdeaStatus.NEW
    assert await bot.store.audit.for_idea(idea) == []


async def test_duplicate_moves_votes_once_per_person(bot: Harness) -> None:
    await new_challenge(bot)
    await bot.say(BOB, "!lang en")
    original = await submit(bot, ALICE, "Protected lanes")
    copy = await submit(bot, BOB, "Separated bike lanes")
    for voter in (ALICE, CAROL):
        await bot.say(voter, f"!vote {original}")
    for voter in (ALICE, BOB):
        await bot.say(voter, f"!vote {copy}")

    outcome = await bot.say(MODERATOR, f"!duplicate {copy} #{original}", moderator=True)

    assert text(outcome.reply) == says(
        "nl", "duplicate.done", id=f"#{copy}", original=f"#{original}", count=1
    )
    (direct,) = effects_of(outcome, SendDirect)
    assert direct.user_id == BOB
    assert text(direct.reply) == says(
        "en",
        "triage.author.duplicate",
        id=f"#{copy}",
        title="Separated bike lanes",
        original=f"#{original}",
    )
    assert await bot.store.votes.count(original) == 3  # Alice once, Bob, Carol
    assert await bot.store.votes.count(copy) == 0
    merged = await bot.idea(copy)
    assert merged.status is IdeaStatus.DUPLICATE
    assert merged.duplicate_of == original
    assert says("nl", "idea.duplicate_of", id=f"#{original}") in await bot.ask(
        CAROL, f"!show {copy}"
    )
    assert await bot.ask(CAROL, f"!vote {copy}") == says(
        "nl", "vote.not_votable", id=f"#{copy}", status="dubbel"
    )
    entry = (await bot.store.audit.for_idea(copy))[-1]
    assert (entry.actor, entry.action) == (MODERATOR, "duplicate")


async def _ideas_in_states(bot: Harness) -> dict[str, int]:
    await new_challenge(bot)
    await new_challenge(bot, "parks", title="Greener parks")
    ideas = {
        name: await submit(bot, ALICE, name)
        for name in ("new", "rejected", "implemented", "withdrawn", "duplicate")
    }
    ideas["other"] = await submit(bot, ALICE, "elsewhere", slug="parks")
    await bot.say(MODERATOR, f"!reject {ideas['rejected']} no", moderator=True)
    await bot.say(MODERATOR, f"!implemented {ideas['implemented']}", moderator=True)
    await bot.say(ALICE, f"!withdraw {ideas['withdrawn']}")
    await bot.say(MODERATOR, f"!duplicate {ideas['duplicate']} {ideas['new']}", moderator=True)
    return ideas


INVALID = [
    ("reject", "!reject {implemented} too late"),
    ("needinfo", "!needinfo {rejected} why?"),
    ("accept", "!accept {withdrawn}"),
    ("accept", "!accept {duplicate}"),
    ("implemented", "!implemented {rejected}"),
    ("duplicate-of-itself", "!duplicate {new} {new}"),
    ("duplicate-of-rejected", "!duplicate {new} {rejected}"),
    ("duplicate-of-other-challenge", "!duplicate {new} {other}"),
]


@pytest.mark.parametrize("command", [c for _, c in INVALID], ids=[i for i, _ in INVALID])
async def test_invalid_transitions_are_refused(bot: Harness, command: str) -> None:
    ideas = await _ideas_in_states(bot)
    before = {name: (await bot.idea(idea)).status for name, idea in ideas.items()}
    audit_before = len(await bot.store.audit.all())
    votes_before = await bot.store.votes.count(ideas["new"])

    outcome = await bot.say(MODERATOR, command.format(**ideas), moderator=True)

    assert outcome.effects == ()
    named = {f"#{number}" for number in re.findall(r"\d+", command.format(**ideas))}
    assert any(ref in text(outcome.reply) for ref in named)  # says which idea, and why not
    assert {name: (await bot.idea(idea)).status for name, idea in ideas.items()} == before
    assert len(await bot.store.audit.all()) == audit_before
    assert await bot.store.votes.count(ideas["new"]) == votes_before


async def test_the_refusal_names_the_current_status(bot: Harness) -> None:
    ideas = await _ideas_in_states(bot)

    reply = await bot.ask(MODERATOR, f"!reject {ideas['implemented']} too late", moderator=True)

    assert reply == says(
        "nl", "triage.not_from_status", id=f"#{ideas['implemented']}", status="uitgevoerd"
    )


async def test_the_queue_shows_what_awaits_triage(bot: Harness) -> None:
    await new_challenge(bot)
    assert await bot.ask(MODERATOR, "!queue", moderator=True) == says("nl", "queue.empty")
    first = await submit(bot, ALICE, "First")
    bot.clock.advance(minutes=5)
    second = await submit(bot, BOB, "Second")
    await bot.say(MODERATOR, f"!accept {second}", moderator=True)
    bot.clock.advance(minutes=5)
    third = await submit(bot, BOB, "Third")
    await bot.say(MODERATOR, f"!needinfo {third} Where?", moderator=True)

    queue = (await bot.ask(MODERATOR, "!queue mobility", moderator=True)).splitlines()

    assert queue[0] == says("nl", "queue.header", count=2)
    assert [line.split()[1] for line in queue[1:]] == [f"#{first}", f"#{third}"]


# --- pre-moderation --------------------------------------------------------------------------


async def test_premoderated_ideas_are_hidden_until_accepted(bot: Harness) -> None:
    await new_challenge(bot, options="--premoderated")
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes\nWith kerbs.")
    (idea,) = await bot.store.ideas.by_author(ALICE)

    assert text(outcome.reply) == says(
        "nl", "idea.submitted_premoderated", id=f"#{idea.id}", title="Protected lanes"
    )
    assert effects_of(outcome, SendRoom) == []
    assert len(effects_of(outcome, Announce)) == 1

    hidden = says("nl", "error.no_such_idea", id=f"#{idea.id}")
    assert await bot.ask(BOB, f"!show {idea.id}") == hidden
    assert await bot.ask(BOB, f"!vote {idea.id}") == hidden
    assert await bot.ask(BOB, "!ideas mobility") == says("nl", "ideas.none", slug="mobility")
    assert "0 ideeën" in await bot.ask(BOB, "!challenges")
    assert (await bot.ask(ALICE, f"!show {idea.id}")).startswith(f"#{idea.id} Protected lanes")
    assert f"#{idea.id}" in await bot.ask(MODERATOR, "!queue", moderator=True)
    assert (await bot.ask(MODERATOR, f"!show {idea.id}", moderator=True)).startswith(f"#{idea.id}")

    accepted = await bot.say(MODERATOR, f"!accept {idea.id}", moderator=True)

    (card,) = effects_of(accepted, SendRoom)
    assert (card.room_id, card.card) == (ROOM, idea.id)
    assert "aanvaard" in text(card.reply)
    assert [d.user_id for d in effects_of(accepted, SendDirect)] == [ALICE]
    assert (await bot.ask(BOB, f"!show {idea.id}")).startswith(f"#{idea.id} Protected lanes")
    assert (await bot.ask(BOB, f"!vote {idea.id}")).startswith("Je stem")
    assert f"#{idea.id}" in await bot.ask(BOB, "!ideas mobility")


async def test_premoderated_idea_in_the_room_gets_no_card_yet(bot: Harness) -> None:
    await new_challenge(bot, options="--premoderated")

    outcome = await bot.say(ALICE, "!idea Protected lanes", room=ROOM, direct=False)

    assert outcome.reply_card is None
    assert effects_of(outcome, SendRoom) == []
    assert "!vote" not in text(outcome.reply)


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
