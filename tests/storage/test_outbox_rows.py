"""The outbox's rows (storage/outbox_rows.py): a sent message keeps no content, and is pruned
after the retention; one not sent yet never is."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.handler_support import ALICE, BOB, CAROL, Harness


@pytest.mark.usefixtures("a_challenge")
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
