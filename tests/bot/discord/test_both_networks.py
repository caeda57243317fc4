"""One challenge on both networks: with Matrix and Discord configured, a challenge made on either
has its Matrix room and its Discord channel, and its ideas, votes and final poll are one set.

Discord is simcord's in-memory Discord driven through the real discord.py client; Matrix's
side is observed through the outbox rows routed to it (a recording front end that records the
rooms, cards and poll starts as Matrix's would), not a homeserver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.delivery import Record
from bot.discord.ids import ref
from bot.discord.sending import DiscordOutgoing
from bot.matrix.joining import JOIN_CONFIRMATIONS
from bot.outbox import CreateChallengeRoomPayload, read
from bot.outcomes import enqueue_outcome
from bot.routing import FrontEnds
from handlers.dispatch import Sender
from handlers.effects import CreateChallengeRoom
from handlers.incoming import PollAnswered
from handlers.services.challenge_rooms import challenge_room_created
from storage import OutboxItem
from storage.outbox_kinds import OutboxKind
from tests.bot.discord.test_discord_journey import cards, join, open_challenge, submit
from tests.discord_support import World, discord_world

MODERATION = "!mods:city.example"
MODERATOR = "@mod:city.example"


@dataclass
class MatrixSide:
    """Matrix's front end as seen from the outbox: each row it was given, and the records
    Matrix's own would make (the challenge's room, a card's event, a poll's start)."""

    world: Callable[[], World]
    rows: list[OutboxItem] = field(default_factory=list)

    async def carry_out(self, item: OutboxItem, txn_id: str) -> Record | None:
        self.rows.append(item)
        payload, store = read(item), self.world().store
        event_id = f"$event-{item.id}"
        if isinstance(payload, CreateChallengeRoomPayload):
            request = CreateChallengeRoom(**payload.model_dump(exclude={"network"}))
            room_id = f"!{payload.slug}:city.example"

            async def record_room() -> None:
                dispatcher = self.world().dispatcher
                outcome = await challenge_room_created(
                    store,
                    dispatcher.catalogue,
                    request,
                    room_id=room_id,
                    address=f"#{payload.slug}:city.example",
                    now=dispatcher.clock(),
                    words=dispatcher.words,
                )
                await enqueue_outcome(
                    store,
                    outcome,
                    room_id=request.notify_room,
                    event_id=None,
                    settings=dispatcher.settings,
                    now=dispatcher.clock(),
                )

            return record_room
        if item.kind == OutboxKind.MESSAGE and isinstance(item.payload.get("card"), int):
            idea_id, room = item.payload["card"], item.room_id or ""

            async def record_card() -> None:
                await store.cards.add(event_id, idea_id, room)

            return record_card
        if item.kind == OutboxKind.POLL_START:
            poll_id, room = item.payload["poll_id"], item.room_id or ""

            async def record_start() -> None:
                await store.polls.set_start_event(poll_id, event_id, room)

            return record_start
        return None

    def in_room(self, room: str, kind: OutboxKind) -> list[dict[str, Any]]:
        return [row.payload for row in self.rows if row.room_id == room and row.kind == kind]


async def matrix_says(world: World, user: str, room: str, text: str, **options: Any) -> None:
    """A Matrix message handled as the Matrix front end does: dispatched, its outcome queued."""
    sender = Sender(
        user_id=user,
        room_id=room,
        is_direct=False,
        is_moderator=options.get("moderator", False),
    )
    async with world.store.db.transaction():
        outcome = await world.dispatcher.handle_message(sender, text)
        assert outcome is not None, text
        await enqueue_outcome(
            world.store,
            outcome,
            room_id=room,
            event_id=None,
            settings=world.dispatcher.settings,
            now=world.clock(),
        )
    await world.flush()


async def link(world: World, discord_account: str, matrix_account: str) -> None:
    async with world.store.db.transaction():
        await world.store.links.link(
            discord_account, matrix_account, "key-" + matrix_account, world.clock()
        )


async def test_a_challenge_from_matrix_lives_on_both_with_one_set_of_ideas_votes_and_poll(
    tmp_path: Path,
) -> None:
    side = MatrixSide(world=lambda: current)
    async with discord_world(tmp_path, matrix=side.carry_out) as world:
        current = world
        await matrix_says(
            world, MODERATOR, MODERATION, "!challenge new parks Greener parks", moderator=True
        )

        # Its Matrix room, and its Discord channel under the category.
        async with world.store.db.transaction():
            challenge = await world.store.challenges.by_slug("parks")
            assert challenge is not None
            rooms = await world.store.challenges.rooms_of(challenge.id)
        assert challenge.room_id == "!parks:city.example"
        assert len(rooms) == 2 and rooms[1].startswith("discord:")
        channel = world.channel_of(rooms[1])
        assert channel.name == "parks"
        # Commands typed in the channel reach the Matrix-made challenge.
        async with world.store.db.transaction():
            found = await world.store.challenges.by_room(rooms[1])
        assert found is not None and found.id == challenge.id

        # An idea submitted on Discord: a card in the channel and one in the Matrix room.
        await submit(world, world.member("alice"), "More trees")
        assert len(cards(channel)) == 1
        matrix_cards = [
            row
            for row in side.in_room("!parks:city.example", OutboxKind.MESSAGE)
            if row.get("card") == 1
        ]
        assert len(matrix_cards) == 1

        # A vote from each network: once for a linked person, once more for another.
        bob = world.member("bob")
        await join(world, bob)  # /doe-mee: into the challenge's Discord channel
        await link(world, ref(bob.id), "@bob:city.example")
        (card,) = cards(channel)
        await bob.click(card, custom_id="cb:vote:1")
        await world.flush()
        await matrix_says(world, "@bob:city.example", "!parks:city.example", "!vote 1")
        await matrix_says(world, "@carol:city.example", "!parks:city.example", "!vote 1")
        async with world.store.db.transaction():
            assert await world.store.votes.count(1) == 2
        # Both cards are edited with the count.
        edits = [
            row
            for row in side.in_room("!parks:city.example", OutboxKind.MESSAGE)
            if row.get("edit_of") == 1
        ]
        assert edits, "the Matrix card is edited too"
        (card,) = cards(channel)
        assert "2" in (card.embeds[0].description or "")

        # The final poll in both: one answer a person, counted in one result.
        await submit(world, world.member("alan"), "Benches")
        await matrix_says(world, MODERATOR, MODERATION, "!accept 1", moderator=True)
        await matrix_says(world, MODERATOR, MODERATION, "!accept 2", moderator=True)
        await matrix_says(world, MODERATOR, MODERATION, "!poll parks", moderator=True)
        native = next(message for message in channel.history() if message.poll is not None)
        (matrix_start,) = [
            row
            for row in side.rows
            if row.kind == OutboxKind.POLL_START and row.room_id == "!parks:city.example"
        ]
        start_event = f"$event-{matrix_start.id}"
        async with world.store.db.transaction():
            poll = await world.store.polls.running(challenge.id)
            assert poll is not None
            answers = await world.store.polls.answers(poll.id)
            assert await world.store.polls.by_start_event(start_event) == poll

        dan = world.member("dan")
        await join(world, dan)
        await dan.vote(native, answer=1)
        await bob.vote(native, answer=1)
        await world.env.settle()
        now_ms = int(world.clock().timestamp() * 1000)
        for user, answer_id in (("@erin:city.example", 0), ("@bob:city.example", 1)):
            sender = Sender(
                user_id=user, room_id="!parks:city.example", is_direct=False, is_moderator=False
            )
            event = PollAnswered(
                start_event, f"$answer-{user}", (answers[answer_id].answer_id,), now_ms + 1
            )
            async with world.store.db.transaction():
                outcome = await world.dispatcher.handle_event(sender, event)
                if outcome is not None:
                    await enqueue_outcome(
                        world.store,
                        outcome,
                        room_id=sender.room_id,
                        event_id=None,
                        settings=world.dispatcher.settings,
                        now=world.clock(),
                    )
        await world.flush()
        async with world.store.db.transaction():
            result = await world.store.polls.result(poll.id)
        assert result is not None
        # dan and erin, and bob once across his two accounts (his latest answer).
        assert result.voters == 3
        assert [count.count for count in result.answers] == [2, 1]

        # Its end reaches both.
        await matrix_says(world, MODERATOR, MODERATION, "!poll end parks", moderator=True)
        assert side.in_room("!parks:city.example", OutboxKind.POLL_END)
        closed = next(message for message in channel.history() if message.id == native.id)
        assert closed.poll is not None and closed.poll.is_finalised()


async def test_a_challenge_from_discord_gets_its_matrix_room_and_older_ones_theirs_at_start(
    tmp_path: Path,
) -> None:
    side = MatrixSide(world=lambda: current)
    async with discord_world(tmp_path, matrix=side.carry_out) as world:
        current = world
        channel = await open_challenge(world, "parks")

        async with world.store.db.transaction():
            rooms = await world.store.challenges.rooms_of(1)
        assert rooms == (ref(channel.id), "!parks:city.example")
        (create,) = [row for row in side.rows if row.kind == OutboxKind.CREATE_CHALLENGE_ROOM]
        # Its Matrix room invites nobody of Discord's; Matrix people join with !join.
        assert create.payload["network"] == "matrix" and create.payload["invite"] == []

        # A challenge from before both networks were configured: its place is made at start,
        # once however often the bot starts before it is made.
        async with world.store.db.transaction():
            older = await world.store.challenges.create(
                slug="benches",
                title="Benches",
                description="",
                created_by=MODERATOR,
                now=world.clock(),
            )
            await world.store.challenges.set_room(older.id, "!benches:city.example", world.clock())
        ends = FrontEnds(
            world.store,
            matrix=side.carry_out,
            discord=DiscordOutgoing(world.front).carry_out,
            matrix_joining=JOIN_CONFIRMATIONS,
            clock=world.clock,
        )
        assert await ends.create_missing_places("nl") == 1
        assert await ends.create_missing_places("nl") == 0
        await world.flush()
        async with world.store.db.transaction():
            rooms = await world.store.challenges.rooms_of(older.id)
        assert rooms[0] == "!benches:city.example" and len(rooms) == 2
        assert world.channel_of(rooms[1]).name == "benches"
        assert await ends.create_missing_places("nl") == 0
