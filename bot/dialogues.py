"""Guided dialogues that ran out of time end with a friendly note, even if the person is gone."""

from __future__ import annotations

import asyncio
import logging

from bot.backoff import sleep_unless
from bot.delivery import Delivery
from bot.effects import enqueue_outcome
from handlers.dispatch import Dispatcher

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0


class DialogueSweeper:
    def __init__(self, dispatcher: Dispatcher, outbox: Delivery) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.outbox = outbox

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sweep()
            await sleep_unless(stop, SWEEP_SECONDS)

    async def sweep(self) -> int:
        """End the expired dialogues; the note and the ending commit together."""
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
