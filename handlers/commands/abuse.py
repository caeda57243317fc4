"""Abuse handling: anyone reports, moderators hide, block and read the audit log."""

from __future__ import annotations

from handlers import policy
from handlers.audience import require_private_room
from handlers.context import Context
from handlers.effects import Announce, CardChanged, Effect, Outcome
from handlers.errors import Conflict, UsageError
from handlers.policy import Action
from handlers.registry import USER_PATTERN, CommandRouter, Kind, Param, Role, convert
from handlers.reply import Bold, Code, Items, Quote, Reply, Span, Text
from handlers.services.idea_cards import publish_card
from handlers.services.lookups import (
    check_length,
    find_idea,
    idea_ref,
    person,
    require_not_blocked,
)
from handlers.services.vote_counts import votes_by_standing
from storage import AuditEntry

router = CommandRouter()


@router.command(
    "report",
    names={"nl": "meld"},
    params=(Param("idea", Kind.IDEA), Param("reason", Kind.REST)),
    needs_identity=True,
)
async def report(ctx: Context, idea: int, reason: str) -> Outcome:
    """Every report reaches the moderators; toward hiding the idea automatically, reports count
    once per person and only from people who may take part (:func:`policy.not_counted`)."""
    await require_not_blocked(ctx)  # or a blocked person's reports would hide others' ideas
    check_length(ctx, "reason", reason, ctx.settings.max_reason_length)
    found, challenge = await find_idea(ctx, idea)
    refused = policy.not_counted(Action.REPORT, person(ctx), challenge, ctx.participation)
    key = ctx.identity.key
    linked = key is not None and await ctx.store.reports.linked_reporter(found.id, key, ctx.sender)
    added = await ctx.store.reports.add(
        found.id,
        ctx.sender,
        reason,
        ctx.now,
        standing=ctx.identity.standing,
        identity=key,
        counted=refused is None,
    )
    if not added:
        return Outcome(ctx.reply("report.already", id=idea_ref(found.id)))
    count = await ctx.store.reports.count(found.id)
    announced = Reply.of(
        ctx.t_moderators(
            "report.announce",
            id=idea_ref(found.id),
            title=Bold(Text(found.title)),
            reporter=Text(ctx.sender),
            count=count,
        ),
        Quote(reason),
    )
    if refused is not None:
        announced += Reply.of(ctx.t_moderators("report.not_counted", slug=Code(challenge.slug)))
    elif linked:
        announced += Reply.of(ctx.t_moderators("report.linked"))
    effects: list[Effect] = [Announce(announced)]
    people = await ctx.store.reports.people_counted(found.id)
    if people >= ctx.settings.report_threshold and not found.hidden:
        await ctx.store.ideas.set_hidden(found.id, True, ctx.now)
        await ctx.audit_idea("auto_hide", found, f"{people} reports")
        effects.append(CardChanged(found.id))
        effects.append(
            Announce(
                Reply.of(
                    ctx.t_moderators(
                        "report.hidden",
                        id=idea_ref(found.id),
                        count=people,
                        unhide=ctx.words.typed(ctx.settings.language, "unhide", found.id),
                        reject=ctx.words.typed(
                            ctx.settings.language,
                            "reject",
                            found.id,
                            f"<{ctx.catalogue.plain(ctx.settings.language, 'label.reason')}>",
                        ),
                    )
                )
            )
        )
    return Outcome(ctx.reply("report.thanks", id=idea_ref(found.id)), effects=tuple(effects))


@router.command(
    "hide",
    names={"nl": "verberg"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("reason", Kind.REST, required=False)),
)
async def hide(ctx: Context, idea: int, reason: str | None) -> Outcome:
    check_length(ctx, "reason", reason, ctx.settings.max_reason_length)
    found, _challenge = await find_idea(ctx, idea)
    if found.hidden:
        return Outcome(ctx.reply("hide.already", id=idea_ref(found.id)))
    await ctx.store.ideas.set_hidden(found.id, True, ctx.now)
    await ctx.audit_idea("hide", found, reason)
    return Outcome(ctx.reply("hide.done", id=idea_ref(found.id)), effects=(CardChanged(found.id),))


@router.command(
    "unhide", names={"nl": "toon-weer"}, role=Role.MODERATOR, params=(Param("idea", Kind.IDEA),)
)
async def unhide(ctx: Context, idea: int) -> Outcome:
    found, _challenge = await find_idea(ctx, idea)
    if not found.hidden:
        return Outcome(ctx.reply("unhide.not_hidden", id=idea_ref(found.id)))
    await ctx.store.ideas.set_hidden(found.id, False, ctx.now)
    await ctx.store.reports.clear(found.id)
    await ctx.audit_idea("unhide", found)
    effects: list[Effect] = [CardChanged(found.id), *await publish_card(ctx, found.id)]
    return Outcome(ctx.reply("unhide.done", id=idea_ref(found.id)), effects=tuple(effects))


@router.command(
    "block",
    names={"nl": "blokkeer"},
    role=Role.MODERATOR,
    params=(Param("user", Kind.USER), Param("reason", Kind.REST, required=False)),
)
async def block(ctx: Context, user: str, reason: str | None) -> Outcome:
    check_length(ctx, "reason", reason, ctx.settings.max_reason_length)
    if user == ctx.sender:
        raise Conflict("block.self")
    if not await ctx.store.blocks.block(user, by=ctx.sender, reason=reason or "", now=ctx.now):
        return Outcome(ctx.reply("block.already", user=Code(user)))
    await ctx.store.audit.record(
        actor=ctx.sender, action="block", now=ctx.now, detail=reason or "", subject=user
    )
    return Outcome(ctx.reply("block.done", user=Code(user)))


@router.command(
    "unblock", names={"nl": "deblokkeer"}, role=Role.MODERATOR, params=(Param("user", Kind.USER),)
)
async def unblock(ctx: Context, user: str) -> Outcome:
    if not await ctx.store.blocks.unblock(user):
        return Outcome(ctx.reply("unblock.not_blocked", user=Code(user)))
    await ctx.store.audit.record(actor=ctx.sender, action="unblock", now=ctx.now, subject=user)
    return Outcome(ctx.reply("unblock.done", user=Code(user)))


@router.command("audit", role=Role.MODERATOR, params=(Param("subject", Kind.WORD, required=False),))
async def audit(ctx: Context, subject: str | None) -> Outcome:
    require_private_room(ctx)
    votes: list[Span] = []
    if subject is None:
        entries = await ctx.store.audit.recent()
        for challenge in await ctx.store.challenges.list(open_only=True):
            counts = await ctx.store.votes.by_standing(challenge_id=challenge.id)
            votes.append(
                ctx.t(
                    "audit.votes_line",
                    slug=Code(challenge.slug),
                    votes=votes_by_standing(ctx.catalogue, ctx.locale, counts),
                )
            )
    elif USER_PATTERN.fullmatch(subject):
        entries = await ctx.store.audit.recent(actor=subject)
    else:
        try:
            idea_id = convert(Kind.IDEA, subject)
        except ValueError:
            raise UsageError("error.bad_audit_subject", value=subject) from None
        entries = await ctx.store.audit.recent(idea_id=idea_id)
        counts = await ctx.store.votes.by_standing(idea_id=idea_id)
        if any(counts.values()):
            votes.append(
                ctx.t(
                    "audit.votes_line",
                    slug=idea_ref(idea_id),
                    votes=votes_by_standing(ctx.catalogue, ctx.locale, counts),
                )
            )
    reply = (
        ctx.reply("audit.none")
        if not entries
        else Reply.of(
            ctx.t("audit.header", count=len(entries)),
            Items(tuple(_line(entry) for entry in entries)),
        )
    )
    if votes:
        reply += Reply.of(ctx.t("audit.votes_header"), Items(tuple(votes)))
    return Outcome(reply)


def _line(entry: AuditEntry) -> Text:
    parts = [entry.at.strftime("%Y-%m-%d %H:%M"), entry.actor, entry.action]
    if entry.idea_id is not None:
        parts.append(f"#{entry.idea_id}")
    if entry.subject:
        parts.append(entry.subject)
    if entry.detail:
        parts.append(f"“{entry.detail}”")
    return Text(" — ".join(parts))
