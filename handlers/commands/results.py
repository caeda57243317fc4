"""What came out of a challenge, for the moderators: the open-data export, in the chat."""

from __future__ import annotations

from handlers.audience import require_private_room
from handlers.context import Context
from handlers.effects import Outcome, SendDirectFile, SendRoomFile
from handlers.errors import Forbidden, NotFound
from handlers.export import UnknownChallenge, export_data, to_csv, to_json
from handlers.policy import Phase, phase
from handlers.registry import CommandRouter, Kind, Option, Param, Role
from handlers.reply import Bold, Code, Items, Reply, Text
from handlers.services.lookups import find_challenge, status_text
from storage import Challenge, IdeaStatus

router = CommandRouter()


@router.command(
    "export",
    names={"nl": "exporteer"},
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


@router.command(
    "stats", names={"nl": "cijfers"}, params=(Param("challenge", Kind.SLUG, required=False),)
)
async def stats(ctx: Context, challenge: str | None) -> Outcome:
    """Participation: people, ideas, votes and poll responses. Moderators get them by status and per week, for
    any challenge; others the totals of what everyone may see, for open challenges."""
    if challenge is not None or ctx.room_challenge is not None:
        targets = [await find_challenge(ctx, challenge)]
        if not ctx.is_moderator and phase(targets[0], ctx.now) is Phase.CLOSED:
            raise Forbidden("stats.closed", slug=Code(targets[0].slug))
    else:
        targets = [
            target
            for target in await ctx.store.challenges.list(open_only=not ctx.is_moderator)
            if ctx.is_moderator or phase(target, ctx.now) is not Phase.CLOSED
        ]
    if not targets:
        return Outcome(ctx.reply("challenges.none"))
    reply = Reply.of()
    for target in targets:
        reply += await _figures(ctx, target)
    return Outcome(reply)


async def _figures(ctx: Context, challenge: Challenge) -> Reply:
    figures = await ctx.store.stats.figures(challenge.id, public_only=not ctx.is_moderator)
    reply = Reply.of(
        ctx.t(
            "stats.totals",
            title=Bold(Text(challenge.title)),
            slug=Code(challenge.slug),
            people=figures.people,
            ideas=figures.ideas,
            votes=figures.votes,
        )
    )
    poll = await ctx.store.polls.latest_result(challenge.id)
    if poll is not None:
        reply += ctx.reply("stats.poll", count=poll.voters)
    if not ctx.is_moderator:
        return reply
    statuses = [
        ctx.t(
            "stats.status_line",
            status=status_text(ctx.catalogue, ctx.locale, IdeaStatus(status)),
            count=count,
        )
        for status, count in figures.by_status.items()
    ]
    weeks = [
        ctx.t("stats.week_line", week=week, ideas=ideas, votes=votes)
        for week, ideas, votes in figures.weeks
    ]
    if statuses:
        reply += Reply.of(Items(tuple(statuses)))
    if weeks:
        reply += Reply.of(ctx.t("stats.weeks"), Items(tuple(weeks)))
    return reply
