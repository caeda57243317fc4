"""A person's rights over their data: a copy of it, and erasure."""

from __future__ import annotations

import json
from datetime import timedelta

from handlers.accounts import FORGOTTEN
from handlers.context import Context
from handlers.effects import Outcome, Redact, SendDirectFile
from handlers.registry import CommandRouter, Kind, Param
from handlers.reply import Reply

router = CommandRouter()

FORGET = "forget"
CONFIRM_WITHIN = timedelta(minutes=10)


@router.command("mydata", names={"nl": "mijngegevens"})
async def my_data(ctx: Context) -> Outcome:
    data = await ctx.store.personal_data.collect(ctx.sender)
    data["exported_at"] = ctx.now.isoformat()
    document = json.dumps(data, ensure_ascii=False, indent=2)
    letter = Reply.of(ctx.t("mydata.file_note"))
    # The file goes to the direct chat whatever room the command came from.
    return Outcome(
        ctx.reply("mydata.sent" if ctx.is_direct else "mydata.sent_elsewhere"),
        effects=(
            SendDirectFile(
                ctx.sender, "challenge-bot-data.json", "application/json", document, letter
            ),
        ),
    )


@router.command(
    "forget",
    names={"nl": "vergeet"},
    params=(Param("confirm", Kind.CHOICE, required=False, choices=("confirm", "bevestig")),),
)
async def forget(ctx: Context, confirm: str | None) -> Outcome:
    if confirm is None:
        await ctx.store.confirmations.request(ctx.sender, FORGET, ctx.now + CONFIRM_WITHIN)
        keep = (
            "forget.ideas_deleted"
            if ctx.settings.forget_ideas == "delete"
            else "forget.ideas_anonymised"
        )
        return Outcome(
            Reply.of(
                ctx.t("forget.explain"),
                ctx.t(keep),
                ctx.t(
                    "forget.ask_confirmation",
                    command=ctx.command("forget", "confirm"),
                    minutes=int(CONFIRM_WITHIN.total_seconds() // 60),
                ),
            )
        )
    if not await ctx.store.confirmations.take(ctx.sender, FORGET, ctx.now):
        return Outcome(ctx.reply("forget.no_request", command=ctx.command("forget")))
    counts, cards = await ctx.store.personal_data.erase(
        ctx.sender, delete_ideas=ctx.settings.forget_ideas == "delete", placeholder=FORGOTTEN
    )
    # The cards of deleted ideas are taken down in their rooms, edit history and all.
    redactions = tuple(Redact(room_id, event_id) for room_id, event_id in cards)
    await ctx.store.audit.record(actor=FORGOTTEN, action="forget", now=ctx.now)
    if not ctx.is_direct:
        # How much was erased is personal: not for the room. Nor is it sent to a direct chat:
        # a direct message now would make the bot keep the person's direct room again.
        return Outcome(ctx.reply("forget.done_elsewhere"), effects=redactions)
    return Outcome(
        ctx.reply(
            "forget.done",
            votes=counts["votes"],
            deleted=counts["ideas_deleted"],
            anonymised=counts["ideas_anonymised"],
        ),
        effects=redactions,
    )
