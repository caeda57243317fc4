"""Telling people of what they follow (:mod:`storage.follow_records`), as often as they chose
(``!notifications``): at once in their direct chat, in a daily or weekly digest, or not at all.

Everything one event tells one person is one message (:meth:`Notifier.tell` groups by person).
A digest says what waits for the person, grouped per challenge, with the ideas' numbers and
what to do next; none goes to someone with nothing new. Digests go out at
``programme.digest_hour`` in the programme's time zone (weekly ones on
``programme.digest_weekday``): :meth:`Notifier.digests`, called by the sweeper in the
transaction that queues them, records the digest as sent and drops its notices, so each goes
once, also across a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from handlers.command_words import CommandWords
from handlers.effects import Effect, Outcome, SendDirect
from handlers.i18n import Catalogue, Moment
from handlers.policy import Person, Phase, can_see, phase, seen_by_all
from handlers.reply import Block, Bold, Code, Inline, Items, Para, Reply, Text
from handlers.services.lookups import idea_ref, status_text
from handlers.settings import BotSettings, ProgrammeSettings
from storage import Challenge, Frequency, Idea, IdeaStatus, Notice, NoticeKind, Store

#: The frequencies whose digests are sent, and whose notices each takes: a person who chose
#: ``direct`` meanwhile gets what still waited in the next daily digest.
DIGESTS: dict[Frequency, tuple[Frequency, ...]] = {
    Frequency.DAILY: (Frequency.DAILY, Frequency.DIRECT),
    Frequency.WEEKLY: (Frequency.WEEKLY,),
}


#: How each choice is typed in each language (every word works in both).
FREQUENCY_WORDS: dict[str, dict[Frequency, str]] = {
    "nl": {
        Frequency.DIRECT: "direct",
        Frequency.DAILY: "dagelijks",
        Frequency.WEEKLY: "wekelijks",
        Frequency.OFF: "uit",
    },
    "en": {
        Frequency.DIRECT: "direct",
        Frequency.DAILY: "daily",
        Frequency.WEEKLY: "weekly",
        Frequency.OFF: "off",
    },
}


def frequency_word(language: str, frequency: Frequency) -> str:
    return FREQUENCY_WORDS.get(language, FREQUENCY_WORDS["en"])[frequency]


class _Settings(Protocol):
    store: Store
    catalogue: Catalogue
    settings: BotSettings
    programme: ProgrammeSettings
    words: CommandWords


def last_digest_at(programme: ProgrammeSettings, frequency: Frequency, now: datetime) -> datetime:
    """When the latest digest of ``frequency`` was due, at or before ``now`` (in UTC)."""
    zone = programme.zone
    today = now.astimezone(zone).date()
    for back in range(8):
        day = today - timedelta(days=back)
        due = datetime.combine(day, time(programme.digest_hour), zone).astimezone(UTC)
        weekly = frequency is Frequency.WEEKLY
        if due <= now and (not weekly or day.isoweekday() == programme.digest_weekday):
            return due
    raise AssertionError("a digest is due within a week")  # pragma: no cover


@dataclass(frozen=True)
class Notifier:
    store: Store
    catalogue: Catalogue
    settings: BotSettings
    programme: ProgrammeSettings
    words: CommandWords

    @classmethod
    def of(cls, source: _Settings) -> Notifier:
        """From a command's context or the dispatcher: they hold the same."""
        return cls(source.store, source.catalogue, source.settings, source.programme, source.words)

    async def tell(self, notices: Iterable[Notice], now: datetime) -> list[Effect]:
        """Tell each person their notices, as they chose: the direct messages to send now
        (one per person); the others are kept for their digest, or dropped (``off``)."""
        effects: list[Effect] = []
        for user_id, theirs in _by_person(notices).items():
            frequency = await self.store.following.frequency(user_id)
            if frequency is Frequency.OFF:
                continue
            if frequency is Frequency.DIRECT:
                reply = await self._message(user_id, theirs, now, digest=False)
                if reply is not None:
                    effects.append(SendDirect(user_id, reply))
            else:
                await self.store.following.keep(theirs, now)
        return effects

    async def digests(self, now: datetime) -> list[Outcome]:
        """The digests due at ``now``, each once. Call inside a transaction and queue the
        outcomes in it. The first call on a new database only notes the time: the first
        digest goes out at the next hour of digests."""
        outcomes: list[Outcome] = []
        for frequency, takes in DIGESTS.items():
            due = last_digest_at(self.programme, frequency, now)
            key = f"digest:{frequency.value}"
            done = await self.store.state.get(key)
            if done is not None and datetime.fromisoformat(done) >= due:
                continue
            await self.store.state.set(key, due.isoformat())
            if done is None:
                continue
            waiting = await self.store.following.waiting(takes)
            for user_id, theirs in _by_person(waiting).items():
                await self.store.following.drop(n.id for n in theirs if n.id is not None)
                reply = await self._message(user_id, theirs, now, digest=True)
                if reply is not None:
                    outcomes.append(Outcome(effects=(SendDirect(user_id, reply),)))
        return outcomes

    async def _message(
        self, user_id: str, notices: Sequence[Notice], now: datetime, *, digest: bool
    ) -> Reply | None:
        """One message with the notices, per challenge; None when none can be said (an idea
        gone, or out of the person's sight)."""
        language = await self.store.users.language(user_id) or self.settings.language
        blocks: list[Block] = []
        by_challenge: dict[int, list[Notice]] = {}
        for notice in notices:
            by_challenge.setdefault(notice.challenge_id, []).append(notice)
        for challenge_id, theirs in by_challenge.items():
            challenge = await self.store.challenges.get(challenge_id)
            if challenge is None:
                continue
            lines: list[Inline] = []
            seen: set[str] = set()
            for notice in theirs:
                line = await self._line(language, user_id, challenge, notice)
                if line is not None and (key := repr(line)) not in seen:
                    seen.add(key)
                    lines.append(line)
            if not lines:
                continue
            blocks += [
                Para(
                    self.catalogue.span(
                        language,
                        "notify.challenge",
                        title=Bold(Text(challenge.title)),
                        slug=Code(challenge.slug),
                    )
                ),
                Items(tuple(lines)),
                Para(self._next_step(language, challenge, now)),
            ]
        if not blocks:
            return None
        header = "notify.digest_header" if digest else "notify.direct_header"
        footer = self.catalogue.span(
            language, "notify.footer", command=self.words.typed(language, "notifications")
        )
        return Reply((Para(self.catalogue.span(language, header)), *blocks, Para(footer)))

    async def _line(
        self, language: str, user_id: str, challenge: Challenge, notice: Notice
    ) -> Inline | None:
        span = self.catalogue.span
        if notice.kind is NoticeKind.CLOSED:
            return span(language, "notify.closed")
        if notice.kind is NoticeKind.POLL_STARTED:
            return span(language, "notify.poll_started")
        if notice.kind is NoticeKind.POLL_ENDED:
            return span(language, "notify.poll_ended")
        if notice.kind is NoticeKind.SUBMISSIONS_CLOSED:
            if challenge.voting_deadline_at is None:
                return span(language, "notify.closed")
            deadline = Moment(challenge.voting_deadline_at, self.programme.timezone)
            return span(language, "notify.submissions_closed", deadline=deadline)
        idea = None if notice.idea_id is None else await self.store.ideas.get(notice.idea_id)
        if idea is None or not can_see(Person(user_id), idea, challenge):
            return None
        params: dict[str, object] = {"id": idea_ref(idea.id), "title": Bold(Text(idea.title))}
        if notice.original_id is not None:
            params["original"] = idea_ref(notice.original_id)
        match notice.kind:
            case NoticeKind.NEW_IDEA:
                return span(language, "notify.new_idea", **params)
            case NoticeKind.VOTE_MOVED:
                return span(language, "notify.vote_moved", **params)
            case NoticeKind.VOTE_ONCE:
                return span(language, "notify.vote_once", **params)
            case NoticeKind.SUPPORT_REACHED:
                return span(language, "notify.support_reached", **params)
            case NoticeKind.POLL_PLACE if notice.place is not None:
                return span(language, "notify.poll_place", place=notice.place, **params)
            case NoticeKind.STATUS:
                status = notice.status or idea.status
                if status is IdeaStatus.DUPLICATE and "original" in params:
                    return span(language, "notify.duplicate", **params)
                return span(
                    language,
                    "notify.status",
                    status=status_text(self.catalogue, language, status),
                    **params,
                )
        return None

    def _next_step(self, language: str, challenge: Challenge, now: datetime) -> Inline:
        """What the person can do next in the challenge: vote while it takes votes; else
        read where it ended."""
        if phase(challenge, now) is Phase.CLOSED:
            command = self.words.typed(language, "challenge", challenge.slug)
            return self.catalogue.span(language, "notify.next_closed", command=command)
        command = self.words.typed(language, "ideas", challenge.slug)
        return self.catalogue.span(language, "notify.next_vote", command=command)


def _by_person(notices: Iterable[Notice]) -> dict[str, list[Notice]]:
    found: dict[str, list[Notice]] = {}
    for notice in notices:
        found.setdefault(notice.user_id, []).append(notice)
    return found


async def idea_changed(
    notifier: Notifier,
    before: Idea,
    after: Idea,
    challenge: Challenge,
    now: datetime,
    *,
    told: Iterable[str] = (),
) -> list[Effect]:
    """A moderator's decision on an idea (``before`` and ``after`` it): its followers hear of
    its new status, and once it can be seen by all for the first time, the challenge's
    followers hear of a new idea. Those in ``told`` (the author, told already) are left out."""
    if not seen_by_all(after, challenge):
        return []
    left_out = set(told)
    store = notifier.store
    notices = [
        Notice(
            user_id=user_id,
            challenge_id=challenge.id,
            kind=NoticeKind.STATUS,
            idea_id=after.id,
            original_id=after.duplicate_of,
            status=after.status,
        )
        for user_id in await store.following.idea_followers(after.id)
        if user_id not in left_out
    ]
    if not seen_by_all(before, challenge):
        notices += new_idea_notices(await store.following.challenge_followers(challenge.id), after)
    return await notifier.tell(
        [notice for notice in notices if notice.user_id not in left_out], now
    )


def new_idea_notices(followers: Iterable[str], idea: Idea) -> list[Notice]:
    """A new idea, for the challenge's followers (its author apart)."""
    return [
        Notice(
            user_id=user_id,
            challenge_id=idea.challenge_id,
            kind=NoticeKind.NEW_IDEA,
            idea_id=idea.id,
        )
        for user_id in followers
        if user_id != idea.author
    ]


def phase_notices(followers: Iterable[str], challenge: Challenge, kind: NoticeKind) -> list[Notice]:
    """A followed challenge closed (for ideas, or for good)."""
    return [Notice(user_id=user_id, challenge_id=challenge.id, kind=kind) for user_id in followers]


async def poll_notices(store: Store, challenge: Challenge, poll_id: int) -> list[Notice]:
    """A final poll ended: the challenge's followers hear that it did, each idea's followers
    where it finished (1 + how many answers had more votes)."""
    result = await store.polls.result(poll_id)
    if result is None:
        return []
    followers = await store.following.challenge_followers(challenge.id)
    notices = phase_notices(followers, challenge, NoticeKind.POLL_ENDED)
    counts = [answer.count for answer in result.answers]
    for answer in result.answers:
        place = 1 + sum(1 for count in counts if count > answer.count)
        notices += [
            Notice(
                user_id=user_id,
                challenge_id=challenge.id,
                kind=NoticeKind.POLL_PLACE,
                idea_id=answer.idea_id,
                place=place,
            )
            for user_id in await store.following.idea_followers(answer.idea_id)
        ]
    return notices
