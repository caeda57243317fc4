"""Abuse handling (handlers/commands/abuse.py): reports, hiding, blocking and the audit log."""

from __future__ import annotations

import pytest

from handlers.effects import Announce
from storage import IdeaStatus
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    effects_of,
    says,
    submit,
    text,
)

DAVE = "@dave:city.example"


# --- reports and hiding -------------------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
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


@pytest.mark.usefixtures("a_challenge")
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


@pytest.mark.usefixtures("a_challenge")
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


@pytest.mark.usefixtures("a_challenge")
async def test_audit_of_an_idea_lists_its_decisions(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Traffic lights")
    await bot.say(MODERATOR, f"!needinfo {idea} Which crossing?", moderator=True)
    await bot.say(MODERATOR, f"!reject {idea} Already planned", moderator=True)
    audit = await bot.ask(MODERATOR, f"!audit #{idea}", moderator=True)
    assert audit.index("reject") < audit.index("needinfo")  # newest first
    assert "Already planned" in audit
    assert "moderator" in (await bot.ask(ALICE, f"!audit #{idea}")).lower()


@pytest.mark.usefixtures("a_challenge")
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
