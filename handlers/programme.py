"""The programme's calendar: deadlines typed in the programme's time zone, the schedule of
what the bot does by itself at them (reminders, closings with a summary), and those firings.

A phase closes on time by itself: :func:`handlers.policy.phase` compares the command's time
with the deadline. What the schedule adds is what people are told: a reminder
``programme.reminder_hours`` before each deadline, and a summary when a phase closes. The bot's
sweeper calls :func:`fire_due` every few seconds, in a transaction that also queues the
messages and marks each firing done: each is said once, also after downtime (a deadline that
passed while the bot was stopped fires at the first sweep after its start).

A moderator's ``!challenge close`` and ``!challenge open`` go through :func:`status_changed`:
closing by hand posts the same summary as a deadline does; while a challenge is closed by hand
its firings that come due are passed over for good; reopening it plans again what is still ahead
(a reminder whose time came while it was closed is not said late). Each change of phase also
moves the challenge's room among the Space's children (:func:`space_order`).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.command_words import CommandWords
from handlers.effects import Announce, Effect, Outcome, PlaceInSpace, SendRoom
from handlers.i18n import Catalogue, Moment
from handlers.policy import Phase, listed, phase, seen_by_all
from handlers.public_links import PublicLinks, link
from handlers.reply import Bold, Code, Inline, Items, Reply, Text
from handlers.services.final_polls import end_poll, ends_polls
from handlers.services.notifications import Notifier, phase_notices, poll_notices
from handlers.services.reminders import personal_reminders, reminds_last_deadline
from handlers.services.vote_counts import votes_by_standing
from handlers.settings import BotSettings, ProgrammeSettings
from storage import Challenge, Firing, IdeaStatus, Notice, NoticeKind, ScheduleKind, Store

#: How many ideas a closing summary names.
TOP_IDEAS = 3

#: Where a challenge's room stands among the Space's children (``m.space.child`` ``order``,
#: sorted as strings): open for ideas first, then those open for votes only, closed ones last.
SPACE_ORDER = {Phase.SUBMISSIONS: "a", Phase.VOTING: "b", Phase.CLOSED: "z"}


def space_order(challenge: Challenge, now: datetime) -> str:
    """The challenge room's ``order`` in the programme's Space at ``now``."""
    return SPACE_ORDER[phase(challenge, now)]


def place_in_space(challenge: Challenge, now: datetime) -> PlaceInSpace:
    return PlaceInSpace(challenge.id, space_order(challenge, now))


def to_instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A deadline as typed (a date: the end of that day; or a date and time) in ``zone``, as
    an instant in UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).astimezone(UTC)
    return datetime.combine(value + timedelta(days=1), time(0), zone).astimezone(UTC)


async def plan(store: Store, challenge: Challenge) -> None:
    """Bring the challenge's schedule in line with its deadlines (after creating or editing
    it): a moved deadline fires anew, one that did not move keeps what it did."""
    submissions = challenge.submission_deadline_at
    voting = challenge.voting_deadline_at
    for kind, deadline in (
        (ScheduleKind.REMINDER_SUBMISSION, submissions),
        (ScheduleKind.CLOSE_SUBMISSION, submissions),
        (ScheduleKind.REMINDER_VOTING, voting),
        (ScheduleKind.CLOSE_VOTING, voting),
    ):
        await store.schedule.plan(challenge.id, kind, deadline)


def phase_text(
    catalogue: Catalogue, locale: str, challenge: Challenge, now: datetime, zone: str
) -> Inline:
    """The phase the challenge is in now, with the deadline that ends it."""
    current = phase(challenge, now)
    if current is Phase.SUBMISSIONS and challenge.submission_deadline_at is not None:
        deadline = Moment(challenge.submission_deadline_at, zone)
        if challenge.voting_deadline_at is None:
            return catalogue.span(locale, "programme.open_until", deadline=deadline)
        return catalogue.span(
            locale,
            "programme.submissions_until",
            deadline=deadline,
            voting_deadline=Moment(challenge.voting_deadline_at, zone),
        )
    if current is Phase.VOTING and challenge.voting_deadline_at is not None:
        return catalogue.span(
            locale, "programme.voting_until", deadline=Moment(challenge.voting_deadline_at, zone)
        )
    if current is Phase.CLOSED:
        return catalogue.span(locale, "challenge.status_closed")
    return catalogue.span(locale, "challenge.status_open")  # open, without a deadline


async def fire_due(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    programme: ProgrammeSettings,
    now: datetime,
    *,
    words: CommandWords,
    links: PublicLinks | None = None,
) -> list[Outcome]:
    """Carry out every firing of the schedule that is due at ``now``, each once.

    Call inside a transaction, and queue the outcomes (effects only: messages to challenge
    rooms, the moderation room and people's direct chats) in that same transaction: a firing
    is marked done with the messages it causes, or not at all.

    Besides the room's reminder, the reminder before the last deadline reminds each person
    who took part and still has something open (:mod:`handlers.services.reminders`); a
    closing tells the challenge's followers (:mod:`handlers.services.notifications`).
    """
    notifier = Notifier(store, catalogue, settings, programme, words)
    outcomes: list[Outcome] = []
    lead = timedelta(hours=programme.reminder_hours)
    for firing in await store.schedule.due(now, lead):
        if not await store.schedule.mark_done(firing, now):
            continue
        challenge = await store.challenges.get(firing.challenge_id)
        if challenge is None:
            continue
        # What followers hear of this firing: one message each (the poll's end with the close).
        notices: list[Notice] = []
        if not firing.kind.is_reminder and ends_polls(firing.kind, challenge):
            # The last deadline ends a running poll, even of a challenge closed by hand.
            running = await store.polls.running(challenge.id)
            if running is not None:
                ended = await end_poll(
                    store, catalogue, settings, running, firing.deadline_at, links=links
                )
                if ended is not None:
                    outcomes.append(ended)
                    notices += await poll_notices(store, challenge, running.id)
        # Closed by hand: passed over for good (reopening plans again what is still ahead).
        if not challenge.is_open:
            if notices:
                outcomes.append(Outcome(effects=tuple(await notifier.tell(notices, now))))
            continue
        if firing.kind.is_reminder:
            if now >= firing.deadline_at:  # too late to remind: the closing says it all
                continue
            outcome = _reminder(catalogue, settings, programme, challenge, firing, words)
            if reminds_last_deadline(firing.kind, challenge):
                personal = await personal_reminders(notifier, challenge, firing.deadline_at)
                outcome = Outcome(effects=(*outcome.effects, *personal))
        else:
            if (
                firing.kind is ScheduleKind.CLOSE_SUBMISSION
                and challenge.voting_deadline_at is not None
                and now >= challenge.voting_deadline_at
            ):
                continue  # voting has ended too (after downtime): its closing says it all
            submissions_only = (
                firing.kind is ScheduleKind.CLOSE_SUBMISSION
                and challenge.voting_deadline_at is not None
            )
            effects = await closing_summary(
                store,
                catalogue,
                settings,
                programme,
                challenge,
                submissions_only=submissions_only,
                links=links,
            )
            if challenge.room_id is not None:
                effects = (*effects, place_in_space(challenge, now))
            kind = NoticeKind.SUBMISSIONS_CLOSED if submissions_only else NoticeKind.CLOSED
            followers = await store.following.challenge_followers(challenge.id)
            notices = phase_notices(followers, challenge, kind) + notices
            outcome = Outcome(effects=(*effects, *await notifier.tell(notices, now)))
        if outcome.effects:
            outcomes.append(outcome)
    return outcomes


def _reminder(
    catalogue: Catalogue,
    settings: BotSettings,
    programme: ProgrammeSettings,
    challenge: Challenge,
    firing: Firing,
    words: CommandWords,
) -> Outcome:
    if challenge.room_id is None:
        return Outcome()
    voting = firing.kind is ScheduleKind.REMINDER_VOTING
    key = "programme.reminder_voting" if voting else "programme.reminder_submission"
    language = settings.language
    command = (
        words.typed(language, "ideas", challenge.slug) if voting else words.typed(language, "idea")
    )
    text = catalogue.span(
        settings.language,
        key,
        title=Bold(Text(challenge.title)),
        deadline=Moment(firing.deadline_at, programme.timezone),
        command=command,
    )
    return Outcome(effects=(SendRoom(challenge.room_id, Reply.of(text)),))


async def status_changed(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    programme: ProgrammeSettings,
    before: Challenge,
    after: Challenge,
    now: datetime,
    *,
    links: PublicLinks | None = None,
    words: CommandWords,
) -> tuple[Effect, ...]:
    """What follows a moderator's ``!challenge close`` or ``!challenge open`` (``before`` and
    ``after`` the change of status; call in its transaction).

    Closing a challenge that was still open posts the closing summary in its room and the
    moderation room, as its deadline would have. Reopening plans the schedule again: deadlines
    still ahead remind and close as planned; what came due while it was closed is not said
    late. Either way the room takes its new place in the Space.
    """
    effects: list[Effect] = []
    if not after.is_open:
        if phase(before, now) is not Phase.CLOSED:
            effects.extend(
                await closing_summary(
                    store,
                    catalogue,
                    settings,
                    programme,
                    after,
                    submissions_only=False,
                    links=links,
                )
            )
            followers = await store.following.challenge_followers(after.id)
            notifier = Notifier(store, catalogue, settings, programme, words)
            effects.extend(
                await notifier.tell(phase_notices(followers, after, NoticeKind.CLOSED), now)
            )
    else:
        await store.schedule.reopen(
            after.id, now, reminder_lead=timedelta(hours=programme.reminder_hours)
        )
    if after.room_id is not None:
        effects.append(place_in_space(after, now))
    return tuple(effects)


async def closing_summary(
    store: Store,
    catalogue: Catalogue,
    settings: BotSettings,
    programme: ProgrammeSettings,
    challenge: Challenge,
    *,
    submissions_only: bool,
    links: PublicLinks | None = None,
) -> tuple[Effect, ...]:
    """What closes (submissions only, or the whole challenge) and the summary of where it
    stands: for the challenge's room, and (counting what only moderators see) for theirs; with
    the public report's address configured, a link to the challenge's page."""
    language = settings.language
    title = Bold(Text(challenge.title))
    if submissions_only and challenge.voting_deadline_at is not None:
        headline = catalogue.span(
            language,
            "programme.submissions_closed",
            title=title,
            deadline=Moment(challenge.voting_deadline_at, programme.timezone),
        )
    else:
        headline = catalogue.span(language, "programme.closed", title=title)
    ideas = await store.ideas.in_challenge(challenge.id)
    participants = await store.ideas.participants(challenge.id)
    public = [idea for idea in ideas if seen_by_all(idea, challenge)]
    top = [idea for idea in ideas if listed(idea, challenge)][:TOP_IDEAS]

    def summary(counted: list[IdeaStatus]) -> Reply:
        by_status = Counter(counted)
        if not counted:
            return Reply.of(headline, catalogue.span(language, "programme.summary_no_ideas"))
        reply = Reply.of(
            headline,
            catalogue.span(language, "programme.summary_ideas", count=len(counted)),
        )
        if by_status:
            reply += Reply.of(
                Items(
                    tuple(
                        catalogue.span(language, "programme.summary_status", status=status, count=n)
                        for status in IdeaStatus
                        if (n := by_status[status])
                    )
                )
            )
        if top:
            reply += Reply.of(
                catalogue.span(language, "programme.summary_top", count=len(top)),
                Items(
                    tuple(
                        catalogue.span(
                            language,
                            "programme.summary_top_line",
                            id=Code(f"#{idea.id}"),
                            title=Bold(Text(idea.title)),
                            count=idea.votes,
                        )
                        for idea in top
                    )
                ),
            )
        reply += Reply.of(
            catalogue.span(language, "programme.summary_participants", count=participants)
        )
        url = None if links is None else links.challenge(challenge)
        if url is not None:
            reply += Reply.of(catalogue.span(language, "links.challenge_page", link=link(url)))
        return reply

    effects: list[Effect] = []
    if challenge.room_id is not None:
        effects.append(SendRoom(challenge.room_id, summary([idea.status for idea in public])))
    # The moderators' count includes what only they see: hidden and not yet let through;
    # and where the votes came from (verified people, listed servers, other accounts).
    moderators = Reply.of(Code(challenge.slug)) + summary([idea.status for idea in ideas])
    votes = await store.votes.by_standing(challenge_id=challenge.id)
    moderators += Reply.of(votes_by_standing(catalogue, language, votes))
    effects.append(Announce(moderators))
    return tuple(effects)
