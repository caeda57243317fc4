"""``!challenge`` and ``!join`` (handlers/commands/challenges.py): moderators create, close and
reopen challenges; citizens list, read and join them."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.effects import Announce, CreateChallengeRoom, Invite, SendRoom
from handlers.i18n import Moment
from storage import ChallengeStatus
from tests.handler_support import (
    ALICE,
    BOB,
    MODERATOR,
    Harness,
    direct_room,
    effects_of,
    new_challenge,
    says,
    submit,
    text,
)

#: --deadline=2099-12-31: the end of that day in Brussels.
END_OF_2099 = Moment(datetime(2099, 12, 31, 23, tzinfo=UTC), "Europe/Brussels")


ROOM = "!mobility:city.example"


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
    assert listing[3] == says("nl", "challenges.footer", command="!uitdaging <uitdaging>")
    assert "What would help?" in details
    assert says("nl", "programme.open_until", deadline=END_OF_2099) in details
    assert "31 december 2099 (einde van de dag)" in details
    assert says("nl", "challenge.budget", count=2) in details
    assert says("nl", "challenge.idea_count", count=1) in details.splitlines()  # not the hidden one
    assert (
        says(
            "nl",
            "challenge.how_to_take_part",
            join="!doe-mee mobility",
            idea="!idee mobility <titel>",
            ideas="!ideeën mobility",
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
    assert in_direct_chat == says("nl", "error.which_challenge", command="!uitdagingen")


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
