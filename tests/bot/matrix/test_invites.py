"""Accepting invites: a rate-limited join waits as the homeserver asks and is tried again; only
a refusal gives an invite up; a long wait never holds up a stop. The homeserver is a fake."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from nio import JoinError, JoinResponse

from bot.matrix.invites import InviteAcceptor


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

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.joins: list[str] = []
        self.invited_rooms = {
            room_id: SimpleNamespace(inviter="@ann:city.example") for room_id in script
        }

    async def join(self, room_id: str) -> Any:
        self.joins.append(room_id)
        answers = self.script[room_id]
        return answers.pop(0) if answers else JoinResponse(room_id)

    async def room_leave(self, room_id: str) -> None:
        raise AssertionError("no invite here is declined")


class Rooms:
    def __init__(self) -> None:
        self.joined: list[str] = []

    async def joined_room(self, room_id: str, inviter: str | None) -> None:
        self.joined.append(room_id)


def acceptor(client: Client, rooms: Rooms) -> InviteAcceptor:
    return InviteAcceptor(
        client,  # type: ignore[arg-type]
        SimpleNamespace(joined=rooms.joined_room),  # type: ignore[arg-type]
    )


async def test_a_rate_limited_join_is_tried_again_in_order_and_a_refusal_given_up() -> None:
    client = Client(
        {
            "!a:city.example": [limited(), limited(header="0.05")],
            "!gone:city.example": [refused(403)],
            "!b:city.example": [limited()],
        }
    )
    rooms = Rooms()
    invites = acceptor(client, rooms)
    stop = asyncio.Event()
    await invites.accept(stop)
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
    assert rooms.joined == ["!a:city.example", "!b:city.example"]
    # The next sync still shows the invites: the joined are not joined again, nor the refused.
    await invites.accept(stop)
    assert not invites.joining and len(client.joins) == 6


async def test_a_long_wait_does_not_hold_up_the_sync_or_a_stop() -> None:
    client = Client({"!a:city.example": [limited(retry_after_ms=600_000)]})
    invites = acceptor(client, Rooms())
    stop = asyncio.Event()
    started = time.monotonic()
    await invites.accept(stop)  # returns at once: the join waits in its own task
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.05)
    assert invites.joining
    stop.set()
    await asyncio.wait_for(invites.wait(), 1)
    assert client.joins == ["!a:city.example"]  # not given up: the invite waits for the next start
