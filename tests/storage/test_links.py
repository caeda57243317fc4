"""Linked accounts and link codes (storage/links.py): a code works once and not after its time,
one link per account, and what two newly linked accounts did before counts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import Standing, Store

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DISCORD = "discord:81234567890123456"
ALICE = "@alice:city.example"
KEY = "link:k"


async def two_ideas(store: Store) -> tuple[int, int]:
    await store.db.execute(
        """INSERT INTO challenges (id, slug, title, description, status, created_by, created_at,
                                   updated_at)
           VALUES (1, 'parks', 'Parks', '', 'open', '@mod:city.example', ?, ?)""",
        (NOW.isoformat(), NOW.isoformat()),
    )
    ids = []
    for title in ("Benches", "Trees"):
        idea = await store.ideas.add(
            challenge_id=1, title=title, description="", author="@carol:city.example", now=NOW
        )
        ids.append(idea.id)
    return ids[0], ids[1]


async def test_a_code_works_once_and_only_in_its_time(store: Store) -> None:
    async with store.db.transaction():
        await store.links.issue_code(DISCORD, "hash-1", NOW + timedelta(minutes=15))
        assert await store.links.take_code("hash-1", NOW) == DISCORD
        assert await store.links.take_code("hash-1", NOW) is None
        await store.links.issue_code(DISCORD, "hash-2", NOW + timedelta(minutes=15))
        assert await store.links.take_code("hash-2", NOW + timedelta(minutes=15)) is None
        assert await store.db.fetch_value("SELECT COUNT(*) FROM link_codes") == 0


async def test_an_account_is_in_one_link_at_a_time(store: Store) -> None:
    async with store.db.transaction():
        await store.links.link(DISCORD, ALICE, KEY, NOW)
    with pytest.raises(Exception, match="UNIQUE"):
        async with store.db.transaction():
            await store.links.link("discord:2", ALICE, KEY, NOW)
    async with store.db.transaction():
        undone = await store.links.unlink(ALICE)
    assert undone is not None and undone.account == DISCORD
    assert await store.links.of(DISCORD) is None


async def test_merging_keeps_one_vote_per_idea_and_stamps_the_rest(store: Store) -> None:
    async with store.db.transaction():
        both, only_discord = await two_ideas(store)
        await store.votes.add(both, ALICE, NOW)
        await store.votes.add(both, DISCORD, NOW)
        await store.votes.record_reaction("$thumbs", both, DISCORD)
        await store.votes.add(only_discord, DISCORD, NOW, standing=Standing.OTHER)
        await store.links.link(DISCORD, ALICE, KEY, NOW)

        dropped = await store.links.merge(DISCORD, ALICE, KEY)

        assert dropped == 1
        rows = await store.db.fetch_all("SELECT idea_id, voter, identity FROM votes ORDER BY 1")
        assert [tuple(row) for row in rows] == [(both, ALICE, KEY), (only_discord, DISCORD, KEY)]
        assert await store.votes.pop_reaction("$thumbs") is None
        # One person from now on: the identity's vote blocks another for the same idea.
        assert not await store.votes.add(only_discord, ALICE, NOW, identity=KEY)
        assert await store.votes.used_in_challenge(ALICE, 1, KEY) == 2
