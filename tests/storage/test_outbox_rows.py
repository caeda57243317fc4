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


async def test_a_lane_whose_next_row_answers_a_command_says_so(bot: Harness) -> None:
    """The delivery loop sends such a lane at once and holds the others back a moment: a reply
    names the command it answers (``reply_to``), and a row queued by an earlier version holds
    Matrix content that does."""
    reply = {"reply": {"blocks": []}, "reply_to": "$command"}
    earlier = {"content": {"body": "ok", "m.relates_to": {"m.in_reply_to": {"event_id": "$c"}}}}
    announcement = {"reply": {"blocks": []}, "card": None}
    async with bot.db.transaction():
        for lane, payload in (("a", reply), ("b", earlier), ("c", announcement)):
            await bot.store.outbox.enqueue("message", payload, bot.clock(), lane=lane)
        waiting = await bot.store.outbox.waiting_lanes(10)
    assert [(lane.lane, lane.answers) for lane in waiting] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
