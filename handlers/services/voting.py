"""Voting for an idea: the rules and the budget, recording the vote with what the account was,
the moderators' flag on a burst of votes from new accounts, and the same vote given or taken
back by a 👍 on the idea's card. ``!vote``, the 👍 and the guided dialogue all vote here."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from handlers import policy
from handlers.context import Context
from handlers.effects import Announce, CardChanged, Effect, Outcome, SendDirect
from handlers.errors import BotError, Conflict, NotFound
from handlers.policy import Action
from handlers.reply import Bold, Code, Reply, Text
from handlers.services.lookups import (
    can_see,
    challenge_of,
    find_idea,
    idea_ref,
    person,
    require,
)
from handlers.services.notifications import Notifier
from handlers.services.support_threshold import check_support
from storage import Challenge, Idea

log = logging.getLogger(__name__)


async def vote_for_idea(ctx: Context, idea: int) -> Outcome:
    """``!vote``, also where the guided dialogue offers a similar idea to vote for instead."""
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
    from new accounts, and the word that the idea reached its challenge's support threshold
    (:mod:`handlers.services.support_threshold`)."""
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
    reached: list[Effect] = []
    if idea.support_reached_at is None:  # marked before: nothing more to say, nothing to read
        reached = await check_support(Notifier.of(ctx), challenge, idea.id, ctx.now)
    if not new_account:
        return reached
    return [*await _burst_flag(ctx, challenge), *reached]


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
