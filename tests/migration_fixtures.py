"""Databases "filled at schema N": made by the repository's own first N migrations, then given
rows in every table that exists at N, as the bot of that version would have written them.

Nothing here is a generated file: each test builds its database afresh. A migration that adds
a table must add rows for it here too (``tables_at`` and the test of it fail otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage import Database
from storage.migrations import (
    COUNTED_VERSION,
    FOLLOWING_VERSION,
    IDENTITY_VERSION,
    LINKS_VERSION,
    MIGRATIONS,
    MIRROR_VERSION,
    POLLS,
    ROOM_STATE_VERSION,
    THRESHOLD_VERSION,
)

AT = "2026-03-01T10:00:00+00:00"
LATER = "2026-03-02T10:00:00+00:00"
CHALLENGE_ROOM = "!mobility:localhost"
DISCORD_CHANNEL = "discord:91234567890123456"
#: The end of 2026-06-30 in Brussels (summer time, UTC+2), and a week later.
DEADLINE_AT = "2026-06-30T22:00:00+00:00"
VOTING_DEADLINE_AT = "2026-07-07T22:00:00+00:00"
ALICE_DM = "!dm-alice:localhost"
#: A keyed hash of an external identity, as the bot stores it (never the identity itself).
IDENTITY_HASH = "5f1d3c0a9e8b7d6c5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9988"
SENT_PAYLOAD = json.dumps({"room_id": CHALLENGE_ROOM, "body": "Idee #1 ingediend: Fietsstraten"})
WAITING_PAYLOAD = json.dumps({"room_id": CHALLENGE_ROOM, "body": "Stem geteld voor #1"})


def _rows(version: int) -> list[tuple[str, dict[str, Any]]]:
    """(table, row) in an order that foreign keys accept, for a database at ``version``."""
    v2 = version >= 2
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            "challenges",
            {
                "id": 1,
                "slug": "mobility",
                "title": "Mobiliteit",
                "description": "Hoe komen we vlot door de stad?",
                "status": "open",
                "room_id": CHALLENGE_ROOM,
                "deadline": "2026-06-30",
                "vote_budget": 3,
                "premoderated": 0,
                "created_by": "@mod:localhost",
                "created_at": AT,
                "updated_at": AT,
            },
        ),
        (
            "challenges",
            {
                "id": 2,
                "slug": "climate",
                "title": "Klimaat",
                "description": "",
                "status": "closed",
                "room_id": None,
                "deadline": None,
                "vote_budget": None,
                "premoderated": 1,
                "created_by": "@mod:localhost",
                "created_at": AT,
                "updated_at": LATER,
            },
        ),
        (
            "ideas",
            {
                "id": 1,
                "challenge_id": 1,
                "title": "Fietsstraten",
                "description": "Meer fietsstraten rond de Korenmarkt",
                "author": "@alice:localhost",
                "status": "new",
                "duplicate_of": None,
                "created_at": AT,
                "updated_at": AT,
            },
        ),
        (
            "ideas",
            {
                "id": 2,
                "challenge_id": 1,
                "title": "Fietsstraten!",
                "description": "",
                "author": "@bob:localhost",
                "status": "duplicate",
                "duplicate_of": 1,
                "created_at": LATER,
                "updated_at": LATER,
            },
        ),
        (
            "ideas",
            {
                "id": 3,
                "challenge_id": 2,
                "title": "Bomen op de Vrijdagmarkt",
                "description": "Schaduw in de zomer",
                "author": "@carol:localhost",
                "status": "accepted",
                "duplicate_of": None,
                "created_at": AT,
                "updated_at": LATER,
                **({"hidden": 1} if v2 else {}),
            },
        ),
        ("votes", {"idea_id": 1, "voter": "@bob:localhost", "created_at": LATER}),
        ("votes", {"idea_id": 3, "voter": "@alice:localhost", "created_at": LATER}),
        (
            "reaction_votes",
            {"reaction_event_id": "$reaction-1", "idea_id": 1, "voter": "@bob:localhost"},
        ),
        ("idea_cards", {"event_id": "$card-1", "idea_id": 1, "room_id": CHALLENGE_ROOM}),
        ("users", {"user_id": "@alice:localhost", "language": "nl"}),
        ("users", {"user_id": "@bob:localhost", "language": "en"}),
        ("direct_rooms", {"user_id": "@alice:localhost", "room_id": ALICE_DM}),
        # A challenge room taken for a direct chat, as versions before 9 could record it.
        ("direct_rooms", {"user_id": "@bob:localhost", "room_id": CHALLENGE_ROOM}),
        (
            "audit_log",
            {
                "id": 1,
                "actor": "@mod:localhost",
                "action": "accept",
                "challenge_id": 2,
                "idea_id": 3,
                "detail": "Goed idee",
                "at": LATER,
            },
        ),
        ("handled_events", {"event_id": "$command-1", "handled_at": AT}),
        ("bot_state", {"key": "sync_token", "value": "s72594_4483_1934"}),
        (
            "bot_state",
            {
                "key": "session",
                "value": json.dumps(
                    {"user_id": "@bot:localhost", "device_id": "DEV", "access_token": "syt_x"}
                ),
            },
        ),
        (
            "outbox",
            {
                "id": 1,
                "kind": "reply",
                "room_id": CHALLENGE_ROOM,
                "payload": SENT_PAYLOAD,
                "created_at": AT,
                "attempts": 1,
                "done_at": AT,
                "failed": None,
            },
        ),
        (
            "outbox",
            {
                "id": 2,
                "kind": "reply",
                "room_id": CHALLENGE_ROOM,
                "payload": WAITING_PAYLOAD,
                "created_at": LATER,
                "attempts": 0,
                "done_at": None,
                "failed": None,
            },
        ),
    ]
    if version < 7:
        rows.append(("joined_rooms", {"room_id": CHALLENGE_ROOM, "joined_at": AT}))
    if v2:
        rows += [
            (
                "audit_log",
                {
                    "id": 2,
                    "actor": "@mod:localhost",
                    "action": "block",
                    "challenge_id": None,
                    "idea_id": None,
                    "detail": "spam",
                    "at": LATER,
                    "subject": "@mallory:localhost",
                },
            ),
            (
                "reports",
                {"idea_id": 3, "reporter": "@bob:localhost", "reason": "reclame", "at": LATER},
            ),
            (
                "blocked_users",
                {
                    "user_id": "@mallory:localhost",
                    "blocked_by": "@mod:localhost",
                    "reason": "spam",
                    "at": LATER,
                },
            ),
            (
                "confirmations",
                {"user_id": "@alice:localhost", "action": "forget", "expires_at": LATER},
            ),
        ]
    if version >= 4:
        rows.append(
            (
                "dialogues",
                {
                    "user_id": "@alice:localhost",
                    "room_id": ALICE_DM,
                    "flow": "submit",
                    "step": "title",
                    "data": json.dumps({"challenge": "mobility"}),
                    "expires_at": LATER,
                    "updated_at": AT,
                },
            )
        )
    if version >= 5:
        rows += [
            (
                "undecrypted_events",
                {
                    "event_id": "$encrypted-1",
                    "room_id": ALICE_DM,
                    "source": json.dumps({"type": "m.room.encrypted", "content": {}}),
                    "received_at": AT,
                },
            ),
            ("card_refresh", {"idea_id": 1, "due_at": LATER}),
        ]
    if version >= 10:
        rows.append(
            ("card_edits", {"event_id": "$edit-1", "idea_id": 1, "room_id": CHALLENGE_ROOM})
        )
    if version >= 13:  # deadlines are instants; the schedule of what fires at them
        for _table, row in rows[:2]:
            day = row.pop("deadline")
            row["submission_deadline_at"] = None if day is None else DEADLINE_AT
            row["voting_deadline_at"] = None if day is None else VOTING_DEADLINE_AT
            row["tags"] = "verkeer,fiets" if day is not None else ""
            row["partner"] = "UGent" if day is not None else ""
        rows += [
            (
                "schedule",
                {
                    "challenge_id": 1,
                    "kind": kind,
                    "deadline_at": deadline,
                    "done_at": AT if kind == "reminder_submission" else None,
                },
            )
            for kind, deadline in (
                ("reminder_submission", DEADLINE_AT),
                ("close_submission", DEADLINE_AT),
                ("reminder_voting", VOTING_DEADLINE_AT),
                ("close_voting", VOTING_DEADLINE_AT),
            )
        ]
    if version >= POLLS:  # a final poll, ended, and one person's response to it
        rows += [
            (
                "polls",
                {
                    "id": 1,
                    "challenge_id": 1,
                    "room_id": CHALLENGE_ROOM,
                    "started_by": "@mod:localhost",
                    "started_at": AT,
                    "start_event_id": "$poll-start-1",
                    "ended_at": LATER,
                    "voters": 1,
                },
            ),
            (
                "poll_answers",
                {
                    "poll_id": 1,
                    "answer_id": "idea-1",
                    "position": 0,
                    "idea_id": 1,
                    "title": "Fietsstraten",
                    "count": 1,
                },
            ),
            (
                "poll_responses",
                {
                    "poll_id": 1,
                    "voter": "@bob:localhost",
                    "event_id": "$poll-response-1",
                    "sent_ms": 1772445600000,
                    "answer_id": "idea-1",
                },
            ),
        ]
    if version >= IDENTITY_VERSION:  # who may take part; verifications; each vote's account
        rows[0][1]["eligibility"] = "verified"
        rows[1][1]["eligibility"] = None
        for table, row in rows:
            if table == "votes":
                verified = row["voter"] == "@bob:localhost"
                row["standing"] = "verified" if verified else "listed"
                row["identity"] = IDENTITY_HASH if verified else None
                row["new_account"] = int(verified)
        rows += [
            (
                "verifications",
                {
                    "user_id": "@bob:localhost",
                    "provider": "oidc-itsme",
                    "identity": IDENTITY_HASH,
                    "checked_at": LATER,
                    "account_created_at": AT,
                },
            ),
            (
                "verifications",
                {
                    "user_id": "@alice:localhost",
                    "provider": None,
                    "identity": None,
                    "checked_at": LATER,
                    "account_created_at": None,
                },
            ),
        ]
    if version >= COUNTED_VERSION:  # what each poll answer's and report's account was
        for table, row in rows:
            if table in ("poll_responses", "reports"):
                row["standing"] = "verified"
                row["identity"] = IDENTITY_HASH
                row["counted"] = 1
            if table == "poll_responses":
                row["told"] = 0
        rows += [
            (
                "reports",
                {
                    "idea_id": 3,
                    "reporter": "@alice:localhost",
                    "reason": "spam",
                    "at": LATER,
                    "standing": "listed",
                    "identity": None,
                    "counted": 0,
                },
            ),
            (
                "poll_responses",
                {
                    "poll_id": 1,
                    "voter": "@alice:localhost",
                    "event_id": "$poll-response-2",
                    "sent_ms": 1772445600001,
                    "answer_id": "idea-1",
                    "standing": "listed",
                    "identity": None,
                    "counted": 0,
                    "told": 1,
                },
            ),
        ]
    if version >= FOLLOWING_VERSION:  # who follows what, how often they hear of it
        rows += [
            (
                "follows",
                {
                    "user_id": "@bob:localhost",
                    "challenge_id": 1,
                    "idea_id": None,
                    "following": 1,
                    "since": LATER,
                },
            ),
            (
                "follows",
                {
                    "user_id": "@alice:localhost",
                    "challenge_id": None,
                    "idea_id": 1,
                    "following": 0,
                    "since": LATER,
                },
            ),
            (
                "notification_settings",
                {"user_id": "@bob:localhost", "frequency": "weekly", "since": LATER},
            ),
            (
                "notices",
                {
                    "user_id": "@bob:localhost",
                    "challenge_id": 1,
                    "idea_id": 2,
                    "original_id": 1,
                    "kind": "status",
                    "status": "duplicate",
                    "place": None,
                    "created_at": LATER,
                },
            ),
        ]
    if version >= THRESHOLD_VERSION:  # a support threshold, and an idea that reached it
        for table, row in rows:
            if table == "challenges":
                row["support_threshold"] = 2 if row["id"] == 1 else None
            if table == "ideas":
                row["support_reached_at"] = LATER if row["id"] == 1 else None
    if version >= LINKS_VERSION:  # a Discord account linked to a Matrix account, a code waiting
        rows += [
            (
                "account_links",
                {
                    "account": "discord:81234567890123456",
                    "matrix_account": "@alice:localhost",
                    "person_key": "link:" + IDENTITY_HASH,
                    "linked_at": LATER,
                },
            ),
            (
                "link_codes",
                {
                    "code_hash": IDENTITY_HASH,
                    "account": "discord:81234567890123457",
                    "expires_at": LATER,
                },
            ),
        ]
    if version >= ROOM_STATE_VERSION:  # each room's state; an invite not yet accepted
        rows += [
            (
                "room_state",
                {
                    "room_id": ALICE_DM,
                    "encrypted": 1,
                    "join_rule": "invite",
                    "history_visibility": "shared",
                    "name": None,
                },
            ),
            (
                "pending_invites",
                {
                    "room_id": "!invited:localhost",
                    "inviter": "@alice:localhost",
                    "is_direct": 1,
                    "seen_at": LATER,
                },
            ),
        ]
    if version >= MIRROR_VERSION:  # the challenge's Discord channel; its poll's start there
        rows += [
            (
                "challenge_rooms",
                {"room_id": DISCORD_CHANNEL, "challenge_id": 1, "network": "discord"},
            ),
            (
                "poll_starts",
                {"event_id": "$poll-start-1", "poll_id": 1, "room_id": CHALLENGE_ROOM},
            ),
        ]
    return rows


async def tables(db: Database) -> list[str]:
    rows = await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [row["name"] for row in rows]


async def make_filled_database(path: Path, version: int) -> None:
    """A database at schema ``version``, by the first ``version`` migrations, with data in
    every one of its tables."""
    db = Database(path)
    await db.open(migrate=False)
    try:
        await db.migrate([m for m in MIGRATIONS if m.version <= version])
        async with db.transaction():
            for table, row in _rows(version):
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                await db.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values())
                )
    finally:
        await db.close()


async def contents(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as dicts, in a stable order."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table in await tables(db):
        rows = await db.fetch_all(f"SELECT * FROM {table}")
        found[table] = sorted(
            (dict(row) for row in rows), key=lambda row: json.dumps(row, sort_keys=True)
        )
    return found
