"""The open data (handlers/export.py): no authors unless asked for, and only what everyone may
see."""

from __future__ import annotations

import pytest

from handlers.export import export_data, to_csv
from tests.handler_support import ALICE, BOB, MODERATOR, Harness, new_challenge, submit


@pytest.mark.usefixtures("a_challenge")
async def test_export_leaves_out_authors_unless_asked(bot: Harness) -> None:
    await submit(bot, ALICE, "Public idea")
    async with bot.db.transaction():
        anonymous = await export_data(bot.store)
        named = await export_data(bot.store, include_authors=True)
    assert anonymous["challenges"][0]["ideas"][0]["author"] is None
    assert named["challenges"][0]["ideas"][0]["author"] == ALICE


@pytest.mark.usefixtures("a_challenge")
async def test_the_export_leaves_out_hidden_withdrawn_and_not_let_through(bot: Harness) -> None:
    shown = await submit(bot, ALICE, "Open idea")
    hidden = await submit(bot, ALICE, "Hidden idea")
    withdrawn = await submit(bot, ALICE, "Taken back")
    copy = await submit(bot, BOB, "Copy of the hidden one")
    await bot.say(MODERATOR, f"!duplicate {copy} {hidden}", moderator=True)
    await bot.say(MODERATOR, f"!hide {hidden}", moderator=True)
    await bot.say(ALICE, f"!withdraw {withdrawn}")
    await new_challenge(bot, "premod", options="--premoderated", title="Checked first")
    waiting = await submit(bot, ALICE, "Awaiting a moderator", slug="premod")
    rejected = await submit(bot, ALICE, "Turned down", slug="premod")
    accepted = await submit(bot, ALICE, "Let through", slug="premod")
    await bot.say(MODERATOR, f"!reject {rejected} No", moderator=True)
    await bot.say(MODERATOR, f"!accept {accepted}", moderator=True)

    async with bot.db.snapshot():
        data = await export_data(bot.store)
    ideas = {c["slug"]: [i["id"] for i in c["ideas"]] for c in data["challenges"]}
    assert ideas == {"mobility": [shown, copy], "premod": [accepted]}
    assert waiting not in ideas["premod"]
    (exported_copy,) = [i for i in data["challenges"][0]["ideas"] if i["id"] == copy]
    assert exported_copy["duplicate_of"] is None  # its original is hidden
    rows = to_csv(data).splitlines()
    assert len(rows) == 1 + 3 and not any("Hidden idea" in row for row in rows)
