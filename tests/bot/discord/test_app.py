"""One process, one or both networks: the app wires Discord beside Matrix, or alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import BotApp
from bot.config import load_config
from bot.matrix.identity_lookup import Lookup
from bot.server import Dropped
from handlers.dispatch import Sender
from storage import OutboxItem, Verification

DISCORD = """
[discord]
guild_id = 11
moderator_role_id = 12
review_channel_id = 13
category_id = 14
"""
MATRIX = """
[matrix]
homeserver = "http://127.0.0.1:1"
user_id = "@bot:city.example"
"""


def _app(tmp_path: Path, text: str) -> BotApp:
    path = tmp_path / "config.toml"
    path.write_text(text + '\n[storage]\npath = "bot.sqlite3"\n', encoding="utf-8")
    environ = {"CHALLENGE_BOT_DISCORD_TOKEN": "t", "CHALLENGE_BOT_PASSWORD": "p"}
    return BotApp(load_config(path, environ=environ))


async def test_discord_alone_runs_without_a_matrix_client(tmp_path: Path) -> None:
    app = _app(tmp_path, DISCORD)
    assert app.discord is not None
    assert not hasattr(app, "client")
    assert app.front_ends.matrix is None and app.front_ends.discord is not None
    row = OutboxItem(id=1, kind="message", room_id="!room:city.example", payload={}, attempts=0)
    with pytest.raises(Dropped, match="Matrix is not configured"):
        await app.front_ends.carry_out(row, "txn")


async def test_both_networks_share_one_outbox_and_one_schedule(tmp_path: Path) -> None:
    app = _app(tmp_path, MATRIX + DISCORD)
    assert app.discord is not None and app.client is not None
    assert app.front_ends.matrix is not None and app.front_ends.discord is not None
    assert app.events.review_room == "discord:13"  # Matrix's new ideas reach the review channel
    assert app.sweeper.review_room == "discord:13"  # and the programme's news for moderators
    assert app.delivery.carry_out == app.front_ends.carry_out
    assert app.sweeper.dispatcher is app.dispatcher is app.discord.dispatcher
    await app.client.close()


class _CityHomeserver:
    """Stands in for the identity lookup: what the city's homeserver says of its accounts."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def asks(self, user_id: str) -> bool:
        return user_id.endswith(":city.example")

    async def lookup(self, account: str) -> Lookup:
        self.asked.append(account)
        verified = Verification(
            user_id="@alice:city.example",
            provider="itsme",
            identity="hash-of-alice",
            checked_at=datetime(2026, 3, 1, tzinfo=UTC),
            account_created_at=None,
        )
        return Lookup(verification=verified)


async def test_a_linked_discord_account_is_verified_as_its_matrix_account(tmp_path: Path) -> None:
    app = _app(tmp_path, MATRIX + DISCORD)
    assert app.discord is not None and app.client is not None
    assert app.discord.identify is not None  # both networks: Discord asks Matrix who it is
    homeserver = _CityHomeserver()
    app.identity = homeserver  # type: ignore[assignment]
    await app.db.open()
    try:
        linked = Sender("discord:81234567890123456", "discord:13", False, False)
        alone = Sender("discord:81234567890123457", "discord:13", False, False)
        async with app.store.db.transaction():
            at = datetime(2026, 3, 1, tzinfo=UTC)
            await app.store.links.link(linked.user_id, "@alice:city.example", "key", at)
        found = await app.discord.identify(linked)
        assert found.verification is not None and found.verification.provider == "itsme"
        assert homeserver.asked == [linked.user_id]
        assert await app.discord.identify(alone) == alone  # not linked: nobody to ask
        assert homeserver.asked == [linked.user_id]
    finally:
        await app.db.close()
        await app.client.close()


async def test_discord_alone_asks_nobody_who_a_person_is(tmp_path: Path) -> None:
    app = _app(tmp_path, DISCORD)
    assert app.discord is not None and app.discord.identify is None
