"""The final poll as Element sees it: a second, independent client, matrix-js-sdk (the SDK
Element is built on, run by tests/element/poll_client.mjs under the Node that scripts/setup
installs), reads the bot's poll with its own poll model, answers it with its own response event,
changes the answer, and sees the poll end with the counts the bot stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from tests.element_support import STEP_TIMEOUT, ElementClient
from tests.integration.test_polls_on_synapse import (
    START,
    accepted_idea,
    counts,
    join,
    respond,
    result,
    wait_until_handled,
)
from tests.matrix_support import (
    PASSWORD,
    ModeratedBot,
    Person,
    start_moderated_bot,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration


async def element_poll(
    homeserver: Homeserver, tmp_path: Path, world: ModeratedBot, slug: str, title: str, room: str
) -> tuple[str, list[str]]:
    """The poll of the challenge ``slug`` (``title``), with one person in Element (who changes
    their answer) and one in a nio client; ``room`` is the challenge's room, encrypted or not.
    Returns the Element person's user id and the ids of their responses."""
    encrypted = bool(world.bot.app.client.rooms[room].encrypted)
    bot_user = world.bot.user_id
    first = await accepted_idea(world, slug, "Benches along the Leie")
    second = await accepted_idea(world, slug, "A playground at the Kouter")
    answer = {first: f"idea-{first}", second: f"idea-{second}"}
    other = await Person.create(
        homeserver, "other", store_path=tmp_path / "other-keys" if encrypted else None
    )
    user_id = homeserver.register_user(unique("element"), PASSWORD)
    element = await ElementClient.start(
        tmp_path,
        "poll_client.mjs",
        baseUrl=homeserver.url,
        userId=user_id,
        password=PASSWORD,
        roomId=room,
        botUserId=bot_user,
        answers=[answer[first], answer[second]],  # answers the first, then changes to the second
        encrypted=encrypted,
        timeoutMs=int(STEP_TIMEOUT * 1000 * 3),
    )
    try:
        await element.step("logged-in")
        await element.step("joined")
        await join(other, room, world)
        bot_client = world.bot.app.client
        await wait_until(  # the bot knows the Element person is there before the poll
            lambda: user_id in getattr(bot_client.rooms.get(room), "users", {}),
            20,
            f"{user_id} to be seen in {room}",
        )

        await world.moderator.ask(world.moderation_room, f"!poll {slug}")
        poll = await element.step("poll")
        # matrix-js-sdk made a Poll of it, from a poll start it parsed itself.
        assert poll["isPollStart"], poll
        model = {key: poll[key] for key in ("question", "kind", "maxSelections", "answers")}
        assert poll["model"] == model, poll  # its Poll model and its own PollStartEvent agree
        assert poll["type"] == "org.matrix.msc3381.poll.start", poll
        assert poll["wireEncrypted"] is encrypted, poll
        assert poll["isEnded"] is False
        assert poll["kind"] == "org.matrix.msc3381.poll.disclosed" and poll["maxSelections"] == 1
        assert [a["id"] for a in poll["answers"]] == [answer[first], answer[second]], poll
        assert "Benches along the Leie" in poll["answers"][0]["text"], poll
        assert "A playground at the Kouter" in poll["answers"][1]["text"], poll
        # The same question as the bot sent, seen by a nio client (decrypted, if need be).
        sent = await other.wait_for(lambda s: s.event_id == poll["eventId"])
        assert sent.type == START, sent
        question = sent.content[START]["question"]["org.matrix.msc1767.text"]
        assert title in question and poll["question"] == question, (poll, sent.content)

        answered = await element.step("answered")
        responses = [response["eventId"] for response in answered["responses"]]
        for response in answered["responses"]:  # as the SDK built them
            assert response["type"] == "org.matrix.msc3381.poll.response", response
            assert response["content"]["m.relates_to"] == {
                "rel_type": "m.reference",
                "event_id": poll["eventId"],
            }, response
        others = await respond(other, room, poll["eventId"], [answer[first]])
        for event_id in [*responses, others]:
            await wait_until_handled(world, event_id)
        running = await result(world, slug)
        assert running is not None and running.ended_at is None
        # Element's person counts once, with the answer they changed to.
        assert running.voters == 2 and counts(running) == {first: 1, second: 1}

        await world.moderator.ask(world.moderation_room, f"!poll end {slug}")
        ended = await element.step("ended")
        assert ended["isEnded"] is True and ended["endEventId"], ended
        assert ended["endSender"] == bot_user and ended["endWireEncrypted"] is encrypted, ended
        final = await result(world, slug)
        assert final is not None and final.ended_at is not None
        # Element's own count of the responses agrees with the bot's stored result.
        assert ended["voters"] == final.voters == 2, (ended, final)
        assert ended["counts"] == {answer[idea]: count for idea, count in counts(final).items()}, (
            ended,
            final,
        )
        await element.finish()
        return user_id, responses
    finally:
        await element.close()
        await other.close()


async def test_element_reads_answers_and_sees_the_end_of_the_poll(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    try:
        slug, room = await world.open_challenge("element-poll-", "Parks")
        await element_poll(homeserver, tmp_path, world, slug, "Parks", room)
    finally:
        await world.close()


async def test_element_with_its_rust_crypto_in_an_encrypted_room(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    try:
        slug, room = await world.open_challenge("element-crypto-poll-", "Squares")
        bot_client = world.bot.app.client
        algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
        response = await bot_client.room_put_state(room, "m.room.encryption", algorithm)
        assert response.__class__.__name__ == "RoomPutStateResponse", response
        await wait_until(lambda: bool(bot_client.rooms[room].encrypted), 20, "the room encrypted")
        await world.moderator.client.join(room)
        user_id, responses = await element_poll(homeserver, tmp_path, world, slug, "Squares", room)
        # The moderator's client reads no encryption: Element's responses came encrypted.
        moderator = world.moderator
        for event_id in responses:
            seen = await moderator.wait_for(lambda s, e=event_id: s.event_id == e)
            assert seen.sender == user_id and seen.type == "m.room.encrypted", seen
    finally:
        await world.close()
