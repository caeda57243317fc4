"""Living cards: an idea's card in its challenge's room is edited in place when the idea changes.

A challenge on both networks has a room on each; each has its own live card of the idea.

One card per idea is live: the latest posted in the challenge's room (``!show`` there posts a
new one). Older cards keep taking a 👍 but are not edited, so however often an idea is shown,
a vote causes one edit.

Handlers mark an idea's cards stale; once the short delay has passed, one edit per card goes
into the outbox with the idea as it is then. A burst of votes thus makes one edit, not many.
Edits go in a lane of their own beside the room's (:func:`bot.outbox.card_lane`): the reply to
the next vote never waits behind the edit the last one caused.
A hidden idea's cards are taken down instead: each card and each of its edits is redacted, so
that its title does not stay readable in the room's edit history. Shown again, it gets a new
card (``handlers.services.idea_cards.publish_card``).
"""

from __future__ import annotations

import asyncio
import logging

from bot.backoff import sleep_unless
from bot.delivery import Delivery
from bot.outbox import MessagePayload, RedactPayload, card_lane, enqueue
from handlers.clock import Clock, system_clock
from handlers.command_words import CommandWords
from handlers.i18n import Catalogue
from handlers.public_links import PublicLinks
from handlers.services.idea_cards import card
from handlers.settings import BotSettings
from storage import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


class CardRefresher:
    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        settings: BotSettings,
        outbox: Delivery,
        *,
        words: CommandWords,
        links: PublicLinks | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.words = words  # a card says how to vote, in the room's language
        self.links = links or PublicLinks()  # and where the public report shows the idea
        self.clock = clock
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self.outbox = outbox

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh_due()
            await sleep_unless(stop, POLL_SECONDS)

    async def refresh_due(self) -> int:
        """Queue the edits that are due; returns how many."""
        edits = 0
        now = self.clock()
        async with self.store.db.transaction():
            for idea_id in await self.store.cards.take_due(now):
                idea = await self.store.ideas.get(idea_id)
                challenge = (
                    None if idea is None else await self.store.challenges.get(idea.challenge_id)
                )
                if idea is None or challenge is None or challenge.room_id is None:
                    continue
                if idea.hidden:
                    # In the lane of the card's edits: after any edit still waiting there.
                    for room_id, posted in await self.store.cards.take_down(idea_id):
                        redact = RedactPayload(event_id=posted)
                        lane = card_lane(room_id)
                        await enqueue(self.store, redact, now, room_id=room_id, lane=lane)
                        edits += 1
                    continue
                reply = card(self.catalogue, self.settings.language, idea, self.words, self.links)
                # Its live card in each of the challenge's rooms (one a network), each edit in
                # the room's card lane: a reply never waits behind it.
                for room in await self.store.challenges.rooms_of(challenge.id):
                    event_id = await self.store.cards.live_in_room(idea_id, room)
                    if event_id is None:
                        continue
                    edit = MessagePayload(reply=reply, replaces=event_id, edit_of=idea_id)
                    await enqueue(self.store, edit, now, room_id=room, lane=card_lane(room))
                    edits += 1
        if edits:
            log.debug("Queued %d card edits", edits)
            self.outbox.wake()
        return edits
