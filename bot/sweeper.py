"""The sweeper: the bot's jobs that no event starts, run every few seconds.

- :meth:`Sweeper.expire_dialogues`: guided dialogues that ran out of time end with a friendly
  note, even if the person is gone.
- :meth:`Sweeper.fire_schedule`: the programme's schedule fires (reminders before deadlines,
  summaries at closing: :func:`handlers.programme.fire_due`), each once, also for deadlines
  that passed while the bot was stopped.
- :meth:`Sweeper.send_digests`: the daily and weekly digests of what people follow
  (:meth:`handlers.services.notifications.Notifier.digests`), each once.
- :meth:`Sweeper.run_upkeep`: every ``bot.upkeep_interval_minutes``, the database's upkeep
  (:mod:`storage.upkeep`): sent messages past ``bot.outbox_retention_days``, handled event ids
  no replay can bring again, expired confirmations, then ``PRAGMA optimize`` and an incremental
  vacuum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.backoff import sleep_unless
from bot.delivery import Delivery, wait_either
from bot.outcomes import enqueue_outcome
from handlers.dispatch import Dispatcher
from handlers.programme import fire_due
from handlers.services.notifications import Notifier
from storage import Store, UpkeepResult

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0


#: How far back the front end can bring a handled event again (a replay after a crash, a gap
#: fill), given a retention margin: the time before which a handled event's id may go; None to
#: keep them all (Matrix: :func:`bot.matrix.sync.handled_ids_horizon`).
HandledHorizon = Callable[[Store, datetime, timedelta], Awaitable[datetime | None]]


class Sweeper:
    """Runs :meth:`sweep` every :data:`SWEEP_SECONDS`: the upkeep when due, the expired
    dialogues, the schedule, the digests."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        outbox: Delivery,
        ready: asyncio.Event | None = None,
        *,
        handled_horizon: HandledHorizon,
        review_room: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        #: Where else moderators read announcements (Discord's review channel), if anywhere.
        self.review_room = review_room
        self.handled_horizon = handled_horizon
        #: Set by the first sync. The first sweep waits for it: the upkeep on a large database
        #: would otherwise hold up the start-up's first batch (and nothing a sweep queues is
        #: sent before that sync anyway).
        self.ready = ready
        self.store = dispatcher.store
        self.outbox = outbox
        self._upkeep_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        if self.ready is not None:
            await wait_either(self.ready, stop)
        while not stop.is_set():
            await self.sweep()
            await sleep_unless(stop, SWEEP_SECONDS)

    async def sweep(self) -> int:
        """One round of the jobs; returns how many dialogues expired. The upkeep goes
        first, once every upkeep interval (and at the first sweep)."""
        await self.run_upkeep()
        ended = await self.expire_dialogues()
        await self.fire_schedule()
        await self.send_digests()
        return ended

    async def expire_dialogues(self) -> int:
        """End the expired dialogues; the note and the ending commit together. Returns how
        many ended."""
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
                    review_room=self.review_room,
                )
        if ended:
            log.info("%d guided submissions expired", len(ended))
            self.outbox.wake()
        return len(ended)

    async def fire_schedule(self) -> int:
        """The reminders and closings that are due: marked done in the transaction that queues
        their messages, so each is sent once. Returns how many fired."""
        dispatcher = self.dispatcher
        now = dispatcher.clock()
        async with self.store.db.transaction():
            fired = await fire_due(
                self.store,
                dispatcher.catalogue,
                dispatcher.settings,
                dispatcher.programme,
                now,
                words=dispatcher.words,
                links=dispatcher.links,
            )
            for outcome in fired:
                await enqueue_outcome(
                    self.store,
                    outcome,
                    room_id="",  # effects only: each names its room
                    event_id=None,
                    settings=dispatcher.settings,
                    now=now,
                    review_room=self.review_room,
                )
        if fired:
            log.info("%d deadline reminders or closings fired", len(fired))
            self.outbox.wake()
        return len(fired)

    async def send_digests(self) -> int:
        """The daily and weekly digests that are due: noted as sent, and their notices
        dropped, in the transaction that queues them, so each goes once. Returns how many."""
        now = self.dispatcher.clock()
        async with self.store.db.transaction():
            digests = await Notifier.of(self.dispatcher).digests(now)
            for outcome in digests:
                await enqueue_outcome(
                    self.store,
                    outcome,
                    room_id="",  # effects only: each names its person
                    event_id=None,
                    settings=self.dispatcher.settings,
                    now=now,
                )
        if digests:
            log.info("%d digests of what people follow queued", len(digests))
            self.outbox.wake()
        return len(digests)

    async def run_upkeep(self) -> UpkeepResult | None:
        """The database's upkeep, if an interval has passed since the last; None when it was
        not due."""
        now = self.dispatcher.clock()
        settings = self.dispatcher.settings
        interval = timedelta(minutes=settings.upkeep_interval_minutes)
        if self._upkeep_at is not None and now - self._upkeep_at < interval:
            return None
        self._upkeep_at = now
        retention = timedelta(days=settings.handled_events_retention_days)
        handled_before = await self.handled_horizon(self.store, now, retention)
        return await self.store.upkeep.run(
            now,
            handled_before=handled_before,
            outbox_before=now - timedelta(days=settings.outbox_retention_days),
            verifications_before=now - timedelta(minutes=self.dispatcher.identity.cache_minutes),
        )
