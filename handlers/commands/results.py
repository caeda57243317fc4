"""What came out of a challenge, for the moderators: the open-data export, in the chat."""

from __future__ import annotations

from handlers.audience import require_private_room
from handlers.context import Context
from handlers.effects import Outcome, SendDirectFile, SendRoomFile
from handlers.errors import NotFound
from handlers.export import UnknownChallenge, export_data, to_csv, to_json
from handlers.registry import CommandRouter, Kind, Option, Param, Role
from handlers.reply import Code

router = CommandRouter()


@router.command(
    "export",
    aliases=("exporteer",),
    role=Role.MODERATOR,
    params=(
        Param("challenge", Kind.SLUG, required=False),
        Param("format", Kind.CHOICE, required=False, choices=("json", "csv")),
    ),
    options=(Option("authors", Kind.FLAG),),
)
async def export(ctx: Context, challenge: str | None, format: str | None, authors: bool) -> Outcome:
    """The same file as ``challenge-bot export``, uploaded where only moderators read it: the
    moderation room or the moderator's direct chat (encrypted where the room is)."""
    require_private_room(ctx)
    try:
        data = await export_data(ctx.store, challenge, include_authors=authors)
    except UnknownChallenge:
        raise NotFound("error.no_such_challenge", slug=Code(challenge or "")) from None
    kind = format or "json"
    text = to_csv(data) if kind == "csv" else to_json(data)
    mimetype = "text/csv" if kind == "csv" else "application/json"
    filename = f"challenge-bot-{challenge or 'all'}-{ctx.now:%Y-%m-%d}.{kind}"
    count = sum(len(item["ideas"]) for item in data["challenges"])
    note = ctx.reply(
        "export.file_note",
        challenges=len(data["challenges"]),
        count=count,
        authors=ctx.t("export.with_authors" if authors else "export.without_authors"),
    )
    if ctx.is_direct:
        upload: SendDirectFile | SendRoomFile = SendDirectFile(
            ctx.sender, filename, mimetype, text, note
        )
    else:
        upload = SendRoomFile(ctx.room_id, filename, mimetype, text, note)
    return Outcome(ctx.reply("export.sent", file=Code(filename)), effects=(upload,))
