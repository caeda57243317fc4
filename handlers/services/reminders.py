"""Personal reminders before a challenge's last deadline (when its votes and its poll end):
each person who took part in it and still has something open gets one message in their
direct chat, saying what: votes left in their budget (or, without a budget, no vote yet) on
ideas they can still vote for, and the running poll they have not answered. Nobody who used
their votes and answered is reminded; ``!notifications off`` stops it. The room's reminder
(:mod:`handlers.programme`) is said as well.
"""

from __future__ import annotations

from datetime import datetime

from handlers.effects import Effect, SendDirect
from handlers.i18n import Moment
from handlers.policy import listed
from handlers.reply import Bold, Inline, Items, Reply, Text
from handlers.services.notifications import Notifier, frequency_word
from storage import Challenge, Frequency, ScheduleKind


def reminds_last_deadline(kind: ScheduleKind, challenge: Challenge) -> bool:
    """Whether this reminder of the schedule comes before the challenge's last deadline."""
    if kind is ScheduleKind.REMINDER_VOTING:
        return True
    return kind is ScheduleKind.REMINDER_SUBMISSION and challenge.voting_deadline_at is None


async def personal_reminders(
    notifier: Notifier, challenge: Challenge, deadline: datetime
) -> list[Effect]:
    """One message to each participant with something still open before ``deadline``."""
    store = notifier.store
    poll = await store.polls.running(challenge.id)
    answered = set() if poll is None else await store.polls.answered(poll.id)
    votable = [
        idea.id for idea in await store.ideas.in_challenge(challenge.id) if listed(idea, challenge)
    ]
    effects: list[Effect] = []
    for user_id in await store.following.participants(challenge.id):
        if await store.following.frequency(user_id) is Frequency.OFF:
            continue
        if await store.blocks.is_blocked(user_id):
            continue
        language = await store.users.language(user_id) or notifier.settings.language
        span = notifier.catalogue.span
        voted = await store.votes.voted_in_challenge(user_id, challenge.id)
        still_open = [idea for idea in votable if idea not in voted]
        ideas = notifier.words.typed(language, "ideas", challenge.slug)
        lines: list[Inline] = []
        if still_open:
            budget = challenge.vote_budget
            if budget is not None:
                left = budget - await store.votes.used_in_challenge(user_id, challenge.id)
                if left > 0:
                    lines.append(
                        span(
                            language,
                            "remind.votes_left",
                            count=left,
                            ideas=len(still_open),
                            command=ideas,
                        )
                    )
            elif not voted:
                lines.append(
                    span(language, "remind.not_voted", ideas=len(still_open), command=ideas)
                )
        if poll is not None and user_id not in answered:
            lines.append(span(language, "remind.poll"))
        if not lines:
            continue
        header = span(
            language,
            "remind.header",
            title=Bold(Text(challenge.title)),
            deadline=Moment(deadline, notifier.programme.timezone),
        )
        footer = span(
            language,
            "remind.footer",
            command=notifier.words.typed(
                language, "notifications", frequency_word(language, Frequency.OFF)
            ),
        )
        effects.append(SendDirect(user_id, Reply.of(header, Items(tuple(lines)), footer)))
    return effects
