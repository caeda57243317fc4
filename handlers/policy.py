"""What may happen now: the one place that decides whether a person may see an idea, submit,
vote or take a vote back in a challenge.

The answer depends on the challenge's phase (its status and deadlines, at the moment the
command was sent), pre-moderation, the idea's status and hidden flag, a block, whether the
person is a moderator or the idea's author, and, for submitting and voting, who the challenge
is open to (its eligibility) and what is known of the person's identity: their homeserver, and
whether the city's homeserver verified them (looked up by the bot layer beforehand,
``bot/matrix/identity_lookup.py``). A Discord account counts as what its linked Matrix account
is, and as "other" while it is linked to none (``handlers/accounts.py``). Reading, discussing and asking the bot stay open to all. The commands (``!idea``, ``!vote``, ``!unvote``,
``!edit``, ``!show``) and the reaction path (a 👍 added or removed) all ask here. So do an
answer to a final poll and a report (:func:`not_counted`): both are always taken in, and count
toward a result (the poll's, an idea's automatic hiding) only from people who may take part. What
each idea status means (let through, closed for votes, published) is one table in
``storage/visibility.py``, read here and by the storage queries of what everyone sees:
``tests/handlers/test_policy.py`` checks those against :func:`seen_by_all`, :func:`listed` and
:func:`published` on every combination of status, hidden flag and pre-moderation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from handlers.accounts import is_matrix
from handlers.errors import BotError, Conflict, Forbidden, NotFound
from handlers.i18n import Moment
from handlers.reply import Code
from storage import (
    CLOSED_FOR_VOTES,
    LET_THROUGH,
    NOT_PUBLISHED,
    Challenge,
    Eligibility,
    Idea,
    Standing,
    Verification,
)


class Phase(StrEnum):
    #: Ideas come in, and votes too.
    SUBMISSIONS = "submissions"
    #: After the submission deadline, before the voting deadline: votes only.
    VOTING = "voting"
    #: Closed by a moderator, or past its last deadline.
    CLOSED = "closed"


class Action(StrEnum):
    SEE = "see"
    SUBMIT = "submit"
    VOTE = "vote"
    UNVOTE = "unvote"
    #: Answer a final poll (it counts toward the poll's result).
    ANSWER = "answer"
    #: Report an idea (it counts toward hiding the idea automatically).
    REPORT = "report"


def server_of(user_id: str) -> str:
    """The homeserver of a Matrix ID (``@alice:gent.be`` -> ``gent.be``)."""
    return user_id.partition(":")[2]


@dataclass(frozen=True)
class Identity:
    """What is known of who a person is when their command comes."""

    #: Their account is on one of the listed homeservers.
    listed: bool = False
    #: The city's homeserver's answer (fresh: within the cache time), if it was asked and
    #: answered, or is not asked (no admin token, an account elsewhere): None.
    verification: Verification | None = None
    #: It had to be asked and gave no answer, and no fresh answer was kept: nobody can tell
    #: now whether the person is verified.
    unavailable: bool = False
    #: Of an account linked to another (a Discord account and a Matrix account): the key the
    #: two share (the verified identity's, when they were linked by a verified account).
    linked_key: str | None = None
    #: Of an account that can be verified only through a linked Matrix account and is linked
    #: to none (a Discord account): what to type to link it, in the person's language.
    link_with: Code | None = None

    @property
    def verified_by(self) -> str | None:
        return None if self.verification is None else self.verification.provider

    @property
    def verified_key(self) -> str | None:
        """The keyed hash of the verified identity, if the person is verified."""
        if self.verification is None or self.verification.provider is None:
            return None
        return self.verification.identity

    @property
    def key(self) -> str | None:
        """What makes several accounts one person: the verified identity's keyed hash, or
        else the key of a link between two accounts. None: the account is a person alone."""
        return self.verified_key or self.linked_key

    @property
    def standing(self) -> Standing:
        if self.verified_key is not None:
            return Standing.VERIFIED
        return Standing.LISTED if self.listed else Standing.OTHER

    def is_new(self, now: datetime, minutes: int) -> bool:
        """Whether the account was made less than ``minutes`` before ``now``."""
        made = None if self.verification is None else self.verification.account_created_at
        return made is not None and now - made < timedelta(minutes=minutes)


@dataclass(frozen=True)
class Participation:
    """The programme's rules of who may take part, as the policy needs them."""

    #: For a challenge that does not say.
    default: Eligibility = Eligibility.ANYONE
    #: The listed homeservers (the bot's own, when the config lists none).
    servers: tuple[str, ...] = ()
    #: The city's homeserver, where people are verified.
    home: str = ""

    def of(self, challenge: Challenge) -> Eligibility:
        return challenge.eligibility or self.default

    def is_listed(self, user_id: str) -> bool:
        """Whether a Matrix account is on a listed homeserver (an account of another network
        never is: it counts as its linked Matrix account, :func:`handlers.accounts`)."""
        return is_matrix(user_id) and server_of(user_id) in self.servers


@dataclass(frozen=True)
class Person:
    """Who asks, as far as the rules care."""

    user_id: str
    is_moderator: bool = False
    blocked: bool = False
    identity: Identity = field(default_factory=Identity)


def phase(challenge: Challenge, now: datetime) -> Phase:
    """The challenge's phase at ``now`` (an aware datetime): deadlines are instants in UTC."""
    if not challenge.is_open:
        return Phase.CLOSED
    submissions_end = challenge.submission_deadline_at
    if submissions_end is None or now < submissions_end:
        return Phase.SUBMISSIONS
    voting_end = challenge.voting_deadline_at
    if voting_end is not None and now < voting_end:
        return Phase.VOTING
    return Phase.CLOSED


def seen_by_all(idea: Idea, challenge: Challenge) -> bool:
    """Whether everyone may see the idea: not hidden, and let through where that is needed."""
    return not idea.hidden and (not challenge.premoderated or idea.status in LET_THROUGH)


def listed(idea: Idea, challenge: Challenge) -> bool:
    """Whether the idea is in the lists and counts everyone sees (``!ideas``, ``!challenges``,
    a closing summary's top): seen by all, and still in the running."""
    return seen_by_all(idea, challenge) and idea.status not in CLOSED_FOR_VOTES


def published(idea: Idea, challenge: Challenge) -> bool:
    """Whether the idea goes into the open-data export: seen by all, and not withdrawn."""
    return seen_by_all(idea, challenge) and idea.status not in NOT_PUBLISHED


def can_see(person: Person, idea: Idea, challenge: Challenge) -> bool:
    """Hidden ideas, and those of a pre-moderated challenge until a moderator let them through,
    are seen only by moderators and their author."""
    return person.is_moderator or idea.author == person.user_id or seen_by_all(idea, challenge)


def refusal(
    action: Action,
    person: Person,
    challenge: Challenge,
    now: datetime,
    *,
    timezone: str,
    idea: Idea | None = None,
    participation: Participation | None = None,
) -> BotError | None:
    """Why ``person`` may not do ``action`` now (an error to reply with), or None if they may.

    ``idea`` is needed for SEE, VOTE and UNVOTE. ``timezone`` is the programme's, in which a
    passed deadline is shown. With ``participation``, whether the person may take part in the
    challenge (:func:`ineligible`) is judged too, for SUBMIT and VOTE; without it, only the
    rest (``!show`` asks so whether an idea takes votes at all).
    """
    if idea is not None and not can_see(person, idea, challenge):
        return NotFound("error.no_such_idea", id=Code(f"#{idea.id}"))
    if action is Action.SEE:
        return None
    if person.blocked and action in (Action.SUBMIT, Action.VOTE):
        return Forbidden("error.blocked")
    current = phase(challenge, now)
    wanted = (Phase.SUBMISSIONS,) if action is Action.SUBMIT else (Phase.SUBMISSIONS, Phase.VOTING)
    if current not in wanted:
        return _closed(challenge, now, timezone)
    if participation is not None and action in (Action.SUBMIT, Action.VOTE):
        refused = ineligible(person.identity, challenge, participation)
        if refused is not None:
            return refused
    if action is Action.VOTE and idea is not None:
        if not seen_by_all(idea, challenge):
            return Conflict("vote.hidden", id=Code(f"#{idea.id}"))
        if idea.status in CLOSED_FOR_VOTES:
            return Conflict("vote.not_votable", id=Code(f"#{idea.id}"), status=idea.status)
    return None


def require(
    action: Action,
    person: Person,
    challenge: Challenge,
    now: datetime,
    *,
    timezone: str,
    idea: Idea | None = None,
    participation: Participation | None = None,
) -> None:
    """Raise the :func:`refusal`, if there is one."""
    error = refusal(
        action, person, challenge, now, timezone=timezone, idea=idea, participation=participation
    )
    if error is not None:
        raise error


def ineligible(
    identity: Identity, challenge: Challenge, participation: Participation
) -> BotError | None:
    """Why a person may not submit or vote in the challenge, with how to become eligible; None
    if they may. A verified person may take part wherever listed servers may."""
    wanted = participation.of(challenge)
    slug = Code(challenge.slug)
    if wanted is Eligibility.ANYONE or identity.verified_key is not None:
        return None
    if wanted is Eligibility.LISTED and identity.listed:
        return None
    if identity.unavailable:
        return Conflict("identity.unavailable")
    if identity.link_with is not None:
        # A Discord account: it takes part as the Matrix account it is linked to.
        listed_only = wanted is Eligibility.LISTED
        return Forbidden(
            "identity.link_to_listed" if listed_only else "identity.link_to_verified",
            slug=slug,
            servers=Code(", ".join(participation.servers)),
            server=Code(participation.home),
            command=identity.link_with,
        )
    if wanted is Eligibility.LISTED:
        servers = Code(", ".join(participation.servers))
        return Forbidden("identity.not_listed", slug=slug, servers=servers)
    return Forbidden("identity.not_verified", slug=slug, server=Code(participation.home))


def not_counted(
    action: Action, person: Person, challenge: Challenge, participation: Participation
) -> BotError | None:
    """Why what ``person`` did (ANSWER or REPORT) in the challenge does not count toward a
    result, or None if it does: the same rules as for a vote, a block and who may take part
    (:func:`ineligible`). It is kept either way: a report still reaches the moderators, and a
    poll answer that does not count still replaces the person's earlier one. Accounts of one
    identity or link (:attr:`Identity.key`) are one person; the counting (``storage``) sees to
    that.
    """
    assert action in (Action.ANSWER, Action.REPORT)
    if person.blocked:
        return Forbidden("error.blocked")
    return ineligible(person.identity, challenge, participation)


def _closed(challenge: Challenge, now: datetime, timezone: str) -> BotError:
    """Why the challenge takes nothing (more) of this kind: closed, or which deadline passed."""
    slug = Code(challenge.slug)
    if not challenge.is_open:
        return Conflict("error.challenge_closed", slug=slug)
    voting_end = challenge.voting_deadline_at
    if voting_end is not None and now >= voting_end:
        return Conflict(
            "error.voting_deadline_passed", slug=slug, deadline=Moment(voting_end, timezone)
        )
    assert challenge.submission_deadline_at is not None
    deadline = Moment(challenge.submission_deadline_at, timezone)
    if voting_end is not None:  # submissions closed, voting still open
        return Conflict(
            "error.submissions_closed",
            slug=slug,
            deadline=deadline,
            voting_deadline=Moment(voting_end, timezone),
        )
    return Conflict("error.deadline_passed", slug=slug, deadline=deadline)
