"""A restore, tried: a backup taken while the bot works, then restored as the README says."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from devtools.homeserver import Homeserver
from devtools.seed import seed_challenge
from tests.matrix_support import (
    PASSWORD,
    BotProcess,
    Person,
    bot_config,
    replies_by_command,
    unique,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        return [tuple(row) for row in conn.execute(sql)]


async def back_up(config_path: Path, output: Path) -> None:
    """``challenge-bot backup``, as a deployer runs it beside the running bot."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "backup", "--config", str(config_path), "--output", output
    )
    assert await asyncio.wait_for(process.wait(), timeout=60) == 0


async def test_a_backup_taken_while_the_bot_works_restores_as_the_readme_promises(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    config = bot_config(
        homeserver, bot_user, tmp_path / "data", commands_per_minute=600, ideas_per_hour=1000
    )
    database = config.storage.path
    slug = unique("restore-")
    seeded = await seed_challenge(
        database, slug, ["Seed one", "Seed two", "Seed three"], author="@city:localhost"
    )
    config_path = write_config(config, tmp_path / "config.toml")
    backup = tmp_path / "backup.sqlite3"
    bot = BotProcess(config_path, tmp_path / "bot.log")
    citizen = await Person.create(homeserver, "citizen")
    try:
        await bot.start()
        room = await citizen.direct_chat_with(bot_user)

        def answered(commands: list[str]) -> bool:
            counts = replies_by_command(citizen, bot_user)
            return all(event_id in counts for event_id in commands)

        before = [await citizen.send(room, f"!idea {slug} Before {n}") for n in range(4)]
        before.append(await citizen.send(room, f"!vote {seeded[0]}"))
        await wait_until(lambda: answered(before), 60, "replies to the first commands")

        async def keep_sending() -> list[str]:
            sent = []
            for n in range(30):
                text = f"!vote {seeded[1]}" if n == 20 else f"!idea {slug} During {n}"
                sent.append(await citizen.send(room, text))
                await asyncio.sleep(0.15)
            return sent

        sending = asyncio.ensure_future(keep_sending())
        await asyncio.sleep(0.5)
        await back_up(config_path, backup)
        backup_done_while_sending = not sending.done()
        during = await sending
        after = [await citizen.send(room, f"!idea {slug} After {n}") for n in range(4)]
        after.append(await citizen.send(room, f"!vote {seeded[2]}"))
        everything = before + during + after
        await wait_until(lambda: answered(everything), 90, "a reply to every command")
        assert await bot.terminate() == 0

        # Restore, as the README says: the backup in the database's place, no -wal or -shm
        # beside it, crypto/ kept.
        shutil.copyfile(backup, database)
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        assert (database.parent / "crypto").is_dir()
        await bot.start()
        new = await citizen.send(room, "!mine")
        await wait_until(lambda: answered([new]), 60, "a reply to a command after the restore")
        # Commands after the backup are handled again: their second replies, if any, come
        # before the reply to the new command (the outbox sends in order); then room for a
        # late duplicate.
        await asyncio.sleep(3)
        assert await bot.terminate() == 0

        in_backup = {
            str(event_id) for (event_id,) in rows(backup, "SELECT event_id FROM handled_events")
        }
        kept = [event_id for event_id in everything if event_id in in_backup]
        redone = [event_id for event_id in everything if event_id not in in_backup]
        assert set(before) <= in_backup
        assert set(after).isdisjoint(in_backup)
        # The backup caught the bot at work: some commands sent meanwhile are in it, some not.
        assert backup_done_while_sending
        assert set(during) & in_backup and set(during) - in_backup

        counts = replies_by_command(citizen, bot_user)
        assert counts[new] == 1
        # What the README promises: every command answered; those in the backup exactly once;
        # those after it handled again, their authors getting at most a second reply.
        assert {event_id: counts.get(event_id) for event_id in kept} == dict.fromkeys(kept, 1)
        assert all(1 <= counts.get(event_id, 0) <= 2 for event_id in redone), {
            event_id: counts.get(event_id) for event_id in redone
        }
        # Nothing after the backup is lost: every idea and vote is there, once.
        titles = [str(title) for (title,) in rows(database, "SELECT title FROM ideas")]
        expected = [f"Before {n}" for n in range(4)] + [f"After {n}" for n in range(4)]
        expected += [f"During {n}" for n in range(30) if n != 20]
        assert sorted(titles) == sorted(["Seed one", "Seed two", "Seed three", *expected])
        votes = rows(database, "SELECT idea_id, COUNT(*) FROM votes GROUP BY idea_id")
        assert sorted(votes) == [(idea_id, 1) for idea_id in seeded]
    finally:
        await bot.close()
        await citizen.close()
