"""``!cancel``: ends the guided submission (``handlers/services/guided_submission.py``), which
``!idea`` alone starts."""

from __future__ import annotations

from handlers.context import Context
from handlers.effects import Outcome
from handlers.registry import CommandRouter

router = CommandRouter()


@router.command("cancel", names={"nl": "annuleer"})
async def cancel(ctx: Context) -> Outcome:
    if await ctx.store.dialogues.delete(ctx.sender, ctx.room_id):
        return Outcome(ctx.reply("dialogue.cancelled"))
    return Outcome(ctx.reply("dialogue.nothing_to_cancel"))
