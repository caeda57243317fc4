"""Wires the pieces together and runs the bot until SIGINT or SIGTERM.

Background work is supervised: the delivery loop, the card refresher and the dialogue sweeper
each run under :meth:`BotApp._supervise`, which logs a failure with a reference and starts the
loop again after a backoff, so that a bug in one never silences the bot. The sync loop is the
bot itself: if it fails (the homeserver no longer accepts the access token, say), the process
exits with status 1 for its supervisor (systemd's ``Restart=on-failure``) to restart it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.backoff import Backoff, sleep_unless
from bot.bot_clock import BotClock
from bot.cards import CardRefresher
from bot.config import Config, MatrixSettings
from bot.delivery import CarryOut, Delivery, wait_either
from bot.healthcheck import Health
from bot.logs import log_failure
from bot.matrix.client import log_in, make_client
from bot.matrix.events import EventHandler
from bot.matrix.homeserver_errors import HomeserverReachability
from bot.matrix.identity_lookup import IdentityChecker
from bot.matrix.joining import JOIN_CONFIRMATIONS
from bot.matrix.outgoing import Outgoing
from bot.matrix.roles import ModeratorRoles
from bot.matrix.rooms import Rooms
from bot.matrix.sync import SyncLoop, handled_ids_horizon
from bot.metrics import Metrics
from bot.monitoring import MonitoringServer
from bot.outcomes import enqueue_outcome
from bot.routing import FrontEnds
from bot.server import Reachability
from bot.sweeper import Sweeper
from handlers import build_registry
from handlers.accounts import identity_account
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import Outcome
from handlers.health import StatusFigures
from handlers.i18n import Catalogue
from handlers.programme import place_in_space
from storage import Database, Store

if TYPE_CHECKING:
    from bot.discord.front_end import DiscordFrontEnd

log = logging.getLogger(__name__)

#: On shutdown, how long queued replies may take to go out before the bot stops anyway.
DRAIN_SECONDS = 10.0
#: On shutdown, how long a background loop may take to finish its step before it is cancelled.
STOP_GRACE_SECONDS = 2.0
#: The background loops run under :meth:`BotApp._supervise`; health needs each one running.
#: The sweeper's loop keeps its old name, "dialogues": health reports and alerts name it.
BACKGROUND_TASKS = ("delivery", "cards", "dialogues")
#: Without Matrix, how often the Discord connection is reported alive, as a sync would be
#: (/healthz counts the bot stuck after twice this and 30 s).
DISCORD_ALIVE_MS = 30_000


class BotApp:
    def __init__(self, config: Config, clock: BotClock | None = None) -> None:
        self.config = config
        #: The bot's time (:mod:`bot.bot_clock`): the machine's, unless a test moves it.
        self.clock = clock or BotClock()
        self.db = Database(config.storage.path)
        self.store = Store(self.db)
        self.catalogue = Catalogue()
        self.metrics = Metrics()
        self.dispatcher = Dispatcher(
            build_registry(),
            self.store,
            self.catalogue,
            config.bot,
            self.clock,
            observe=self.metrics.observe_command,
            status=self._status,
            programme=config.programme,
            identity=config.identity,
            server_name=config.server_name,
            report=config.report,
        )

        # Everything else reads the time through the dispatcher's clock, so that a test that
        # moves (or replaces) it moves the whole bot: deadlines, sends, card refreshes.
        def now() -> datetime:
            return self.dispatcher.clock()

        #: The Discord front end, when the config has a [discord] section (discord.py is
        #: imported only then: a Matrix-only bot starts without it).
        self.discord: DiscordFrontEnd | None = None
        discord_carry_out: CarryOut | None = None
        if config.discord is not None:
            from bot.discord.front_end import DiscordFrontEnd
            from bot.discord.sending import DiscordOutgoing

            self.discord = DiscordFrontEnd(
                config.discord, self.dispatcher, wake_outbox=lambda: self.delivery.wake()
            )
            discord_carry_out = DiscordOutgoing(self.discord).carry_out
        matrix_carry_out: CarryOut | None = None
        reachability: Reachability
        if config.matrix is not None:
            self._set_up_matrix(config, config.matrix, now)
            matrix_carry_out = self.outgoing.carry_out
            reachability, ready = self.reachability, self.sync.first_sync_done
            sync_timeout_ms = config.matrix.sync_timeout_ms
            if self.discord is not None:
                self.events.review_room = self.discord.review_room
                self.discord.identify = self._identify_linked
        else:
            assert self.discord is not None  # the config has [matrix], [discord] or both
            from bot.discord.sending import DiscordReachability

            reachability, ready = DiscordReachability(self.discord), self.discord.started
            sync_timeout_ms = DISCORD_ALIVE_MS
        self.health = Health(
            self.metrics,
            reachability,
            self.store,
            sync_timeout_ms=sync_timeout_ms,
            tasks=BACKGROUND_TASKS,
        )
        self.front_ends = FrontEnds(
            self.store,
            matrix=matrix_carry_out,
            discord=discord_carry_out,
            matrix_joining=JOIN_CONFIRMATIONS,
            clock=now,
        )
        self.delivery = Delivery(
            self.store,
            self.front_ends.carry_out,
            reachability,
            ready,
            joining=self.front_ends.joining,
            max_in_flight=config.bot.rooms_in_flight,
            metrics=self.metrics,
            clock=now,
        )
        self.sweeper = Sweeper(
            self.dispatcher,
            self.delivery,
            ready=ready,
            handled_horizon=handled_ids_horizon,
            review_room=None if self.discord is None else self.discord.review_room,
        )
        self.cards = CardRefresher(
            self.store,
            self.catalogue,
            config.bot,
            self.delivery,
            words=self.dispatcher.words,
            links=self.dispatcher.links,
            clock=now,
        )
        self.stop = asyncio.Event()
        self.monitoring: MonitoringServer | None = None
        if config.metrics.enabled:
            self.monitoring = MonitoringServer(
                self.health, config.metrics.host, config.metrics.port
            )

    async def _identify_linked(self, sender: Sender) -> Sender:
        """A Discord account's verification: that of the Matrix account it is linked to, asked
        of the city's homeserver as for that account's own commands (cached alike)."""
        counted = await identity_account(self.store, sender.user_id)
        if counted is None or not self.identity.asks(counted):
            return sender
        found = await self.identity.lookup(sender.user_id)
        return replace(sender, verification=found.verification, verification_failed=found.failed)

    def _set_up_matrix(
        self, config: Config, matrix: MatrixSettings, now: Callable[[], datetime]
    ) -> None:
        """The Matrix front end: its client, sync loop, events and outgoing rows."""
        self.client = make_client(config)
        self.identity = IdentityChecker(
            self.client,
            self.store,
            config.identity,
            server_name=config.server_name,
            clock=now,
        )
        self.reachability = HomeserverReachability(self.client)
        self.rooms = Rooms(self.client, self.store, config.bot, clock=self.clock)
        self.roles = ModeratorRoles(config.bot)
        self.outgoing = Outgoing(
            self.client,
            self.store,
            self.catalogue,
            config.bot,
            self.rooms,
            moderators=self.roles.current,
            programme=config.programme,
            clock=now,
            words=self.dispatcher.words,
        )
        self.events = EventHandler(
            self.client,
            self.store,
            self.dispatcher,
            self.rooms,
            self.roles,
            wake_outbox=lambda: self.delivery.wake(),
            metrics=self.metrics,
            clock=self.clock,
            identity=self.identity,
        )
        self.sync = SyncLoop(
            self.client,
            self.store,
            self.events,
            self.rooms,
            self.roles,
            self.reachability,
            timeout_ms=matrix.sync_timeout_ms,
            allowed_servers=config.bot.allowed_servers,
            metrics=self.metrics,
            clock=now,
            answers_sent=lambda seconds: self.delivery.settled(seconds),
        )

    async def _status(self) -> StatusFigures:
        return await self.health.figures()

    async def run(self) -> None:
        # Everything opened is closed again, also when the start fails half-way (a database
        # newer than this code, a port in use, a login refused): a connection left open keeps
        # the process from exiting with its status.
        try:
            await self.db.open()
            if self.monitoring is not None:
                await self.monitoring.start()
            if self.config.matrix is not None:
                await self._start_matrix()
            created = await self.front_ends.create_missing_places(self.config.bot.language)
            if created:
                log.info("Queued %d challenges' places on the other network", created)
            loops: tuple[Callable[[asyncio.Event], Awaitable[None]], ...] = (
                self.delivery.run,
                self.cards.run,
                self.sweeper.run,
            )
            background = [
                asyncio.create_task(self._supervise(name, loop))
                for name, loop in zip(BACKGROUND_TASKS, loops, strict=True)
            ]
            if self.discord is not None and self.config.matrix is not None:
                background.append(asyncio.create_task(self._supervise("discord", self._discord)))
            try:
                # The main loop: Matrix's sync, or Discord's connection when it runs alone. If it
                # fails, the process exits for its supervisor to start it again.
                if self.config.matrix is not None:
                    await self.sync.run(self.stop)
                else:
                    await self._discord(self.stop)
            finally:
                self.stop.set()
                await self._shut_down(background)
        finally:
            await self._close()
        log.info("Stopped")

    async def _start_matrix(self) -> None:
        await log_in(self.client, self.config, self.store)
        await self.rooms.load()
        await self.identity.load()
        await self._link_challenge_rooms()
        if self.client.olm is not None:
            # For moderators who verify the bot's device by hand (see the README).
            fingerprint = self.client.olm.account.identity_keys["ed25519"]
            log.info("Device %s, ed25519 fingerprint %s", self.client.device_id, fingerprint)

    async def _close(self) -> None:
        """Close what :meth:`run` opened, each on its own: one that fails to close does not
        keep the others (the database's thread above all) open. Never log out: that would
        delete the device and its encryption keys."""
        closers: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("the monitoring endpoint", self.monitoring.stop if self.monitoring else _nothing),
        ]
        if self.config.matrix is not None:
            closers += [
                ("the reachability probe", self.reachability.close),
                ("the Matrix client", self.client.close),
            ]
        closers.append(("the database", self.db.close))
        for what, close in closers:
            try:
                await close()
            except Exception as error:
                log.warning("Could not close %s: %s: %s", what, type(error).__name__, error)

    async def _link_challenge_rooms(self) -> None:
        """Every challenge room a child of the programme's Space, its order by its phase now:
        checked at each start (a link that is right sends nothing). A phase that changes while
        the bot runs moves the room then (:func:`handlers.programme.place_in_space`)."""
        async with self.store.db.transaction():
            now = self.dispatcher.clock()
            places = tuple(
                place_in_space(challenge, now)
                for challenge in await self.store.challenges.list(open_only=False)
                if challenge.room_id is not None
            )
            await enqueue_outcome(
                self.store,
                Outcome(effects=places),
                room_id="",  # effects only
                event_id=None,
                settings=self.config.bot,
                now=now,
            )

    async def _discord(self, stop: asyncio.Event) -> None:
        """The Discord connection, beside Matrix's sync, until ``stop``; discord.py reconnects
        and resumes by itself, and respects Discord's rate limits."""
        assert self.discord is not None and self.config.discord is not None
        token = self.config.discord.token
        assert token is not None  # the config requires it
        connection = asyncio.create_task(self.discord.start(token.get_secret_value()))
        ended = _done_event(connection)
        try:
            while not stop.is_set() and not connection.done():
                if self.config.matrix is None and self.discord.is_ready():
                    self.metrics.synced()  # alone, Discord's connection is what /healthz watches
                await wait_either(stop, ended, seconds=DISCORD_ALIVE_MS / 3000)
        finally:
            await self.discord.close()
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)
        if connection.done() and not connection.cancelled() and connection.exception():
            raise connection.exception()  # type: ignore[misc]

    async def _supervise(self, name: str, loop: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run a background loop until ``stop``; one that fails is logged and started again."""
        backoff = Backoff(f"Background task {name}", log, cap=30.0)
        while not self.stop.is_set():
            try:
                self.health.task_running(name)
                await loop(self.stop)
            except Exception:
                reference = log_failure(log, "Background task %s failed; restarting it", name)
                self.health.task_failed(name, reference)
                await sleep_unless(self.stop, backoff.failed(f"ref {reference}"))

    async def _shut_down(self, background: list[asyncio.Task[None]]) -> None:
        """Finish within the drain time whatever the bot was doing: loops that do not end in a
        moment are cancelled, and what is in flight is abandoned after ``DRAIN_SECONDS``."""
        _done, hanging = await asyncio.wait(background, timeout=STOP_GRACE_SECONDS)
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)
        try:
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await self.cards.refresh_due()
        except Exception as error:
            log.warning("Card edits not queued at shutdown: %s", error)
        await self.delivery.drain(DRAIN_SECONDS)


async def _nothing() -> None:
    pass


def _done_event(task: asyncio.Task[None]) -> asyncio.Event:
    done = asyncio.Event()
    task.add_done_callback(lambda _task: done.set())
    return done


async def run_bot(config: Config) -> None:
    app = BotApp(config)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal() -> None:
        if app.stop.is_set() and main is not None:
            log.warning("Second signal: stopping now")
            main.cancel()
        app.stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    if config.matrix is not None:
        log.info("Starting as %s on %s", config.matrix.user_id, config.matrix.homeserver)
    if config.discord is not None:
        log.info("Starting on Discord, server %s", config.discord.guild_id)
    await app.run()
