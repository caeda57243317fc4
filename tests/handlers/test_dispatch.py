"""The dispatcher (handlers/dispatch.py): a command that fails halfway leaves nothing behind, and
the person gets a reference to the logs instead of the error."""

from __future__ import annotations

import pytest

from storage import IdeaStatus
from tests.handler_support import ALICE, Harness, new_challenge, says, submit


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
