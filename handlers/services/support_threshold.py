"""A challenge's support threshold (``--threshold=N`` on ``!challenge new`` and ``edit``): an
idea that reaches N votes is one the city has promised to look at.

The moment it does (by a vote, a 👍, votes moved to it from a duplicate, or a threshold lowered
below its votes), it is marked in the database, in the transaction of what made it reach it, and
only the first time: the moderators are told in their room once, its author hears in their
direct chat that the city will look at it, and the idea's other followers hear it as they chose
(:mod:`handlers.services.notifications`), however its votes go up and down afterwards and across
restarts. ``!queue`` lists the marked ideas first; the export and the public report say when each
reached it.
"""

from __future__ import annotations

from datetime import datetime

from handlers.accounts import is_forgotten
from handlers.effects import Announce, Effect, SendDirect
from handlers.reply import Bold, Code, Reply, Text
from handlers.services.lookups import idea_ref
from handlers.services.notifications import Notifier
from storage import Challenge, Idea, Notice, NoticeKind


async def check_support(
    notifier: Notifier, challenge: Challenge, idea_id: int, now: datetime
) -> list[Effect]:
    """Whether the idea has now reached its challenge's threshold for the first time; if so,
    mark it and return the messages that say so. Call in the transaction that changed its
    votes (or the threshold), after the change."""
    threshold = challenge.support_threshold
    if threshold is None:
        return []
    store = notifier.store
    idea = await store.ideas.get(idea_id)
    if idea is None or idea.support_reached_at is not None or idea.votes < threshold:
        return []
    if not await store.ideas.mark_support_reached(idea.id, now):
        return []
    catalogue, moderators = notifier.catalogue, notifier.settings.language
    effects: list[Effect] = [
        Announce(
            Reply.of(
                catalogue.span(
                    moderators,
                    "support.reached_moderators",
                    id=idea_ref(idea.id),
                    title=Bold(Text(idea.title)),
                    slug=Code(challenge.slug),
                    count=threshold,
                    command=notifier.words.typed(moderators, "show", idea.id),
                )
            )
        )
    ]
    told: tuple[str, ...] = ()
    if not is_forgotten(idea.author):  # an author who used !forget: nobody to tell
        effects.append(await _tell_author(notifier, idea, challenge, threshold))
        told = (idea.author,)
    effects += await notifier.tell(await support_notices(notifier, idea, told=told), now)
    return effects


async def _tell_author(
    notifier: Notifier, idea: Idea, challenge: Challenge, threshold: int
) -> Effect:
    """The author hears it in their own direct chat, whatever they chose for notifications:
    it is about their own idea, and it happens once."""
    language = await notifier.store.users.language(idea.author) or notifier.settings.language
    told = notifier.catalogue.span(
        language,
        "support.reached_author",
        id=idea_ref(idea.id),
        title=Bold(Text(idea.title)),
        slug=Code(challenge.slug),
        count=threshold,
    )
    return SendDirect(idea.author, Reply.of(told))


async def support_notices(notifier: Notifier, idea: Idea, *, told: tuple[str, ...]) -> list[Notice]:
    """The idea's followers (those in ``told`` apart), as for its status changes: the
    challenge's followers hear of individual ideas only when they are new."""
    return [
        Notice(
            user_id=user_id,
            challenge_id=idea.challenge_id,
            kind=NoticeKind.SUPPORT_REACHED,
            idea_id=idea.id,
        )
        for user_id in await notifier.store.following.idea_followers(idea.id)
        if user_id not in told
    ]


async def check_challenge_support(
    notifier: Notifier, challenge: Challenge, now: datetime
) -> list[Effect]:
    """After a threshold was set or lowered: every idea still in the running that has the
    votes already reaches it now (each once)."""
    if challenge.support_threshold is None:
        return []
    effects: list[Effect] = []
    for idea_id, _title, votes in await notifier.store.ideas.visible_titles(challenge.id):
        if votes >= challenge.support_threshold:
            effects += await check_support(notifier, challenge, idea_id, now)
    return effects
