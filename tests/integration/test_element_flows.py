"""Element's own flows, done by matrix-js-sdk (tests/element/flows_client.mjs) against the
suite's Synapse: commands in a card's thread, a late joiner in an encrypted room, and a direct
chat created the way Element creates it, its first message sent before the bot has joined."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.element_support import STEP_TIMEOUT, ElementClient
from tests.integration.test_polls_on_synapse import join, wait_until_handled
from tests.matrix_support import (
    PASSWORD,
    ModeratedBot,
    Person,
    bot_config,
    start_bot,
    start_moderated_bot,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

SCRIPT = "flows_client.mjs"
TIMEOUT_MS = int(STEP_TIMEOUT * 1000 * 3)  # the whole flow, inside the script


async def element_person(
    homeserver: Homeserver, tmp_path: Path, flow: str, bot_user: str, **arguments: Any
) -> tuple[str, ElementClient]:
    user_id = homeserver.register_user(unique("element"), PASSWORD)
    client = await ElementClient.start(
        tmp_path,
        SCRIPT,
        flow=flow,
        baseUrl=homeserver.url,
        userId=user_id,
        password=PASSWORD,
        botUserId=bot_user,
        timeoutMs=TIMEOUT_MS,
        **arguments,
    )
    return user_id, client


async def encrypt(world: ModeratedBot, room: str) -> None:
    bot_client = world.bot.app.client
    algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
    response = await bot_client.room_put_state(room, "m.room.encryption", algorithm)
    assert response.__class__.__name__ == "RoomPutStateResponse", response
    await wait_until(lambda: bool(bot_client.rooms[room].encrypted), 20, "the room encrypted")


async def has_voted(world: ModeratedBot, idea_id: int, voter: str) -> bool:
    async with world.bot.app.db.transaction():
        return await world.bot.app.store.votes.has_voted(idea_id, voter)


def in_the_thread(answer: dict[str, Any], root: str, asked: str) -> None:
    """``answer`` (as the SDK saw it) is in the thread on ``root``, replying to ``asked``."""
    assert answer["threadRootId"] == root, answer  # the SDK's own thread model
    assert answer["inThreadModel"] and not answer["inMainTimeline"], answer
    assert answer["relation"]["rel_type"] == "m.thread", answer
    assert answer["relation"]["event_id"] == root, answer
    assert answer["relation"]["m.in_reply_to"] == {"event_id": asked}, answer


async def test_commands_in_a_cards_thread_sent_by_element(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    try:
        _slug, room = await world.open_challenge("element-thread-", "Greener squares")
        user_id, element = await element_person(
            homeserver,
            tmp_path,
            "thread",
            bot_user,
            roomId=room,
            commands={"idea": "!idea Trees on the Vrijdagmarkt"},
        )
        try:
            await element.step("logged-in")
            await element.step("joined")
            card = await element.step("card")
            assert "Trees on the Vrijdagmarkt" in card["body"] and card["ideaId"] > 0, card
            assert card["threadRootId"] is None and card["inMainTimeline"], card
            root, idea_id = card["eventId"], card["ideaId"]

            voted = await element.step("voted")
            sent = voted["sent"]["content"]["m.relates_to"]
            # As the SDK builds a threaded message: the thread, and the reply fallback to the
            # thread's latest event (the root, the first time).
            assert sent == {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }, sent
            in_the_thread(voted["answer"], root, voted["sent"]["eventId"])
            await wait_until_handled(world, voted["sent"]["eventId"])
            assert await has_voted(world, idea_id, user_id)

            shown = await element.step("shown")
            sent = shown["sent"]["content"]["m.relates_to"]
            # The fallback now points at the thread's latest reply, the bot's confirmation.
            assert sent["rel_type"] == "m.thread" and sent["event_id"] == root, sent
            assert sent["is_falling_back"] is True, sent
            assert sent["m.in_reply_to"] == {"event_id": voted["answer"]["eventId"]}, sent
            in_the_thread(shown["answer"], root, shown["sent"]["eventId"])
            assert "Trees on the Vrijdagmarkt" in shown["answer"]["body"], shown
            # Element's thread holds both commands and both answers.
            for event_id in (
                voted["sent"]["eventId"],
                voted["answer"]["eventId"],
                shown["sent"]["eventId"],
                shown["answer"]["eventId"],
            ):
                assert event_id in shown["threadIds"], shown
            await element.finish()
        finally:
            await element.close()
    finally:
        await world.close()


async def test_a_late_joiner_with_element_crypto_in_an_encrypted_room(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user = world.bot.user_id
    other = await Person.create(homeserver, "other", store_path=tmp_path / "other-keys")
    try:
        _slug, room = await world.open_challenge("element-late-", "Quiet streets")
        await encrypt(world, room)
        # Others talk in the encrypted room first: the bot's room key is out already.
        await join(other, room, world)
        card = await other.ask(room, "!idea Fewer cars near schools")
        assert card.type == "m.room.message", card  # decrypted by the nio client
        idea_id = int(re.search(r"#(\d+)", card.content["body"]).group(1))  # type: ignore[union-attr]
        await other.ask(room, f"!vote {idea_id}")

        user_id, element = await element_person(
            homeserver,
            tmp_path,
            "late-joiner",
            bot_user,
            roomId=room,
            encrypted=True,
            commands={"ask": f"!show {idea_id}"},
        )
        try:
            await element.step("logged-in")
            await element.step("joined")
            answered = await element.step("answered")
            assert answered["sentEncrypted"] is True, answered  # Element encrypted the command
            answer = answered["answer"]
            # The bot read it, and its answer came encrypted and Element could decrypt it.
            assert answer["wireEncrypted"] and not answer["decryptionFailure"], answer
            assert "Fewer cars near schools" in answer["body"], answer
            await element.finish()
        finally:
            await element.close()
        # The nio client still reads the bot's later messages in the room.
        later = await other.ask(room, f"!show {idea_id}")
        assert later.type == "m.room.message" and "Fewer cars" in later.content["body"]
        assert user_id in world.bot.app.client.rooms[room].users
    finally:
        await other.close()
        await world.close()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_element_creates_a_direct_chat_and_speaks_first(
    homeserver: Homeserver, tmp_path: Path, encrypted: bool
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "bot")
    slug = unique("element-dm-")
    await seed_challenge(config.storage.path, slug, [], author="@city:localhost")
    bot = await start_bot(config)
    try:
        _user_id, element = await element_person(
            homeserver,
            tmp_path,
            "dm",
            bot_user,
            encrypted=encrypted,
            commands={"ask": "!challenges"},
            skip="ontsleutelen",  # a notice that the key is not there yet, if the bot sent one
        )
        try:
            await element.step("logged-in")
            sent = await element.step("sent")
            # Plain, sent before the bot joined (the SDK may not even have seen the invite yet).
            # Encrypted, only once the SDK has seen the room's encryption and the bot's invite
            # (or the bot gets no key), by when the bot may have joined already.
            by_then = {"invite", "join"} if encrypted else {None, "invite"}
            assert sent["botMembershipWhenSent"] in by_then, sent
            assert sent["sentEncrypted"] is encrypted, sent
            answered = await element.step("answered")
            answer = answered["answer"]
            assert answer["wireEncrypted"] is encrypted and not answer["decryptionFailure"], answer
            assert slug in answer["body"], answer  # the answer to !challenges
            await element.finish()
        finally:
            await element.close()
    finally:
        await bot.stop()
