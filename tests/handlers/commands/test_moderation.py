"""Triage by moderators (handlers/commands/moderation.py): the decisions and what the author hears,
in their language; which changes of status are allowed; the queue; pre-moderated challenges."""

from __future__ import annotations

import re

import pytest

from handlers.effects import Announce, SendDirect, SendRoom
from storage import IdeaStatus
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    effects_of,
    new_challenge,
    says,
    submit,
    text,
)

ROOM = "!mobility:city.example"


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


@pytest.mark.usefixtures("a_challenge")
async def test_direct_messages_of_triage_stay_in_the_authors_language(bot: Harness) -> None:
    idea = await submit(bot, ALICE, "Language check")
    await bot.say(ALICE, "!lang en")
    outcome = await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    (told,) = effects_of(outcome, SendDirect)
    assert told.user_id == ALICE
    assert "Good news" in str(told.reply)
