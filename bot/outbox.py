"""What the bot will do, as typed outbox rows: one payload model per :class:`OutboxKind`.

Every row is written by :func:`enqueue` and read back by :func:`read`, so a kind's payload is
declared once, here. A front end carries each model out (:mod:`bot.matrix.outgoing`, one
``match``); the delivery loop (:mod:`bot.delivery`) decides when. The models' fields are the
payload's JSON keys as rows have always stored them, with defaults for the keys older rows lack:
rows queued by an earlier version, or before an upgrade, are still carried out.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any, ClassVar, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bot.reply_json import ReplyField
from bot.server import Permanent
from storage import OutboxItem, Store
from storage.outbox_kinds import OutboxKind

log = logging.getLogger(__name__)


class OutboxPayload(BaseModel):
    """A row's payload. Keys a row holds beyond its model's are ignored, as they always were."""

    model_config = ConfigDict(frozen=True)

    kind: ClassVar[OutboxKind]


class Joinable(BaseModel):
    """A short confirmation that may be joined with others waiting beside it
    (:mod:`bot.matrix.joining`): whose command it answers, and in which thread."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    thread_root: str | None = None


_Message = TypeVar("_Message", "MessagePayload", "DirectPayload")


def _content_or_reply(payload: _Message) -> _Message:
    """A message says something: a reply to render, or (rows of earlier versions) content."""
    if (payload.content is None) == (payload.reply is None):
        raise ValueError("a message holds either a reply or content")
    return payload


class MessagePayload(OutboxPayload):
    """A message in a room; maybe an idea's card (``card``), or the edit of one (``edit_of``,
    the idea, and ``replaces``, the message edited), recorded once it is sent.

    ``reply`` is what it says, rendered by the room's front end when it goes out, answering
    ``reply_to`` in ``thread_root``. Rows queued by earlier versions hold Matrix ``content``
    rendered when they were queued instead; they are still carried out as they are.
    """

    kind = OutboxKind.MESSAGE
    content: dict[str, Any] | None = None
    reply: ReplyField | None = None
    reply_to: str | None = None
    thread_root: str | None = None
    replaces: str | None = None
    #: A new idea for moderators to review: a front end may offer its decisions as buttons.
    review_of: int | None = None
    card: int | None = None
    edit_of: int | None = None
    joinable: Joinable | None = None

    _says_something = model_validator(mode="after")(_content_or_reply)


class DirectPayload(OutboxPayload):
    """A message in a person's direct chat, opened first if there is none."""

    kind = OutboxKind.DIRECT
    user_id: str
    content: dict[str, Any] | None = None  # rows of earlier versions: Matrix content
    reply: ReplyField | None = None
    #: The idea it concerns: where the person cannot be reached directly, they are told there.
    about_idea: int | None = None

    _says_something = model_validator(mode="after")(_content_or_reply)


class DirectFilePayload(OutboxPayload):
    """A file in a person's direct chat (their data export)."""

    kind = OutboxKind.DIRECT_FILE
    user_id: str
    filename: str
    mimetype: str
    data: str


class RoomFilePayload(OutboxPayload):
    """A file in a room (published results)."""

    kind = OutboxKind.ROOM_FILE
    filename: str
    mimetype: str
    data: str


class InvitePayload(OutboxPayload):
    kind = OutboxKind.INVITE
    user_id: str


class RedactPayload(OutboxPayload):
    kind = OutboxKind.REDACT
    event_id: str


class RoomProfilePayload(OutboxPayload):
    """A challenge room's name and topic, as its challenge's title and description now read."""

    kind = OutboxKind.ROOM_PROFILE
    name: str
    topic: str


class SpaceChildPayload(OutboxPayload):
    """A challenge's room in the programme's Space, at the place its phase gives it (``order``;
    rows queued before rows carried it have none: the place is worked out when it goes)."""

    kind = OutboxKind.SPACE_CHILD
    challenge_id: int
    order: str | None = None


class ModeratorLevelsPayload(OutboxPayload):
    """The moderators of the moment, to be given power in a room."""

    kind = OutboxKind.MODERATOR_LEVELS
    moderators: tuple[str, ...]


class PollStartPayload(OutboxPayload):
    kind = OutboxKind.POLL_START
    poll_id: int
    question: str
    answers: tuple[tuple[str, str], ...]  # (answer id, text), in order


class PollEndPayload(OutboxPayload):
    """A poll's end; ``text`` says the result. Its start went before it in the room's lane."""

    kind = OutboxKind.POLL_END
    poll_id: int
    summary: ReplyField | None = None
    text: str | None = None  # rows of earlier versions: the summary as plain text


class CreateChallengeRoomPayload(OutboxPayload):
    """A challenge's room to open (:class:`handlers.effects.CreateChallengeRoom`'s fields)."""

    kind = OutboxKind.CREATE_CHALLENGE_ROOM
    challenge_id: int
    slug: str
    name: str
    topic: str
    invite: tuple[str, ...]
    notify_room: str  # where to say that the room is ready
    locale: str
    #: The network to open it on ("matrix", "discord"): the challenge's place on the other
    #: network, when both are configured. None: the network of ``notify_room``.
    network: str | None = None


Payload = (
    MessagePayload
    | DirectPayload
    | DirectFilePayload
    | RoomFilePayload
    | InvitePayload
    | RedactPayload
    | RoomProfilePayload
    | SpaceChildPayload
    | ModeratorLevelsPayload
    | PollStartPayload
    | PollEndPayload
    | CreateChallengeRoomPayload
)

#: Each kind's model, from the union itself: a kind is declared once.
_MODELS: dict[OutboxKind, type[Payload]] = {model.kind: model for model in get_args(Payload)}
assert set(_MODELS) == set(OutboxKind), "every outbox kind needs its payload model"


class UnreadableRow(Permanent):
    """A row whose kind is unknown or whose payload does not fit its kind's model."""


def direct_lane(user_id: str) -> str:
    """The lane of a person's direct messages: in order among themselves. A hash, so that the
    queue names nobody (and a sent row keeps no lane at all)."""
    return "direct:" + hashlib.sha256(user_id.encode()).hexdigest()[:16]


def card_lane(room_id: str) -> str:
    """The lane of the edits and take-downs of the cards in a room: in order among themselves,
    beside the room's own lane, so that a reply never waits behind a card's edit."""
    return "cards:" + room_id


async def enqueue(
    store: Store,
    payload: Payload,
    now: datetime,
    *,
    room_id: str | None = None,
    lane: str | None = None,
) -> int:
    """Queue ``payload`` as a row, inside the caller's transaction; returns the row's id.

    Only the keys a writer set are stored (``exclude_unset``), so that a row's JSON is the shape
    it has always had (a reply's ``card`` is there even when None; a card's edit has no ``card``).
    """
    data = payload.model_dump(mode="json", exclude_unset=True)
    return await store.outbox.enqueue(payload.kind, data, now, room_id=room_id, lane=lane)


def read(item: OutboxItem) -> Payload:
    """A row's payload as its kind's model; :class:`UnreadableRow` if it does not fit."""
    try:
        model = _MODELS[OutboxKind(item.kind)]
    except ValueError:
        raise UnreadableRow(f"unknown outbox kind {item.kind!r}") from None
    try:
        return model.model_validate(item.payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'payload'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise UnreadableRow(f"payload does not fit kind {item.kind!r}: {problems}") from None
