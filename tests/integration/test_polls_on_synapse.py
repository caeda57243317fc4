"""The final poll against the real Synapse: started by a moderator, answered by three people
(one changes their answer, one withdraws it), ended, and its result stored and right; the same
in an encrypted room, where the responses reach the bot encrypted."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from nio import RoomSendResponse

from devtools.homeserver import Homeserver
from storage import PollResult
from tests.matrix_support import ModeratedBot, Person, Seen, start_moderated_bot, wait_until

pytestmark = pytest.mark.integration

START = "org.matrix.msc3381.poll.start"
RESPONSE = "org.matrix.msc3381.poll.response"
END = "org.matrix.msc3381.poll.end"


async def respond(
    person: Person, room_id: str, start: str, answers: list[str], *, stable: bool = False
) -> str:
    """A response as Element sends it (or, ``stable``, under the stable name of MSC3381)."""
    relation = {"rel_type": "m.reference", "event_id": start}
    if stable:
        kind, content = "m.poll.response", {"m.relates_to": relation, "m.selections": answers}
    else:
        kind = RESPONSE
        content = {"m.relates_to": relation, RESPONSE: {"answers": answers}}
    response = await person.client.room_send(room_id, kind, content, ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response
    await asyncio.sleep(0.01)  # the next response of the same person is later by the clock
    return str(response.event_id)


async def accepted_idea(world: ModeratedBot, slug: str, title: str) -> int:
    submitted = await world.moderator.ask(world.moderation_room, f"!idea {slug} {title}")
    found = re.search(r"#(\d+)", submitted.content["body"])
    assert found is not None, submitted.content
    idea_id = int(found.group(1))
    await world.moderator.ask(world.moderation_room, f"!accept {idea_id}")
    return idea_id


async def result(world: ModeratedBot, slug: str) -> PollResult | None:
    store = world.bot.app.store
    async with world.bot.app.db.transaction():
        challenge = await store.challenges.by_slug(slug)
        assert challenge is not None
        return await store.polls.latest_result(challenge.id)


async def handled(world: ModeratedBot, event_id: str) -> bool:
    async with world.bot.app.db.transaction():
        return await world.bot.app.store.state.is_handled(event_id)


def counts(found: PollResult | None) -> dict[int, int]:
    assert found is not None
    return {answer.idea_id: answer.count for answer in found.answers}


async def join(person: Person, room_id: str, world: ModeratedBot) -> None:
    await person.client.join(room_id)
    bot_client = world.bot.app.client
    await wait_until(
        lambda: person.user_id in getattr(bot_client.rooms.get(room_id), "users", {}),
        20,
        f"{person.user_id} to be seen in {room_id}",
    )
    # And by the person's own client, which sends (and encrypts) only to rooms it has synced:
    # under load its sync can come after the bot's.
    await wait_until(
        lambda: room_id in person.client.rooms, 20, f"{room_id} in {person.user_id}'s client"
    )


async def run_poll(
    world: ModeratedBot, people: list[Person], slug: str, room: str
) -> dict[str, Any]:
    """The whole poll; returns what the test looks at afterwards."""
    moderator, bot_user = world.moderator, world.bot.user_id
    first = await accepted_idea(world, slug, "Benches along the Leie")
    second = await accepted_idea(world, slug, "A playground at the Kouter")
    answer = {first: f"idea-{first}", second: f"idea-{second}"}

    started = await moderator.ask(world.moderation_room, f"!poll {slug}")
    assert "2" in started.content["body"], started.content
    alice, bob, carol = people
    poll: Seen = await alice.wait_for(lambda s: s.room_id == room and s.type == START)
    assert poll.sender == bot_user
    block = poll.content[START]
    assert block["max_selections"] == 1 and block["kind"] == "org.matrix.msc3381.poll.disclosed"
    assert [a["id"] for a in block["answers"]] == [answer[first], answer[second]]
    assert "Benches along the Leie" in poll.content["org.matrix.msc1767.text"]
    assert block["question"]["org.matrix.msc1767.text"]

    # Responses that break the MSC, as any client may send them: skipped, and what follows
    # is counted as if they had never come.
    reference = {"rel_type": "m.reference", "event_id": poll.event_id}
    for broken in (
        {"m.relates_to": None, RESPONSE: {"answers": [answer[first]]}},
        {"m.relates_to": reference, RESPONSE: {"answers": answer[first]}},
        {"m.relates_to": "not an object", RESPONSE: None},
    ):
        sent = await bob.client.room_send(room, RESPONSE, broken, ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
    await respond(alice, room, poll.event_id, [answer[first]])
    await respond(bob, room, poll.event_id, [answer[first]])
    await respond(bob, room, poll.event_id, [answer[second]], stable=True)  # changes their mind
    await respond(carol, room, poll.event_id, [answer[second]])
    last = await respond(carol, room, poll.event_id, [])  # and withdraws
    await wait_until_handled(world, last)
    running = await result(world, slug)
    assert running is not None and running.ended_at is None
    assert running.voters == 2 and counts(running) == {first: 1, second: 1}

    ended = await moderator.ask(world.moderation_room, f"!poll end {slug}")
    assert "2" in ended.content["body"]
    end: Seen = await alice.wait_for(lambda s: s.room_id == room and s.type == END)
    assert end.sender == bot_user
    assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll.event_id}
    assert "Benches along the Leie" in end.content["org.matrix.msc1767.text"]
    posted = await alice.wait_for(
        lambda s: (
            s.room_id == room
            and s.type == "m.room.message"
            and "A playground" in s.content.get("body", "")
            and s.sender == bot_user
            and "2" in s.content.get("body", "")
        )
    )
    # Too late: the poll has ended.
    late = await respond(carol, room, poll.event_id, [answer[first]])
    await wait_until_handled(world, late)
    final = await result(world, slug)
    assert final is not None and final.ended_at is not None
    assert final.voters == 2 and counts(final) == {first: 1, second: 1}
    return {"poll": poll, "end": end, "posted": posted, "answers": answer}


async def wait_until_handled(world: ModeratedBot, event_id: str) -> None:
    for _ in range(200):
        if await handled(world, event_id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bot did not handle {event_id}")


async def test_a_poll_started_answered_changed_withdrawn_and_ended(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    people = [await Person.create(homeserver, name) for name in ("alice", "bob", "carol")]
    try:
        slug, room = await world.open_challenge("poll-", "Parks")
        for person in people:
            await join(person, room, world)
        await run_poll(world, people, slug, room)
    finally:
        await world.close()
        for person in people:
            await person.close()


async def test_a_poll_in_an_encrypted_room(homeserver: Homeserver, tmp_path: Path) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    people = [
        await Person.create(homeserver, name, store_path=tmp_path / f"{name}-keys")
        for name in ("alice", "bob", "carol")
    ]
    try:
        slug, room = await world.open_challenge("crypto-poll-", "Squares")
        bot_client = world.bot.app.client
        algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
        response = await bot_client.room_put_state(room, "m.room.encryption", algorithm)
        assert response.__class__.__name__ == "RoomPutStateResponse", response
        await wait_until(lambda: bool(bot_client.rooms[room].encrypted), 20, "the room encrypted")
        await world.moderator.client.join(room)
        for person in people:
            await join(person, room, world)
        seen = await run_poll(world, people, slug, room)
        # The moderator's client reads no encryption: everything there came encrypted.
        moderator = world.moderator
        for event_id in (seen["poll"].event_id, seen["end"].event_id):
            await moderator.wait_for(lambda s, e=event_id: s.event_id == e)
            (raw,) = [s for s in moderator.seen if s.event_id == event_id]
            assert raw.type == "m.room.encrypted"
        responses = [
            s
            for s in moderator.seen
            if s.room_id == room
            and s.sender in {p.user_id for p in people}
            and s.type != "m.room.member"
        ]
        assert responses and all(s.type == "m.room.encrypted" for s in responses)
    finally:
        await world.close()
        for person in people:
            await person.close()
