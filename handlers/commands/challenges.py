"""Challenges: what citizens read and join, and what moderators open and close."""

from __future__ import annotations

from datetime import date, datetime

from handlers.context import Context
from handlers.effects import CreateChallengeRoom, Effect, Invite, Outcome, SendRoom, SetRoomProfile
from handlers.errors import Conflict
from handlers.policy import Phase, phase
from handlers.programme import phase_text, place_in_space, plan, status_changed, to_instant
from handlers.public_links import link
from handlers.registry import CommandRouter, Kind, Option, Param, Role
from handlers.reply import Bold, Code, Items, Quote, Reply, Span, Text
from handlers.services.lookups import check_length, find_challenge
from handlers.services.notifications import Notifier
from handlers.services.support_threshold import check_challenge_support
from storage import Challenge, ChallengeStatus, Eligibility

router = CommandRouter()

#: Words that follow ``!challenge`` or ``!ideas`` as subcommands or orders, so not usable as slugs.
RESERVED_SLUGS = frozenset({"new", "nieuw", "close", "sluit", "open", "top", "edit", "wijzig"})


@router.command("challenges", names={"nl": "uitdagingen"})
async def list_challenges(ctx: Context) -> Outcome:
    challenges = [
        challenge
        for challenge in await ctx.store.challenges.list(open_only=True)
        if phase(challenge, ctx.now) is not Phase.CLOSED
    ]
    if not challenges:
        return Outcome(ctx.reply("challenges.none"))
    counts = await ctx.store.ideas.count_visible_in_challenges([c.id for c in challenges])
    lines = [
        ctx.t(
            "challenges.line",
            slug=Code(challenge.slug),
            title=Bold(Text(challenge.title)),
            phase=phase_text(ctx.catalogue, ctx.locale, challenge, ctx.now, ctx.programme.timezone),
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
                command=ctx.command("challenge", f"<{ctx.label('challenge')}>"),
            ),
        )
    )


@router.command(
    "challenge", names={"nl": "uitdaging"}, params=(Param("challenge", Kind.SLUG, required=False),)
)
async def show_challenge(ctx: Context, challenge: str | None) -> Outcome:
    found = await find_challenge(ctx, challenge)
    reply = Reply.of(ctx.t("challenge.title", slug=Code(found.slug), title=Bold(Text(found.title))))
    if found.description:
        reply += Reply.of(Quote(found.description))
    reply += Reply.of(
        phase_text(ctx.catalogue, ctx.locale, found, ctx.now, ctx.programme.timezone),
        ctx.t(
            "challenge.idea_count",
            count=await ctx.store.ideas.count_visible_in_challenge(found.id),
        ),
    )
    if found.vote_budget is not None:
        reply += ctx.reply("challenge.budget", count=found.vote_budget)
    if found.support_threshold is not None:
        reply += ctx.reply("challenge.threshold", count=found.support_threshold)
    if found.tags:
        reply += ctx.reply("challenge.tags", tags=Text(", ".join(found.tags)))
    if found.partner:
        reply += ctx.reply("challenge.partner", partner=Text(found.partner))
    reply += Reply.of(eligibility_text(ctx, found))
    reply += ctx.reply(
        "challenge.how_to_take_part",
        join=ctx.command("join", found.slug),
        idea=ctx.command("idea", found.slug, f"<{ctx.label('title')}>"),
        ideas=ctx.command("ideas", found.slug),
    )
    url = ctx.links.challenge(found)
    if url is not None:
        reply += ctx.reply("links.challenge_page", link=link(url))
    return Outcome(reply)


@router.command(
    "join", names={"nl": "doe-mee"}, aliases=("deelnemen",), params=(Param("challenge", Kind.SLUG),)
)
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


#: What ``!challenge new`` and ``!challenge edit`` take as options.
_CHALLENGE_OPTIONS = (
    Option("deadline", Kind.DEADLINE),
    Option("voting_deadline", Kind.DEADLINE),
    Option("budget", Kind.NUMBER),
    Option("threshold", Kind.NUMBER),
    Option("premoderated", Kind.FLAG),
    Option("tags", Kind.WORD),
    Option("partner", Kind.WORD),
    Option("eligibility", Kind.CHOICE, choices=tuple(Eligibility)),
)


#: The option (or argument) that changes each field, as the moderator typed it.
_OPTION_OF = {
    "title": "title",
    "description": "description",
    "submission_deadline_at": "deadline",
    "voting_deadline_at": "voting-deadline",
    "vote_budget": "budget",
    "support_threshold": "threshold",
    "premoderated": "premoderated",
    "tags": "tags",
    "partner": "partner",
    "eligibility": "eligibility",
}


def _tags(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(dict.fromkeys(tag.strip().lower() for tag in raw.split(",") if tag.strip()))


def _check_lengths(
    ctx: Context, title: str | None, description: str | None, partner: str | None
) -> None:
    """The limits on what a moderator types for a challenge, at !challenge new and edit."""
    check_length(ctx, "title", title, ctx.settings.max_title_length)
    check_length(ctx, "description", description, ctx.settings.max_description_length)
    check_length(ctx, "partner", partner, ctx.settings.max_title_length)


def _eligibility(ctx: Context, raw: str | None) -> Eligibility | None:
    """Who the moderator opens the challenge to; only people the bot can verify, if it can."""
    if raw is None:
        return None
    wanted = Eligibility(raw)
    if wanted is Eligibility.VERIFIED and not ctx.identity_settings.can_verify:
        raise Conflict("identity.cannot_verify")
    return wanted


_OPEN_TO = {
    Eligibility.ANYONE: "identity.open_to_anyone",
    Eligibility.LISTED: "identity.open_to_listed",
    Eligibility.VERIFIED: "identity.open_to_verified",
}


def eligibility_text(ctx: Context, challenge: Challenge, language: str | None = None) -> Span:
    """Who may submit and vote in the challenge, said for its readers (in ``language``, by
    default the person's)."""
    return ctx.catalogue.span(
        language or ctx.locale,
        _OPEN_TO[ctx.participation.of(challenge)],
        servers=Code(", ".join(ctx.participation.servers)),
        server=Code(ctx.participation.home),
    )


def _deadlines(
    submissions: datetime | None,
    voting: datetime | None,
) -> None:
    """Refuse a voting deadline without a submission deadline before it."""
    if voting is None:
        return
    if submissions is None or voting <= submissions:
        raise Conflict("challenge.voting_before_submissions")


@router.command(
    "new",
    parent="challenge",
    names={"nl": "nieuw"},
    role=Role.MODERATOR,
    params=(
        Param("slug", Kind.SLUG),
        Param("title", Kind.REST),
        Param("description", Kind.BODY, required=False),
    ),
    options=_CHALLENGE_OPTIONS,
)
async def create(
    ctx: Context,
    slug: str,
    title: str,
    description: str | None,
    deadline: date | None,
    voting_deadline: date | None,
    budget: int | None,
    threshold: int | None,
    premoderated: bool,
    tags: str | None,
    partner: str | None,
    eligibility: str | None,
) -> Outcome:
    _check_lengths(ctx, title, description, partner)
    if slug in RESERVED_SLUGS:
        raise Conflict("challenge.slug_reserved", slug=Code(slug))
    if await ctx.store.challenges.by_slug(slug) is not None:
        raise Conflict("challenge.slug_taken", slug=Code(slug))
    zone = ctx.programme.zone
    submissions = None if deadline is None else to_instant(deadline, zone)
    voting = None if voting_deadline is None else to_instant(voting_deadline, zone)
    for instant in (submissions, voting):
        if instant is not None and instant <= ctx.now:
            raise Conflict("challenge.deadline_in_past", deadline=ctx.moment(instant))
    _deadlines(submissions, voting)
    created = await ctx.store.challenges.create(
        slug=slug,
        title=title,
        description=description or "",
        created_by=ctx.sender,
        now=ctx.now,
        submission_deadline=submissions,
        voting_deadline=voting,
        vote_budget=budget,
        premoderated=premoderated,
        tags=_tags(tags) or (),
        partner=partner or "",
        eligibility=_eligibility(ctx, eligibility),
        support_threshold=threshold,
    )
    await plan(ctx.store, created)
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


@router.command(
    "edit",
    parent="challenge",
    names={"nl": "wijzig"},
    role=Role.MODERATOR,
    params=(
        Param("slug", Kind.SLUG),
        Param("title", Kind.REST, required=False),
        Param("description", Kind.BODY, required=False),
    ),
    options=(*_CHALLENGE_OPTIONS, Option("open_submissions", Kind.FLAG)),
)
async def edit(
    ctx: Context,
    slug: str,
    title: str | None,
    description: str | None,
    deadline: date | None,
    voting_deadline: date | None,
    budget: int | None,
    threshold: int | None,
    premoderated: bool,
    tags: str | None,
    partner: str | None,
    eligibility: str | None,
    open_submissions: bool,
) -> Outcome:
    """Change what was given at ``!challenge new``; what is not given stays. The room's name and
    topic follow; a deadline moved into the future reopens its phase, and the room is told."""
    found = await find_challenge(ctx, slug)
    _check_lengths(ctx, title, description, partner)
    if premoderated and open_submissions:
        raise Conflict("challenge.premoderated_or_open")
    zone = ctx.programme.zone
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = title
    if description is not None:
        changes["description"] = description
    if deadline is not None:
        changes["submission_deadline_at"] = to_instant(deadline, zone)
    if voting_deadline is not None:
        changes["voting_deadline_at"] = to_instant(voting_deadline, zone)
    if budget is not None:
        changes["vote_budget"] = budget
    if threshold is not None:
        changes["support_threshold"] = threshold
    if premoderated or open_submissions:
        changes["premoderated"] = premoderated
    if tags is not None:
        changes["tags"] = _tags(tags)
    if partner is not None:
        changes["partner"] = partner
    if eligibility is not None:
        changes["eligibility"] = _eligibility(ctx, eligibility)
    changed = sorted(key for key, value in changes.items() if getattr(found, key) != value)
    if not changed:
        return Outcome(ctx.reply("challenge.edit_nothing", slug=Code(found.slug)))
    edited = found.model_copy(update=changes)
    _deadlines(edited.submission_deadline_at, edited.voting_deadline_at)
    await ctx.store.challenges.update(edited, ctx.now)
    await plan(ctx.store, edited)
    await ctx.store.audit.record(
        actor=ctx.sender,
        action="challenge_edit",
        now=ctx.now,
        challenge_id=found.id,
        detail=", ".join(changed),
    )
    effects: list[Effect] = []
    if "support_threshold" in changed:  # ideas that have the votes already reach it now
        effects += await check_challenge_support(Notifier.of(ctx), edited, ctx.now)
    if found.room_id is not None:
        if {"title", "description"} & set(changed):
            effects.append(SetRoomProfile(found.room_id, edited.title, edited.description))
        told = _what_the_room_hears(ctx, found, edited, changed)
        if told is not None:
            effects.append(SendRoom(found.room_id, told))
        if {"submission_deadline_at", "voting_deadline_at"} & set(changed):
            effects.append(place_in_space(edited, ctx.now))  # its phase may have changed
    return Outcome(
        ctx.reply(
            "challenge.edited",
            slug=Code(found.slug),
            fields=Code(", ".join(_OPTION_OF[key] for key in changed)),
        ),
        effects=tuple(effects),
    )


def _what_the_room_hears(
    ctx: Context, before: Challenge, after: Challenge, changed: list[str]
) -> Reply | None:
    """A reopened phase, moved deadlines, or a change of who may take part, said in the room
    (in the bot's language): whoever is there learns what they may do now."""
    language = ctx.settings.language
    title = Bold(Text(after.title))
    said: list[Span] = []
    if {"submission_deadline_at", "voting_deadline_at"} & set(changed):
        was, now = phase(before, ctx.now), phase(after, ctx.now)
        reopened = (was is Phase.CLOSED and now is not Phase.CLOSED) or (
            was is Phase.VOTING and now is Phase.SUBMISSIONS
        )
        key = "challenge.reopened" if reopened else "challenge.deadlines_moved"
        state = phase_text(ctx.catalogue, language, after, ctx.now, ctx.programme.timezone)
        said.append(ctx.catalogue.span(language, key, title=title, phase=state))
    if ctx.participation.of(before) != ctx.participation.of(after):
        who = eligibility_text(ctx, after, language)
        said.append(
            ctx.catalogue.span(language, "challenge.eligibility_changed", title=title, who=who)
        )
    return Reply.of(*said) if said else None


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
    changed = found.model_copy(update={"status": status})
    effects: list[Effect] = list(
        await status_changed(
            ctx.store,
            ctx.catalogue,
            ctx.settings,
            ctx.programme,
            found,
            changed,
            ctx.now,
            links=ctx.links,
            words=ctx.words,
        )
    )
    key = "challenge.opened" if opening else "challenge.closed"
    summarised = any(isinstance(effect, SendRoom) for effect in effects)
    if found.room_id is not None and found.room_id != ctx.room_id and not summarised:
        notice = Reply.of(ctx.t_moderators(key, slug=Code(slug), title=Bold(Text(found.title))))
        effects.append(SendRoom(found.room_id, notice))
    return Outcome(
        ctx.reply(key, slug=Code(slug), title=Bold(Text(found.title))), effects=tuple(effects)
    )


@router.command(
    "close",
    parent="challenge",
    names={"nl": "sluit"},
    role=Role.MODERATOR,
    params=(Param("slug", Kind.SLUG),),
)
async def close(ctx: Context, slug: str) -> Outcome:
    return await _set_status(ctx, slug, ChallengeStatus.CLOSED)


@router.command("open", parent="challenge", role=Role.MODERATOR, params=(Param("slug", Kind.SLUG),))
async def reopen(ctx: Context, slug: str) -> Outcome:
    return await _set_status(ctx, slug, ChallengeStatus.OPEN)
