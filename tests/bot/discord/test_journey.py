"""The Discord journey through the real discord.py client against simcord's in-memory Discord."""

from __future__ import annotations

from pathlib import Path

from tests.discord_support import discord_world


async def test_a_moderator_opens_a_challenge_and_a_student_submits_through_the_modal(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        mod = world.member("mod", moderator=True)
        result = await mod.slash(
            world.general,
            "challenge new",
            slug="parks",
            title="Greener parks",
            description="Where?",
        )
        assert result.deferred and result.ephemeral
        await world.flush()
        print(result.followups)
        rows = await world.store.db.fetch_all(
            "SELECT id, kind, room_id, failed, payload FROM outbox"
        )
        for row in rows:
            print(dict(row))
        print(world.env.transcript()[-3000:])
        async with world.store.db.transaction():
            challenge = await world.store.challenges.by_slug("parks")
        assert challenge is not None
        print(challenge.room_id)
