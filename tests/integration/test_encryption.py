"""Encrypted direct messages, created the way Element creates them, against the real Synapse."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bot.matrix.client import BotClient
from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.matrix_support import PASSWORD, Person, bot_config, start_bot, unique

pytestmark = pytest.mark.integration


async def test_encrypted_dm_submit_vote_by_reaction_across_a_restart(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path / "bot")
    slug = unique("crypto-")
    await seed_challenge(config.storage.path, slug, [], author="@city:localhost")
    bot = await start_bot(config)
    citizen = await Person.create(homeserver, "citizen", store_path=tmp_path / "citizen-keys")
    try:
        dm = await citizen.direct_chat_with(bot_user, encrypted=True)
        submitted = await citizen.ask(
            dm, f"!idea {slug} Quiet streets at night\nLess noise after 22:00."
        )
        assert submitted.type == "m.room.message"  # decrypted by the client
        idea_id = int(re.search(r"#(\d+)", submitted.content["body"]).group(1))  # type: ignore[union-attr]
        first_device = bot.app.client.device_id

        await bot.stop()
        bot = await start_bot(config)
        assert bot.app.client.device_id == first_device

        shown = await citizen.ask(dm, f"!show {idea_id}")
        assert "Quiet streets at night" in shown.content["body"]
        await citizen.react(dm, shown.event_id)

        async def votes() -> int:
            async with bot.app.db.transaction():
                return await bot.app.store.votes.count(idea_id)

        for _ in range(100):
            if await votes() == 1:
                break
            await asyncio.sleep(0.1)
        assert await votes() == 1
    finally:
        await bot.stop()
        await citizen.close()


async def test_an_undecryptable_message_is_explained_once(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    bot = await start_bot(bot_config(homeserver, bot_user, tmp_path / "bot"))
    citizen = await Person.create(homeserver, "citizen", store_path=tmp_path / "citizen-keys")
    # The same person on a second device that never shares its keys with anyone.
    other_device = await Person.create(homeserver, "citizen", user_id=citizen.user_id)
    try:
        dm = await citizen.direct_chat_with(bot_user, encrypted=True)
        await citizen.ask(dm, "!help")  # the bot reads this room fine
        garbage = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg2yyOwAtHaZTwyNg37afzg8f3r9IsN9r4RNFg",
            "device_id": "NOSUCHDEVICE",
            "sender_key": "ZXhhbXBsZS1zZW5kZXIta2V5LW5vdC1yZWFsLWF0LWFsbC0xMjM",
            "session_id": "bm8tc3VjaC1zZXNzaW9uLWZvci10aGUtYm90LXRvLWRlY3J5cHQ",
        }
        for _ in range(2):
            response = await other_device.client.room_send(dm, "m.room.encrypted", garbage)
            assert response.__class__.__name__ == "RoomSendResponse", response
        explanation = await citizen.wait_for(
            lambda s: (
                s.room_id == dm
                and s.sender == bot_user
                and "ontsleutelen" in s.content.get("body", "")
            )
        )
        assert explanation.content["m.mentions"] == {}
        await citizen.ask(dm, "!challenges")  # later messages are still answered
        explanations = [
            s
            for s in citizen.messages_from(bot_user, dm)
            if "ontsleutelen" in s.content.get("body", "")
        ]
        assert len(explanations) == 1
    finally:
        await bot.stop()
        await citizen.close()
        await other_device.close()


async def test_a_message_whose_key_arrives_late_is_handled_then(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    bot = await start_bot(bot_config(homeserver, bot_user, tmp_path / "bot"))
    citizen = await Person.create(homeserver, "citizen", store_path=tmp_path / "citizen-keys")
    try:
        dm = await citizen.direct_chat_with(bot_user, encrypted=True)
        await citizen.ask(dm, "!help")
        # The bot's device holds back its to-device messages (the room keys) for a while, as
        # when they are delayed on their way.
        olm = bot.app.client.olm
        assert olm is not None
        held: list[object] = []
        deliver = olm.handle_to_device_event
        olm.handle_to_device_event = held.append  # type: ignore[method-assign]
        assert citizen.client.olm is not None
        citizen.client.olm.create_outbound_group_session(dm)  # a new key, shared with the message
        late = await citizen.send(dm, "!challenges")
        await citizen.wait_for(
            lambda s: (
                s.sender == bot_user
                and s.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == late
                and "ontsleutelen" in s.content.get("body", "")
            )
        )
        assert held  # the key really was held back
        olm.handle_to_device_event = deliver  # type: ignore[method-assign]
        for event in held:
            deliver(event)
        await citizen.send(dm, "!help")  # any new event wakes the bot's sync
        answer = await citizen.wait_for(
            lambda s: (
                s.sender == bot_user
                and s.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == late
                and "ontsleutelen" not in s.content.get("body", "")
            )
        )
        assert "uitdagingen" in answer.content["body"]  # the answer to !challenges
    finally:
        await bot.stop()
        await citizen.close()


#: Deep enough that matrix-nio's ``json.loads`` of the decrypted payload raises RecursionError.
NESTING = 10_000


async def test_a_deeply_nested_encrypted_event_does_not_stall_the_sync(
    homeserver: Homeserver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One event that nio cannot read is that event's failure alone: the message after it is
    answered in the same room, the batch is not failed and retried, and nothing is explained
    as undecryptable (its key is there; its content is the problem)."""
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    bot = await start_bot(bot_config(homeserver, bot_user, tmp_path / "bot"))
    # The sender reads its own messages too: the bot's client keeps it syncing past this one.
    citizen = await Person.create(
        homeserver, "citizen", store_path=tmp_path / "citizen-keys", client_class=BotClient
    )
    try:
        dm = await citizen.direct_chat_with(bot_user, encrypted=True)
        await citizen.ask(dm, "!help")  # the room's key is shared with the bot
        caplog.clear()
        caplog.set_level(logging.WARNING)
        olm = citizen.client.olm
        assert olm is not None
        nested = "[" * NESTING + "]" * NESTING

        def encrypt_nested(room_id: str, plaintext: dict[str, Any]) -> dict[str, Any]:
            """nio's group_encrypt, with a payload no json.dumps of a dict could make."""
            session = olm.outbound_group_sessions[room_id]
            text = json.dumps({**plaintext, "room_id": room_id}).replace('"DEEP"', nested)
            return {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": olm.account.identity_keys["curve25519"],
                "ciphertext": session.encrypt(text),
                "session_id": session.id,
                "device_id": citizen.client.device_id,
            }

        olm.group_encrypt = encrypt_nested  # type: ignore[method-assign]
        try:
            deep = {"msgtype": "m.text", "body": "!challenges", "deep": "DEEP"}
            response = await citizen.client.room_send(
                dm, "m.room.message", deep, ignore_unverified_devices=True
            )
            assert response.__class__.__name__ == "RoomSendResponse", response
        finally:
            del olm.group_encrypt
        answered = await citizen.ask(dm, "!help")  # at once: most likely in the same batch
        assert answered.sender == bot_user

        problems = [
            record
            for record in caplog.records
            if record.name.startswith("bot") and record.levelno >= logging.WARNING
        ]
        assert [r for r in problems if "cannot be read" in r.getMessage()], problems
        assert not [r for r in problems if r.levelno >= logging.ERROR], problems
        assert bot.app.metrics.total(bot.app.metrics.undecryptable) == 0
        explained = [
            s for s in citizen.messages_from(bot_user, dm) if "ontsleutelen" in s.content["body"]
        ]
        assert explained == []
    finally:
        await bot.stop()
        await citizen.close()
