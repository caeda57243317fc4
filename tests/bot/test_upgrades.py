"""Safe upgrades: only `run` and `migrate` change the schema; `backup`, `export` and `report`
read the database read-only and refuse a schema older or newer than theirs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_UNUSABLE, main
from storage import LATEST_VERSION, Database
from tests.migration_fixtures import make_filled_database


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@bot:localhost"\n'
        'password = "pw-for-tests"\n[storage]\npath = "data/bot.sqlite3"\n'
    )
    return config


def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def read_only_commands(tmp_path: Path, config: Path) -> list[list[str]]:
    out = str(tmp_path / "out")
    return [
        ["backup", "--config", str(config), "--output", out],
        ["export", "--config", str(config), "--output", out],
        ["report", "--config", str(config), "--output", out],
    ]


def test_backup_and_export_refuse_an_older_schema_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    path = database(tmp_path)
    path.parent.mkdir()
    asyncio.run(make_filled_database(path, LATEST_VERSION - 1))
    before, files = digest(path), beside(path)
    for command in read_only_commands(tmp_path, config):
        assert main(command) == EXIT_UNUSABLE
        err = capsys.readouterr().err
        assert f"schema version {LATEST_VERSION - 1}" in err
        assert "run `challenge-bot migrate` or start the bot first" in err
        assert "Traceback" not in err
    assert digest(path) == before and beside(path) == files  # not migrated, no -wal left
    assert not (tmp_path / "out").exists()


def test_backup_and_export_refuse_a_newer_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    path = database(tmp_path)
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE from_the_future (x)")
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    for command in [*read_only_commands(tmp_path, config), ["migrate", "--config", str(config)]]:
        assert main(command) == EXIT_UNUSABLE
        assert "this challenge-bot is older than the database" in capsys.readouterr().err
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1
    conn.close()


def newer_database(tmp_path: Path) -> Path:
    path = database(tmp_path)
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE from_the_future (x)")
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    return path


def test_run_on_a_newer_database_exits_with_status_2(tmp_path: Path) -> None:
    """As systemd runs it: the process ends within seconds with the status its unit expects
    (``RestartPreventExitStatus=2``), not a message followed by a hang."""
    config = write_config(tmp_path)
    newer_database(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == EXIT_UNUSABLE, done.stderr
    assert "this challenge-bot is older than the database" in done.stderr
    assert "Traceback" not in done.stderr


async def test_run_closes_the_database_when_the_start_fails(tmp_path: Path) -> None:
    """A start that fails after the database is open (here the login: no homeserver) closes
    it again, with everything else it opened."""
    from bot.app import BotApp
    from bot.config import load_config

    app = BotApp(load_config(write_config(tmp_path)))
    with pytest.raises(Exception):  # noqa: B017 - whatever the refused login raises
        await app.run()
    assert app.db._conn is None


def test_backup_without_a_database_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    for command in read_only_commands(tmp_path, config):
        assert main(command) == EXIT_UNUSABLE
        assert "no database here" in capsys.readouterr().err
    assert not database(tmp_path).parent.exists()


def test_migrate_reports_its_versions_then_backup_and_export_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    path = database(tmp_path)
    path.parent.mkdir()
    asyncio.run(make_filled_database(path, LATEST_VERSION - 1))
    assert main(["migrate", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"from schema version {LATEST_VERSION - 1} to {LATEST_VERSION}" in out
    assert main(["migrate", "--config", str(config)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out

    # Stopped: no -wal beside the database. Read immutable, and nothing is left behind.
    files = beside(path)
    assert not any(name.endswith(("-wal", "-shm")) for name in files)
    backup = tmp_path / "backup.sqlite3"
    assert main(["backup", "--config", str(config), "--output", str(backup)]) == 0
    assert "Backed up" in capsys.readouterr().out
    assert main(["export", "--config", str(config)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [c["slug"] for c in exported["challenges"]] == ["mobility", "climate"]
    site = tmp_path / "site"
    assert main(["report", "--config", str(config), "--output", str(site)]) == 0
    assert "2 challenges, 6 files" in capsys.readouterr().out  # one has public ideas
    assert sorted(p.name for p in (site / "challenges").glob("*.html")) == [
        "climate.html",
        "mobility.html",
    ]
    assert beside(path) == files
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("SELECT COUNT(*) FROM ideas").fetchone()[0] == 3
    conn.close()


def test_backup_and_export_while_the_bot_writes(tmp_path: Path) -> None:
    """Live: the bot holds the database open in WAL mode, with commits not yet checkpointed."""
    config = write_config(tmp_path)
    path = database(tmp_path)
    path.parent.mkdir()
    asyncio.run(make_filled_database(path, LATEST_VERSION))

    async def scenario() -> None:
        bot = Database(path)
        await bot.open()
        try:
            async with bot.transaction():
                await bot.execute(
                    "INSERT INTO handled_events VALUES ('$while-running', '2026-03-03')"
                )
            assert path.with_name(path.name + "-wal").stat().st_size > 0
            backup = tmp_path / "live-backup.sqlite3"
            code = await asyncio.to_thread(
                main, ["backup", "--config", str(config), "--output", str(backup)]
            )
            assert code == 0
            with sqlite3.connect(backup) as conn:
                found = conn.execute(
                    "SELECT COUNT(*) FROM handled_events WHERE event_id = '$while-running'"
                ).fetchone()[0]
            conn.close()
            assert found == 1  # the commit still in the WAL is in the backup
            async with bot.transaction():  # and the bot goes on writing afterwards
                await bot.execute("INSERT INTO handled_events VALUES ('$after', '2026-03-03')")
        finally:
            await bot.close()

    asyncio.run(scenario())


async def test_a_read_only_database_cannot_be_written(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    await make_filled_database(path, LATEST_VERSION)
    db = Database(path)
    await db.open(read_only=True)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await db.execute("DELETE FROM ideas")
    finally:
        await db.close()
    assert not path.with_name(path.name + "-wal").exists()
