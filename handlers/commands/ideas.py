"""What citizens and students do with ideas: submit, list, show, vote (also by 👍), withdraw."""

from __future__ import annotations

from handlers import policy
from handlers.audience import author_shown, require_private_room
from handlers.context import Context
from handlers.effects import Announce, CardChanged, Effect, Outcome, SendDirect
from handlers.errors import Conflict, Forbidden
from handlers.incoming import VOTE_REACTION, ReactionAdded, ReactionRemoved
from handlers.policy import Action, seen_by_all
from handlers.registry import CommandRouter, Kind, Param
from handlers.reply import Bold, Code, Items, Quote, Reply, Text
from handlers.services.guided_submission import start_idea_dialogue
from handlers.services.lookups import (
    check_length,
    find_challenge,
    find_idea,
    idea_line,
    idea_ref,
    person,
    require,
    require_not_blocked,
    require_submissions,
    status_text,
)
from handlers.services.open_to_vote import open_reply, open_to_vote
from handlers.services.submitting import submit_idea
from handlers.services.voting import unvote_by_redaction, vote_by_reaction, vote_for_idea
from storage import IdeaStatus

router = CommandRouter()


@router.command(
    "idea",
    names={"nl": "idee"},
    params=(
        Param("challenge", Kind.SLUG, implied_by_room=True),
        Param("title", Kind.REST),
        Param("description", Kind.BODY, required=False),
    ),
    may_be_bare=True,
    needs_identity=True,
)
async def submit(
    ctx: Context, challenge: str | None, title: str | None, description: str | None
) -> Outcome:
    if title is None:  # only when the command came bare: the parser requires a title otherwise
        return await start_idea_dialogue(ctx)
    return await submit_idea(ctx, challenge, title, description)


@router.command(
    "ideas",
    names={"nl": "ideeën"},
    aliases=("ideeen",),
    params=(
        Param("challenge", Kind.SLUG, required=False),
        Param("order", Kind.CHOICE, required=False, choices=("top", "new")),
        Param("page", Kind.NUMBER, required=False),
    ),
)
async def list_ideas(
    ctx: Context, challenge: str | None, order: str | None, page: int | None
) -> Outcome:
    target = await find_challenge(ctx, challenge)
    size = ctx.settings.page_size
    page = page or 1
    total = await ctx.store.ideas.count_visible_in_challenge(target.id)
    pages = max(1, -(-total // size))
    if page > pages:
        page = pages
    ideas = await ctx.store.ideas.visible_in_challenge(
        target.id, order="new" if order == "new" else "top", limit=size, offset=(page - 1) * size
    )
    if not ideas:
        return Outcome(ctx.reply("ideas.none", slug=Code(target.slug)))
    reply = Reply.of(
        ctx.t("ideas.header", title=Bold(Text(target.title)), page=page, pages=pages, count=total),
        Items(tuple(idea_line(ctx, idea) for idea in ideas)),
    )
    if page < pages:
        more = ctx.command("ideas", target.slug, order or "top", page + 1)
        reply += ctx.reply("ideas.more", command=more)
    return Outcome(reply)


@router.command("show", names={"nl": "toon"}, params=(Param("idea", Kind.IDEA),))
async def show(ctx: Context, idea: int) -> Outcome:
    found, challenge = await find_idea(ctx, idea)
    if not seen_by_all(found, challenge):  # seen by moderators and its author only
        require_private_room(ctx)
    details = {
        "slug": Code(challenge.slug),
        "status": status_text(ctx.catalogue, ctx.locale, found.status),
        "count": found.votes,
        "created": found.created_at,
    }
    shown = author_shown(ctx, found)
    if shown == "id":
        summary = ctx.t("idea.details", author=Text(found.author), **details)
    else:
        summary = ctx.t(
            "idea.details_yours" if shown == "you" else "idea.details_anonymous", **details
        )
    reply = Reply.of(
        ctx.t("card.title", id=idea_ref(found.id), title=Bold(Text(found.title))), summary
    )
    if found.description:
        reply += Reply.of(Quote(found.description))
    if found.duplicate_of is not None:
        reply += ctx.reply("idea.duplicate_of", id=idea_ref(found.duplicate_of))
    votable = policy.refusal(
        Action.VOTE, person(ctx), challenge, ctx.now, timezone=ctx.programme.timezone, idea=found
    )
    if votable is not None:
        return Outcome(reply)
    # Shown anywhere, an idea that can take votes is a card: a 👍 on this reply votes.
    reply += ctx.reply(
        "card.how_to_vote",
        reaction=VOTE_REACTION,
        command=ctx.command("vote", found.id),
    )
    return Outcome(reply, reply_card=found.id)


@router.command(
    "vote", names={"nl": "stem"}, params=(Param("idea", Kind.IDEA),), needs_identity=True
)
async def vote(ctx: Context, idea: int) -> Outcome:
    return await vote_for_idea(ctx, idea)


@router.command("unvote", names={"nl": "ontstem"}, params=(Param("idea", Kind.IDEA),))
async def unvote(ctx: Context, idea: int) -> Outcome:
    found, challenge = await find_idea(ctx, idea)
    require(ctx, Action.UNVOTE, challenge, found)
    if not await ctx.store.votes.remove(found.id, ctx.sender):
        return Outcome(ctx.reply("vote.not_voted", id=idea_ref(found.id)), confirmation=True)
    count = found.votes - 1  # counted when the idea was read, in this same transaction
    return Outcome(
        ctx.reply("vote.removed", id=idea_ref(found.id), count=count),
        effects=(CardChanged(found.id),),
        confirmation=True,
    )


@router.command("mine", names={"nl": "mijn"})
async def mine(ctx: Context) -> Outcome:
    ideas = await ctx.store.ideas.by_author(ctx.sender)
    if not ideas:
        return Outcome(ctx.reply("mine.none", command=ctx.command("idea")))
    lines = [
        ctx.t("mine.line", slug=Code(idea.challenge_slug), idea=idea_line(ctx, idea))
        for idea in ideas
    ]
    return Outcome(Reply.of(ctx.t("mine.header", count=len(ideas)), Items(tuple(lines))))


@router.command("withdraw", names={"nl": "intrekken"}, params=(Param("idea", Kind.IDEA),))
async def withdraw(ctx: Context, idea: int) -> Outcome:
    found, _challenge = await find_idea(ctx, idea)
    if found.author != ctx.sender:
        raise Forbidden("withdraw.not_author", id=idea_ref(found.id))
    if found.status not in (IdeaStatus.NEW, IdeaStatus.NEEDS_INFO, IdeaStatus.ACCEPTED):
        raise Conflict(
            "withdraw.not_possible",
            id=idea_ref(found.id),
            status=status_text(ctx.catalogue, ctx.locale, found.status),
        )
    await ctx.store.ideas.set_status(found.id, IdeaStatus.WITHDRAWN, ctx.now)
    await ctx.audit_idea("withdraw", found)
    return Outcome(
        ctx.reply("withdraw.done", id=idea_ref(found.id)), effects=(CardChanged(found.id),)
    )


@router.command(
    "edit",
    names={"nl": "wijzig"},
    params=(
        Param("idea", Kind.IDEA),
        Param("title", Kind.REST),
        Param("description", Kind.BODY, required=False),
    ),
    needs_identity=True,
)
async def edit(ctx: Context, idea: int, title: str, description: str | None) -> Outcome:
    """The author rewords their idea; an answer to a moderator's question sends it back to triage."""
    await require_not_blocked(ctx)  # or a blocked author could rewrite their idea's card
    found, challenge = await find_idea(ctx, idea)
    if found.author != ctx.sender:
        raise Forbidden("edit.not_author", id=idea_ref(found.id))
    if found.status not in (IdeaStatus.NEW, IdeaStatus.NEEDS_INFO):
        raise Conflict(
            "edit.not_possible",
            id=idea_ref(found.id),
            status=status_text(ctx.catalogue, ctx.locale, found.status),
        )
    require_submissions(challenge, ctx)
    check_length(ctx, "title", title, ctx.settings.max_title_length)
    check_length(ctx, "description", description, ctx.settings.max_description_length)
    await ctx.store.ideas.update_text(found.id, title=title, description=description, now=ctx.now)
    effects: list[Effect] = []
    if found.status is IdeaStatus.NEEDS_INFO:
        await ctx.store.ideas.set_status(found.id, IdeaStatus.NEW, ctx.now)
        effects.append(
            Announce(
                Reply.of(
                    ctx.t_moderators(
                        "moderation.idea_answered", id=idea_ref(found.id), title=Bold(Text(title))
                    )
                )
            )
        )
    await ctx.audit_idea("edit", found)
    effects.append(CardChanged(found.id))
    return Outcome(ctx.reply("edit.done", id=idea_ref(found.id)), effects=tuple(effects))


@router.on(ReactionAdded, needs_identity=True)
async def thumb_given(ctx: Context, event: ReactionAdded) -> Outcome | None:
    return await vote_by_reaction(ctx, event.card_event_id, event.reaction_event_id)


@router.on(ReactionRemoved)
async def thumb_taken_back(ctx: Context, event: ReactionRemoved) -> Outcome | None:
    return await unvote_by_redaction(ctx, event.reaction_event_id)


@router.command("open", needs_identity=True)
async def still_open(ctx: Context) -> Outcome:
    """Per challenge that takes votes now: the ideas the person may vote for and has not, best
    first, and the votes left in their budget. Which votes a person cast is personal: from a
    shared room, the list goes to their direct chat."""
    blocked = await ctx.store.blocks.is_blocked(ctx.sender)
    if blocked:
        raise Forbidden("error.blocked")
    found = await open_to_vote(
        ctx.store,
        person(ctx),
        ctx.participation,
        ctx.now,
        timezone=ctx.programme.timezone,
    )
    listing = open_reply(
        ctx.catalogue,
        ctx.locale,
        found,
        now=ctx.now,
        timezone=ctx.programme.timezone,
        words=ctx.words,
        shown_per_challenge=ctx.settings.page_size,
    )
    if ctx.is_direct:
        return Outcome(listing)
    return Outcome(ctx.reply("open.sent_elsewhere"), effects=(SendDirect(ctx.sender, listing),))
