"""Submitting an idea, whether with ``!idea <challenge> <title>`` or at the end of the guided
dialogue: the checks, the hourly limit, the moderators' notice and the card."""

from __future__ import annotations

import math
from datetime import timedelta

from handlers.context import Context
from handlers.effects import Announce, Effect, Outcome
from handlers.errors import Conflict
from handlers.policy import seen_by_all
from handlers.reply import Bold, Code, Reply, Text
from handlers.services.idea_cards import card, room_card
from handlers.services.lookups import (
    check_length,
    find_challenge,
    idea_ref,
    require_not_blocked,
    require_submissions,
)
from handlers.services.notifications import Notifier, new_idea_notices


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
            ),
            idea=idea.id,
        )
    ]
    # The challenge's followers hear of it once everyone may see it: now, or when let through.
    if seen_by_all(idea, target):
        followers = await ctx.store.following.challenge_followers(target.id)
        effects += await Notifier.of(ctx).tell(new_idea_notices(followers, idea), ctx.now)
    if target.premoderated:
        return Outcome(
            ctx.reply("idea.submitted_premoderated", id=idea_ref(idea.id), title=Bold(Text(title))),
            effects=tuple(effects),
        )
    thanks = ctx.reply(
        "idea.submitted", id=idea_ref(idea.id), title=Bold(Text(title)), slug=Code(target.slug)
    )
    # Submitted in the challenge's only room, the thanks is the idea's card; a challenge with
    # rooms on both networks gets a card in each (one effect, sent to all its rooms).
    if target.room_id == ctx.room_id and len(await ctx.store.challenges.rooms_of(target.id)) == 1:
        return Outcome(
            thanks + card(ctx.catalogue, ctx.locale, idea, ctx.words, ctx.links),
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
