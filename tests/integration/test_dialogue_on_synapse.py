"""The guided submission over a real Synapse: wrong answers, a restart halfway, the similar-idea
prompt, !cancel, and expiry with a note."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.matrix_support import PASSWORD, Person, bot_config, start_bot, unique

pytestmark = pytest.mark.integration


async def test_the_guided_submission_end_to_end(homeserver: Homeserver, tmp_path: Path) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(homeserver, bot_user, tmp_path)
    slug = unique("guided-")
    (existing,) = await seed_challenge(
        config.storage.path, slug, ["Safer bike lanes on the Coupure"], author="@city:localhost"
    )
    bot = await start_bot(config)
    citizen = await Person.create(homeserver, "citizen")
    try:
        dm = await citizen.direct_chat_with(bot_user)

        async def answer(text: str) -> str:
            return str((await citizen.ask(dm, text)).content["body"])

        started = await answer("idee")  # a plain word in a DM starts the dialogue
        assert f"1. {slug}" in started or f"({slug})" in started
        assert "staat niet in de lijst" in await answer("7")  # wrong: re-asked with the reason
        assert "titel" in await answer("1")
        assert "te kort" in await answer("ab")

        await bot.stop()  # a restart halfway: the dialogue lives in SQLite
        bot = await start_bot(config)

        similar = await answer("Safer bike lanes at the Coupure")
        assert f"#{existing}" in similar and "nieuw" in similar
        assert "Beschrijf" in await answer("nieuw")
        summary = await answer("Lanes separated from cars.\nAlso at night.")
        assert "Safer bike lanes at the Coupure" in summary and "ja" in summary
        done = await answer("ja")
        number = int(re.search(r"#(\d+)", done).group(1))  # type: ignore[union-attr]
        async with bot.app.db.transaction():
            idea = await bot.app.store.ideas.get(number)
        assert idea is not None and idea.author == citizen.user_id
        assert idea.description == "Lanes separated from cars.\nAlso at night."

        # Similar idea: vote for it instead.
        await answer("idee")
        await answer("1")
        assert f"#{existing}" in await answer("Safer bike lanes on Coupure")
        assert "stemmen" in await answer("1")
        async with bot.app.db.transaction():
            assert await bot.app.store.votes.has_voted(existing, citizen.user_id)

        # !cancel at any step.
        await answer("idee")
        assert "gestopt" in await answer("!cancel")
        async with bot.app.db.transaction():
            assert await bot.app.store.dialogues.get(citizen.user_id, dm) is None

        # Expiry: the sweep ends it with a note, even without a new message.
        await answer("idee")
        async with bot.app.db.transaction():
            await bot.app.db.execute(
                "UPDATE dialogues SET expires_at = ? WHERE user_id = ?",
                ((datetime.now(UTC) - timedelta(seconds=1)).isoformat(), citizen.user_id),
            )
        note = await citizen.wait_for(
            lambda s: (
                s.room_id == dm
                and s.sender == bot_user
                and "geen antwoord" in s.content.get("body", "")
            )
        )
        assert note.content["m.mentions"] == {}
    finally:
        await bot.stop()
        await citizen.close()
