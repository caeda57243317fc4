"""What came out of a challenge, in the chat: the export uploaded where moderators read it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from devtools.homeserver import Homeserver
from tests.matrix_support import Person, start_moderated_bot

pytestmark = pytest.mark.integration

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "export.schema.json").read_text())


async def test_export_uploads_a_file_into_the_moderation_room(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, bot_user = world.moderator, world.bot.user_id
    citizen = await Person.create(homeserver, "citizen")
    try:
        slug, _room = await world.open_challenge("export-", "Open data")
        dm = await citizen.direct_chat_with(bot_user)
        await citizen.ask(dm, f"!idea {slug} Benches by the river")
        answer = await moderator.ask(world.moderation_room, f"!export {slug}")
        assert answer.sender == bot_user and ".json" in answer.content["body"]
        upload = await moderator.wait_for(
            lambda s: s.room_id == world.moderation_room and s.content.get("msgtype") == "m.file"
        )
        assert upload.sender == bot_user
        download = await moderator.client.download(mxc=upload.content["url"])
        data = json.loads(download.body)  # type: ignore[union-attr]
        jsonschema.validate(data, SCHEMA)
        (challenge,) = data["challenges"]
        assert challenge["slug"] == slug
        assert [idea["title"] for idea in challenge["ideas"]] == ["Benches by the river"]
        assert challenge["ideas"][0]["author"] is None
    finally:
        await world.close()
        await citizen.close()
