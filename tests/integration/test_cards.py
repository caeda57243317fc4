"""Living cards edited in place, and commands answered inside a card's thread."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from tests.matrix_support import Person, Seen, start_moderated_bot

pytestmark = pytest.mark.integration


def edits_of(person: Person, event_id: str) -> list[Seen]:
    return [
        s
        for s in person.seen
        if s.content.get("m.relates_to", {}).get("rel_type") == "m.replace"
        and s.content["m.relates_to"].get("event_id") == event_id
    ]


async def test_a_card_is_edited_in_place_and_threads_are_answered_in_the_thread(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot, moderator, moderation_room = world.bot, world.moderator, world.moderation_room
    bot_user = bot.user_id
    student = await Person.create(homeserver, "student")
    voters = [await Person.create(homeserver, f"voter{n}-") for n in range(5)]
    try:
        _slug, room = await world.open_challenge("cards-", "Greener squares")
        for person in (student, *voters):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined

        card = await student.ask(room, "!idea Trees on the Vrijdagmarkt")
        idea_id = int(re.search(r"#(\d+)", card.content["body"]).group(1))  # type: ignore[union-attr]
        for voter in voters:
            await voter.wait_for(lambda s: s.event_id == card.event_id)

        # A burst of votes, by reaction and by command: few edits, the last one right.
        await asyncio.gather(
            *(
                voter.react(room, card.event_id) if n % 2 else voter.send(room, f"!vote {idea_id}")
                for n, voter in enumerate(voters)
            )
        )
        final = await student.wait_for(
            lambda s: (
                s in edits_of(student, card.event_id)
                and "5 stemmen" in s.content["m.new_content"]["body"]
            ),
            timeout=30,
        )
        new_content = final.content["m.new_content"]
        assert (
            f"#{idea_id}" in new_content["body"]
            and "Trees on the Vrijdagmarkt" in new_content["body"]
        )
        assert new_content["m.mentions"] == {} and final.content["m.mentions"] == {}
        assert final.content["body"].startswith("* ")
        await asyncio.sleep(3)  # no edit still on its way
        assert 1 <= len(edits_of(student, card.event_id)) < len(voters)

        # A moderator's decision shows on the card too.
        await moderator.ask(moderation_room, f"!accept {idea_id}")
        await student.wait_for(
            lambda s: (
                s in edits_of(student, card.event_id)
                and "aanvaard" in s.content["m.new_content"]["body"]
            ),
            timeout=30,
        )

        # A command inside the card's thread is answered in that thread.
        thread = {"rel_type": "m.thread", "event_id": card.event_id, "is_falling_back": True,
                  "m.in_reply_to": {"event_id": card.event_id}}  # fmt: skip
        response = await student.client.room_send(
            room,
            "m.room.message",
            {"msgtype": "m.text", "body": f"!show {idea_id}", "m.relates_to": thread},
        )
        asked = str(response.event_id)  # type: ignore[union-attr]
        answer = await student.wait_for(
            lambda s: (
                s.sender == bot_user
                and s.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == asked
            )
        )
        relation = answer.content["m.relates_to"]
        assert relation["rel_type"] == "m.thread" and relation["event_id"] == card.event_id
        assert relation["is_falling_back"] is False
    finally:
        await world.close()
        for person in (student, *voters):
            await person.close()


async def test_a_hidden_ideas_card_is_taken_down_with_its_edits_and_comes_back_new(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    bot_user, moderator = world.bot.user_id, world.moderator
    student = await Person.create(homeserver, "student")
    voter = await Person.create(homeserver, "voter")
    try:
        _slug, room = await world.open_challenge("takedown-", "Quiet streets")
        for person in (student, voter):
            joined = await person.client.join(room)
            assert joined.__class__.__name__ == "JoinResponse", joined
        title = "Car-free Sunday in Sint-Amandsberg"
        card = await student.ask(room, f"!idea {title}")
        idea_id = int(re.search(r"#(\d+)", card.content["body"]).group(1))  # type: ignore[union-attr]
        await voter.ask(room, f"!vote {idea_id}")
        edit = await student.wait_for(lambda s: s in edits_of(student, card.event_id), timeout=30)
        await moderator.ask(world.moderation_room, f"!hide {idea_id} Needs a look")

        async def redacted(event_id: str) -> bool:
            fetched = await student.client.room_get_event(room, event_id)
            source = fetched.event.source  # type: ignore[union-attr]
            return "redacted_because" in source.get("unsigned", {}) and title not in str(source)

        for event_id in (card.event_id, edit.event_id):
            deadline = asyncio.get_running_loop().time() + 30
            while not await redacted(event_id):
                assert asyncio.get_running_loop().time() < deadline, f"{event_id} not redacted"
                await asyncio.sleep(0.2)
        await moderator.ask(world.moderation_room, f"!unhide {idea_id}")
        again = await student.wait_for(
            lambda s: (
                s.room_id == room
                and s.sender == bot_user
                and s.event_id != card.event_id
                and title in s.content.get("body", "")
                and "m.relates_to" not in s.content
            ),
            timeout=30,
        )
        async with world.bot.app.db.transaction():
            assert await world.bot.app.store.cards.idea_for(again.event_id) == idea_id
            assert await world.bot.app.store.cards.idea_for(card.event_id) is None
    finally:
        await world.close()
        await student.close()
        await voter.close()
