"""Triage by moderators: the queue, and the decisions that the author hears about."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.audience import require_private_room
from handlers.context import Context
from handlers.effects import CardChanged, Effect, Outcome, SendDirect
from handlers.errors import Conflict
from handlers.registry import CommandRouter, Kind, Param, Role
from handlers.reply import Bold, Code, Items, Quote, Reply, Text
from handlers.services.idea_cards import publish_card
from handlers.services.lookups import (
    check_length,
    find_challenge,
    find_idea,
    idea_line,
    idea_ref,
    status_text,
)
from handlers.services.notifications import Notifier, idea_changed
from handlers.services.support_threshold import check_support
from storage import CLOSED_FOR_VOTES, Idea, IdeaStatus, Notice, NoticeKind

router = CommandRouter()

_OPEN = (IdeaStatus.NEW, IdeaStatus.NEEDS_INFO)


@dataclass(frozen=True)
class Decision:
    action: str
    status: IdeaStatus
    allowed_from: tuple[IdeaStatus, ...]


ACCEPT = Decision("accept", IdeaStatus.ACCEPTED, (*_OPEN, IdeaStatus.REJECTED))
REJECT = Decision("reject", IdeaStatus.REJECTED, (*_OPEN, IdeaStatus.ACCEPTED))
NEEDINFO = Decision("needinfo", IdeaStatus.NEEDS_INFO, (IdeaStatus.NEW, IdeaStatus.ACCEPTED))
IMPLEMENTED = Decision("implemented", IdeaStatus.IMPLEMENTED, (*_OPEN, IdeaStatus.ACCEPTED))
DUPLICATE = Decision(
    "duplicate", IdeaStatus.DUPLICATE, (*_OPEN, IdeaStatus.ACCEPTED, IdeaStatus.REJECTED)
)


@router.command(
    "queue",
    names={"nl": "wachtrij"},
    role=Role.MODERATOR,
    params=(Param("challenge", Kind.SLUG, required=False),),
)
async def queue(ctx: Context, challenge: str | None) -> Outcome:
    require_private_room(ctx)
    target = await find_challenge(ctx, challenge) if challenge else ctx.room_challenge
    ideas = await ctx.store.ideas.awaiting_triage(
        None if target is None else target.id, limit=ctx.settings.page_size * 2
    )
    if not ideas:
        return Outcome(ctx.reply("queue.empty"))
    # Those that reached their challenge's support threshold come first (the storage's order),
    # and say so: the city promised to look at them.
    lines = [
        ctx.t(
            "queue.line",
            slug=Code(idea.challenge_slug),
            idea=idea_line(ctx, idea),
            created=idea.created_at,
        )
        if idea.support_reached_at is None
        else ctx.t(
            "queue.line_supported",
            slug=Code(idea.challenge_slug),
            idea=idea_line(ctx, idea),
            reached=ctx.moment(idea.support_reached_at),
        )
        for idea in ideas
    ]
    return Outcome(Reply.of(ctx.t("queue.header", count=len(ideas)), Items(tuple(lines))))


async def decide(
    ctx: Context,
    idea_id: int,
    decision: Decision,
    message: str | None,
    *,
    duplicate_of: int | None = None,
) -> tuple[Idea, list[Effect]]:
    """Apply a triage decision: check it, store it, audit it, and tell the author."""
    check_length(ctx, "reason", message, ctx.settings.max_reason_length)
    idea, _challenge = await find_idea(ctx, idea_id)
    if idea.status not in decision.allowed_from:
        raise Conflict(
            "triage.not_from_status",
            id=idea_ref(idea.id),
            status=status_text(ctx.catalogue, ctx.locale, idea.status),
        )
    await ctx.store.ideas.set_status(idea.id, decision.status, ctx.now, duplicate_of=duplicate_of)
    await ctx.audit_idea(decision.action, idea, message)
    author_locale = await ctx.locale_of(idea.author)
    author_text = Reply.of(
        ctx.catalogue.span(
            author_locale,
            f"triage.author.{decision.action}",
            id=idea_ref(idea.id),
            title=Bold(Text(idea.title)),
            original=idea_ref(duplicate_of) if duplicate_of else None,
            command=ctx.words.typed(author_locale, "show", idea.id),
        )
    )
    if message:
        author_text += Reply.of(Quote(message))
    return idea, [SendDirect(idea.author, author_text, about_idea=idea.id), CardChanged(idea.id)]


async def _done(ctx: Context, idea: Idea, decision: Decision, effects: list[Effect]) -> Outcome:
    """The moderator's reply; the idea's followers (its author apart, who was told) hear of
    the decision as they chose to."""
    after, challenge = await find_idea(ctx, idea.id)
    effects = effects + await idea_changed(
        Notifier.of(ctx), idea, after, challenge, ctx.now, told=(idea.author,)
    )
    return Outcome(
        ctx.reply(
            "triage.done",
            id=idea_ref(idea.id),
            status=status_text(ctx.catalogue, ctx.locale, decision.status),
        ),
        effects=tuple(effects),
    )


@router.command(
    "accept",
    names={"nl": "aanvaard"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("message", Kind.REST, required=False)),
)
async def accept(ctx: Context, idea: int, message: str | None) -> Outcome:
    found, effects = await decide(ctx, idea, ACCEPT, message)
    if found.hidden:  # accepting is the decision that a reported idea may be seen
        await ctx.store.ideas.set_hidden(found.id, False, ctx.now)
        await ctx.store.reports.clear(found.id)
    effects.extend(await publish_card(ctx, found.id))
    return await _done(ctx, found, ACCEPT, effects)


@router.command(
    "reject",
    names={"nl": "weiger"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("reason", Kind.REST)),
)
async def reject(ctx: Context, idea: int, reason: str) -> Outcome:
    found, effects = await decide(ctx, idea, REJECT, reason)
    return await _done(ctx, found, REJECT, effects)


@router.command(
    "needinfo",
    names={"nl": "meerinfo"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("question", Kind.REST)),
)
async def needinfo(ctx: Context, idea: int, question: str) -> Outcome:
    found, effects = await decide(ctx, idea, NEEDINFO, question)
    return await _done(ctx, found, NEEDINFO, effects)


@router.command(
    "implemented",
    names={"nl": "uitgevoerd"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("message", Kind.REST, required=False)),
)
async def implemented(ctx: Context, idea: int, message: str | None) -> Outcome:
    found, effects = await decide(ctx, idea, IMPLEMENTED, message)
    effects.extend(await publish_card(ctx, found.id))
    return await _done(ctx, found, IMPLEMENTED, effects)


@router.command(
    "duplicate",
    names={"nl": "dubbel"},
    role=Role.MODERATOR,
    params=(Param("idea", Kind.IDEA), Param("original", Kind.IDEA)),
)
async def duplicate(ctx: Context, idea: int, original: int) -> Outcome:
    if idea == original:
        raise Conflict("duplicate.same", id=idea_ref(idea))
    target, challenge = await find_idea(ctx, original)
    copy, _ = await find_idea(ctx, idea)
    if target.challenge_id != copy.challenge_id:
        raise Conflict("duplicate.other_challenge", id=idea_ref(idea), original=idea_ref(original))
    if target.status in CLOSED_FOR_VOTES:
        raise Conflict(
            "duplicate.original_closed",
            original=idea_ref(original),
            status=status_text(ctx.catalogue, ctx.locale, target.status),
        )
    voters = await ctx.store.votes.voters(idea)
    found, effects = await decide(ctx, idea, DUPLICATE, None, duplicate_of=original)
    voted_original = set(await ctx.store.votes.voters(original))
    moved = await ctx.store.votes.move(found.id, original)
    effects.append(CardChanged(original))
    # The moved votes may carry the original over its challenge's support threshold.
    effects += await check_support(Notifier.of(ctx), challenge, original, ctx.now)
    voted_after = set(await ctx.store.votes.voters(original))
    moved_votes = {voter for voter in voters if voter in voted_after - voted_original}
    effects.extend(await _tell_voters(ctx, found, original, voters, moved_votes))
    # Its other followers hear that it is a duplicate; its voters heard where their vote went.
    after, challenge = await find_idea(ctx, found.id)
    effects.extend(
        await idea_changed(
            Notifier.of(ctx), found, after, challenge, ctx.now, told=(found.author, *voters)
        )
    )
    return Outcome(
        ctx.reply("duplicate.done", id=idea_ref(idea), original=idea_ref(original), count=moved),
        effects=tuple(effects),
    )


async def _tell_voters(
    ctx: Context, idea: Idea, original: int, voters: list[str], moved: set[str]
) -> list[Effect]:
    """The voters of a duplicate hear, once each and as they chose, where their vote went:
    to the original (``moved``), or nowhere new (they had voted for both, or a linked account
    of theirs had): it counts once. Its author heard it from the decision."""
    notices = [
        Notice(
            user_id=voter,
            challenge_id=idea.challenge_id,
            kind=NoticeKind.VOTE_MOVED if voter in moved else NoticeKind.VOTE_ONCE,
            idea_id=idea.id,
            original_id=original,
        )
        for voter in voters
        if voter != idea.author
    ]
    return await Notifier.of(ctx).tell(notices, ctx.now)
