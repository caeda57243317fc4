"""Who reads a reply where it is sent (handlers/audience.py): moderator views are answered only in
private, and an idea's author is shown as ``show_authors`` says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.handler_support import (
    ALICE,
    BOB,
    MODERATION_ROOM,
    MODERATOR,
    Harness,
    direct_room,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)

PUBLIC_ROOM = "!mobility:city.example"


ELSEWHERE = says("nl", "moderation.ask_elsewhere")


@pytest.mark.usefixtures("a_challenge")
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


@pytest.mark.usefixtures("a_challenge")
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
