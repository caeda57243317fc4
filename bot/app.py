"""Wires the pieces together and runs the bot until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.cards import CardRefresher
from bot.client import log_in, make_client
from bot.config import Config
from bot.dialogues import DialogueSweeper
from bot.events import EventHandler
from bot.outbox import OutboxSender
from bot.sync import SyncLoop
from handlers import build_registry
from handlers.dispatch import Dispatcher
from handlers.i18n import Catalogue
from storage import Database, Store

log = logging.getLogger(__name__)

#: On shutdown, how long queued replies may take to go out before the bot stops anyway.
DRAIN_SECONDS = 10.0


class BotApp:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.storage.path)
        self.store = Store(self.db)
        self.catalogue = Catalogue()
        self.dispatcher = Dispatcher(build_registry(), self.store, self.catalogue, config.bot)
        self.client = make_client(config)
        self.outbox = OutboxSender(self.client, self.store, self.catalogue, config.bot)
        self.dialogues = DialogueSweeper(self.dispatcher, self.outbox)
        self.cards = CardRefresher(self.store, self.catalogue, config.bot, self.outbox)
        self.events = EventHandler(self.client, self.store, self.dispatcher, self.outbox)
        self.sync = SyncLoop(
            self.client,
            self.store,
            self.events,
            timeout_ms=config.matrix.sync_timeout_ms,
            allowed_servers=config.bot.allowed_servers,
        )
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await self.db.open()
        try:
            await log_in(self.client, self.config, self.store)
            if self.client.olm is not None:
                # For moderators who verify the bot's device by hand (see the README).
                fingerprint = self.client.olm.account.identity_keys["ed25519"]
                log.info("Device %s, ed25519 fingerprint %s", self.client.device_id, fingerprint)
            outbox_task = asyncio.create_task(self.outbox.run(self.stop), name="outbox")
            cards_task = asyncio.create_task(self.cards.run(self.stop), name="cards")
            sweep_task = asyncio.create_task(self.dialogues.run(self.stop), name="dialogues")
            try:
                await self.sync.run(self.stop)
            finally:
                self.stop.set()
                await outbox_task
                await cards_task
                await sweep_task
                await self.cards.refresh_due()
                await self.outbox.drain(DRAIN_SECONDS)
        finally:
            # Never log out: that would delete the device and its encryption keys.
            await self.client.close()
            await self.db.close()
        log.info("Stopped")


async def run_bot(config: Config) -> None:
    app = BotApp(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, app.stop.set)
    log.info("Starting as %s on %s", config.matrix.user_id, config.matrix.homeserver)
    await app.run()
