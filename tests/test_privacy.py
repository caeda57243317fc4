"""Privacy: what erasure leaves behind (in the files too), what !mydata gives, what the export
and the rooms show, and what a blocked person can no longer do."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.delivery import Delivery
from bot.matrix.sync import handled_ids_horizon
from bot.outcomes import enqueue_outcome
from bot.sweeper import Sweeper
from handlers.commands.privacy import FORGOTTEN
from handlers.dispatch import Sender
from handlers.effects import Outcome, Redact, SendDirectFile
from handlers.export import export_data, to_csv
from storage import Database
from storage.migrations import MIGRATIONS
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATION_ROOM,
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

TITLE = "Zebra crossing at the Sint-Pietersplein"
DESCRIPTION = "Painted stripes near the station entrance.\nAnd a light for the evening."
PUBLIC_ROOM = "!mobility:city.example"
_events = itertools.count()


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        await new_challenge(harness)
        yield harness


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
        await bot.store.state.mark_handled(
            f"undecryptable:{PUBLIC_ROOM}:{ALICE}:s1", bot.clock()
        )
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


async def test_the_database_overwrites_what_it_deletes(bot: Harness) -> None:
    assert await bot.db.fetch_value("PRAGMA secure_delete") == 1


async def test_sent_messages_keep_no_content_and_are_pruned_after_the_retention(
    bot: Harness,
) -> None:
    async with bot.db.transaction():
        old = await bot.store.outbox.enqueue("direct", {"user_id": ALICE, "x": 1}, bot.clock())
        new = await bot.store.outbox.enqueue("direct", {"user_id": BOB, "x": 2}, bot.clock())
        waiting = await bot.store.outbox.enqueue("direct", {"user_id": CAROL}, bot.clock())
        await bot.store.outbox.mark_done(old, bot.clock())
        await bot.store.outbox.mark_done(new, bot.clock() + timedelta(days=20), failed="no")
    rows = await bot.db.fetch_all("SELECT id, payload FROM outbox ORDER BY id")
    assert [(row["id"], row["payload"]) for row in rows[:2]] == [(old, "{}"), (new, "{}")]
    async with bot.db.transaction():
        pruned = await bot.store.outbox.prune_done(bot.clock() + timedelta(days=10))
    assert pruned == 1
    left = [row["id"] for row in await bot.db.fetch_all("SELECT id FROM outbox ORDER BY id")]
    assert left == [new, waiting]  # a message not sent yet is never pruned


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


class _Outbox:
    """The sender the sweeper wakes: here there is nothing to send."""

    def wake(self) -> None:
        pass


async def test_the_sweeper_prunes_sent_messages_at_most_once_an_hour(tmp_path: Path) -> None:
    async with open_harness(tmp_path, outbox_retention_days=30) as bot:
        sweeper = Sweeper(
            bot.dispatcher, cast(Delivery, _Outbox()), handled_horizon=handled_ids_horizon
        )
        async with bot.db.transaction():
            first = await bot.store.outbox.enqueue("direct", {}, bot.clock())
            await bot.store.outbox.mark_done(first, bot.clock())
        bot.clock.advance(days=31)
        await sweeper.sweep()
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM outbox") == 0
        async with bot.db.transaction():
            second = await bot.store.outbox.enqueue("direct", {}, bot.clock())
            await bot.store.outbox.mark_done(second, bot.clock() - timedelta(days=40))
        bot.clock.advance(minutes=30)
        await sweeper.sweep()
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM outbox") == 1  # not yet
        bot.clock.advance(minutes=31)
        await sweeper.sweep()
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM outbox") == 0


# --- the open-data export -----------------------------------------------------------------------


async def test_the_export_leaves_out_hidden_withdrawn_and_not_let_through(bot: Harness) -> None:
    shown = await submit(bot, ALICE, "Open idea")
    hidden = await submit(bot, ALICE, "Hidden idea")
    withdrawn = await submit(bot, ALICE, "Taken back")
    copy = await submit(bot, BOB, "Copy of the hidden one")
    await bot.say(MODERATOR, f"!duplicate {copy} {hidden}", moderator=True)
    await bot.say(MODERATOR, f"!hide {hidden}", moderator=True)
    await bot.say(ALICE, f"!withdraw {withdrawn}")
    await new_challenge(bot, "premod", options="--premoderated", title="Checked first")
    waiting = await submit(bot, ALICE, "Awaiting a moderator", slug="premod")
    rejected = await submit(bot, ALICE, "Turned down", slug="premod")
    accepted = await submit(bot, ALICE, "Let through", slug="premod")
    await bot.say(MODERATOR, f"!reject {rejected} No", moderator=True)
    await bot.say(MODERATOR, f"!accept {accepted}", moderator=True)

    async with bot.db.snapshot():
        data = await export_data(bot.store)
    ideas = {c["slug"]: [i["id"] for i in c["ideas"]] for c in data["challenges"]}
    assert ideas == {"mobility": [shown, copy], "premod": [accepted]}
    assert waiting not in ideas["premod"]
    (exported_copy,) = [i for i in data["challenges"][0]["ideas"] if i["id"] == copy]
    assert exported_copy["duplicate_of"] is None  # its original is hidden
    rows = to_csv(data).splitlines()
    assert len(rows) == 1 + 3 and not any("Hidden idea" in row for row in rows)


# --- blocked means blocked ----------------------------------------------------------------------


async def test_a_blocked_person_can_neither_edit_nor_report(bot: Harness) -> None:
    own = await submit(bot, ALICE, "Her own idea")
    others = await submit(bot, BOB, "Someone else's idea")
    await bot.say(MODERATOR, f"!block {ALICE} Spam", moderator=True)
    before = await bot.counts()
    reports = await bot.db.fetch_value("SELECT COUNT(*) FROM reports")

    edited = await bot.say(ALICE, f"!edit {own} Rewritten\nNew text")
    reported = await bot.say(ALICE, f"!report {others} Spam")

    for outcome in (edited, reported):
        assert text(outcome.reply) == says("nl", "error.blocked") and not outcome.effects
    assert (await bot.idea(own)).title == "Her own idea"
    assert await bot.db.fetch_value("SELECT COUNT(*) FROM reports") == reports
    assert await bot.counts() == before


# --- moderator views stay with moderators -------------------------------------------------------

ELSEWHERE = says("nl", "moderation.ask_elsewhere")


async def test_moderator_views_are_answered_only_in_private(bot: Harness) -> None:
    hidden = await submit(bot, ALICE, "Reported words")
    await bot.say(MODERATOR, f"!hide {hidden} Offensive", moderator=True)
    await new_challenge(bot, "premod", options="--premoderated", title="Checked first")
    waiting = await submit(bot, BOB, "Not let through yet", slug="premod")
    public = await submit(bot, BOB, "Fine for everyone")
    views = ("!queue", "!audit", f"!audit #{hidden}", f"!show {hidden}", f"!show {waiting}")

    for command in views:
        outcome = await bot.say(MODERATOR, command, room=PUBLIC_ROOM, direct=False, moderator=True)
        assert text(outcome.reply) == ELSEWHERE and not outcome.effects, command
    # The author of a hidden idea does not see it in a public room either.
    assert await bot.ask(ALICE, f"!show {hidden}", room=PUBLIC_ROOM, direct=False) == ELSEWHERE
    # What everyone may see is shown anywhere.
    assert "Fine for everyone" in await bot.ask(
        MODERATOR, f"!show {public}", room=PUBLIC_ROOM, direct=False, moderator=True
    )

    for room, direct in ((MODERATION_ROOM, False), (direct_room(MODERATOR), True)):
        answers = [
            await bot.ask(MODERATOR, command, room=room, direct=direct, moderator=True)
            for command in views
        ]
        assert ELSEWHERE not in answers
        assert "Not let through yet" in answers[0] and "Offensive" in answers[1]
        assert "Reported words" in answers[3] and "Not let through yet" in answers[4]
    assert "Reported words" in await bot.ask(ALICE, f"!show {hidden}")  # in her direct chat


# --- authors ------------------------------------------------------------------------------------


async def show_line(
    bot: Harness, sender: str, idea: int, *, public: bool = False, moderator: bool = False
) -> str:
    """The line of ``!show`` that says who submitted the idea, asked in a direct chat, or with
    ``public`` in the challenge's room."""
    room = PUBLIC_ROOM if public else None
    reply = await bot.ask(
        sender, f"!show {idea}", room=room, direct=not public, moderator=moderator
    )
    return reply.splitlines()[1]


async def test_by_default_only_moderators_see_the_author_and_only_in_private(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Whose idea?")

    assert ALICE in await show_line(bot, MODERATOR, idea, moderator=True)
    in_moderation_room = await bot.ask(
        MODERATOR, f"!show {idea}", room=MODERATION_ROOM, direct=False, moderator=True
    )
    assert ALICE in in_moderation_room.splitlines()[1]
    assert ALICE not in await show_line(bot, MODERATOR, idea, moderator=True, public=True)
    assert ALICE not in await show_line(bot, BOB, idea)
    assert ALICE not in await show_line(bot, BOB, idea, public=True)
    yours = await show_line(bot, ALICE, idea)
    assert "door jou" in yours and ALICE not in yours
    assert "door jou" not in await show_line(bot, ALICE, idea, public=True)


@pytest.mark.parametrize(("rule", "bob_sees_alice"), [("everyone", True), ("nobody", False)])
async def test_show_authors_everyone_or_nobody(
    tmp_path: Path, rule: str, bob_sees_alice: bool
) -> None:
    async with open_harness(tmp_path, show_authors=rule) as bot:
        await new_challenge(bot)
        idea = await submit(bot, ALICE, "Whose idea?")
        line = await show_line(bot, BOB, idea, public=True)
        assert (ALICE in line) is bob_sees_alice
        moderator_line = await show_line(bot, MODERATOR, idea, moderator=True)
        assert (ALICE in moderator_line) is bob_sees_alice


# --- !mydata and !forget outside a direct chat --------------------------------------------------


async def test_mydata_in_a_room_sends_the_file_to_the_direct_chat_only(bot: Harness) -> None:
    await submit(bot, ALICE, "Mine")
    outcome = await bot.say(ALICE, "!mydata", room=PUBLIC_ROOM, direct=False)
    assert text(outcome.reply) == says("nl", "mydata.sent_elsewhere")
    (sent,) = effects_of(outcome, SendDirectFile)
    assert sent.user_id == ALICE and "Mine" in sent.data
    assert "Mine" not in text(outcome.reply) and len(outcome.effects) == 1


async def test_forget_in_a_room_says_nothing_personal(bot: Harness) -> None:
    idea = await submit(bot, BOB, "Bob's")
    await bot.say(ALICE, f"!vote {idea}")
    asked = await bot.say(ALICE, "!forget", room=PUBLIC_ROOM, direct=False)
    assert "!forget confirm" in text(asked.reply) and not asked.effects
    done = await bot.say(ALICE, "!forget confirm", room=PUBLIC_ROOM, direct=False)
    assert text(done.reply) == says("nl", "forget.done_elsewhere")
    assert not done.effects  # no direct message: it would store her direct room again
    assert not await bot.store.votes.has_voted(idea, ALICE)


# --- !mydata gives everything -------------------------------------------------------------------


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
