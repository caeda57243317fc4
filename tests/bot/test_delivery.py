"""The delivery loop on a real database, the homeserver replaced by a recording fake: lanes go
side by side and keep their order, confirmations in a busy room are joined."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cards import CardRefresher
from bot.delivery import Delivery
from bot.matrix.homeserver_errors import HomeserverReachability
from bot.matrix.joining import JOIN_AT_LEAST, JOIN_CONFIRMATIONS, joinable_run, joined
from bot.outbox import (
    MessagePayload,
    ModeratorLevelsPayload,
    UnreadableRow,
    direct_lane,
    enqueue,
    read,
)
from bot.outcomes import enqueue_outcome
from bot.server import Retry
from handlers.command_words import CommandWords
from storage import Database, OutboxItem, Store
from tests.handler_support import ALICE, BOB, CAROL, catalogue, new_challenge, open_harness, submit

BUSY = "!busy:city.example"
QUIET = "!quiet:city.example"


def message(
    text: str, *, joinable_by: str | None = None, thread: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "content": {"msgtype": "m.notice", "body": text, "formatted_body": f"<p>{text}</p>"},
        "card": None,
    }
    if joinable_by is not None:
        payload["joinable"] = {"user_id": joinable_by, "thread_root": thread}
    return payload


class Homeserver:
    """Records what was sent; a room can be made slow."""

    def __init__(self) -> None:
        self.sent: list[tuple[str | None, str, str]] = []  # room, body, txn id
        self.slow: dict[str, float] = {}

    async def carry_out(self, item: OutboxItem, txn_id: str) -> None:
        await asyncio.sleep(self.slow.get(item.room_id or "", 0))
        self.sent.append((item.room_id, item.payload["content"]["body"], txn_id))


async def delivery_over(tmp_path: Path, server: Homeserver) -> tuple[Delivery, Store, Database]:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    store = Store(db)
    ready = asyncio.Event()
    ready.set()
    client: Any = None
    delivery = Delivery(
        store,
        server.carry_out,
        HomeserverReachability(client),
        ready,
        max_in_flight=4,
        joining=JOIN_CONFIRMATIONS,
    )  # type: ignore[arg-type]
    return delivery, store, db


async def test_a_slow_busy_room_does_not_hold_up_a_quiet_one(tmp_path: Path) -> None:
    server = Homeserver()
    server.slow[BUSY] = 0.05
    delivery, store, db = await delivery_over(tmp_path, server)
    now = datetime.now(UTC)
    try:
        async with db.transaction():
            for n in range(20):
                await store.outbox.enqueue("message", message(f"busy {n}"), now, room_id=BUSY)
            await store.outbox.enqueue("message", message("quiet"), now, room_id=QUIET)
        stop = asyncio.Event()
        running = asyncio.create_task(delivery.run(stop))
        for _ in range(200):
            if "quiet" in [body for _room, body, _txn in server.sent]:
                break
            await asyncio.sleep(0.01)
        bodies = [body for _room, body, _txn in server.sent]
        assert "quiet" in bodies and len(bodies) < 10  # long before the busy room is done
        for _ in range(300):
            if len(server.sent) == 21:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await running
        busy = [body for room, body, _txn in server.sent if room == BUSY]
        assert busy == [f"busy {n}" for n in range(20)]  # in order within the room
        async with db.transaction():
            assert await store.outbox.count_pending() == 0
    finally:
        await db.close()


async def test_confirmations_waiting_together_go_out_as_one_message(tmp_path: Path) -> None:
    server = Homeserver()
    delivery, store, db = await delivery_over(tmp_path, server)
    now = datetime.now(UTC)
    try:
        async with db.transaction():
            for n in range(5):
                payload = message(f"vote {n} counted", joinable_by=f"@p{n}:city.example")
                await store.outbox.enqueue("message", payload, now, room_id=BUSY)
            await store.outbox.enqueue("message", message("an error"), now, room_id=BUSY)
        left = await delivery.drain(5)
        assert left == 0
        assert len(server.sent) == 2
        (_room, combined, txn), (_room2, alone, _txn2) = server.sent
        assert all(f"@p{n}:city.example: vote {n} counted" in combined for n in range(5))
        assert alone == "an error"
        assert re.fullmatch(r"cb[0-9a-f]+\.\d+-\d+", txn)  # the id names the rows it carries
    finally:
        await db.close()


def item(row: int, payload: dict[str, Any], room: str = BUSY) -> OutboxItem:
    return OutboxItem(id=row, kind="message", room_id=room, payload=payload, attempts=0)


def test_the_joining_rule() -> None:
    few = [item(n, message("ok", joinable_by=f"@p{n}:x")) for n in range(JOIN_AT_LEAST - 1)]
    assert joinable_run(few) == []  # too few: each gets its own reply
    many = [item(n, message("ok", joinable_by=f"@p{n}:x")) for n in range(5)]
    assert joinable_run([item(99, message("first, not a confirmation")), *many]) == []
    threads = [
        *[item(n, message("ok", joinable_by=f"@p{n}:x", thread="$t1")) for n in range(3)],
        item(7, message("ok", joinable_by="@q:x", thread="$t2")),
    ]
    run = joinable_run(threads)
    assert [row.id for row in run] == [0, 1, 2]  # one thread at a time
    alone = [item(n, message("ok", joinable_by="@same:x")) for n in range(5)]
    assert joinable_run(alone) == []  # one person's confirmations (a direct chat) stay replies
    content = joined(run).payload["content"]
    assert content["m.mentions"] == {"user_ids": ["@p0:x", "@p1:x", "@p2:x"]}
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$t1",
        "is_falling_back": True,
    }
    assert content["formatted_body"].startswith("<ul><li><a href=")


def test_direct_lanes_name_nobody() -> None:
    lane = direct_lane("@alice:city.example")
    assert lane.startswith("direct:") and "alice" not in lane
    assert lane == direct_lane("@alice:city.example") != direct_lane("@bob:city.example")


async def test_rows_are_written_in_the_shapes_they_always_had(tmp_path: Path) -> None:
    server = Homeserver()
    _delivery, store, db = await delivery_over(tmp_path, server)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    content = {"msgtype": "m.notice", "body": "ok"}
    async with db.transaction():
        await enqueue(store, MessagePayload(content=content, card=None), now, room_id=BUSY)
        await enqueue(store, MessagePayload(content=content, edit_of=7), now, room_id=BUSY)
        await enqueue(store, ModeratorLevelsPayload(moderators=("@m:x",)), now, room_id=BUSY)
        rows = await store.outbox.pending()
    await db.close()
    assert [(row.kind, row.payload) for row in rows] == [
        ("message", {"content": content, "card": None}),
        ("message", {"content": content, "edit_of": 7}),
        ("moderator_levels", {"moderators": ["@m:x"]}),
    ]
    assert [read(row) for row in rows][1] == MessagePayload(content=content, edit_of=7)


def test_a_row_that_does_not_fit_its_kind_is_refused_for_good() -> None:
    with pytest.raises(UnreadableRow, match="unknown outbox kind 'reply'"):
        read(item(1, {"room_id": BUSY, "body": "an old row"}).model_copy(update={"kind": "reply"}))
    with pytest.raises(UnreadableRow, match="poll_id"):
        read(OutboxItem(id=2, kind="poll_end", room_id=BUSY, payload={"text": "x"}, attempts=0))
    assert isinstance(read(item(3, message("ok"))), MessagePayload)


async def test_a_reply_never_waits_behind_the_card_edit_of_an_earlier_vote(
    tmp_path: Path,
) -> None:
    """A vote in a challenge room makes the bot edit the idea's card a moment later; the reply
    to the next vote in that room goes out at once, not after the edit (nor after the moment
    an edit waits so that replies go first), and the edit still goes out."""
    async with open_harness(tmp_path) as bot:
        challenge = await new_challenge(bot)
        room = challenge.room_id
        assert room is not None
        idea = await submit(bot, ALICE, "Covered bike parking")
        async with bot.db.transaction():
            await bot.store.cards.add("$card", idea, room)
        sent: list[tuple[str, str]] = []  # (what, room)

        async def carry_out(item: OutboxItem, txn_id: str) -> None:
            payload = read(item)
            assert isinstance(payload, MessagePayload)
            sent.append(("edit" if payload.replaces == "$card" else "reply", item.room_id or ""))

        ready = asyncio.Event()
        ready.set()
        delivery = Delivery(
            bot.store,
            carry_out,  # type: ignore[arg-type]
            HomeserverReachability(None),  # type: ignore[arg-type]
            ready,
            joining=JOIN_CONFIRMATIONS,
            clock=bot.clock,
        )
        refresher = CardRefresher(
            bot.store,
            catalogue(),
            bot.settings,
            delivery,
            words=CommandWords(bot.settings.prefix),
            clock=bot.clock,
        )
        first = await bot.say(BOB, f"!vote {idea}", room=room, direct=False)
        async with bot.db.transaction():
            await enqueue_outcome(
                bot.store,
                first,
                room_id=room,
                event_id="$v1",
                settings=bot.settings,
                now=bot.clock(),
            )
        async with bot.db.transaction():  # its reply sent
            for row in await bot.store.outbox.pending():
                await bot.store.outbox.mark_done(row.id, bot.clock())
        bot.clock.advance(seconds=3)
        assert await refresher.refresh_due() == 1  # the edit the first vote asked for
        second = await bot.say(CAROL, f"!vote {idea}", room=room, direct=False)
        async with bot.db.transaction():
            await enqueue_outcome(
                bot.store,
                second,
                room_id=room,
                event_id="$v2",
                settings=bot.settings,
                now=bot.clock(),
            )
        stop = asyncio.Event()
        running = asyncio.create_task(delivery.run(stop))
        for _ in range(200):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await running
        assert sent == [("reply", room), ("edit", room)]


class Gate:
    """A homeserver whose sends wait until let through; one room can refuse with a wait."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.sent: list[str] = []
        self.rate_limited: set[str] = set()

    async def carry_out(self, item: OutboxItem, txn_id: str) -> None:
        if item.room_id in self.rate_limited:
            raise Retry("rate limited", after=30)
        await self.open.wait()
        self.sent.append(item.payload["content"]["body"])


@contextlib.asynccontextmanager
async def running(tmp_path: Path, server: Gate) -> AsyncIterator[tuple[Delivery, Store, Database]]:
    """The delivery loop over ``server``, running until the block ends."""
    delivery, store, db = await delivery_over(tmp_path, server)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run(stop))
    try:
        yield delivery, store, db
    finally:
        stop.set()
        await loop
        await db.close()


async def test_settled_waits_for_what_was_queued_to_go_out(tmp_path: Path) -> None:
    """The sync loop's next request waits for a batch's replies (bot.matrix.sync): settled
    returns once they are sent, not before, and at once when nothing is queued."""
    gate = Gate()
    async with running(tmp_path, gate) as (delivery, store, db):
        async with asyncio.timeout(1):
            await delivery.settled(5)  # nothing queued
        async with db.transaction():
            await enqueue_reply(store, QUIET, "your vote counts")
        delivery.wake()
        waiting = asyncio.create_task(delivery.settled(5))
        await asyncio.sleep(0.1)
        assert not waiting.done() and gate.sent == []
        gate.open.set()
        async with asyncio.timeout(1):
            await waiting
        assert gate.sent == ["your vote counts"]


async def test_a_lane_waiting_out_a_retry_does_not_hold_up_settled(tmp_path: Path) -> None:
    gate = Gate()
    gate.open.set()
    gate.rate_limited.add(BUSY)
    async with running(tmp_path, gate) as (delivery, store, db):
        async with db.transaction():
            await enqueue_reply(store, BUSY, "held up by a 429")
            await enqueue_reply(store, QUIET, "goes at once")
        delivery.wake()
        async with asyncio.timeout(1):  # not the 30 s of the retry
            await delivery.settled(5)
        assert gate.sent == ["goes at once"]
        async with db.transaction():
            assert await store.outbox.count_pending() == 1  # the limited one waits its turn


async def test_settled_gives_up_waiting_after_the_time_given(tmp_path: Path) -> None:
    gate = Gate()  # never opens: a homeserver that does not answer
    async with running(tmp_path, gate) as (delivery, store, db):
        async with db.transaction():
            await enqueue_reply(store, QUIET, "slow")
        delivery.wake()
        began = asyncio.get_running_loop().time()
        await delivery.settled(0.2)
        assert 0.15 <= asyncio.get_running_loop().time() - began < 1


async def enqueue_reply(store: Store, room_id: str, text: str) -> None:
    payload = message(text)
    payload["reply_to"] = "$command"
    await store.outbox.enqueue("message", payload, datetime.now(UTC), room_id=room_id)
