"""Which network an account is of, and whose verification counts for it (handlers/accounts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.accounts import (
    Network,
    can_link,
    discord_account,
    identity_account,
    network_of,
    person_key,
)
from handlers.policy import Identity, Participation
from handlers.reply import Code
from storage import Standing, Store
from tests.identity_support import verification


def test_matrix_and_discord_accounts_never_collide() -> None:
    assert network_of("@alice:city.example") is Network.MATRIX
    assert network_of("!room:city.example") is Network.MATRIX
    assert network_of("discord:81234567890123456") is Network.DISCORD
    assert discord_account(81234567890123456) == "discord:81234567890123456"
    with pytest.raises(ValueError):
        discord_account(0)
    assert can_link("discord:1") and not can_link("@alice:city.example")


def test_a_discord_account_is_never_on_a_listed_server() -> None:
    participation = Participation(servers=("city.example", "81234567890123456"))
    assert participation.is_listed("@alice:city.example")
    assert not participation.is_listed("discord:81234567890123456")


def test_a_link_makes_one_person_without_making_anyone_verified() -> None:
    linked = Identity(linked_key="link:abc")
    assert linked.key == "link:abc" and linked.verified_key is None
    assert linked.standing is Standing.OTHER

    verified = Identity(verification=verification("@a:city.example", "jana"), linked_key="link:abc")
    assert verified.standing is Standing.VERIFIED
    assert verified.key == verified.verified_key == "jana"  # the identity wins over the link

    asked = Identity(link_with=Code("!koppel"))
    assert asked.key is None and asked.standing is Standing.OTHER


def test_the_person_key_is_the_same_for_the_same_matrix_account_only() -> None:
    key = person_key("secret", "@alice:city.example")
    assert key.startswith("link:") and "alice" not in key
    assert key == person_key("secret", "@alice:city.example")
    assert key != person_key("secret", "@bob:city.example")
    assert key != person_key("other secret", "@alice:city.example")


async def test_whose_verification_counts(store: Store) -> None:
    discord = "discord:81234567890123456"
    assert await identity_account(store, "@alice:city.example") == "@alice:city.example"
    assert await identity_account(store, discord) is None
    async with store.db.transaction():
        await store.links.link(discord, "@alice:city.example", "link:k", datetime.now(UTC))
    assert await identity_account(store, discord) == "@alice:city.example"
