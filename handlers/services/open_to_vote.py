"""What is still open to a person: per challenge that takes votes now, the ideas they may vote
for and have not (best first), and the votes left in their budget. ``!open`` shows it; a
personal reminder before a deadline can say the same (:func:`open_to_vote`, :func:`open_reply`).

Which votes a person cast is theirs alone: the list goes only to their own direct chat.
Whether an idea takes the person's vote is the policy's (:func:`handlers.policy.refusal`), as
for ``!vote``; the storage only narrows the ideas down first (seen by all, still in the running,
not the person's own, not voted for by them or by an account of the same verified identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers import policy
from handlers.command_words import CommandWords
from handlers.errors import BotError
from handlers.i18n import Catalogue
from handlers.policy import Action, Participation, Person, Phase, phase
from handlers.programme import phase_text
from handlers.reply import Bold, Code, Items, Reply, Text
from handlers.services.lookups import idea_ref
from storage import Challenge, Idea, Store


@dataclass(frozen=True)
class OpenChallenge:
    """One challenge that takes votes now, as far as the person is concerned."""

    challenge: Challenge
    #: Votes left in the person's budget; None: the challenge has no budget.
    votes_left: int | None
    #: The ideas the person may vote for now and has not, most votes first.
    ideas: tuple[Idea, ...]
    #: Why the person may not vote in it at all (not eligible, and how to become so), or None.
    refused: BotError | None = None


async def open_to_vote(
    store: Store,
    person: Person,
    participation: Participation,
    now: datetime,
    *,
    timezone: str,
) -> list[OpenChallenge]:
    """Every open challenge that takes votes at ``now``, with what is open to ``person`` in it."""
    found: list[OpenChallenge] = []
    for challenge in await store.challenges.list(open_only=True):
        if phase(challenge, now) is Phase.CLOSED:
            continue
        refused = policy.refusal(
            Action.VOTE, person, challenge, now, timezone=timezone, participation=participation
        )
        if refused is not None:
            found.append(OpenChallenge(challenge, None, (), refused))
            continue
        votes_left = None
        if challenge.vote_budget is not None:
            used = await store.votes.used_in_challenge(
                person.user_id, challenge.id, person.identity.key
            )
            votes_left = max(0, challenge.vote_budget - used)
        ideas: tuple[Idea, ...] = ()
        if votes_left != 0:
            candidates = await store.ideas.unvoted_votable(
                challenge.id, person.user_id, person.identity.key
            )
            ideas = tuple(
                idea
                for idea in candidates
                if policy.refusal(
                    Action.VOTE,
                    person,
                    challenge,
                    now,
                    timezone=timezone,
                    idea=idea,
                    participation=participation,
                )
                is None
            )
        found.append(OpenChallenge(challenge, votes_left, ideas))
    return found


def open_reply(
    catalogue: Catalogue,
    language: str,
    found: list[OpenChallenge],
    *,
    now: datetime,
    timezone: str,
    words: CommandWords,
    shown_per_challenge: int,
) -> Reply:
    """What is open to the person, per challenge, in ``language``: at most
    ``shown_per_challenge`` ideas each (the rest: a pointer to ``!ideas``)."""
    if not found:
        return Reply.of(catalogue.span(language, "challenges.none"))
    reply = Reply.of(catalogue.span(language, "open.header"))
    for entry in found:
        challenge = entry.challenge
        title = Bold(Text(challenge.title))
        slug = Code(challenge.slug)
        when = phase_text(catalogue, language, challenge, now, timezone)
        if entry.refused is not None:
            reason = catalogue.span(language, entry.refused.key, **entry.refused.params)
            reply += Reply.of(
                catalogue.span(
                    language, "open.challenge_refused", title=title, slug=slug, reason=reason
                )
            )
            continue
        if entry.votes_left is None:
            budget = catalogue.span(language, "open.no_budget")
        else:
            assert challenge.vote_budget is not None
            budget = catalogue.span(
                language, "open.votes_left", count=entry.votes_left, total=challenge.vote_budget
            )
        reply += Reply.of(
            catalogue.span(
                language, "open.challenge", title=title, slug=slug, budget=budget, phase=when
            )
        )
        if entry.votes_left == 0:
            reply += Reply.of(catalogue.span(language, "open.budget_spent"))
            continue
        if not entry.ideas:
            reply += Reply.of(catalogue.span(language, "open.none_left"))
            continue
        shown = entry.ideas[:shown_per_challenge]
        reply += Reply.of(
            Items(
                tuple(
                    catalogue.span(
                        language,
                        "open.idea_line",
                        id=idea_ref(idea.id),
                        title=Bold(Text(idea.title)),
                        count=idea.votes,
                        vote=words.typed(language, "vote", idea.id),
                    )
                    for idea in shown
                )
            )
        )
        more = len(entry.ideas) - len(shown)
        if more > 0:
            reply += Reply.of(
                catalogue.span(
                    language,
                    "open.more",
                    count=more,
                    command=words.typed(language, "ideas", challenge.slug),
                )
            )
    return reply
