"""A person's rights over their data (handlers/commands/privacy.py), the one home of the fast tests
of ``!mydata`` and ``!forget``: what the copy holds (a dialogue, a poll answer, a verification
too), what erasure leaves behind (in the database files and the cards too), and what either
says outside a direct chat."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bot.outcomes import enqueue_outcome
from handlers.accounts import FORGOTTEN
from handlers.dispatch import Sender
from handlers.effects import Outcome, Redact, SendDirectFile
from storage import Database
from storage.migrations import MIGRATIONS
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
from tests.identity_support import ITSME, City, verification
from tests.poll_support import T0, poll_among_two, respond, say

TITLE = "Zebra crossing at the Sint-Pietersplein"
DESCRIPTION = "Painted stripes near the station entrance.\nAnd a light for the evening."
PUBLIC_ROOM = "!mobility:city.example"
_events = itertools.count()


async def queued(
    bot: Harness,
    sender: str,
    body: str,
    *,
    room: str | None = None,
    direct: bool = True,
    moderator: bool = False,
) -> Outcome:
    """A command and its outbox rows, committed together as the bot does it."""
    who = Sender(
        user_id=sender,
        room_id=room or direct_room(sender),
        is_direct=direct,
        is_moderator=moderator,
    )
    async with bot.db.transaction():
        if direct:
            await bot.store.users.set_direct_room(sender, who.room_id)
        outcome = await bot.dispatcher.handle_message(who, body)
        assert outcome is not None, body
        await enqueue_outcome(
            bot.store,
            outcome,
            room_id=who.room_id,
            event_id=f"$event{next(_events)}",
            settings=bot.settings,
            now=bot.clock(),
        )
    return outcome


def file_bytes(path: Path) -> bytes:
    """A file of the database as it is on disk (the -wal may be absent, or empty)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return b""


async def everything_about_alice(bot: Harness) -> tuple[int, int]:
    """Alice leaves traces in every table; returns her idea and Bob's."""
    idea = await submit(bot, ALICE, TITLE, description=DESCRIPTION)
    other = await submit(bot, BOB, "Bob's bench")
    await queued(bot, ALICE, "!lang en")
    await queued(bot, BOB, f"!vote {idea}")  # a card refresh is pending for her idea
    await queued(bot, ALICE, f"!vote {other}")
    # What she follows, how often, and a notice waiting for her digest; Bob follows her idea.
    await queued(bot, ALICE, "!volg mobility")
    await queued(bot, ALICE, f"!ontvolg {other}")
    await queued(bot, ALICE, "!meldingen wekelijks")
    await queued(bot, BOB, f"!volg {idea}")
    await submit(bot, BOB, "Bob's second bench")
    await queued(bot, ALICE, f"!report {other} Looks like mine")  # announced with her ID
    await queued(bot, ALICE, f"!show {idea}")
    await queued(bot, ALICE, "!mydata")  # a pending direct file with all of it
    await queued(bot, MODERATOR, f"!block {CAROL} Friend of {ALICE}", moderator=True)
    await queued(bot, MODERATOR, f"!hide {idea} Reported by {ALICE} herself", moderator=True)
    await queued(bot, MODERATOR, f"!unhide {idea}", moderator=True)
    await queued(bot, ALICE, "!idea")  # a guided submission in progress
    await queued(bot, MODERATOR, f"!accept {idea}", moderator=True)
    await queued(bot, MODERATOR, f"!accept {other}", moderator=True)
    await queued(bot, MODERATOR, "!poll mobility", moderator=True)  # a poll with her idea
    async with bot.db.transaction():
        poll = await bot.store.polls.running(1)
        assert poll is not None
        await bot.store.polls.set_start_event(poll.id, "$poll-start")
        await bot.store.polls.record_response(
            poll.id, ALICE, event_id="$alice-answer", sent_ms=1, answer_id=f"idea-{other}"
        )
        await bot.store.cards.add("$card-of-bob", other, PUBLIC_ROOM)
        await bot.store.votes.record_reaction("$alice-thumb", other, ALICE)
        await bot.store.undecrypted.add(
            "$secret", PUBLIC_ROOM, {"sender": ALICE, "type": "m.room.encrypted"}, bot.clock()
        )
        await bot.store.state.mark_handled(f"undecryptable:{PUBLIC_ROOM}:{ALICE}:s1", bot.clock())
        # Some of it was sent already: the oldest rows are done.
        for item in (await bot.store.outbox.pending())[:3]:
            await bot.store.outbox.mark_done(item.id, bot.clock())
    assert await bot.db.fetch_value("SELECT COUNT(*) FROM card_refresh") > 0
    return idea, other


@pytest.mark.parametrize("mode", ["anonymise", "delete"])
async def test_after_forget_no_file_of_the_database_holds_the_person(
    tmp_path: Path, mode: str
) -> None:
    async with open_harness(tmp_path, forget_ideas=mode) as bot:
        await new_challenge(bot)
        idea, other = await everything_about_alice(bot)
        path = bot.db.path
        assert ALICE.encode() in file_bytes(path) + file_bytes(Path(f"{path}-wal"))

        await queued(bot, ALICE, "!forget")
        done = await queued(bot, ALICE, "!forget confirm")
        assert "gewist" in text(done.reply) or "erased" in text(done.reply)

        contents = file_bytes(path) + file_bytes(Path(f"{path}-wal"))
        assert ALICE.encode() not in contents
        assert await bot.db.fetch_value("PRAGMA foreign_key_check") is None
        kept = await bot.store.ideas.get(idea)
        if mode == "delete":
            assert kept is None
            for piece in (TITLE, "Painted stripes near the station", "A light for the evening"):
                assert piece.encode() not in contents
        else:
            assert kept is not None and kept.author == FORGOTTEN and kept.title == TITLE
        assert (await bot.idea(other)).votes == 0  # her vote on Bob's idea is gone
        # What others did stays, without her name.
        block = await bot.db.fetch_one(
            "SELECT reason FROM blocked_users WHERE user_id = ?", (CAROL,)
        )
        assert block is not None and block["reason"] == f"Friend of {FORGOTTEN}"


@pytest.mark.usefixtures("a_challenge")
async def test_a_blocked_person_keeps_the_block_record_through_forget(bot: Harness) -> None:
    await submit(bot, ALICE, "Anything")
    await bot.say(MODERATOR, f"!block {ALICE} Spam", moderator=True)
    await bot.say(ALICE, "!forget")
    await bot.say(ALICE, "!forget confirm")
    assert await bot.store.blocks.is_blocked(ALICE)
    entries = await bot.db.fetch_all(
        "SELECT actor, subject FROM audit_log WHERE subject = ? OR actor = ?", (ALICE, ALICE)
    )
    assert entries == []


async def test_forget_deletes_ideas_while_their_card_waits_for_a_refresh(tmp_path: Path) -> None:
    async with open_harness(tmp_path, forget_ideas="delete") as bot:
        await new_challenge(bot)
        idea = await submit(bot, ALICE, "Soon gone")
        await queued(bot, BOB, f"!vote {idea}")  # CardChanged: a refresh is due in 2 seconds
        await bot.say(ALICE, "!forget")
        await bot.say(ALICE, "!forget confirm")
        assert await bot.store.ideas.get(idea) is None
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM card_refresh") == 0


async def test_forget_takes_down_the_cards_of_deleted_ideas(tmp_path: Path) -> None:
    async with open_harness(tmp_path, forget_ideas="delete") as bot:
        await new_challenge(bot, room_id="!challenge:city.example")
        idea = await submit(bot, ALICE, "Soon gone from the room too")
        async with bot.db.transaction():
            await bot.store.cards.add("$card", idea, "!challenge:city.example")
            await bot.store.cards.add_edit("$edit", idea, "!challenge:city.example")
        await bot.say(ALICE, "!forget")
        outcome = await bot.say(ALICE, "!forget confirm")
        assert set(effects_of(outcome, Redact)) == {
            Redact("!challenge:city.example", "$card"),
            Redact("!challenge:city.example", "$edit"),
        }
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM card_edits") == 0


async def test_an_older_database_drops_the_content_of_sent_messages(tmp_path: Path) -> None:
    old = Database(tmp_path / "old.sqlite3")
    await old.open(migrate=False)
    try:
        await old.migrate([m for m in MIGRATIONS if m.version < 8])
        await old.execute("PRAGMA secure_delete = OFF")  # as the bot ran before version 8
        await old.execute(
            """INSERT INTO outbox (kind, payload, created_at, done_at)
               VALUES ('direct', ?, '2026-01-01', '2026-01-01')""",
            (json.dumps({"user_id": BOB}),),
        )
        for key in (f"undecryptable:!room:{ALICE}:s1", "$other-event"):
            await old.execute("INSERT INTO handled_events VALUES (?, '2026-01-01')", (key,))
        await old.execute("DELETE FROM handled_events WHERE event_id LIKE 'undecryptable:%'")
    finally:
        await old.close()
    assert ALICE.encode() in file_bytes(tmp_path / "old.sqlite3")
    db = Database(tmp_path / "old.sqlite3")
    await db.open()
    try:
        assert await db.schema_version() == len(MIGRATIONS)
    finally:
        await db.close()
    contents = file_bytes(tmp_path / "old.sqlite3")
    assert ALICE.encode() not in contents and BOB.encode() not in contents


# --- !mydata and !forget outside a direct chat --------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
async def test_mydata_in_a_room_sends_the_file_to_the_direct_chat_only(bot: Harness) -> None:
    await submit(bot, ALICE, "Mine")
    outcome = await bot.say(ALICE, "!mydata", room=PUBLIC_ROOM, direct=False)
    assert text(outcome.reply) == says("nl", "mydata.sent_elsewhere")
    (sent,) = effects_of(outcome, SendDirectFile)
    assert sent.user_id == ALICE and "Mine" in sent.data
    assert "Mine" not in text(outcome.reply) and len(outcome.effects) == 1


@pytest.mark.usefixtures("a_challenge")
async def test_forget_in_a_room_says_nothing_personal(bot: Harness) -> None:
    idea = await submit(bot, BOB, "Bob's")
    await bot.say(ALICE, f"!vote {idea}")
    asked = await bot.say(ALICE, "!forget", room=PUBLIC_ROOM, direct=False)
    assert "!vergeet confirm" in text(asked.reply) and not asked.effects
    done = await bot.say(ALICE, "!forget confirm", room=PUBLIC_ROOM, direct=False)
    assert text(done.reply) == says("nl", "forget.done_elsewhere")
    assert not done.effects  # no direct message: it would store her direct room again
    assert not await bot.store.votes.has_voted(idea, ALICE)


async def test_mydata_holds_what_one_follows_and_forget_erases_it(bot: Harness) -> None:
    await new_challenge(bot)
    idea = await submit(bot, BOB, "Bob's bench")
    await bot.say(ALICE, "!volg mobility")
    await bot.say(ALICE, f"!ontvolg {idea}")
    await bot.say(ALICE, "!meldingen wekelijks")
    await submit(bot, BOB, "Bob's second bench")  # waits for Alice's weekly digest
    outcome = await bot.say(ALICE, "!mydata")
    data = json.loads(effects_of(outcome, SendDirectFile)[0].data)
    follows = [(row["challenge"], row["idea_id"], row["following"]) for row in data["follows"]]
    assert follows == [(None, idea, False), ("mobility", None, True)]
    assert data["notifications"]["frequency"] == "weekly"
    assert [(n["challenge"], n["kind"]) for n in data["waiting_notices"]] == [
        ("mobility", "new_idea")
    ]

    await bot.say(ALICE, "!forget")
    await bot.say(ALICE, "!forget confirm")
    for table in ("follows", "notification_settings", "notices"):
        assert (
            await bot.db.fetch_value(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (ALICE,))
            == 0
        )


# --- !mydata gives everything -------------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
async def test_mydata_gives_audit_entries_the_block_and_the_direct_room(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Mine")
    await bot.say(MODERATOR, f"!block {ALICE} Too many ideas", moderator=True)
    await bot.say(MODERATOR, f"!hide {idea} Checking", moderator=True)
    async with bot.db.transaction():
        await bot.store.users.set_direct_room(ALICE, direct_room(ALICE))
    outcome = await bot.say(ALICE, "!mydata")
    (sent,) = effects_of(outcome, SendDirectFile)
    data = json.loads(sent.data)
    assert data["blocked"] == {
        "blocked": True,
        "reason": "Too many ideas",
        "at": data["blocked"]["at"],
    }
    assert data["direct_room"] == direct_room(ALICE)
    assert [(e["action"], e["subject"]) for e in data["audit"]] == [("block", ALICE)]
    assert data["ideas"][0]["hidden"] is True
    moderator = json.loads(
        effects_of(await bot.say(MODERATOR, "!mydata", moderator=True), SendDirectFile)[0].data
    )
    assert {"block", "hide"} <= {entry["action"] for entry in moderator["audit"]}
    assert moderator["blocked"] == {"blocked": False}


@pytest.mark.usefixtures("a_challenge")
async def test_mydata_sends_everything_as_a_json_file(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "My idea", description="Details")
    other = await submit(bot, BOB, "Bob's idea")
    await bot.say(ALICE, f"!vote {other}")
    await bot.say(ALICE, f"!report {other} Duplicate of mine")
    await bot.say(ALICE, "!lang en")
    outcome = await bot.say(ALICE, "!mydata")
    (sent,) = effects_of(outcome, SendDirectFile)
    assert sent.user_id == ALICE and sent.mimetype == "application/json"
    data = json.loads(sent.data)
    assert data["user_id"] == ALICE and data["language"] == "en"
    assert [i["id"] for i in data["ideas"]] == [idea] and data["ideas"][0][
        "description"
    ] == "Details"
    assert [v["idea_id"] for v in data["votes"]] == [other]
    assert data["reports"][0]["reason"] == "Duplicate of mine"


@pytest.mark.usefixtures("a_challenge")
async def test_forget_asks_first_then_erases_and_anonymises(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Keep this idea")
    other = await submit(bot, BOB, "Other idea")
    await bot.say(ALICE, f"!vote {other}")
    await bot.say(BOB, f"!vote {idea}")
    await bot.say(MODERATOR, f"!block {ALICE} test", moderator=True)
    await bot.say(MODERATOR, f"!unblock {ALICE}", moderator=True)

    assert "Er is geen verzoek" in await bot.ask(ALICE, "!forget confirm")
    asked = await bot.ask(ALICE, "!forget")
    assert "!vergeet confirm" in asked
    assert await bot.store.votes.has_voted(other, ALICE)  # nothing erased yet
    reply = await bot.ask(ALICE, "!forget confirm")
    assert "1 stemmen" in reply or "1 stem" in reply

    assert not await bot.store.votes.has_voted(other, ALICE)
    kept = await bot.idea(idea)
    assert kept.author == FORGOTTEN and kept.votes == 1  # Bob's vote on it stays
    personal = await bot.store.personal_data.collect(ALICE)
    assert personal["ideas"] == [] and personal["votes"] == [] and personal["language"] is None
    for entry in await bot.store.audit.all():
        assert ALICE not in (entry.actor, entry.subject, entry.detail)


@pytest.mark.usefixtures("a_challenge")
async def test_forget_confirmation_expires(bot: Harness) -> None:
    await submit(bot, ALICE, "Still mine")
    await bot.say(ALICE, "!forget")
    bot.clock.advance(minutes=11)
    assert "Er is geen verzoek" in await bot.ask(ALICE, "!forget confirm")
    assert (await bot.store.ideas.by_author(ALICE))[0].author == ALICE


async def test_forget_can_delete_ideas_but_keeps_originals_of_merges(tmp_path: Path) -> None:
    async with open_harness(tmp_path, forget_ideas="delete") as bot:
        await new_challenge(bot)
        original = await submit(bot, ALICE, "Original")
        lonely = await submit(bot, ALICE, "Lonely")
        copy = await submit(bot, BOB, "Copy")
        await bot.say(BOB, f"!vote {lonely}")
        await bot.say(MODERATOR, f"!duplicate {copy} {original}", moderator=True)
        await bot.say(ALICE, "!forget")
        await bot.say(ALICE, "!forget confirm")
        assert await bot.store.ideas.get(lonely) is None
        assert (await bot.idea(original)).author == FORGOTTEN
        assert (await bot.idea(copy)).duplicate_of == original
        assert await bot.db.fetch_value("PRAGMA foreign_key_check") is None


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


async def test_mydata_holds_the_verification_and_forget_erases_it(city: City) -> None:
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    async with city.bot.db.transaction():
        await city.bot.store.verifications.save(verification(ALICE, "jana-hash"))
    city.known = {ALICE: verification(ALICE, "jana-hash")}
    await city.ask(ALICE, f"!vote {idea}")

    async with city.bot.db.snapshot():
        data = await city.bot.store.personal_data.collect(ALICE)
    assert data["verification"]["provider"] == ITSME
    assert data["votes"][0]["standing"] == "verified"

    await city.ask(ALICE, "!forget")
    await city.ask(ALICE, "!forget confirm")
    async with city.bot.db.snapshot():
        assert await city.bot.store.verifications.get(ALICE) is None
        hashes = await city.bot.db.fetch_value(
            "SELECT COUNT(*) FROM votes WHERE identity = 'jana-hash'"
        )
    assert hashes == 0


DM = direct_room(ALICE)


async def step_of(bot: Harness, user: str = ALICE, room: str = DM) -> str | None:
    """Where the person's dialogue in the room stands; None when there is none."""
    found = await bot.store.dialogues.get(user, room)
    return None if found is None else found.step


async def test_mydata_shows_an_open_dialogue_and_forget_erases_it(unthrottled_bot: Harness) -> None:
    await new_challenge(unthrottled_bot)
    for answer in ("idee", "1", "Protected lanes"):
        await unthrottled_bot.say(ALICE, answer)

    outcome = await unthrottled_bot.say(ALICE, "!mydata")
    (sent,) = effects_of(outcome, SendDirectFile)
    (kept,) = json.loads(sent.data)["dialogues"]
    assert (kept["room_id"], kept["step"], kept["data"]["title"]) == (
        DM,
        "description",
        "Protected lanes",
    )

    await unthrottled_bot.say(ALICE, "!forget")
    await unthrottled_bot.say(ALICE, "!forget confirm")

    assert await step_of(unthrottled_bot) is None
    assert (await unthrottled_bot.store.personal_data.collect(ALICE))["dialogues"] == []
