"""Challenges: what citizens read and join, and what moderators open and close."""

from __future__ import annotations

from datetime import date, datetime

from handlers.commands.common import check_length, find_challenge
from handlers.context import Context
from handlers.effects import CreateChallengeRoom, Invite, Outcome, SendRoom
from handlers.errors import Conflict
from handlers.i18n import Catalogue
from handlers.registry import CommandRouter, Kind, Option, Param, Role
from handlers.reply import Bold, Code, Items, Quote, Reply, Text
from storage import ChallengeStatus, Store

router = CommandRouter()

#: Words that follow ``!challenge`` or ``!ideas`` as subcommands or orders, so not usable as slugs.
RESERVED_SLUGS = frozenset({"new", "nieuw", "close", "sluit", "open", "top"})


@router.command("challenges", aliases=("uitdagingen",))
async def list_challenges(ctx: Context) -> Outcome:
    challenges = await ctx.store.challenges.list(open_only=True)
    if not challenges:
        return Outcome(ctx.reply("challenges.none"))
    counts = await ctx.store.ideas.count_visible_in_challenges([c.id for c in challenges])
    lines = [
        ctx.t(
            "challenges.line",
            slug=Code(challenge.slug),
            title=Bold(Text(challenge.title)),
            deadline=challenge.deadline,
            count=counts[challenge.id],
        )
        for challenge in challenges
    ]
    return Outcome(
        Reply.of(
            ctx.t("challenges.header", count=len(challenges)),
            Items(tuple(lines)),
            ctx.t(
                "challenges.footer",
                command=Code(f"{ctx.settings.prefix}challenge <{ctx.label('challenge')}>"),
            ),
        )
    )


@router.command(
    "challenge", aliases=("uitdaging",), params=(Param("challenge", Kind.SLUG, required=False),)
)
async def show_challenge(ctx: Context, challenge: str | None) -> Outcome:
    found = await find_challenge(ctx, challenge)
    status_key = "challenge.status_open" if found.is_open else "challenge.status_closed"
    reply = Reply.of(ctx.t("challenge.title", slug=Code(found.slug), title=Bold(Text(found.title))))
    if found.description:
        reply += Reply.of(Quote(found.description))
    reply += Reply.of(
        ctx.t(status_key),
        ctx.t("challenge.deadline", deadline=found.deadline),
        ctx.t(
            "challenge.idea_count",
            count=await ctx.store.ideas.count_visible_in_challenge(found.id),
        ),
    )
    if found.vote_budget is not None:
        reply += ctx.reply("challenge.budget", count=found.vote_budget)
    reply += ctx.reply(
        "challenge.how_to_take_part",
        join=Code(f"{ctx.settings.prefix}join {found.slug}"),
        idea=Code(f"{ctx.settings.prefix}idea {found.slug} <{ctx.label('title')}>"),
        ideas=Code(f"{ctx.settings.prefix}ideas {found.slug}"),
    )
    return Outcome(reply)


@router.command("join", aliases=("doe-mee", "deelnemen"), params=(Param("challenge", Kind.SLUG),))
async def join(ctx: Context, challenge: str) -> Outcome:
    found = await find_challenge(ctx, challenge)
    if found.room_id is None:
        raise Conflict("join.no_room_yet", slug=Code(found.slug))
    if found.room_id == ctx.room_id:
        return Outcome(ctx.reply("join.already_here", slug=Code(found.slug)))
    return Outcome(
        ctx.reply("join.invited", title=Bold(Text(found.title))),
        effects=(Invite(found.room_id, ctx.sender),),
    )


@router.command(
    "new",
    parent="challenge",
    aliases=("nieuw",),
    role=Role.MODERATOR,
    params=(
        Param("slug", Kind.SLUG),
        Param("title", Kind.REST),
        Param("description", Kind.BODY, required=False),
    ),
    options=(
        Option("deadline", Kind.DATE),
        Option("budget", Kind.NUMBER),
        Option("premoderated", Kind.FLAG),
    ),
)
async def create(
    ctx: Context,
    slug: str,
    title: str,
    description: str | None,
    deadline: date | None,
    budget: int | None,
    premoderated: bool,
) -> Outcome:
    check_length(ctx, "title", title, ctx.settings.max_title_length)
    check_length(ctx, "description", description, ctx.settings.max_description_length)
    if slug in RESERVED_SLUGS:
        raise Conflict("challenge.slug_reserved", slug=Code(slug))
    if await ctx.store.challenges.by_slug(slug) is not None:
        raise Conflict("challenge.slug_taken", slug=Code(slug))
    if deadline is not None and deadline < ctx.now.date():
        raise Conflict("challenge.deadline_in_past", deadline=deadline)
    created = await ctx.store.challenges.create(
        slug=slug,
        title=title,
        description=description or "",
        created_by=ctx.sender,
        now=ctx.now,
        deadline=deadline,
        vote_budget=budget,
        premoderated=premoderated,
    )
    await ctx.store.audit.record(
        actor=ctx.sender, action="challenge_new", now=ctx.now, challenge_id=created.id, detail=title
    )
    room = CreateChallengeRoom(
        challenge_id=created.id,
        slug=slug,
        name=title,
        topic=description or "",
        invite=(ctx.sender,),
        notify_room=ctx.room_id,
        locale=ctx.locale,
    )
    return Outcome(
        ctx.reply("challenge.created", slug=Code(slug), title=Bold(Text(title))), effects=(room,)
    )


async def challenge_room_created(
    store: Store,
    catalogue: Catalogue,
    request: CreateChallengeRoom,
    *,
    room_id: str,
    address: str,
    now: datetime,
) -> Outcome:
    """The challenge's room exists: record it, and say so where the challenge was created.

    Call in the transaction that marks the room's creation done, so that it is said once.
    """
    challenge = await store.challenges.get(request.challenge_id)
    if challenge is None:  # deleted meanwhile: nothing to record, nobody to tell
        return Outcome()
    await store.challenges.set_room(challenge.id, room_id, now)
    notice = Reply.of(
        catalogue.span(
            request.locale, "challenge.room_ready", slug=Code(challenge.slug), room=Code(address)
        )
    )
    return Outcome(effects=(SendRoom(request.notify_room, notice),))


async def _set_status(ctx: Context, slug: str, status: ChallengeStatus) -> Outcome:
    found = await find_challenge(ctx, slug)
    opening = status is ChallengeStatus.OPEN
    if found.status is status:
        return Outcome(
            ctx.reply(
                "challenge.already_open" if opening else "challenge.already_closed", slug=Code(slug)
            )
        )
    await ctx.store.challenges.set_status(found.id, status, ctx.now)
    await ctx.store.audit.record(
        actor=ctx.sender, action=f"challenge_{status.value}", now=ctx.now, challenge_id=found.id
    )
    key = "challenge.opened" if opening else "challenge.closed"
    effects: tuple[SendRoom, ...] = ()
    if found.room_id is not None and found.room_id != ctx.room_id:
        notice = Reply.of(ctx.t_moderators(key, slug=Code(slug), title=Bold(Text(found.title))))
        effects = (SendRoom(found.room_id, notice),)
    return Outcome(ctx.reply(key, slug=Code(slug), title=Bold(Text(found.title))), effects=effects)


@router.command(
    "close",
    parent="challenge",
    aliases=("sluit",),
    role=Role.MODERATOR,
    params=(Param("slug", Kind.SLUG),),
)
async def close(ctx: Context, slug: str) -> Outcome:
    return await _set_status(ctx, slug, ChallengeStatus.CLOSED)


@router.command("open", parent="challenge", role=Role.MODERATOR, params=(Param("slug", Kind.SLUG),))
async def reopen(ctx: Context, slug: str) -> Outcome:
    return await _set_status(ctx, slug, ChallengeStatus.OPEN)
