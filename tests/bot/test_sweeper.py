"""bot/sweeper.py: the sweeper prunes sent messages at most once an hour, and queues each
digest once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from bot.delivery import Delivery
from bot.matrix.sync import handled_ids_horizon
from bot.sweeper import Sweeper
from tests.handler_support import ALICE, BOB, MODERATOR, new_challenge, open_harness, submit


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


async def test_a_digest_is_queued_once_in_the_outbox_across_sweepers(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:

        def sweeper() -> Sweeper:  # a new one: as after a restart
            return Sweeper(
                bot.dispatcher, cast(Delivery, _Outbox()), handled_horizon=handled_ids_horizon
            )

        await new_challenge(bot)
        idea = await submit(bot, ALICE, "Protected lanes")
        await bot.say(BOB, f"!vote {idea}")
        assert await sweeper().send_digests() == 0  # notes the time
        await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
        bot.clock.now = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # 18:30 in Brussels
        assert await sweeper().send_digests() == 1
        assert await sweeper().send_digests() == 0
        rows = await bot.db.fetch_all("SELECT kind, payload FROM outbox WHERE kind = 'direct'")
        to_bob = [row for row in rows if BOB in row["payload"] and "#1" in row["payload"]]
        assert len(to_bob) == 1
        assert await bot.db.fetch_value("SELECT COUNT(*) FROM notices") == 0
