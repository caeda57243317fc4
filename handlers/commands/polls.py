"""``!poll``: the moderators start a final poll among a challenge's accepted ideas, in its
room, and end it (it also ends by itself at the challenge's last deadline); people answer it,
and the bot's own end event ends it too."""

from __future__ import annotations

from handlers.context import Context
from handlers.effects import Outcome, StartPoll
from handlers.errors import Conflict, NotFound, UsageError
from handlers.incoming import PollAnswered, PollEnded
from handlers.parsing import tokenize
from handlers.policy import Phase, phase, seen_by_all
from handlers.registry import CommandRouter, Kind, Param, Role, convert
from handlers.reply import Bold, Code, Text
from handlers.services.final_polls import (
    MAX_ANSWERS,
    answer_id,
    end_poll,
    ended_by_event,
    ends_polls,
    final_deadline,
    respond,
    result_reply,
)
from handlers.services.lookups import find_challenge
from handlers.services.notifications import Notifier, phase_notices, poll_notices
from storage import Challenge, Idea, IdeaStatus, NoticeKind, PollAnswer

router = CommandRouter()


@router.command(
    "poll",
    names={"nl": "peiling"},
    role=Role.MODERATOR,
    params=(Param("challenge", Kind.SLUG), Param("ideas", Kind.REST, required=False)),
)
async def start_poll(ctx: Context, challenge: str, ideas: str | None) -> Outcome:
    """A poll in the challenge's room among its accepted ideas, or the accepted ones named;
    one answer per person. One poll runs per challenge at a time."""
    target = await find_challenge(ctx, challenge)
    slug = Code(target.slug)
    if target.room_id is None:
        raise Conflict("poll.no_room", slug=slug)
    if phase(target, ctx.now) is Phase.CLOSED or await _last_deadline_fired(ctx, target):
        raise Conflict("poll.closed", slug=slug)
    if await ctx.store.polls.running(target.id) is not None:
        raise Conflict("poll.running", slug=slug, command=ctx.command("poll end", target.slug))
    chosen = await _answers(ctx, target, _idea_numbers(ideas))
    if not chosen:
        raise Conflict("poll.no_ideas", slug=slug)
    if len(chosen) > MAX_ANSWERS:
        raise Conflict("poll.too_many", count=len(chosen), limit=MAX_ANSWERS)
    answers = [
        PollAnswer(answer_id=answer_id(idea.id), idea_id=idea.id, title=idea.title)
        for idea in chosen
    ]
    poll = await ctx.store.polls.start(
        challenge_id=target.id,
        room_id=target.room_id,
        started_by=ctx.sender,
        now=ctx.now,
        answers=answers,
    )
    await ctx.store.audit.record(
        actor=ctx.sender,
        action="poll_start",
        now=ctx.now,
        challenge_id=target.id,
        detail=", ".join(f"#{idea.id}" for idea in chosen),
    )
    language = ctx.settings.language  # the room's language, as for the schedule's messages
    question = ctx.catalogue.plain(language, "poll.question", title=target.title)
    effect = StartPoll(
        poll.id,
        target.room_id,
        question,
        tuple(
            (
                answer.answer_id,
                ctx.catalogue.plain(
                    language, "poll.answer", id=f"#{answer.idea_id}", title=answer.title
                ),
            )
            for answer in answers
        ),
    )
    deadline = final_deadline(target)
    end_command = ctx.command("poll end", target.slug)
    if deadline is None:
        reply = ctx.reply(
            "poll.started", title=Bold(Text(target.title)), count=len(answers), command=end_command
        )
    else:
        reply = ctx.reply(
            "poll.started_until",
            title=Bold(Text(target.title)),
            count=len(answers),
            deadline=ctx.moment(deadline),
            command=end_command,
        )
    followers = await ctx.store.following.challenge_followers(target.id)
    told = await Notifier.of(ctx).tell(
        phase_notices(followers, target, NoticeKind.POLL_STARTED), ctx.now
    )
    return Outcome(reply, effects=(effect, *told))


@router.command(
    "end",
    parent="poll",
    names={"nl": "einde"},
    aliases=("sluit",),
    role=Role.MODERATOR,
    params=(Param("challenge", Kind.SLUG, required=False),),
)
async def end_poll_command(ctx: Context, challenge: str | None) -> Outcome:
    """End the challenge's running poll now: its result is counted, kept and posted."""
    target = await find_challenge(ctx, challenge)
    poll = await ctx.store.polls.running(target.id)
    if poll is None:
        raise NotFound("poll.none_running", slug=Code(target.slug))
    # The reply says the result where the command was given; the room and the moderators
    # are told elsewhere.
    ended = await end_poll(
        ctx.store,
        ctx.catalogue,
        ctx.settings,
        poll,
        ctx.now,
        post_in_room=ctx.room_id != poll.room_id,
        announce=ctx.room_id != ctx.settings.moderation_room,
        links=ctx.links,
    )
    result = await ctx.store.polls.result(poll.id)
    if ended is None or result is None:
        raise NotFound("poll.none_running", slug=Code(target.slug))
    await ctx.store.audit.record(
        actor=ctx.sender, action="poll_end", now=ctx.now, challenge_id=target.id
    )
    told = await Notifier.of(ctx).tell(await poll_notices(ctx.store, target, poll.id), ctx.now)
    return Outcome(
        result_reply(ctx.catalogue, ctx.locale, target, result, ctx.links),
        effects=(*ended.effects, *told),
    )


@router.on(PollAnswered, needs_identity=True)
async def poll_answered(ctx: Context, event: PollAnswered) -> Outcome | None:
    return await respond(
        ctx, event.poll_event_id, event.response_event_id, event.answers, event.sent_ms
    )


# Not limited: it is the bot's own doing (its account ended the poll), never a flood.
@router.on(PollEnded, limited=False)
async def poll_ended(ctx: Context, event: PollEnded) -> Outcome | None:
    return await ended_by_event(ctx, event.poll_event_id, event.ended_at)


def _idea_numbers(text: str | None) -> list[int]:
    """The idea numbers typed after the challenge (``3 #4 5``), each once, in order."""
    numbers: list[int] = []
    for token in tokenize(text or ""):
        for part in filter(None, token.value.split(",")):
            try:
                number = convert(Kind.IDEA, part)
            except ValueError:
                raise UsageError("error.bad_idea", value=part) from None
            if number not in numbers:
                numbers.append(number)
    return numbers


async def _answers(ctx: Context, challenge: Challenge, numbers: list[int]) -> list[Idea]:
    """The challenge's accepted ideas that everyone sees, or those of ``numbers``: refused
    when one of them is not such an idea of this challenge."""
    if not numbers:
        return [
            idea
            for idea in await ctx.store.ideas.in_challenge(challenge.id)
            if _eligible(idea, challenge)
        ]
    found: list[Idea] = []
    refused: list[int] = []
    for number in numbers:
        idea = await ctx.store.ideas.get(number)
        if idea is None or idea.challenge_id != challenge.id or not _eligible(idea, challenge):
            refused.append(number)
        else:
            found.append(idea)
    if refused:
        raise Conflict(
            "poll.not_accepted",
            ids=Code(", ".join(f"#{number}" for number in refused)),
            slug=Code(challenge.slug),
        )
    return found


def _eligible(idea: Idea, challenge: Challenge) -> bool:
    return idea.status is IdeaStatus.ACCEPTED and seen_by_all(idea, challenge)


async def _last_deadline_fired(ctx: Context, challenge: Challenge) -> bool:
    """Whether the closing at the challenge's last deadline has fired already: a poll
    started after it would never end by itself."""
    return any(
        done and ends_polls(kind, challenge)
        for kind, _deadline, done in await ctx.store.schedule.of_challenge(challenge.id)
    )
