"""Fixtures of the handler tests only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.dispatch import Dispatcher
from tests.handler_support import Harness, open_harness
from tests.identity_support import CITY, SETTINGS, City


@pytest.fixture
async def unthrottled_bot(tmp_path: Path) -> AsyncIterator[Harness]:
    """``bot`` with room for 600 commands a minute, for tests that send many in a row."""
    async with open_harness(tmp_path, commands_per_minute=600) as harness:
        yield harness


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    """``bot`` as the city runs it: identities are looked up (tests/identity_support.py)."""
    async with open_harness(tmp_path) as bot:
        bot.dispatcher = Dispatcher(
            bot.dispatcher.registry,
            bot.store,
            bot.dispatcher.catalogue,
            bot.settings,
            clock=bot.clock,
            identity=SETTINGS,
            server_name=CITY,
        )
        yield City(bot)
