"""Deadlines in the programme's time zone, enforced on time; the schedule's reminders and
closing summaries, each once, also across a restart; ``!challenge edit``. The clock is the
test's: nothing waits in real time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.matrix.rendering import content_of
from bot.matrix.sync import handled_ids_horizon
from bot.outbox import MessagePayload, read
from bot.sweeper import Sweeper
from handlers.dispatch import Dispatcher
from handlers.effects import (
    Announce,
    CardChanged,
    Outcome,
    PlaceInSpace,
    SendDirect,
    SendRoom,
    SetRoomProfile,
)
from handlers.i18n import Moment
from handlers.programme import fire_due, to_instant
from handlers.services.voting import vote_by_reaction
from handlers.settings import ProgrammeSettings
from storage import Database, IdeaStatus, OutboxItem, Store
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    catalogue,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)

ROOM = "!mobility:city.example"
ZONE = "Europe/Brussels"
#: --deadline=2026-03-05: the end of that day in Brussels (winter time, UTC+1).
END_OF_MARCH_5 = datetime(2026, 3, 5, 23, tzinfo=UTC)


async def fire(bot: Harness, store: Store | None = None) -> list[Outcome]:
    """One round of the schedule, as the sweeper runs it: in one transaction."""
    store = store or bot.store
    async with store.db.transaction():
        return await fire_due(
            store,
            catalogue(),
            bot.settings,
            bot.dispatcher.programme,
            bot.clock(),
            words=bot.dispatcher.words,
        )


def room_texts(outcomes: list[Outcome], room: str = ROOM) -> list[str]:
    return [
        text(effect.reply)
        for outcome in outcomes
        for effect in effects_of(outcome, SendRoom)
        if effect.room_id == room
    ]


async def test_a_date_deadline_ends_with_that_day_in_brussels(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    idea = await submit(bot, ALICE, "Protected lanes")

    bot.clock.now = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # 23:30 in Brussels
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("Je stem")
    bot.clock.now = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)  # 00:30 the next day there
    late = await bot.ask(CAROL, f"!vote {idea}")

    deadline = Moment(END_OF_MARCH_5, ZONE)
    assert late == says("nl", "error.deadline_passed", slug="mobility", deadline=deadline)
    assert "5 maart 2026 (einde van de dag)" in late
    assert await bot.store.votes.count(idea) == 1
    assert await bot.ask(ALICE, "!challenges") == says("nl", "challenges.none")


async def test_a_deadline_with_a_time_in_summer_and_a_voting_phase(bot: Harness) -> None:
    bot.clock.now = datetime(2026, 6, 1, 8, tzinfo=UTC)
    await new_challenge(
        bot, options="--deadline=2026-07-01T17:00 --voting-deadline=2026-07-08T12:00"
    )
    idea = await submit(bot, ALICE, "Protected lanes")
    challenge = await bot.store.challenges.by_slug("mobility")
    assert challenge is not None
    # Summer time in Brussels is UTC+2.
    assert challenge.submission_deadline_at == datetime(2026, 7, 1, 15, tzinfo=UTC)
    assert challenge.voting_deadline_at == datetime(2026, 7, 8, 10, tzinfo=UTC)
    shown = await bot.ask(ALICE, "!challenge mobility")
    assert "1 juli 2026 om 17:00" in shown and "8 juli 2026 om 12:00" in shown

    bot.clock.now = datetime(2026, 7, 1, 15, 0, 1, tzinfo=UTC)  # voting only
    refused = await bot.ask(BOB, "!idea mobility Too late")
    assert refused == says(
        "nl",
        "error.submissions_closed",
        slug="mobility",
        deadline=Moment(datetime(2026, 7, 1, 15, tzinfo=UTC), ZONE),
        voting_deadline=Moment(datetime(2026, 7, 8, 10, tzinfo=UTC), ZONE),
    )
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("Je stem")
    listing = await bot.ask(BOB, "!challenges")
    assert (
        says("nl", "programme.voting_until", deadline=Moment(challenge.voting_deadline_at, ZONE))
        in listing
    )

    bot.clock.now = datetime(2026, 7, 8, 10, tzinfo=UTC)
    assert (await bot.ask(CAROL, f"!vote {idea}")).startswith("Het stemmen voor")
    assert await bot.ask(CAROL, "!challenges") == says("nl", "challenges.none")


async def test_a_reminder_before_the_deadline_once(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    bot.clock.now = END_OF_MARCH_5 - timedelta(hours=24, minutes=1)
    assert await fire(bot) == []

    bot.clock.advance(minutes=2)  # 24 hours before, by default
    reminded = await fire(bot)
    assert room_texts(reminded) == [
        says(
            "nl",
            "programme.reminder_submission",
            title="Safer bike lanes",
            deadline=Moment(END_OF_MARCH_5, ZONE),
            command="!idee",
        )
    ]
    assert effects_of(reminded[0], Announce) == []
    bot.clock.advance(hours=1)
    assert await fire(bot) == []


async def test_a_deadline_that_passed_while_stopped_closes_at_the_next_start_once(
    tmp_path: Path,
) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot, options="--deadline=2026-03-05")
        first = await submit(bot, ALICE, "Protected lanes")
        second = await submit(bot, BOB, "Bike parking")
        rejected = await submit(bot, BOB, "Cars everywhere")
        hidden = await submit(bot, CAROL, "Spam")
        await bot.say(MODERATOR, f"!reject {rejected} not a bike idea", moderator=True)
        await bot.say(MODERATOR, f"!hide {hidden}", moderator=True)
        await bot.say(MODERATOR, f"!accept {second}", moderator=True)
        for voter in (BOB, CAROL, MODERATOR):
            await bot.say(voter, f"!vote {first}")
        await bot.say(ALICE, f"!vote {second}")
        settings, programme = bot.settings, bot.dispatcher.programme
    # Stopped before the reminder and the deadline; started again two days later.
    db = Database(tmp_path / "bot.sqlite3")
    store = Store(db)
    later = END_OF_MARCH_5 + timedelta(days=2)
    dispatcher = Dispatcher(
        bot.dispatcher.registry, store, catalogue(), settings, clock=lambda: later
    )
    await db.open()
    try:
        sweeper = Sweeper(dispatcher, _Waker(), handled_horizon=handled_ids_horizon)  # type: ignore[arg-type]
        assert await sweeper.fire_schedule() == 1  # the closing; the reminder is too late
        assert await sweeper.fire_schedule() == 0
        assert await sweeper.fire_schedule() == 0
        async with db.transaction():
            rows = await store.outbox.pending()
            again = await fire_due(
                store, catalogue(), settings, programme, later, words=dispatcher.words
            )
        assert again == []
        messages = [row for row in rows if row.kind == "message"]
        assert [row.room_id for row in messages] == [ROOM, settings.moderation_room]
        room_body = _body(messages[0])
        moderators_body = _body(messages[1])
        # Closed: the room goes after the open ones in the Space.
        (placed,) = [row.payload for row in rows if row.kind == "space_child"]
        assert placed["order"] == "z"
    finally:
        await db.close()

    def line(key: str, **params: object) -> str:
        return says("nl", key, **params)

    status = catalogue().plain
    expected_room = [
        line("programme.closed", title="Safer bike lanes"),
        line("programme.summary_ideas", count=3),  # the hidden one is not the room's to count
        status("nl", "programme.summary_status", status=IdeaStatus.NEW, count=1),
        status("nl", "programme.summary_status", status=IdeaStatus.ACCEPTED, count=1),
        status("nl", "programme.summary_status", status=IdeaStatus.REJECTED, count=1),
        line("programme.summary_top", count=2),
        line("programme.summary_top_line", id=f"#{first}", title="Protected lanes", count=3),
        line("programme.summary_top_line", id=f"#{second}", title="Bike parking", count=1),
        line("programme.summary_participants", count=4),  # alice, bob, carol, the moderator
    ]
    for expected in expected_room:
        assert expected in room_body
    assert "Spam" not in room_body
    assert line("programme.summary_ideas", count=4) in moderators_body
    assert status("nl", "programme.summary_status", status=IdeaStatus.NEW, count=2) in (
        moderators_body
    )


class _Waker:
    """The outbox's delivery loop, as far as the sweeper uses it."""

    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


async def test_challenge_edit_changes_the_deadline_and_the_room(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    idea = await submit(bot, ALICE, "Protected lanes")
    bot.clock.now = END_OF_MARCH_5 + timedelta(hours=1)
    closing = await fire(bot)
    assert room_texts(closing)[0].startswith(
        says("nl", "programme.closed", title="Safer bike lanes")
    )
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("De termijn")

    refused = await bot.ask(ALICE, "!challenge edit mobility --deadline=2026-03-20 Nope")
    assert refused.startswith(says("nl", "error.moderators_only", command="!uitdaging wijzig"))
    outcome = await bot.say(
        MODERATOR,
        "!challenge edit mobility --deadline=2026-03-20 --tags=Fiets,verkeer "
        '--partner "Universiteit Gent" Safer bike lanes for all\nWhere should they go?',
        moderator=True,
    )

    assert text(outcome.reply) == says(
        "nl",
        "challenge.edited",
        slug="mobility",
        fields="description, partner, deadline, tags, title",
    )
    assert effects_of(outcome, SetRoomProfile) == [
        SetRoomProfile(ROOM, "Safer bike lanes for all", "Where should they go?")
    ]
    new_deadline = Moment(datetime(2026, 3, 20, 23, tzinfo=UTC), ZONE)
    (told,) = effects_of(outcome, SendRoom)
    assert told.room_id == ROOM
    assert text(told.reply) == says(
        "nl",
        "challenge.reopened",
        title="Safer bike lanes for all",
        phase=says("nl", "programme.open_until", deadline=new_deadline),
    )
    edited = await bot.store.challenges.by_slug("mobility")
    assert edited is not None
    assert edited.tags == ("fiets", "verkeer") and edited.partner == "Universiteit Gent"
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("Je stem")
    audit = await bot.ask(MODERATOR, "!audit", moderator=True)
    assert "challenge_edit" in audit

    # The moved deadline fires anew: its reminder, then its closing.
    bot.clock.now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    assert room_texts(await fire(bot))[0].startswith("Herinnering")
    bot.clock.now = datetime(2026, 3, 21, tzinfo=UTC)
    assert room_texts(await fire(bot))[0].startswith(
        says("nl", "programme.closed", title="Safer bike lanes for all")
    )
    nothing = await bot.ask(
        MODERATOR, "!challenge edit mobility --deadline=2026-03-20", moderator=True
    )
    assert nothing == says("nl", "challenge.edit_nothing", slug="mobility")


async def test_a_voting_deadline_needs_a_submission_deadline_before_it(bot: Harness) -> None:
    reply = await bot.ask(
        MODERATOR,
        "!challenge new --deadline=2026-03-10 --voting-deadline=2026-03-09 parks Parks",
        moderator=True,
    )
    assert reply == says("nl", "challenge.voting_before_submissions")
    assert await bot.store.challenges.by_slug("parks") is None


async def test_a_thumb_removed_after_the_deadline_changes_nothing_like_unvote(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes")
    (card,) = effects_of(outcome, SendRoom)
    await bot.card_posted(card, "$card1")
    assert card.card is not None
    idea = card.card
    reaction = await bot.react(BOB, "$card1", ROOM)
    await bot.say(CAROL, f"!vote {idea}")
    assert await bot.store.votes.count(idea) == 2

    bot.clock.now = END_OF_MARCH_5 + timedelta(minutes=30)
    removed = await bot.redact(BOB, reaction, ROOM)
    unvote = await bot.ask(CAROL, f"!unvote {idea}")

    refusal = says(
        "nl", "error.deadline_passed", slug="mobility", deadline=Moment(END_OF_MARCH_5, ZONE)
    )
    assert unvote == refusal
    assert await bot.store.votes.count(idea) == 2
    assert await bot.store.votes.has_voted(idea, BOB)
    # Told as !unvote tells: the same reason, in the voter's own direct chat.
    assert effects_of(removed, SendRoom) == []
    (told,) = effects_of(removed, SendDirect)
    assert told.user_id == BOB
    assert text(told.reply) == says("nl", "vote.reaction_kept", id=f"#{idea}", reason=refusal)
    assert effects_of(removed, CardChanged) == []

    # A 👍 given after the deadline does not count, and the person hears why, as !vote says.
    late = await bot.run(
        CAROL, lambda ctx: vote_by_reaction(ctx, "$card1", "$late-thumb"), room=ROOM
    )
    vote_refusal = await bot.ask(ALICE, f"!vote {idea}")
    assert late is not None and late.reply is None
    (late_told,) = effects_of(late, SendDirect)
    assert late_told.user_id == CAROL
    assert text(late_told.reply) == says(
        "nl", "vote.reaction_refused", id=f"#{idea}", reason=vote_refusal
    )
    assert await bot.store.votes.count(idea) == 2


async def test_a_thumb_removed_by_someone_else_after_the_deadline_says_nothing(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes")
    (card,) = effects_of(outcome, SendRoom)
    await bot.card_posted(card, "$card1")
    reaction = await bot.react(BOB, "$card1", ROOM)
    bot.clock.now = END_OF_MARCH_5 + timedelta(minutes=30)
    assert await bot.redact(MODERATOR, reaction, ROOM) is None  # a moderator's redaction
    assert card.card is not None and await bot.store.votes.count(card.card) == 1


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        ProgrammeSettings(timezone="Mars/Olympus")
    assert ProgrammeSettings().reminder_hours == 24


@pytest.mark.parametrize(
    ("day", "end_in_utc"),
    [
        (date(2026, 3, 28), datetime(2026, 3, 28, 23, tzinfo=UTC)),  # the last day of winter time
        (date(2026, 3, 29), datetime(2026, 3, 29, 22, tzinfo=UTC)),  # clocks go forward that night
        (date(2026, 10, 24), datetime(2026, 10, 24, 22, tzinfo=UTC)),  # the last day of summer time
        (date(2026, 10, 25), datetime(2026, 10, 25, 23, tzinfo=UTC)),  # a day of 25 hours
    ],
)
def test_the_end_of_a_day_in_brussels_across_the_changes_of_summer_time(
    day: date, end_in_utc: datetime
) -> None:
    assert to_instant(day, ZoneInfo(ZONE)) == end_in_utc
    # A time typed in the hour that is lived twice is its first (summer-time) pass.
    assert to_instant(datetime(2026, 10, 25, 2, 30), ZoneInfo(ZONE)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


async def test_a_vote_at_23_30_on_the_day_summer_time_starts_counts(bot: Harness) -> None:
    bot.clock.now = datetime(2026, 3, 20, tzinfo=UTC)
    await new_challenge(bot, options="--deadline=2026-03-29")
    idea = await submit(bot, ALICE, "Protected lanes")
    bot.clock.now = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # 23:30 in Brussels (UTC+2)
    assert (await bot.ask(BOB, f"!vote {idea}")).startswith("Je stem")
    bot.clock.now = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on the 30th there
    assert (await bot.ask(CAROL, f"!vote {idea}")).startswith("De termijn")
    assert await bot.store.votes.count(idea) == 1


def places(outcomes: list[Outcome] | Outcome) -> list[str]:
    """The orders the challenge's room is given in the Space."""
    listed = outcomes if isinstance(outcomes, list) else [outcomes]
    return [place.order for outcome in listed for place in effects_of(outcome, PlaceInSpace)]


async def test_closing_by_hand_posts_the_summary_once_and_moves_the_room_last(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    first = await submit(bot, ALICE, "Protected lanes")
    await bot.say(BOB, f"!vote {first}")

    closed = await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    assert text(closed.reply) == says(
        "nl", "challenge.closed", slug="mobility", title="Safer bike lanes"
    )
    (in_room,) = effects_of(closed, SendRoom)
    (for_moderators,) = effects_of(closed, Announce)
    assert in_room.room_id == ROOM
    for summary in (text(in_room.reply), text(for_moderators.reply)):
        assert says("nl", "programme.closed", title="Safer bike lanes") in summary
        assert (
            says(
                "nl", "programme.summary_top_line", id=f"#{first}", title="Protected lanes", count=1
            )
            in summary
        )
        assert says("nl", "programme.summary_participants", count=2) in summary
    assert places(closed) == ["z"]
    again = await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    assert again.effects == ()  # already closed: nothing said twice

    # Its reminder and its deadline come while it is closed: passed over, and for good.
    bot.clock.now = END_OF_MARCH_5 - timedelta(hours=1)
    assert await fire(bot) == []
    bot.clock.now = END_OF_MARCH_5 + timedelta(hours=1)
    assert await fire(bot) == []


async def test_closing_by_hand_after_the_deadline_closed_it_says_no_second_summary(
    bot: Harness,
) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    bot.clock.now = END_OF_MARCH_5 + timedelta(hours=1)
    assert len(room_texts(await fire(bot))) == 1
    closed = await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    assert effects_of(closed, Announce) == []
    (notice,) = effects_of(closed, SendRoom)
    assert text(notice.reply) == says(
        "nl", "challenge.closed", slug="mobility", title="Safer bike lanes"
    )
    assert places(closed) == ["z"]


async def test_reopening_plans_again_what_is_ahead_and_says_nothing_late(bot: Harness) -> None:
    bot.clock.now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    await new_challenge(
        bot, options="--deadline=2026-03-05 --voting-deadline=2026-03-10", title="Parks"
    )
    await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    # While closed, the submissions' reminder comes due (and is passed over).
    bot.clock.now = END_OF_MARCH_5 - timedelta(hours=3)
    assert await fire(bot) == []

    bot.clock.now = END_OF_MARCH_5 - timedelta(hours=2)
    opened = await bot.say(MODERATOR, "!challenge open mobility", moderator=True)
    assert places(opened) == ["a"]
    assert await fire(bot) == []  # that reminder is not said late

    bot.clock.now = END_OF_MARCH_5 + timedelta(minutes=1)
    closing = await fire(bot)
    assert room_texts(closing)[0].startswith(
        says(
            "nl",
            "programme.submissions_closed",
            title="Parks",
            deadline=Moment(datetime(2026, 3, 10, 23, tzinfo=UTC), ZONE),
        )
    )
    assert places(closing) == ["b"]  # open for votes only: after those open for ideas
    bot.clock.now = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert room_texts(await fire(bot))[0].startswith("Herinnering")
    bot.clock.now = datetime(2026, 3, 10, 23, 1, tzinfo=UTC)
    final = await fire(bot)
    assert room_texts(final)[0].startswith(says("nl", "programme.closed", title="Parks"))
    assert places(final) == ["z"]
    assert await fire(bot) == []


async def test_reopening_while_a_reminder_is_still_ahead_reminds_on_time(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
    await bot.say(MODERATOR, "!challenge open mobility", moderator=True)
    bot.clock.now = END_OF_MARCH_5 - timedelta(hours=23)
    assert room_texts(await fire(bot))[0].startswith("Herinnering")
    bot.clock.now = END_OF_MARCH_5
    assert room_texts(await fire(bot))[0].startswith(
        says("nl", "programme.closed", title="Safer bike lanes")
    )


async def test_a_deadline_that_ends_voting_too_after_downtime_closes_once(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05 --voting-deadline=2026-03-10")
    bot.clock.now = datetime(2026, 3, 12, tzinfo=UTC)
    fired = await fire(bot)
    assert [t.split("\n")[0] for t in room_texts(fired)] == [
        says("nl", "programme.closed", title="Safer bike lanes")
    ]
    assert places(fired) == ["z"]


async def test_an_edit_that_moves_a_deadline_moves_the_room_in_the_space(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    bot.clock.now = END_OF_MARCH_5 + timedelta(hours=1)
    assert places(await fire(bot)) == ["z"]
    edited = await bot.say(
        MODERATOR, "!challenge edit mobility --deadline=2026-03-20", moderator=True
    )
    assert places(edited) == ["a"]
    renamed = await bot.say(MODERATOR, "!challenge edit mobility Another title", moderator=True)
    assert places(renamed) == []


async def test_the_closing_of_a_challenge_without_ideas_says_so(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2026-03-05")
    bot.clock.now = END_OF_MARCH_5 + timedelta(minutes=1)
    (closed,) = await fire(bot)
    (room_text,) = room_texts([closed])
    assert says("nl", "programme.summary_no_ideas") in room_text
    assert says("nl", "programme.summary_ideas", count=0) not in room_text


def _body(row: OutboxItem) -> str:
    """A queued message's plain text, as Matrix shows it."""
    message = read(row)
    assert isinstance(message, MessagePayload)
    return str(content_of(message)["body"])
