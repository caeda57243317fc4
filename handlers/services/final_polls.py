"""Final polls among a challenge's ideas (MSC3381): which answers a poll has, how a response
is read, and what its end says. Transport-free: the bot layer builds and sends the events.

A poll ends once: at the challenge's last deadline (its voting deadline, or the submission
deadline when there is none) through the programme's schedule, with ``!poll end``, or with a
poll end event the bot itself sent. Its result is written down at that moment (the counting
rule is ``storage.poll_records``'), and a response that comes later, or was sent after the last
deadline, is not counted.
"""

from __future__ import annotations

from datetime import datetime

from handlers import policy
from handlers.context import Context
from handlers.effects import Announce, Effect, EndPoll, Outcome, SendDirect, SendRoom
from handlers.i18n import Catalogue
from handlers.policy import Action, Person
from handlers.public_links import PublicLinks, link
from handlers.reply import Bold, Code, Items, Reply, Text
from handlers.services.notifications import Notifier, poll_notices
from handlers.settings import BotSettings
from storage import Challenge, Poll, PollResult, ScheduleKind, Store
from storage.timestamps import to_ms

#: Element shows no more answers than this, and MSC3381 truncates a poll to it.
MAX_ANSWERS = 20
#: Every poll the bot starts lets each person choose one answer.
MAX_SELECTIONS = 1


def answer_id(idea_id: int) -> str:
    """The opaque id of an idea's answer in the poll events."""
    return f"idea-{idea_id}"


def final_deadline(challenge: Challenge) -> datetime | None:
    """When a poll of the challenge ends by itself: its last deadline, if it has one."""
    return challenge.voting_deadline_at or challenge.submission_deadline_at


def ends_polls(kind: ScheduleKind, challenge: Challenge) -> bool:
    """Whether this closing of the schedule is the challenge's last deadline."""
    if kind is ScheduleKind.CLOSE_VOTING:
        return True
    return kind is ScheduleKind.CLOSE_SUBMISSION and challenge.voting_deadline_at is None


async def _started_here(ctx: Context, poll: Poll, start_event_id: str) -> bool:
    """Whether ``start_event_id`` started the poll in the room the event came from (a challenge
    on both networks starts its poll in each of its rooms)."""
    return await ctx.store.polls.start_event_in(poll.id, ctx.room_id) == start_event_id


async def respond(
    ctx: Context, start_event_id: str, event_id: str, answers: tuple[str, ...], sent_ms: int
) -> Outcome | None:
    """A person's response (event ``event_id``) to a poll of the bot's; nothing is said back
    in the room (a poll is answered by the click itself).

    Responses to other polls, to an ended poll, or sent after the last deadline change
    nothing. Of the answers the first counts (one per person); an empty response withdraws,
    and one naming an answer the poll does not have is spoiled: it counts for nothing, and
    replaces the person's earlier answer, as MSC3381 says. Whether the answer counts toward
    the result is the policy's (:func:`handlers.policy.not_counted`, as for a vote); one that
    does not is kept all the same (it replaces the earlier one), and its person hears why in
    their own direct chat, once per poll.
    """
    poll = await ctx.store.polls.by_start_event(start_event_id)
    if poll is None or not poll.running or not await _started_here(ctx, poll, start_event_id):
        return None
    challenge = await ctx.store.challenges.get(poll.challenge_id)
    if challenge is None:
        return None
    deadline = final_deadline(challenge)
    if deadline is not None and sent_ms > to_ms(deadline):
        return None
    known = {answer.answer_id for answer in await ctx.store.polls.answers(poll.id)}
    chosen = answers[:MAX_SELECTIONS]
    blocked = await ctx.store.blocks.is_blocked(ctx.sender)
    who = Person(ctx.sender, is_moderator=ctx.is_moderator, blocked=blocked, identity=ctx.identity)
    refused = policy.not_counted(Action.ANSWER, who, challenge, ctx.participation)
    recorded = await ctx.store.polls.record_response(
        poll.id,
        ctx.sender,
        event_id=event_id,
        sent_ms=sent_ms,
        answer_id=chosen[0] if chosen and chosen[0] in known else None,
        standing=ctx.identity.standing,
        identity=ctx.identity.key,
        counted=refused is None,
    )
    if refused is None or not recorded or not await ctx.store.polls.tell_once(poll.id, ctx.sender):
        return None
    told = ctx.reply(
        "poll.answer_not_counted",
        slug=Code(challenge.slug),
        reason=ctx.t(refused.key, **refused.params),
    )
    return Outcome(effects=(SendDirect(ctx.sender, told),))


async def ended_by_event(ctx: Context, start_event_id: str, at: datetime) -> Outcome | None:
    """The bot's own poll end event (sent by the bot, or by someone with its account): a poll
    still running ends at that event's time. The end the bot sent itself finds it ended."""
    poll = await ctx.store.polls.by_start_event(start_event_id)
    if poll is None or not poll.running or not await _started_here(ctx, poll, start_event_id):
        return None
    ended = await end_poll(
        ctx.store, ctx.catalogue, ctx.settings, poll, at, send_end_event=False, links=ctx.links
    )
    challenge = await ctx.store.challenges.get(poll.challenge_id)
    if ended is None or challenge is None:
        return ended
    told = await Notifier.of(ctx).tell(await poll_notices(ctx.store, challenge, poll.id), ctx.now)
    return Outcome(effects=(*ended.effects, *told))


async def end_poll(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    poll: Poll,
    at: datetime,
    *,
    send_end_event: bool = True,
    post_in_room: bool = True,
    announce: bool = True,
    links: PublicLinks | None = None,
) -> Outcome | None:
    """End the poll at ``at``: count, keep the result, and say it: the poll's end event with
    the result as its text, the result as a message in the room (``post_in_room``) and to
    the moderators (``announce``). None when the poll had ended already. Call inside a
    transaction and queue the outcome in it."""
    result = await store.polls.end(poll.id, at)
    challenge = await store.challenges.get(poll.challenge_id)
    if result is None or challenge is None:
        return None
    summary = result_reply(catalogue, settings.language, challenge, result, links)
    effects: list[Effect] = []
    if send_end_event:
        effects.append(EndPoll(poll.id, poll.room_id, summary))
    if post_in_room:
        effects.append(SendRoom(poll.room_id, summary))
    if announce:
        effects.append(Announce(Reply.of(Code(challenge.slug)) + summary))
    return Outcome(effects=tuple(effects))


def ranked(result: PollResult) -> list[tuple[int, int, str]]:
    """(count, idea, title) of each answer, most chosen first; a tie keeps the poll's order."""
    order = sorted(enumerate(result.answers), key=lambda entry: (-entry[1].count, entry[0]))
    return [(answer.count, answer.idea_id, answer.title) for _position, answer in order]


def result_reply(
    catalogue: Catalogue,
    language: str,
    challenge: Challenge,
    result: PollResult,
    links: PublicLinks | None = None,
) -> Reply:
    """The result in words: how many answered, and each answer's count, most chosen first;
    with the public report's address configured, a link to the poll on the challenge's page."""
    title = Bold(Text(challenge.title))
    header_key = "poll.result_header" if result.ended_at is not None else "poll.standing_header"
    reply = Reply.of(catalogue.span(language, header_key, title=title, count=result.voters))
    lines = ranked(result)
    if lines:
        reply += Reply.of(
            Items(
                tuple(
                    catalogue.span(
                        language,
                        "poll.result_line",
                        id=Code(f"#{idea_id}"),
                        title=Bold(Text(answer_title)),
                        count=count,
                    )
                    for count, idea_id, answer_title in lines
                )
            )
        )
    top = [line for line in lines if line[0] == lines[0][0]] if lines and lines[0][0] else []
    if len(top) == 1:
        reply += Reply.of(catalogue.span(language, "poll.result_top", title=Bold(Text(top[0][2]))))
    elif top:
        reply += Reply.of(catalogue.span(language, "poll.result_tie", count=len(top)))
    url = None if links is None else links.poll(challenge)
    if url is not None:
        reply += Reply.of(catalogue.span(language, "links.challenge_page", link=link(url)))
    return reply
