"""A challenge's rooms on both networks (storage/challenge_records.py, storage/poll_records.py):
found by any of them, listed with its own room first, and a poll started in each of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import PollAnswer, Store

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MATRIX_ROOM = "!parks:city.example"
CHANNEL = "discord:91234567890123456"


async def parks(store: Store) -> int:
    challenge = await store.challenges.create(
        slug="parks", title="Parks", description="", created_by="@mod:city.example", now=NOW
    )
    await store.challenges.set_room(challenge.id, MATRIX_ROOM, NOW)
    return challenge.id


async def test_a_challenge_is_found_by_any_of_its_rooms(store: Store) -> None:
    async with store.db.transaction():
        challenge_id = await parks(store)
        assert await store.challenges.rooms_of(challenge_id) == (MATRIX_ROOM,)
        await store.challenges.add_room(challenge_id, CHANNEL, "discord")
        assert await store.challenges.rooms_of(challenge_id) == (MATRIX_ROOM, CHANNEL)
        for room in (MATRIX_ROOM, CHANNEL):
            found = await store.challenges.by_room(room)
            assert found is not None and found.id == challenge_id
            assert await store.challenges.rooms_with(room) == (MATRIX_ROOM, CHANNEL)
        assert await store.challenges.by_room("!elsewhere:city.example") is None
        assert await store.challenges.rooms_with("!elsewhere:city.example") == (
            "!elsewhere:city.example",
        )


async def test_one_room_a_network_and_a_room_belongs_to_one_challenge(store: Store) -> None:
    async with store.db.transaction():
        challenge_id = await parks(store)
        await store.challenges.add_room(challenge_id, CHANNEL, "discord")
        # Made again after a crash (a new channel): it replaces the one on that network.
        await store.challenges.add_room(challenge_id, "discord:91234567890123457", "discord")
        assert await store.challenges.rooms_of(challenge_id) == (
            MATRIX_ROOM,
            "discord:91234567890123457",
        )
        with pytest.raises(Exception, match="CHECK"):
            await store.challenges.add_room(challenge_id, "!x:city.example", "irc")


async def test_a_poll_started_in_each_room_is_found_by_either_start(store: Store) -> None:
    async with store.db.transaction():
        challenge_id = await parks(store)
        await store.challenges.add_room(challenge_id, CHANNEL, "discord")
        idea = await store.ideas.add(
            challenge_id=challenge_id, title="Trees", description="", author="@a:x", now=NOW
        )
        poll = await store.polls.start(
            challenge_id=challenge_id,
            room_id=MATRIX_ROOM,
            started_by="@mod:city.example",
            now=NOW,
            answers=[PollAnswer(answer_id="idea-1", idea_id=idea.id, title="Trees")],
        )
        await store.polls.set_start_event(poll.id, "$start", MATRIX_ROOM)
        await store.polls.set_start_event(poll.id, f"{CHANNEL}/5", CHANNEL)
        for start in ("$start", f"{CHANNEL}/5"):
            found = await store.polls.by_start_event(start)
            assert found is not None and found.id == poll.id
        assert await store.polls.start_event_in(poll.id, MATRIX_ROOM) == "$start"
        assert await store.polls.start_event_in(poll.id, CHANNEL) == f"{CHANNEL}/5"
        assert await store.polls.start_event_in(poll.id, "!other:city.example") is None
        again = await store.polls.get(poll.id)
        assert again is not None and again.start_event_id == "$start"  # the first is kept
