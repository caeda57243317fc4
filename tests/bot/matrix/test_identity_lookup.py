"""The bot's lookup of identities (bot/matrix/identity_lookup.py) against a fake admin API,
outages included. What the identities then mean for votes, eligibility and the personal data is
in tests/handlers/services/test_voting.py."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp import ClientConnectionError

from bot.matrix.identity_lookup import IdentityChecker
from handlers.settings import IdentitySettings
from storage import Database, Store
from tests.handler_support import ALICE, BOB, CAROL
from tests.identity_support import CITY, EID, ITSME, SETTINGS, TOKEN

# -- the lookup (bot/matrix/identity_lookup.py) against a fake admin API ------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self._body = body

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def json(self, content_type: str | None = None) -> Any:
        if isinstance(self._body, str):
            return json.loads(self._body)
        return self._body


@dataclass
class FakeAdminApi:
    """``client.send`` of matrix-nio, answering as Synapse's admin API would (or failing)."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    status: int | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)  # (path, authorization)

    async def send(self, method: str, path: str, headers: dict[str, str]) -> FakeResponse:
        assert method == "GET"
        self.asked.append((path, headers["Authorization"]))
        if self.down:
            raise ClientConnectionError("connection refused")
        if self.status is not None:
            return FakeResponse(self.status, {"errcode": "M_UNKNOWN"})
        for user_id, body in self.users.items():
            if path.endswith(user_id.replace("@", "%40").replace(":", "%3A")):
                return FakeResponse(200, body)
        return FakeResponse(404, {"errcode": "M_NOT_FOUND"})


@dataclass
class Lookups:
    checker: IdentityChecker
    api: FakeAdminApi
    store: Store
    now: list[datetime]

    def advance(self, minutes: float) -> None:
        self.now[0] += timedelta(minutes=minutes)


@pytest.fixture
async def lookups(tmp_path: Path) -> AsyncIterator[Lookups]:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    store = Store(db)
    api = FakeAdminApi()
    now = [datetime(2026, 3, 2, 9, 30, tzinfo=UTC)]
    settings = SETTINGS.model_copy(update={"cache_minutes": 30})
    checker = IdentityChecker(
        api,  # type: ignore[arg-type]
        store,
        settings,
        server_name=CITY,
        clock=lambda: now[0],
    )
    await checker.load()
    try:
        yield Lookups(checker, api, store, now)
    finally:
        await db.close()


def synapse_user(*external_ids: tuple[str, str], created: int = 1_772_000_000) -> dict[str, Any]:
    return {
        "name": "whoever",
        "admin": False,
        "creation_ts": created,
        "external_ids": [{"auth_provider": p, "external_id": e} for p, e in external_ids],
        "threepids": [],
    }


async def test_a_verified_person_is_kept_as_provider_time_and_hash_never_the_id(
    lookups: Lookups,
) -> None:
    lookups.api.users = {
        ALICE: synapse_user(("github", "alice"), (EID, "85.07.31-001.23")),
        BOB: synapse_user((ITSME, "85.07.31-001.23"), created=1_772_000_000_123),
    }

    alice = await lookups.checker.lookup(ALICE)
    bob = await lookups.checker.lookup(BOB)

    assert not alice.failed and alice.verification is not None
    assert alice.verification.provider == EID  # github is not a provider that counts
    assert bob.verification is not None and bob.verification.provider == ITSME
    assert alice.verification.identity == bob.verification.identity  # one person
    assert alice.verification.identity is not None and len(alice.verification.identity) == 64
    assert alice.verification.account_created_at == datetime.fromtimestamp(1_772_000_000, UTC)
    assert bob.verification.account_created_at == alice.verification.account_created_at
    assert lookups.api.asked[0] == (
        f"/_synapse/admin/v2/users/%40alice%3A{CITY}",
        f"Bearer {TOKEN}",
    )
    async with lookups.store.db.snapshot():
        rows = await lookups.store.db.fetch_all("SELECT * FROM verifications")
    assert len(rows) == 2
    assert "85.07.31" not in json.dumps([dict(row) for row in rows])


async def test_the_answer_is_cached_then_checked_again(lookups: Lookups) -> None:
    lookups.api.users = {ALICE: synapse_user()}
    first = await lookups.checker.lookup(ALICE)
    assert first.verification is not None and first.verification.provider is None

    lookups.api.users = {ALICE: synapse_user((ITSME, "x"))}  # she logged in with itsme
    lookups.advance(minutes=29)
    cached = await lookups.checker.lookup(ALICE)
    assert cached.verification == first.verification
    assert len(lookups.api.asked) == 1

    lookups.advance(minutes=2)
    again = await lookups.checker.lookup(ALICE)
    assert again.verification is not None and again.verification.provider == ITSME
    assert len(lookups.api.asked) == 2


async def test_an_outage_uses_a_fresh_answer_and_otherwise_fails_without_a_guess(
    lookups: Lookups, caplog: pytest.LogCaptureFixture
) -> None:
    lookups.api.users = {ALICE: synapse_user((ITSME, "x"))}
    known = await lookups.checker.lookup(ALICE)
    lookups.api.down = True

    lookups.advance(minutes=10)
    during = await lookups.checker.lookup(ALICE)
    assert during == known  # still within its cache time: used
    with caplog.at_level(logging.WARNING, logger="bot.matrix.identity_lookup"):
        lookups.advance(minutes=30)
        assert (await lookups.checker.lookup(ALICE)).failed
        asked = len(lookups.api.asked)
        assert (await lookups.checker.lookup(BOB)).failed
        failed = await lookups.checker.lookup(ALICE)
        assert len(lookups.api.asked) == asked  # within a minute of a failure: not asked again
        lookups.api.down = False
        assert (await lookups.checker.lookup(ALICE)).failed
        lookups.advance(minutes=1)
        back = await lookups.checker.lookup(ALICE)
    assert failed.verification is None  # never a stale or guessed verification
    assert back.verification is not None and back.verification.provider == ITSME
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # when it starts, and when it ends
    assert all(TOKEN not in message for message in warnings)


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, None), (403, None), (500, None), (502, None), (200, "[1, 2]"),
     (200, {"external_ids": "not a list"}), (200, {"creation_ts": "yesterday"})],
)  # fmt: skip
async def test_a_refusal_or_a_strange_answer_is_a_failed_lookup(
    lookups: Lookups, status: int, body: Any
) -> None:
    if body is None:
        lookups.api.status = status
    else:
        lookups.api.users = {ALICE: body if isinstance(body, dict) else json.loads(body)}

    found = await lookups.checker.lookup(ALICE)

    assert found.failed and found.verification is None
    async with lookups.store.db.snapshot():
        assert await lookups.store.verifications.get(ALICE) is None


async def test_an_unknown_user_is_not_verified_and_others_are_not_asked(
    lookups: Lookups,
) -> None:
    unknown = await lookups.checker.lookup(CAROL)
    assert not unknown.failed
    assert unknown.verification is not None and unknown.verification.provider is None

    elsewhere = await lookups.checker.lookup("@visitor:elsewhere.example")
    assert elsewhere.verification is None and not elsewhere.failed
    assert len(lookups.api.asked) == 1  # another server's account: this one knows nothing of it


async def test_without_an_admin_token_nobody_is_asked(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    api = FakeAdminApi()
    try:
        checker = IdentityChecker(
            api,  # type: ignore[arg-type]
            Store(db),
            IdentitySettings(),
            server_name=CITY,
            clock=lambda: datetime.now(UTC),
        )
        await checker.load()
        assert await checker.lookup(ALICE) == type(await checker.lookup(ALICE))()
        assert api.asked == []
    finally:
        await db.close()


async def test_the_derived_key_is_the_database_s_own_and_stays(tmp_path: Path) -> None:
    hashes = []
    for name in ("one", "one", "two"):
        db = Database(tmp_path / f"{name}.sqlite3")
        await db.open()
        try:
            checker = IdentityChecker(
                FakeAdminApi(),  # type: ignore[arg-type]
                Store(db),
                IdentitySettings(),
                server_name=CITY,
                clock=lambda: datetime.now(UTC),
            )
            await checker.load()
            hashes.append(checker.hash("85.07.31-001.23"))
        finally:
            await db.close()
    assert hashes[0] == hashes[1] != hashes[2]
    assert "85.07.31" not in hashes[0]


async def test_a_discord_account_is_never_asked_about_but_counts_as_its_linked_account(
    lookups: Lookups,
) -> None:
    """The homeserver knows no Discord account: one linked to none is not verified (and not a
    failure), and one linked to a Matrix account has that account's verification, asked for by
    the Matrix ID and cached under it."""
    discord = "discord:81234567890123456"
    lookups.api.users[ALICE] = synapse_user((ITSME, "85010112345"))
    assert not lookups.checker.asks(discord)

    alone = await lookups.checker.lookup(discord)
    assert alone.verification is None and not alone.failed
    assert lookups.api.asked == []

    async with lookups.store.db.transaction():
        await lookups.store.links.link(discord, ALICE, "link:key", lookups.now[0])
    linked = await lookups.checker.lookup(discord)

    assert linked.verification is not None and linked.verification.provider == ITSME
    assert linked.verification.user_id == ALICE
    assert [path for path, _ in lookups.api.asked] == [
        "/_synapse/admin/v2/users/%40alice%3Acity.example"
    ]
    assert await lookups.store.verifications.get(discord) is None
    cached = await lookups.store.verifications.get(ALICE)
    assert cached is not None and cached.identity == linked.verification.identity
