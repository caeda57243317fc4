"""A challenge's support threshold (``--threshold=N`` on ``!challenge new`` and ``edit``): an
idea that reaches N votes is one the city has promised to look at.

The moment it does (by a vote, a 👍, votes moved to it from a duplicate, or a threshold lowered
below its votes), it is marked in the database, in the transaction of what made it reach it, and
only the first time: the moderators are told in their room once, and its author hears that the
city will look at it, however its votes go up and down afterwards and across restarts.
``!queue`` lists the marked ideas first; the export and the public report say when each reached it.
"""

from __future__ import annotations

from datetime import datetime

from handlers.command_words import CommandWords
from handlers.effects import Announce, Effect, SendDirect
from handlers.i18n import Catalogue
from handlers.reply import Bold, Code, Reply, Text
from handlers.services.lookups import idea_ref
from handlers.settings import BotSettings
from storage import Challenge, Idea, Store


async def people_told_of_support(store: Store, idea: Idea) -> tuple[str, ...]:
    """Who hears, in their own direct chat, that ``idea`` reached its challenge's threshold:
    its author. Followers of the idea and of its challenge join them here once people can
    follow (#23, item 1); each is told once, in their own language."""
    if not idea.author.startswith("@"):  # an author who used !forget: nobody to tell
        return ()
    return (idea.author,)


async def check_support(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    words: CommandWords,
    challenge: Challenge,
    idea_id: int,
    now: datetime,
) -> list[Effect]:
    """Whether the idea has now reached its challenge's threshold for the first time; if so,
    mark it and return the messages that say so. Call in the transaction that changed its
    votes (or the threshold), after the change."""
    threshold = challenge.support_threshold
    if threshold is None:
        return []
    idea = await store.ideas.get(idea_id)
    if idea is None or idea.support_reached_at is not None or idea.votes < threshold:
        return []
    if not await store.ideas.mark_support_reached(idea.id, now):
        return []
    moderators = settings.language
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
                    command=words.typed(moderators, "show", idea.id),
                )
            )
        )
    ]
    for person in await people_told_of_support(store, idea):
        language = await store.users.language(person) or settings.language
        # A follower (once there are followers) will want words of their own here.
        told = catalogue.span(
            language,
            "support.reached_author",
            id=idea_ref(idea.id),
            title=Bold(Text(idea.title)),
            slug=Code(challenge.slug),
            count=threshold,
        )
        effects.append(SendDirect(person, Reply.of(told)))
    return effects


async def check_challenge_support(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    words: CommandWords,
    challenge: Challenge,
    now: datetime,
) -> list[Effect]:
    """After a threshold was set or lowered: every idea still in the running that has the
    votes already reaches it now (each once)."""
    if challenge.support_threshold is None:
        return []
    effects: list[Effect] = []
    for idea_id, _title, votes in await store.ideas.visible_titles(challenge.id):
        if votes >= challenge.support_threshold:
            effects += await check_support(
                store, catalogue, settings, words, challenge, idea_id, now
            )
    return effects
