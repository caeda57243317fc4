"""What the handler tests share: a real SQLite database in a temporary directory, a dispatcher
with a clock the test moves, and ways to read a reply as plain text. No Matrix here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TypeVar

from handlers import build_registry
from handlers.context import Context
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import CreateChallengeRoom, Effect, Outcome, SendRoom
from handlers.i18n import Catalogue
from handlers.incoming import IncomingEvent, ReactionAdded, ReactionRemoved
from handlers.reply import Items, Para, Quote, Reply, plain_text
from handlers.settings import BotSettings, ReportSettings
from storage import Challenge, Database, Idea, Store

MODERATOR = "@mod:city.example"
ALICE = "@alice:city.example"
BOB = "@bob:city.example"
CAROL = "@carol:city.example"
MODERATION_ROOM = "!moderation:city.example"

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

E = TypeVar("E")

_PRODUCT_TABLES = ("challenges", "ideas", "votes", "reaction_votes", "users", "audit_log")


@cache
def catalogue() -> Catalogue:
    """One catalogue for the whole run: reading the .po files is the slowest part of a set-up."""
    return Catalogue()


@dataclass
class Clock:
    """The dispatcher's clock; a test moves it instead of waiting."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def says(language: str, key: str, **params: object) -> str:
    """The plain text of one catalogue entry, as a reply built from it would read."""
    return catalogue().plain(language, key, **params)


def direct_room(user_id: str) -> str:
    return f"!dm-{user_id.strip('@').split(':')[0]}:city.example"


def text(reply: Reply | None) -> str:
    """A reply as the plain text a person would read, one block per line."""
    if reply is None:
        return ""
    lines: list[str] = []
    for block in reply.blocks:
        if isinstance(block, Para):
            lines.append(plain_text(block.content))
        elif isinstance(block, Items):
            lines.extend(plain_text(item) for item in block.items)
        elif isinstance(block, Quote):
            lines.append(block.value)
    return "\n".join(lines)


def effects_of(outcome: Outcome | None, kind: type[E]) -> list[E]:
    assert outcome is not None
    return [effect for effect in outcome.effects if isinstance(effect, kind)]


@dataclass
class Harness:
    db: Database
    store: Store
    dispatcher: Dispatcher
    clock: Clock
    settings: BotSettings
    _reaction_counter: int = field(default=0)

    async def send(
        self,
        sender: str,
        body: str,
        *,
        room: str | None = None,
        direct: bool = True,
        moderator: bool = False,
    ) -> Outcome | None:
        """A message as the bot would hear it; None when it is not meant for the bot."""
        who = Sender(
            user_id=sender,
            room_id=room or direct_room(sender),
            is_direct=direct,
            is_moderator=moderator,
        )
        async with self.store.db.transaction():
            return await self.dispatcher.handle_message(who, body)

    async def say(
        self,
        sender: str,
        body: str,
        *,
        room: str | None = None,
        direct: bool = True,
        moderator: bool = False,
    ) -> Outcome:
        outcome = await self.send(sender, body, room=room, direct=direct, moderator=moderator)
        assert outcome is not None, f"the bot ignored {body!r}"
        return outcome

    async def ask(
        self,
        sender: str,
        body: str,
        *,
        room: str | None = None,
        direct: bool = True,
        moderator: bool = False,
    ) -> str:
        """The text of the reply to a message."""
        outcome = await self.say(sender, body, room=room, direct=direct, moderator=moderator)
        return text(outcome.reply)

    async def run(
        self,
        sender: str,
        action: Callable[[Context], Awaitable[Outcome | None]],
        *,
        room: str,
    ) -> Outcome | None:
        who = Sender(user_id=sender, room_id=room, is_direct=False, is_moderator=False)
        async with self.store.db.transaction():
            return await self.dispatcher.run(who, action)

    async def event(self, sender: str, event: IncomingEvent, *, room: str) -> Outcome | None:
        """An event as the bot hands it on, to the handler its router declared."""
        who = Sender(user_id=sender, room_id=room, is_direct=False, is_moderator=False)
        async with self.store.db.transaction():
            return await self.dispatcher.handle_event(who, event)

    async def react(self, sender: str, card_event_id: str, room: str) -> str:
        """A 👍 on a card; returns the reaction's event id (to redact it later)."""
        self._reaction_counter += 1
        reaction = f"$reaction{self._reaction_counter}"
        outcome = await self.event(sender, ReactionAdded(card_event_id, reaction), room=room)
        assert outcome is None or outcome.reply is None, "a reaction gets no reply"
        return reaction

    async def redact(self, sender: str, reaction_event_id: str, room: str) -> Outcome | None:
        """A 👍 taken back; what the bot does (never a reply to the redaction itself)."""
        outcome = await self.event(sender, ReactionRemoved(reaction_event_id), room=room)
        assert outcome is None or outcome.reply is None
        return outcome

    async def room_created(self, outcome: Outcome, room_id: str) -> Challenge:
        """Do what the bot does once the room of a new challenge exists."""
        (created,) = effects_of(outcome, CreateChallengeRoom)
        async with self.store.db.transaction():
            await self.store.challenges.set_room(created.challenge_id, room_id, self.clock())
        challenge = await self.store.challenges.get(created.challenge_id)
        assert challenge is not None
        return challenge

    async def card_posted(self, effect: Effect, event_id: str) -> None:
        """Do what the bot does once it has sent an idea's card to a room."""
        assert isinstance(effect, SendRoom) and effect.card is not None
        async with self.store.db.transaction():
            await self.store.cards.add(event_id, effect.card, effect.room_id)

    async def counts(self) -> dict[str, int]:
        """How many rows each table of the product holds: to show that nothing changed."""
        return {
            table: int(await self.db.fetch_value(f"SELECT COUNT(*) FROM {table}"))
            for table in _PRODUCT_TABLES
        }

    async def idea(self, idea_id: int) -> Idea:
        found = await self.store.ideas.get(idea_id)
        assert found is not None
        return found


@asynccontextmanager
async def open_harness(
    tmp_path: Path, *, report: ReportSettings | None = None, **settings: object
) -> AsyncIterator[Harness]:
    """A migrated database in ``tmp_path`` and a dispatcher over it, closed afterwards; with
    ``report``, the bot links to the public report it names."""
    bot_settings = BotSettings.model_validate(
        {"moderators": (MODERATOR,), "moderation_room": MODERATION_ROOM, **settings}
    )
    db = Database(tmp_path / "bot.sqlite3")
    store = Store(db)
    clock = Clock()
    dispatcher = Dispatcher(
        build_registry(), store, catalogue(), bot_settings, clock=clock, report=report
    )
    await db.open()
    try:
        yield Harness(db, store, dispatcher, clock, bot_settings)
    finally:
        await db.close()


async def new_challenge(
    harness: Harness,
    slug: str = "mobility",
    *,
    options: str = "--deadline=2099-12-31",
    title: str = "Safer bike lanes",
    room_id: str | None = None,
) -> Challenge:
    """A challenge created by the moderator, with its room (``!<slug>:city.example``)."""
    outcome = await harness.say(
        MODERATOR, f"!challenge new {options} {slug} {title}\nWhat would help?", moderator=True
    )
    return await harness.room_created(outcome, room_id or f"!{slug}:city.example")


async def submit(
    harness: Harness, author: str, title: str, slug: str = "mobility", description: str = ""
) -> int:
    """The number of an idea submitted in the author's direct chat."""
    before = {idea.id for idea in await harness.store.ideas.by_author(author)}
    body = f"!idea {slug} {title}" + (f"\n{description}" if description else "")
    outcome = await harness.say(author, body)
    added = {idea.id for idea in await harness.store.ideas.by_author(author)} - before
    assert len(added) == 1, text(outcome.reply)
    return added.pop()
