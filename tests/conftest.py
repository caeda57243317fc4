"""Fixtures shared by the whole suite.

``bot`` is the handler-level harness (tests/handler_support.py) on a real SQLite database in the
test's temporary directory, with the default settings; a test that also wants the default
challenge (``new_challenge``) open asks for ``a_challenge`` too. ``store`` is the repositories
alone, on a new database in the test's temporary directory. A test that needs other settings
opens its own harness (``open_harness(tmp_path, ...)``) or has a fixture of its own. The real Synapse homeserver
that the integration tests talk to is started once per session; it is never skipped: if it
cannot be installed or started, the tests that need it fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from storage import Database, Store
from tests.handler_support import Harness, new_challenge, open_harness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        yield harness


@pytest.fixture
async def a_challenge(bot: Harness) -> None:
    """The default challenge of ``new_challenge``, opened in ``bot`` before the test starts."""
    await new_challenge(bot)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        yield Store(db)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    server = Homeserver(Path(tmp_path_factory.mktemp("synapse")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
