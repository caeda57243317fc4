"""What citizens and students do with ideas: submit, list, show, vote, withdraw."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from handlers import policy
from handlers.audience import author_shown, require_private_room
from handlers.commands.common import (
    VOTE_REACTION,
    can_see,
    card,
    challenge_of,
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
from handlers.context import Context
from handlers.effects import Announce, CardChanged, Effect, Outcome, SendDirect, SendRoom
from handlers.errors import BotError, Conflict, Forbidden, NotFound
from handlers.policy import Action, seen_by_all
from handlers.registry import CommandRouter, Kind, Param
from handlers.reply import Bold, Code, Items, Quote, Reply, Text
from storage import Challenge, Idea, IdeaStatus

log = logging.getLogger(__name__)

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
        # Imported here: the dialogue submits through submit_idea below, so it imports this module.
        from handlers.commands.dialogue import start_idea_dialogue

        return await start_idea_dialogue(ctx)
    return await submit_idea(ctx, challenge, title, description)


async def submit_idea(
    ctx: Context, challenge: str | None, title: str, description: str | None
) -> Outcome:
    """Submit an idea, whether from ``!idea`` or from the confirmed guided dialogue."""
    target = await find_challenge(ctx, challenge)
    await require_not_blocked(ctx)
    require_submissions(target, ctx)
    check_length(ctx, "title", title, ctx.settings.max_title_length)
    check_length(ctx, "description", description, ctx.settings.max_description_length)
    await check_submission_rate(ctx)
    idea = await ctx.store.ideas.add(
        challenge_id=target.id,
        title=title,
        description=description or "",
        author=ctx.sender,
        now=ctx.now,
    )
    effects: list[Effect] = [
        Announce(
            Reply.of(
                ctx.t_moderators(
                    "moderation.new_idea",
                    id=idea_ref(idea.id),
                    title=Bold(Text(idea.title)),
                    slug=Code(target.slug),
                    author=Text(ctx.sender),
                )
            )
        )
    ]
    if target.premoderated:
        return Outcome(
            ctx.reply("idea.submitted_premoderated", id=idea_ref(idea.id), title=Bold(Text(title))),
            effects=tuple(effects),
        )
    thanks = ctx.reply(
        "idea.submitted", id=idea_ref(idea.id), title=Bold(Text(title)), slug=Code(target.slug)
    )
    if target.room_id == ctx.room_id:
        return Outcome(
            thanks + card(ctx.catalogue, ctx.locale, idea, ctx.settings.prefix),
            reply_card=idea.id,
            effects=tuple(effects),
        )
    effects.extend(room_card(ctx, target, idea))
    return Outcome(thanks, effects=tuple(effects))


async def check_submission_rate(ctx: Context) -> None:
    """At most ``ideas_per_hour`` ideas per person in any hour."""
    hour = timedelta(hours=1)
    recent = await ctx.store.ideas.submitted_since(ctx.sender, ctx.now - hour)
    if len(recent) >= ctx.settings.ideas_per_hour:
        wait = recent[0] + hour - ctx.now
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        raise Conflict("limit.ideas", count=ctx.settings.ideas_per_hour, minutes=minutes)


async def publish_card(ctx: Context, idea_id: int) -> list[Effect]:
    """A card for an idea that everyone may now see and that has none: one let through in a
    pre-moderated challenge, or shown again after it was hidden (its old card was taken down)."""
    idea = await ctx.store.ideas.get(idea_id)
    challenge = None if idea is None else await challenge_of(ctx, idea)
    if idea is None or challenge is None or not seen_by_all(idea, challenge):
        return []
    if await ctx.store.cards.exists_for(idea.id):
        return []
    return room_card(ctx, challenge, idea)


def room_card(ctx: Context, challenge: Challenge, idea: Idea) -> list[Effect]:
    """The idea's card in its challenge's room, where there is one."""
    if challenge.room_id is None:
        return []
    content = card(ctx.catalogue, ctx.settings.language, idea, ctx.settings.prefix)
    return [SendRoom(challenge.room_id, content, card=idea.id)]


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
        more = f"{ctx.settings.prefix}ideas {target.slug} {order or 'top'} {page + 1}"
        reply += ctx.reply("ideas.more", command=Code(more))
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
        command=Code(f"{ctx.settings.prefix}vote {found.id}"),
    )
    return Outcome(reply, reply_card=found.id)


@router.command(
    "vote", names={"nl": "stem"}, params=(Param("idea", Kind.IDEA),), needs_identity=True
)
async def vote(ctx: Context, idea: int) -> Outcome:
    found, challenge = await find_idea(ctx, idea)
    await cast_vote(ctx, found, challenge)
    recorded = await record_vote(ctx, found, challenge)
    if recorded is None:
        return Outcome(ctx.reply("vote.already", id=idea_ref(found.id)), confirmation=True)
    count = found.votes + 1  # counted when the idea was read, in this same transaction
    return Outcome(
        ctx.reply(
            "vote.counted", id=idea_ref(found.id), title=Bold(Text(found.title)), count=count
        ),
        effects=(CardChanged(found.id), *recorded),
        confirmation=True,
    )


async def cast_vote(ctx: Context, idea: Idea, challenge: Challenge) -> None:
    """Refuse a vote the rules (:mod:`handlers.policy`) or the budget do not allow; the caller
    records it. Accounts linked to one verified identity are one person: one vote per idea
    between them, and one budget."""
    require(
        ctx, Action.VOTE, challenge, idea, blocked=await ctx.store.blocks.is_blocked(ctx.sender)
    )
    identity = ctx.identity.key
    if identity is not None:
        linked = await ctx.store.votes.linked_voter(idea.id, identity)
        if linked is not None and linked != ctx.sender:
            raise Conflict("identity.linked_vote", id=idea_ref(idea.id))
    budget = challenge.vote_budget
    if budget is not None:
        used = await ctx.store.votes.used_in_challenge(ctx.sender, challenge.id, identity)
        already = await ctx.store.votes.has_voted(idea.id, ctx.sender)
        if not already and used >= budget:
            raise Conflict("vote.budget_spent", count=budget, slug=Code(challenge.slug))


async def record_vote(ctx: Context, idea: Idea, challenge: Challenge) -> list[Effect] | None:
    """Record the vote :func:`cast_vote` allowed, with what the account was; None when it was
    there already. The effects: a flag for the moderators when it completes a burst of votes
    from new accounts."""
    settings = ctx.identity_settings
    new_account = ctx.identity.is_new(ctx.now, settings.new_account_minutes)
    added = await ctx.store.votes.add(
        idea.id,
        ctx.sender,
        ctx.now,
        standing=ctx.identity.standing,
        identity=ctx.identity.key,
        new_account=new_account,
    )
    if not added:
        return None
    if not new_account:
        return []
    return await _burst_flag(ctx, challenge)


async def _burst_flag(ctx: Context, challenge: Challenge) -> list[Effect]:
    """``identity.burst_votes`` votes from new accounts within ``identity.burst_minutes`` in
    one challenge are flagged in the moderation room: once, and again only once the window
    has moved past the last flag (a burst that goes on is flagged at most once a window)."""
    settings = ctx.identity_settings
    window = timedelta(minutes=settings.burst_minutes)
    times = await ctx.store.votes.new_accounts_since(challenge.id, ctx.now - window)
    if len(times) < settings.burst_votes:
        return []
    key = f"burst_flagged:{challenge.id}"
    flagged = await ctx.store.state.get(key)
    if flagged is not None and datetime.fromisoformat(flagged) >= times[0]:
        return []
    await ctx.store.state.set(key, ctx.now.isoformat())
    flag = ctx.t_moderators(
        "identity.burst",
        slug=Code(challenge.slug),
        count=len(times),
        minutes=settings.burst_minutes,
        age=settings.new_account_minutes,
    )
    return [Announce(Reply.of(flag))]


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
        return Outcome(ctx.reply("mine.none", command=Code(f"{ctx.settings.prefix}idea")))
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


async def vote_by_reaction(
    ctx: Context, card_event_id: str, reaction_event_id: str
) -> Outcome | None:
    """A 👍 on a card: the same vote as ``!vote``. Silent: a reaction gets no reply."""
    idea_id = await ctx.store.cards.idea_for(card_event_id)
    if idea_id is None:
        return None
    idea = await ctx.store.ideas.get(idea_id)
    challenge = None if idea is None else await challenge_of(ctx, idea)
    if idea is None or challenge is None or not can_see(ctx, idea, challenge):
        return None
    try:
        await cast_vote(ctx, idea, challenge)
    except BotError as error:
        # A 👍 that does not count is explained as !vote would be (closed, blocked, the budget
        # spent, not eligible and how to become so), in the person's own direct chat: a
        # reaction gets no reply, and who voted for what is theirs alone. Once per idea, and
        # a few a minute: a storm of 👍 makes no storm of messages.
        if not await ctx.notices.may_tell("refused", ctx.sender, idea.id):
            return None
        told = ctx.reply(
            "vote.reaction_refused", id=idea_ref(idea.id), reason=ctx.t(error.key, **error.params)
        )
        return Outcome(effects=(SendDirect(ctx.sender, told),))
    await ctx.store.votes.record_reaction(reaction_event_id, idea.id, ctx.sender)
    recorded = await record_vote(ctx, idea, challenge)
    if recorded is None:
        return None
    # No reply: a reaction speaks for itself.
    return Outcome(effects=(CardChanged(idea.id), *recorded))


async def unvote_by_redaction(ctx: Context, reaction_event_id: str) -> Outcome | None:
    """The removal of a 👍 that voted takes that person's vote back, as ``!unvote`` would: by
    the same rule (:mod:`handlers.policy`), so after the deadline it changes nothing, and the
    person is told so, as ``!unvote`` tells them.

    Only the voter can take their vote back. Anyone with the power to redact may redact
    someone else's reaction (a room admin, a moderator, a bridge): such a redaction changes
    no vote, whoever made it; the voter's ``!unvote`` still can.
    """
    found = await ctx.store.votes.pop_reaction(reaction_event_id)
    if found is None:
        return None
    idea_id, voter = found
    if voter != ctx.sender:
        log.info("A 👍 that voted was redacted by someone else; the vote stays")
        return None
    idea = await ctx.store.ideas.get(idea_id)
    challenge = None if idea is None else await challenge_of(ctx, idea)
    if idea is None or challenge is None:
        return None
    refused = policy.refusal(
        Action.UNVOTE, person(ctx), challenge, ctx.now, timezone=ctx.programme.timezone, idea=idea
    )
    if refused is not None:
        if isinstance(refused, NotFound):
            return None  # an idea out of sight
        # As !unvote would answer: the vote stays, and why. No reply to a redaction (clients
        # show it as a reply to nothing): a message in the voter's own direct chat, once per
        # idea.
        if not await ctx.notices.may_tell("kept", voter, idea.id):
            return None
        told = ctx.reply(
            "vote.reaction_kept", id=idea_ref(idea.id), reason=ctx.t(refused.key, **refused.params)
        )
        return Outcome(effects=(SendDirect(voter, told),))
    if not await ctx.store.votes.remove(idea_id, voter):
        return None
    return Outcome(effects=(CardChanged(idea_id),))
