"""What a handler asks the bot to do on Matrix. Handlers return these; they never send anything."""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.reply import Reply


@dataclass(frozen=True)
class SendDirect:
    """A message to one person in their direct chat with the bot; ``about_idea``: the idea it
    concerns, where a front end that cannot reach the person directly tells them instead."""

    user_id: str
    reply: Reply
    about_idea: int | None = None


@dataclass(frozen=True)
class SendDirectFile:
    """A file (a person's own data) sent to them in their direct chat, with a message."""

    user_id: str
    filename: str
    mimetype: str
    data: str
    reply: Reply


@dataclass(frozen=True)
class SendRoomFile:
    """A file sent to a room (where only moderators read: the export), with a message."""

    room_id: str
    filename: str
    mimetype: str
    data: str
    reply: Reply


@dataclass(frozen=True)
class SendRoom:
    """A message to a room; with ``card`` set it is the card of that idea (👍 on it votes)."""

    room_id: str
    reply: Reply
    card: int | None = None


@dataclass(frozen=True)
class Announce:
    """A message to the moderation room; ``idea``: a new idea to review (a front end may offer
    its decisions as buttons)."""

    reply: Reply
    idea: int | None = None


@dataclass(frozen=True)
class CardChanged:
    """An idea's votes, status or title changed: its cards in the challenge room get edited."""

    idea_id: int


@dataclass(frozen=True)
class Redact:
    """Take one of the bot's own messages down (a card whose idea may no longer be seen)."""

    room_id: str
    event_id: str


@dataclass(frozen=True)
class Invite:
    room_id: str
    user_id: str


@dataclass(frozen=True)
class CreateChallengeRoom:
    challenge_id: int
    slug: str
    name: str
    topic: str
    invite: tuple[str, ...]
    notify_room: str  # where to say that the room is ready
    locale: str


@dataclass(frozen=True)
class SetRoomProfile:
    """A challenge's room takes its (edited) challenge's title as name, description as topic."""

    room_id: str
    name: str
    topic: str


@dataclass(frozen=True)
class PlaceInSpace:
    """A challenge room's place among the programme Space's children, by its phase now."""

    challenge_id: int
    order: str


@dataclass(frozen=True)
class StartPoll:
    """A poll in a challenge's room, one answer per person; its start event is recorded once
    sent, so that responses can be matched to it."""

    poll_id: int
    room_id: str
    question: str
    answers: tuple[tuple[str, str], ...]  # (answer id, text), in order


@dataclass(frozen=True)
class EndPoll:
    """The end of a poll, referencing its start event, with its result as the text."""

    poll_id: int
    room_id: str
    summary: Reply


Effect = (
    SendDirect
    | SendDirectFile
    | SendRoomFile
    | SendRoom
    | Announce
    | Invite
    | CreateChallengeRoom
    | CardChanged
    | Redact
    | SetRoomProfile
    | PlaceInSpace
    | StartPoll
    | EndPoll
)


@dataclass(frozen=True)
class Outcome:
    """A command's result: the reply to the command, and what else should happen."""

    reply: Reply | None = None
    reply_card: int | None = None  # the reply is this idea's card
    effects: tuple[Effect, ...] = field(default=())
    #: The reply is a short confirmation ("your vote is counted"): in a busy room the bot may
    #: join several into one message that names each person (see bot/matrix/joining.py).
    confirmation: bool = False
    #: The reply is for the asker's eyes only (a link code): asked for anywhere but the
    #: person's direct chat or a Discord answer only they see, the dispatcher sends it to
    #: their direct chat instead (``handlers/dispatch.py``, ``_kept_private``).
    personal: bool = False
