"""The export and the figures in the chat (handlers/commands/results.py), for moderators only and
only where only they read; and the open data's JSON Schema, kept true by validating what the
export writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema

from handlers.effects import SendDirectFile, SendRoomFile
from handlers.export import export_data, to_csv, to_json
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATION_ROOM,
    MODERATOR,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)

SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "export.schema.json").read_text())


async def test_export_in_the_moderation_room_uploads_the_file_there(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        await submit(bot, ALICE, "Bike parking at the station")
        outcome = await bot.say(
            MODERATOR, "!export mobility json", room=MODERATION_ROOM, direct=False, moderator=True
        )
        (upload,) = effects_of(outcome, SendRoomFile)
        assert upload.room_id == MODERATION_ROOM and upload.mimetype == "application/json"
        data = json.loads(upload.data)
        assert [idea["title"] for idea in data["challenges"][0]["ideas"]] == [
            "Bike parking at the station"
        ]
        assert data["challenges"][0]["ideas"][0]["author"] is None  # not without --authors
        jsonschema.validate(data, SCHEMA)


async def test_export_in_a_direct_chat_as_csv_with_authors(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        await submit(bot, ALICE, "Trees on the square")
        outcome = await bot.say(MODERATOR, "!exporteer csv --authors", moderator=True)
        (upload,) = effects_of(outcome, SendDirectFile)
        assert upload.user_id == MODERATOR and upload.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(upload.data)))
        # A cell starting with @ would be a formula to a spreadsheet: it is kept as text.
        assert [row["author"] for row in rows] == ["'" + ALICE]


async def test_export_is_refused_in_a_public_room_and_to_citizens(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        public = await bot.say(
            MODERATOR, "!export", room="!mobility:city.example", direct=False, moderator=True
        )
        assert not public.effects
        assert text(public.reply) == says("nl", "moderation.ask_elsewhere")
        citizen = await bot.say(BOB, "!export")
        assert not citizen.effects


async def test_the_export_matches_its_schema(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        await new_challenge(bot, "climate", options="", title="Cooler streets")
        first = await submit(bot, ALICE, "Shade sails", slug="climate")
        await submit(bot, BOB, "Same: shade sails", slug="climate")
        await bot.say(MODERATOR, f"!duplicate {first + 1} {first}", moderator=True)
        await bot.say(BOB, f"!vote {first}")
        async with bot.db.transaction():
            for authors in (False, True):
                data = await export_data(bot.store, include_authors=authors)
                jsonschema.validate(json.loads(to_json(data)), SCHEMA)
        header = to_csv(data).splitlines()[0].split(",")
        assert header[0] == "challenge" and "created_at" in header


async def test_stats_for_moderators_by_status_and_week_and_totals_for_others(
    tmp_path: Path,
) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        first = await submit(bot, ALICE, "Bike parking")
        second = await submit(bot, BOB, "Wider lanes")
        await bot.say(MODERATOR, f"!hide {second} Checking", moderator=True)
        await bot.say(BOB, f"!vote {first}")
        await bot.say(CAROL, f"!vote {first}")
        moderator = text((await bot.say(MODERATOR, "!stats mobility", moderator=True)).reply)
        # Alice, Bob (author and voter) and Carol; both ideas, the hidden one too.
        assert (
            says(
                "nl",
                "stats.totals",
                title="Safer bike lanes",
                slug="mobility",
                people=3,
                ideas=2,
                votes=2,
            )
            in moderator
        )
        assert "week van 2026-03-02: 2 ideeën, 2 stemmen" in moderator
        citizen = text((await bot.say(CAROL, "!cijfers mobility")).reply)
        # What everyone may see: one idea, its two votes, its author and two voters.
        assert citizen == says(
            "nl",
            "stats.totals",
            title="Safer bike lanes",
            slug="mobility",
            people=3,
            ideas=1,
            votes=2,
        )
        await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
        closed = text((await bot.say(CAROL, "!stats mobility")).reply)
        assert closed == says("nl", "stats.closed", slug="mobility")
        still = text((await bot.say(MODERATOR, "!stats mobility", moderator=True)).reply)
        assert "2 stemmen" in still
