"""Accepting invites: kept in the database, accepted oldest first at a bounded pace; a
rate-limited join waits as the homeserver asks and is tried again; only a refusal gives an
invite up; direct chats are published in batches; a long wait never holds up a stop. The
homeserver is a fake; the database is real."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from nio import JoinError, JoinResponse

from bot.matrix.invites import PUBLISH_EVERY, InviteAcceptor
from storage import Store
from storage.room_state_records import PendingInvite


@dataclass
class Transport:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


def limited(retry_after_ms: int = 50, header: str | None = None) -> JoinError:
    error = JoinError("Too Many Requests", "M_LIMIT_EXCEEDED", retry_after_ms)
    error.transport_response = Transport(429, {"Retry-After": header} if header else {})
    return error


def refused(status: int = 403) -> JoinError:
    error = JoinError("You are not invited to this room.", "M_FORBIDDEN")
    error.transport_response = Transport(status)
    return error


class Client:
    """Answers each room's joins from a script; then succeeds."""

    user_id = "@bot:city.example"

    def __init__(self, script: dict[str, list[Any]] | None = None) -> None:
        self.script = script or {}
        self.joins: list[str] = []
        self.declined: list[str] = []
        self.invited_rooms: dict[str, Any] = {}

    async def join(self, room_id: str) -> Any:
        self.joins.append(room_id)
        answers = self.script.get(room_id, [])
        return answers.pop(0) if answers else JoinResponse(room_id)

    async def room_leave(self, room_id: str) -> None:
        self.declined.append(room_id)


class Rooms:
    def __init__(self) -> None:
        self.joined_rooms: list[tuple[str, bool]] = []
        self.publications: list[int] = []  # how many direct chats were joined before each

    async def joined(self, room_id: str, inviter: str | None, *, direct: bool) -> None:
        self.joined_rooms.append((room_id, direct))

    async def publish_direct_list(self) -> None:
        self.publications.append(sum(direct for _, direct in self.joined_rooms))


@dataclass
class Clock:
    now: datetime = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)  # invites seen one after the other
        return self.now


def acceptor(
    client: Client,
    rooms: Rooms,
    store: Store,
    *,
    join_interval: float = 0.0,
    allowed: tuple[str, ...] = (),
) -> InviteAcceptor:
    return InviteAcceptor(
        client,  # type: ignore[arg-type]
        rooms,  # type: ignore[arg-type]
        store,
        allowed,
        clock=Clock(),
        join_interval=join_interval,
    )


def invite(
    room_id: str, *, direct: bool = True, inviter: str = "@ann:city.example"
) -> PendingInvite:
    return PendingInvite(room_id=room_id, inviter=inviter, is_direct=direct)


async def kept(store: Store) -> list[str]:
    async with store.db.transaction():
        return [pending.room_id for pending in await store.invites.pending()]


async def queue(invites: InviteAcceptor, pending: list[PendingInvite], stop: asyncio.Event) -> None:
    """As the sync loop does: kept in the batch's transaction, then queued."""
    async with invites.store.db.transaction():
        await invites.keep(pending)
    invites.queue(pending, stop)


async def test_a_rate_limited_join_is_tried_again_in_order_and_a_refusal_given_up(
    store: Store,
) -> None:
    client = Client(
        {
            "!a:city.example": [limited(), limited(header="0.05")],
            "!gone:city.example": [refused(403)],
            "!b:city.example": [limited()],
        }
    )
    rooms = Rooms()
    invites = acceptor(client, rooms, store)
    stop = asyncio.Event()
    await queue(
        invites,
        [invite("!a:city.example"), invite("!gone:city.example"), invite("!b:city.example")],
        stop,
    )
    assert invites.joining
    await asyncio.wait_for(invites.wait(), 5)
    assert client.joins == [
        "!a:city.example",
        "!a:city.example",
        "!a:city.example",
        "!gone:city.example",
        "!b:city.example",
        "!b:city.example",
    ]
    assert [room for room, _ in rooms.joined_rooms] == ["!a:city.example", "!b:city.example"]
    assert await kept(store) == []  # done with, joined or given up
    # A sync that shows the invites again: the joined are not joined again, nor the refused.
    response = SimpleNamespace(
        rooms=SimpleNamespace(
            invite={
                room: SimpleNamespace(invite_state=[])
                for room in ("!a:city.example", "!gone:city.example")
            }
        )
    )
    assert invites.seen(response) == []  # type: ignore[arg-type]


async def test_a_long_wait_does_not_hold_up_a_stop(store: Store) -> None:
    client = Client({"!a:city.example": [limited(retry_after_ms=600_000)]})
    invites = acceptor(client, Rooms(), store)
    stop = asyncio.Event()
    started = time.monotonic()
    await queue(invites, [invite("!a:city.example")], stop)  # returns at once
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.05)
    assert invites.joining
    stop.set()
    await asyncio.wait_for(invites.wait(), 1)
    assert client.joins == ["!a:city.example"]
    assert await kept(store) == ["!a:city.example"]  # not given up: waits for the next start


async def test_invites_kept_from_an_earlier_run_are_accepted_oldest_first(store: Store) -> None:
    stop = asyncio.Event()
    earlier = acceptor(Client(), Rooms(), store)
    async with store.db.transaction():
        await earlier.keep([invite(f"!room{number}:city.example") for number in range(5)])
    client = Client()
    invites = acceptor(client, Rooms(), store)
    assert await invites.load() == 5
    invites.queue([invite("!newer:city.example")], stop)
    await asyncio.wait_for(invites.wait(), 5)
    assert client.joins == [
        *(f"!room{number}:city.example" for number in range(5)),
        "!newer:city.example",
    ]


async def test_joins_keep_a_bounded_pace(store: Store) -> None:
    client = Client()
    invites = acceptor(client, Rooms(), store, join_interval=0.05)
    started = time.monotonic()
    await queue(
        invites, [invite(f"!room{number}:city.example") for number in range(6)], asyncio.Event()
    )
    await asyncio.wait_for(invites.wait(), 5)
    assert len(client.joins) == 6
    assert time.monotonic() - started >= 5 * 0.05


async def test_direct_chats_are_published_in_batches_not_per_invite(store: Store) -> None:
    rooms = Rooms()
    invites = acceptor(Client(), rooms, store)
    pending = [invite(f"!dm{number}:city.example") for number in range(PUBLISH_EVERY + 30)]
    pending.insert(10, invite("!group:city.example", direct=False))
    await queue(invites, pending, asyncio.Event())
    await asyncio.wait_for(invites.wait(), 10)
    assert len(rooms.joined_rooms) == PUBLISH_EVERY + 31
    # One publication per hundred direct chats, and one for the rest when the queue is empty.
    assert rooms.publications == [PUBLISH_EVERY, PUBLISH_EVERY + 30]


async def test_an_invite_from_a_server_not_allowed_is_declined_in_turn(store: Store) -> None:
    client = Client()
    rooms = Rooms()
    invites = acceptor(client, rooms, store)
    await queue(
        invites,
        [
            invite("!ok:city.example"),
            invite("!spam:city.example", inviter="@spammer:elsewhere.example"),
        ],
        asyncio.Event(),
    )
    await asyncio.wait_for(invites.wait(), 5)
    assert client.joins == ["!ok:city.example"]
    assert client.declined == ["!spam:city.example"]
    assert await kept(store) == []
