"""The Discord front end against simcord's in-memory Discord: the real discord.py client, the
real dispatcher and a real SQLite database, the outbox delivered by the real delivery loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import simcord
from pydantic import SecretStr

from bot.cards import CardRefresher
from bot.config import DiscordSettings
from bot.delivery import CarryOut, Delivery
from bot.discord.front_end import DiscordFrontEnd
from bot.discord.ids import ref
from bot.discord.sending import DiscordOutgoing
from bot.matrix.joining import JOIN_CONFIRMATIONS
from bot.routing import FrontEnds
from bot.server import Reachability
from handlers import build_registry
from handlers.dispatch import Dispatcher
from handlers.settings import BotSettings, IdentitySettings
from storage import Database, Store
from tests.handler_support import Clock, catalogue

GUILD_ID = 700000000000000001


class _AlwaysUp(Reachability):
    async def _answers(self) -> bool:
        return True


@dataclass
class World:
    env: simcord.Env
    front: DiscordFrontEnd
    store: Store
    dispatcher: Dispatcher
    delivery: Delivery
    cards: CardRefresher
    clock: Clock
    guild: simcord.GuildHandle
    review: simcord.ChannelHandle
    category: simcord.ChannelHandle
    moderators: simcord.RoleHandle
    general: simcord.ChannelHandle

    async def flush(self) -> None:
        """Deliver everything queued (cards edited once their short delay is past), and let
        Discord's answers reach the bot."""
        for _ in range(5):
            self.clock.advance(seconds=3)
            await self.cards.refresh_due()
            left = await self.delivery.drain(2)
            await self.env.settle()
            async with self.store.db.transaction():
                if left == 0 and not await self.store.outbox.count_pending():
                    break
        async with self.store.db.transaction():
            failed = await self.store.db.fetch_all(
                "SELECT kind, failed FROM outbox WHERE failed IS NOT NULL"
            )
            assert await self.store.outbox.count_pending() == 0, "rows stay queued"
        assert not failed, [dict(row) for row in failed]

    async def restart(self) -> DiscordFrontEnd:
        """The bot stopped and started again on the same database: a new client, which reads
        back what the channels got meanwhile."""
        old = self.front
        front = DiscordFrontEnd(old.settings, self.dispatcher, wake_outbox=lambda: None)
        ends = FrontEnds(
            self.store,
            matrix=None,
            discord=DiscordOutgoing(front).carry_out,
            matrix_joining=JOIN_CONFIRMATIONS,
        )
        self.delivery.carry_out = ends.carry_out
        self.front = front
        await self.env.restart_bot(front)
        await self.env.settle()
        return front

    def member(self, name: str, *, moderator: bool = False) -> simcord.MemberActor:
        roles = [self.moderators] if moderator else []
        return self.guild.add_member(self.env.create_user(name), roles=roles)

    def channel_of(self, room_id: str | None) -> simcord.ChannelHandle:
        assert room_id is not None
        for channel in self.guild.channels.values():
            if ref(channel.id) == room_id:
                return channel
        raise AssertionError(f"no channel {room_id}")


def _front(tmp_path: Path, **settings: object) -> tuple[DiscordFrontEnd, Database, Clock]:
    bot_settings = BotSettings.model_validate({"language": "nl", **settings})
    db = Database(tmp_path / "bot.sqlite3")
    store = Store(db)
    clock = Clock()
    identity = (
        IdentitySettings.model_validate(
            {"default_eligibility": settings.get("eligibility", "anyone")}
        )
        if "eligibility" in settings
        else None
    )
    dispatcher = Dispatcher(
        build_registry(),
        store,
        catalogue(),
        bot_settings,
        clock=clock,
        identity=identity,
        server_name="city.example",
    )
    discord_settings = DiscordSettings(
        token=SecretStr("test-token"),
        guild_id=GUILD_ID,
        moderator_role_id=1,
        review_channel_id=1,
        category_id=1,
    )
    front = DiscordFrontEnd(discord_settings, dispatcher, wake_outbox=lambda: None)
    return front, db, clock


@asynccontextmanager
async def discord_world(
    tmp_path: Path, *, matrix: CarryOut | None = None, **settings: object
) -> AsyncIterator[World]:
    """``matrix``: Matrix's front end beside Discord's (both networks configured)."""
    front, db, clock = _front(tmp_path, **settings)
    await db.open()
    env = simcord.Env(front)
    guild = env.create_guild("Gent", id=GUILD_ID)
    moderators = guild.create_role("Moderatoren")
    review = guild.create_text_channel("review")
    category = guild.create_category("Uitdagingen")
    general = guild.create_text_channel("algemeen")
    front.settings = front.settings.model_copy(
        update={
            "moderator_role_id": moderators.id,
            "review_channel_id": review.id,
            "category_id": category.id,
        }
    )
    outgoing = DiscordOutgoing(front)
    ends = FrontEnds(
        front.store,
        matrix=matrix,
        discord=outgoing.carry_out,
        matrix_joining=JOIN_CONFIRMATIONS,
        clock=clock,
    )
    ready = asyncio.Event()
    ready.set()
    delivery = Delivery(
        front.store, ends.carry_out, _AlwaysUp(), ready, joining=ends.joining, clock=clock
    )
    try:
        await env.start()
        with env.time_context():
            await env.settle()
            refresher = CardRefresher(
                front.store,
                front.dispatcher.catalogue,
                front.dispatcher.settings,
                delivery,
                words=front.dispatcher.words,
                clock=clock,
            )
            try:
                yield World(
                    env,
                    front,
                    front.store,
                    front.dispatcher,
                    delivery,
                    refresher,
                    clock,
                    guild,
                    review,
                    category,
                    moderators,
                    general,
                )
            finally:
                await env.shutdown()
        env._raise_errors_since(env._errors_acknowledged)
    finally:
        await db.close()
