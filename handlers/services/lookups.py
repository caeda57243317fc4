"""Look-ups and small renderings that commands and services share: the challenge or idea a
command names, who asks, what the rules let them do, an idea in a line."""

from __future__ import annotations

from handlers import policy
from handlers.context import Context
from handlers.errors import BotError, Forbidden, NotFound
from handlers.i18n import Catalogue
from handlers.policy import Action, Person
from handlers.reply import Bold, Code, Inline, Span, Text
from storage import Challenge, Idea, IdeaStatus


async def find_challenge(ctx: Context, slug: str | None) -> Challenge:
    """The challenge named, else the one whose room this is."""
    if slug is None:
        if ctx.room_challenge is None:
            raise BotError("error.which_challenge", command=ctx.command("challenges"))
        return ctx.room_challenge
    challenge = await ctx.store.challenges.by_slug(slug)
    if challenge is None:
        raise NotFound("error.no_such_challenge", slug=Code(slug))
    return challenge


def person(ctx: Context, *, blocked: bool = False) -> Person:
    return Person(ctx.sender, is_moderator=ctx.is_moderator, blocked=blocked, identity=ctx.identity)


def can_see(ctx: Context, idea: Idea, challenge: Challenge) -> bool:
    """See :func:`handlers.policy.can_see`."""
    return policy.can_see(person(ctx), idea, challenge)


async def challenge_of(ctx: Context, idea: Idea) -> Challenge | None:
    """The idea's challenge; in that challenge's own room (where most votes are cast) it is
    the one the context already holds, read in the same transaction."""
    if ctx.room_challenge is not None and ctx.room_challenge.id == idea.challenge_id:
        return ctx.room_challenge
    return await ctx.store.challenges.get(idea.challenge_id)


async def find_idea(ctx: Context, idea_id: int) -> tuple[Idea, Challenge]:
    idea = await ctx.store.ideas.get(idea_id)
    challenge = None if idea is None else await challenge_of(ctx, idea)
    if idea is None or challenge is None or not can_see(ctx, idea, challenge):
        raise NotFound("error.no_such_idea", id=idea_ref(idea_id))
    return idea, challenge


def require_submissions(challenge: Challenge, ctx: Context) -> None:
    """Refuse unless the challenge takes ideas at the time of the command (blocks apart)."""
    require(ctx, Action.SUBMIT, challenge)


def require(
    ctx: Context,
    action: Action,
    challenge: Challenge,
    idea: Idea | None = None,
    *,
    blocked: bool = False,
) -> None:
    """Refuse what :mod:`handlers.policy` does not allow the sender at the command's time."""
    policy.require(
        action,
        person(ctx, blocked=blocked),
        challenge,
        ctx.now,
        timezone=ctx.programme.timezone,
        idea=idea,
        participation=ctx.participation,
    )


def check_length(ctx: Context, what: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise BotError(
            "error.too_long", what=ctx.t(f"label.{what}"), limit=limit, length=len(value)
        )


def idea_ref(idea_id: int) -> Code:
    return Code(f"#{idea_id}")


def status_text(catalogue: Catalogue, locale: str, status: IdeaStatus) -> Span:
    return catalogue.span(locale, f"status.{status.value}")


def idea_line(ctx: Context, idea: Idea) -> Inline:
    """One idea in a list: number, title, status and votes."""
    return ctx.t(
        "idea.line",
        id=idea_ref(idea.id),
        title=Bold(Text(idea.title)),
        status=status_text(ctx.catalogue, ctx.locale, idea.status),
        count=idea.votes,
    )


async def require_not_blocked(ctx: Context) -> None:
    if await ctx.store.blocks.is_blocked(ctx.sender):
        raise Forbidden("error.blocked")
