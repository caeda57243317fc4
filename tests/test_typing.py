"""The bot shows "typing" only while a command takes longer than a moment."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from bot.matrix import events
from bot.matrix.events import EventHandler


class TypingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def room_typing(self, room_id: str, typing_state: bool, **_options: Any) -> None:
        self.calls.append((room_id, typing_state))


def handler(client: TypingClient) -> EventHandler:
    # Typing needs the client alone of the handler's collaborators.
    fake: Any = client
    dispatcher: Any = SimpleNamespace(settings=None)
    return EventHandler(
        fake, store=dispatcher, dispatcher=dispatcher, rooms=fake, roles=fake, wake_outbox=print
    )


async def test_a_quick_command_shows_no_typing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "TYPING_AFTER", 0.05)
    client = TypingClient()
    async with handler(client)._typing("!room:city.example"):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # past the moment: a timer left behind would fire now
    assert client.calls == []


async def test_a_slow_command_shows_typing_then_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "TYPING_AFTER", 0.01)
    client = TypingClient()
    async with handler(client)._typing("!room:city.example"):
        await asyncio.sleep(0.1)
    assert client.calls == [("!room:city.example", True), ("!room:city.example", False)]


async def test_typing_stops_when_the_command_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "TYPING_AFTER", 0.01)
    client = TypingClient()
    with pytest.raises(RuntimeError):
        async with handler(client)._typing("!room:city.example"):
            await asyncio.sleep(0.1)
            raise RuntimeError("the command failed")
    assert client.calls[-1] == ("!room:city.example", False)
