"""bot/sweeper.py: the sweeper prunes sent messages at most once an hour."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

from bot.delivery import Delivery
from bot.matrix.sync import handled_ids_horizon
from bot.sweeper import Sweeper
from tests.handler_support import open_harness


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
