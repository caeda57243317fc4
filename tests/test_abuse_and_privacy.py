"""Untrusted users: reports, hiding, blocking, limits, privacy rights and SQL-looking text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.commands.privacy import FORGOTTEN
from handlers.effects import Announce, SendDirect, SendDirectFile
from handlers.export import export_data
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

DAVE = "@dave:city.example"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        await new_challenge(harness)
        yield harness


# --- reports and hiding -------------------------------------------------------------------------


async def test_reports_from_different_people_hide_an_idea_until_a_moderator_decides(
    bot: Harness,
) -> None:
    idea = await submit(bot, ALICE, "Paint the bridge")
    first = await bot.say(BOB, f"!report {idea} Offensive words")
    assert text(first.reply) == says("nl", "report.thanks", id=f"#{idea}")
    (announce,) = effects_of(first, Announce)
    assert any("Offensive words" in getattr(block, "value", "") for block in announce.reply.blocks)
    assert "al gemeld" in await bot.ask(BOB, f"!report {idea} Again")  # one report per person
    await bot.say(CAROL, f"!report {idea} Spam")
    assert not (await bot.idea(idea)).hidden
    third = await bot.say(DAVE, f"!report {idea} Spam too")
    assert (await bot.idea(idea)).hidden
    assert len(effects_of(third, Announce)) == 2  # the report, and that it is now hidden

    assert f"#{idea}" not in await bot.ask(BOB, "!ideas mobility")
    assert "Ik vind geen idee" in await bot.ask(BOB, f"!show {idea}")
    assert "Paint the bridge" in await bot.ask(ALICE, f"!show {idea}")  # the author still sees it
    assert "Paint the bridge" in await bot.ask(MODERATOR, f"!show {idea}", moderator=True)
    assert "bekijkt" in await bot.ask(ALICE, f"!vote {idea}")  # no votes while under review

    await bot.say(MODERATOR, f"!unhide {idea}", moderator=True)
    assert not (await bot.idea(idea)).hidden
    assert f"#{idea}" in await bot.ask(BOB, "!ideas mobility")
    actions = [entry.action for entry in await bot.store.audit.all()]
    assert "auto_hide" in actions and "unhide" in actions


async def test_moderators_hide_and_accepting_shows_again(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Borderline idea")
    assert "moderator" in (await bot.ask(BOB, f"!hide {idea}")).lower()
    assert not (await bot.idea(idea)).hidden
    await bot.say(MODERATOR, f"!hide {idea} Checking the facts", moderator=True)
    assert (await bot.idea(idea)).hidden
    await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    found = await bot.idea(idea)
    assert not found.hidden and found.status is IdeaStatus.ACCEPTED


# --- blocking and the audit log ---------------------------------------------------------------


async def test_a_blocked_user_can_neither_submit_nor_vote(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Good idea")
    assert "Matrix-ID" in await bot.ask(MODERATOR, "!block not-a-user", moderator=True)
    await bot.say(MODERATOR, f"!block {BOB} Spamming", moderator=True)
    before = await bot.counts()
    assert "geblokkeerd" in await bot.ask(BOB, "!idea mobility Spam spam")
    assert "geblokkeerd" in await bot.ask(BOB, f"!vote {idea}")
    assert await bot.counts() == before
    audit = await bot.ask(MODERATOR, f"!audit {BOB}", moderator=True)
    assert "block" in audit and "Spamming" in audit and MODERATOR in audit
    await bot.say(MODERATOR, f"!unblock {BOB}", moderator=True)
    assert "geteld" in await bot.ask(BOB, f"!vote {idea}")


async def test_audit_of_an_idea_lists_its_decisions(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Traffic lights")
    await bot.say(MODERATOR, f"!needinfo {idea} Which crossing?", moderator=True)
    await bot.say(MODERATOR, f"!reject {idea} Already planned", moderator=True)
    audit = await bot.ask(MODERATOR, f"!audit #{idea}", moderator=True)
    assert audit.index("reject") < audit.index("needinfo")  # newest first
    assert "Already planned" in audit
    assert "moderator" in (await bot.ask(ALICE, f"!audit #{idea}")).lower()


# --- limits -------------------------------------------------------------------------------------


async def test_too_long_text_is_refused_and_nothing_stored(bot: Harness) -> None:
    before = await bot.counts()
    reply = await bot.ask(ALICE, "!idea mobility " + "x" * 201)
    assert "201" in reply and "200" in reply
    reply = await bot.ask(ALICE, "!idea mobility Short\n" + "y" * 5001)
    assert "5001" in reply
    assert await bot.counts() == before


async def test_ideas_per_hour(tmp_path: Path) -> None:
    async with open_harness(tmp_path, ideas_per_hour=3) as bot:
        await new_challenge(bot)
        for n in range(3):
            await submit(bot, ALICE, f"Idea {n}")
            bot.clock.advance(minutes=10)
        refused = await bot.ask(ALICE, "!idea mobility One too many")
        assert "over 30 minuten" in refused  # the first one leaves the hour in 30 minutes
        assert len(await bot.store.ideas.by_author(ALICE)) == 3
        bot.clock.advance(minutes=31)
        await submit(bot, ALICE, "Now it fits")


async def test_commands_per_minute_refuse_once_then_ignore(tmp_path: Path) -> None:
    async with open_harness(tmp_path, commands_per_minute=3) as bot:
        for _ in range(3):
            assert await bot.send(ALICE, "!challenges") is not None
        refused = await bot.ask(ALICE, "!challenges")
        assert "Rustig aan" in refused
        assert await bot.send(ALICE, "!challenges") is None  # a flood gets no more replies
        assert await bot.send(BOB, "!challenges") is not None  # others are not affected
        for _ in range(5):
            assert await bot.send(MODERATOR, "!challenges", moderator=True) is not None


# --- editing ------------------------------------------------------------------------------------


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


# --- privacy ------------------------------------------------------------------------------------


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


async def test_forget_asks_first_then_erases_and_anonymises(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Keep this idea")
    other = await submit(bot, BOB, "Other idea")
    await bot.say(ALICE, f"!vote {other}")
    await bot.say(BOB, f"!vote {idea}")
    await bot.say(MODERATOR, f"!block {ALICE} test", moderator=True)
    await bot.say(MODERATOR, f"!unblock {ALICE}", moderator=True)

    assert "Er is geen verzoek" in await bot.ask(ALICE, "!forget confirm")
    asked = await bot.ask(ALICE, "!forget")
    assert "!forget confirm" in asked
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


async def test_export_leaves_out_authors_unless_asked(bot: Harness) -> None:
    await submit(bot, ALICE, "Public idea")
    async with bot.db.transaction():
        anonymous = await export_data(bot.store)
        named = await export_data(bot.store, include_authors=True)
    assert anonymous["challenges"][0]["ideas"][0]["author"] is None
    assert named["challenges"][0]["ideas"][0]["author"] == ALICE


# --- SQL-looking text ---------------------------------------------------------------------------

NASTY = "Robert'); DROP TABLE ideas; -- \" OR 1=1; SELECT * FROM votes"


async def test_sql_looking_text_is_stored_verbatim_everywhere(bot: Harness) -> None:
    outcome = await bot.say(MODERATOR, f"!challenge new sql-test {NASTY}\n{NASTY}", moderator=True)
    assert outcome.reply is not None
    challenge = await bot.store.challenges.by_slug("sql-test")
    assert challenge is not None and challenge.title == NASTY and challenge.description == NASTY
    idea = await submit(bot, ALICE, NASTY, description=NASTY)
    stored = await bot.idea(idea)
    assert stored.title == NASTY and stored.description == NASTY
    await bot.say(BOB, f"!report {idea} {NASTY}")
    await bot.say(MODERATOR, f"!hide {idea} {NASTY}", moderator=True)
    await bot.say(MODERATOR, f"!needinfo {idea} {NASTY}", moderator=True)
    await bot.say(ALICE, f"!edit {idea} {NASTY}\n{NASTY}")
    await bot.say(MODERATOR, f"!reject {idea} {NASTY}", moderator=True)
    await bot.say(MODERATOR, f"!block {CAROL} {NASTY}", moderator=True)
    details = {entry.detail for entry in await bot.store.audit.all()}
    assert NASTY in details
    tables = {
        row[0]
        for row in await bot.db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {"ideas", "votes", "challenges", "audit_log", "reports"} <= tables
    assert await bot.db.fetch_value("SELECT reason FROM reports") == NASTY
    assert "DROP TABLE" in await bot.ask(BOB, f"!show {idea}", moderator=True)


async def test_direct_messages_of_triage_stay_in_the_authors_language(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Language check")
    await bot.say(ALICE, "!lang en")
    outcome = await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    (told,) = effects_of(outcome, SendDirect)
    assert told.user_id == ALICE
    assert "Good news" in str(told.reply)
