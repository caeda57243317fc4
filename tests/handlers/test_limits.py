"""Limits: too long a text is refused, and so are ideas beyond the hourly limit and commands
beyond the limit a minute (handlers/limits.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.handler_support import (
    ALICE,
    BOB,
    MODERATOR,
    Harness,
    new_challenge,
    open_harness,
    submit,
)


@pytest.mark.usefixtures("a_challenge")
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
