"""Every migration on a database filled at the schema before it, not only on an empty one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from storage import LATEST_VERSION, Database, IdeaStatus, Store
from storage.migrations import (
    COUNTED_VERSION,
    IDENTITY_VERSION,
    MIGRATIONS,
    MIRROR_VERSION,
    POLLS,
    THRESHOLD_VERSION,
)
from tests.migration_fixtures import (
    CHALLENGE_ROOM,
    DEADLINE_AT,
    SENT_PAYLOAD,
    contents,
    make_filled_database,
    tables,
)

OLDER_VERSIONS = range(1, LATEST_VERSION)

# Columns that migrations added to existing tables, with the value old rows get.
ADDED_COLUMNS: dict[tuple[str, str], tuple[int, Any]] = {
    ("ideas", "hidden"): (2, 0),
    ("audit_log", "subject"): (2, None),
    ("challenges", "eligibility"): (IDENTITY_VERSION, None),
    ("votes", "standing"): (IDENTITY_VERSION, "other"),
    ("votes", "identity"): (IDENTITY_VERSION, None),
    ("votes", "new_account"): (IDENTITY_VERSION, 0),
    ("poll_responses", "standing"): (COUNTED_VERSION, "other"),
    ("poll_responses", "identity"): (COUNTED_VERSION, None),
    ("poll_responses", "counted"): (COUNTED_VERSION, 1),
    ("poll_responses", "told"): (COUNTED_VERSION, 0),
    ("reports", "standing"): (COUNTED_VERSION, "other"),
    ("reports", "identity"): (COUNTED_VERSION, None),
    ("reports", "counted"): (COUNTED_VERSION, 1),
    ("challenges", "support_threshold"): (THRESHOLD_VERSION, None),
    ("ideas", "support_reached_at"): (THRESHOLD_VERSION, None),
}


def expected_after_migrating(
    version: int, before: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """What the later migrations are meant to make of the rows of a database at ``version``."""
    expected = {table: [dict(row) for row in rows] for table, rows in before.items()}
    if version < 7:
        del expected["joined_rooms"]  # migration 7: the join event says where history ends
    if version < 8:  # migration 8: a sent message keeps no content
        for row in expected["outbox"]:
            if row["done_at"] is not None:
                row["payload"] = "{}"
    if version < 9:  # migration 9: a challenge room is nobody's direct chat
        expected["direct_rooms"] = [
            row for row in expected["direct_rooms"] if row["room_id"] != CHALLENGE_ROOM
        ]
    for (table, column), (added_in, default) in ADDED_COLUMNS.items():
        if version < added_in:
            for row in expected.get(table, []):  # a table made later gets the column with it
                row[column] = default
    if version < 11:  # migration 11: a pending row's lane is its room, or one for direct rows
        for row in expected["outbox"]:
            row["lane"] = None
            if row["done_at"] is None:
                direct = "direct" if row["kind"] in ("direct", "direct_file") else row["kind"]
                row["lane"] = row["room_id"] or direct
    if version < 13:  # migration 13: the date deadline is the end of that day in Brussels
        for row in expected["challenges"]:
            day = row.pop("deadline")
            row["submission_deadline_at"] = None if day is None else DEADLINE_AT
            row["voting_deadline_at"] = None
            row["tags"] = ""
            row["partner"] = ""
        expected["challenges"].sort(key=lambda row: json.dumps(row, sort_keys=True))
        # An open challenge with a deadline gets its reminder and closing, not yet done.
        expected["schedule"] = [
            {"challenge_id": 1, "kind": kind, "deadline_at": DEADLINE_AT, "done_at": None}
            for kind in ("close_submission", "reminder_submission")
        ]
    if POLLS <= version < MIRROR_VERSION:  # migration 20: a poll's start in its room
        expected["poll_starts"] = [
            {"event_id": row["start_event_id"], "poll_id": row["id"], "room_id": row["room_id"]}
            for row in expected["polls"]
            if row["start_event_id"] is not None
        ]
    return expected


async def schema(db: Database) -> list[tuple[str, str, str | None]]:
    rows = await db.fetch_all(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [(row["type"], row["name"], row["sql"]) for row in rows]


@pytest.mark.parametrize("version", OLDER_VERSIONS)
async def test_a_filled_database_is_migrated_from_every_older_schema(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / f"at-v{version}.sqlite3"
    await make_filled_database(path, version)
    old = Database(path)
    await old.open(migrate=False)
    try:
        assert await old.schema_version() == version
        before = await contents(old)
        empty = [table for table, rows in before.items() if not rows]
        assert empty == [], f"the fixture at v{version} leaves tables empty"
    finally:
        await old.close()

    db = Database(path)
    await db.open()  # as `challenge-bot run` and `challenge-bot migrate` do
    fresh = Database(tmp_path / "fresh.sqlite3")
    await fresh.open()
    try:
        assert await db.schema_version() == LATEST_VERSION
        assert await schema(db) == await schema(fresh)
        after = await contents(db)
        expected = expected_after_migrating(version, before)
        for table, rows in expected.items():
            assert after[table] == rows, f"{table} after migrating from v{version}"
        new_tables = set(after) - set(before)
        assert all(after[table] == [] for table in new_tables - set(expected))
        if version < 10:
            assert "card_edits" in new_tables
        assert await db.fetch_value("PRAGMA integrity_check") == "ok"
        assert await db.fetch_all("PRAGMA foreign_key_check") == []

        # The repositories of today read what the older bot wrote.
        store = Store(db)
        async with db.snapshot():
            idea = await store.ideas.get(1)
            duplicate = await store.ideas.get(2)
            challenge = await store.challenges.get(1)
        assert idea is not None and idea.title == "Fietsstraten"
        assert duplicate is not None and duplicate.status is IdeaStatus.DUPLICATE
        assert duplicate.duplicate_of == 1
        assert challenge is not None and challenge.room_id == CHALLENGE_ROOM
    finally:
        await db.close()
        await fresh.close()


async def test_the_fixtures_cover_every_table_of_the_latest_schema(tmp_path: Path) -> None:
    """When a migration adds a table, the fixtures must learn to fill it (at the version after,
    the next migration's test starts from it)."""
    path = tmp_path / "latest.sqlite3"
    await make_filled_database(path, LATEST_VERSION)
    db = Database(path)
    await db.open(migrate=False)
    try:
        found = await contents(db)
        assert sorted(found) == await tables(db)
        assert [table for table, rows in found.items() if not rows] == []
        outbox = {row["id"]: row["payload"] for row in found["outbox"]}
        assert outbox[1] == SENT_PAYLOAD  # at the latest schema nothing transforms it
    finally:
        await db.close()


async def test_a_new_database_is_created_at_the_latest_schema_in_one_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One line on a first start, and the same schema as a database migrated step by step."""
    caplog.set_level(logging.INFO, logger="storage.database")
    db = Database(tmp_path / "new.sqlite3")
    await db.open()
    try:
        assert await db.schema_version() == LATEST_VERSION
        created = await schema(db)
    finally:
        await db.close()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [f"Created a new database at schema version {LATEST_VERSION}"]

    caplog.clear()
    stepwise = Database(tmp_path / "stepwise.sqlite3")
    await stepwise.open(migrate=False)
    try:
        await stepwise.migrate(MIGRATIONS[:1])
        await stepwise.migrate()
        assert await schema(stepwise) == created
    finally:
        await stepwise.close()
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Migrating")]
    assert len(steps) == LATEST_VERSION - 1  # an existing database still logs each step
