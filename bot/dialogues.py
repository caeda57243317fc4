"""Guided dialogues that ran out of time end with a friendly note, even if the person is gone;
and sent messages older than the retention leave the outbox."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.backoff import sleep_unless
from bot.delivery import Delivery
from bot.effects import enqueue_outcome
from handlers.dispatch import Dispatcher

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0

#: How often sent messages older than ``bot.outbox_retention_days`` are deleted.
PRUNE_EVERY = timedelta(hours=1)


class DialogueSweeper:
    def __init__(self, dispatcher: Dispatcher, outbox: Delivery) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.outbox = outbox
        self._pruned_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sweep()
            await sleep_unless(stop, SWEEP_SECONDS)

    async def sweep(self) -> int:
        """End the expired dialogues; the note and the ending commit together. Once an hour,
        also delete the outbox rows sent before the retention period."""
        await self._prune_outbox()
        async with self.store.db.transaction():
            ended = await self.dispatcher.expire_dialogues()
            for _user_id, room_id, outcome in ended:
                await enqueue_outcome(
                    self.store,
                    outcome,
                    room_id=room_id,
                    event_id=None,
                    settings=self.dispatcher.settings,
                    now=self.dispatcher.clock(),
                )
        if ended:
            log.info("%d guided submissions expired", len(ended))
            self.outbox.wake()
        return len(ended)

    async def _prune_outbox(self) -> None:
        now = self.dispatcher.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        retention = timedelta(days=self.dispatcher.settings.outbox_retention_days)
        async with self.store.db.transaction():
            pruned = await self.store.outbox.prune_done(now - retention)
        if pruned:
            log.info("%d sent messages older than %s left the outbox", pruned, retention)
