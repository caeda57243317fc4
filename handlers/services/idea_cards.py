"""An idea's card: the message in its challenge's room that shows it, where a 👍 is a vote.

The bot keeps each card up to date and takes down the cards of a hidden idea (``bot/cards.py``);
here is what a card says, and when an idea gets one.
"""

from __future__ import annotations

from handlers.command_words import CommandWords
from handlers.context import Context
from handlers.effects import Effect, SendRoom
from handlers.i18n import Catalogue
from handlers.incoming import VOTE_REACTION
from handlers.policy import seen_by_all
from handlers.public_links import PublicLinks, link
from handlers.reply import Bold, Reply, Text
from handlers.services.lookups import challenge_of, idea_ref, status_text
from storage import Challenge, Idea


def card(
    catalogue: Catalogue,
    locale: str,
    idea: Idea,
    words: CommandWords,
    links: PublicLinks | None = None,
) -> Reply:
    """The message in a challenge's room that shows an idea; a 👍 on it is a vote. A hidden
    idea has no card: the bot takes its cards down (``bot/cards.py``). With the public report's
    address configured, the card links to the idea on its challenge's page."""
    shown = Reply.of(
        catalogue.span(
            locale,
            "card.title",
            id=idea_ref(idea.id),
            title=Bold(Text(idea.title)),
        ),
        catalogue.span(
            locale,
            "card.status",
            status=status_text(catalogue, locale, idea.status),
            count=idea.votes,
        ),
        catalogue.span(
            locale,
            "card.how_to_vote",
            reaction=VOTE_REACTION,
            command=words.typed(locale, "vote", idea.id),
        ),
        catalogue.span(locale, "card.discuss"),
    )
    url = None if links is None else links.idea(idea)
    if url is not None:
        shown += Reply.of(catalogue.span(locale, "links.idea_page", link=link(url)))
    return shown


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
    content = card(ctx.catalogue, ctx.settings.language, idea, ctx.words, ctx.links)
    return [SendRoom(challenge.room_id, content, card=idea.id)]
