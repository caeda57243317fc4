"""Typed views of the Matrix events the bot reads, validated before anything is read from them.

Event content is untrusted JSON that the homeserver passes on as it came: ``m.relates_to`` may
be null, a string or a list, an ``event_id`` may be a number, a reaction may lack its ``key``.
Each event is parsed here, once, from its raw ``source``; what does not fit the shape the bot
needs is not for the bot (``None``), and nothing past this module reads a raw dict.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

log = logging.getLogger(__name__)

#: Poll events (MSC3381) under their unstable names, which Element sends, and the stable ones.
POLL_START_TYPE = "org.matrix.msc3381.poll.start"
POLL_END_TYPE = "org.matrix.msc3381.poll.end"
POLL_RESPONSE_TYPES = frozenset({"org.matrix.msc3381.poll.response", "m.poll.response"})
POLL_END_TYPES = frozenset({POLL_END_TYPE, "m.poll.end"})


class _Shape(BaseModel):
    """Unknown keys are ignored (the spec grows); known ones must have the right type."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def _dict_or_none(value: Any) -> Any:
    """A field that must be an object, or is treated as absent (null, a string, a list)."""
    return value if isinstance(value, dict) else None


Loose = Annotated[Any, BeforeValidator(_dict_or_none)]


class _InReplyTo(_Shape):
    event_id: StrictStr


class Relation(_Shape):
    rel_type: StrictStr | None = None
    event_id: StrictStr | None = None
    key: StrictStr | None = None
    in_reply_to: Annotated[_InReplyTo | None, BeforeValidator(_dict_or_none)] = Field(
        default=None, alias="m.in_reply_to"
    )


def _relation_or_none(value: Any) -> Relation | None:
    """A message whose relation is broken is still a message, one that relates to nothing."""
    try:
        return Relation.model_validate(value) if isinstance(value, dict) else None
    except ValidationError:
        return None


class _MessageContent(_Shape):
    relates_to: Annotated[Relation | None, BeforeValidator(_relation_or_none)] = Field(
        default=None, alias="m.relates_to"
    )
    msgtype: StrictStr
    body: StrictStr


class _ReactionContent(_Shape):
    relates_to: Relation = Field(alias="m.relates_to")


class _RedactionContent(_Shape):
    redacts: StrictStr | None = None  # room version 11 puts it here


class _MemberContent(_Shape):
    membership: Literal["invite", "join", "knock", "leave", "ban"]
    is_direct: StrictBool = False


class _Reference(_Shape):
    """A poll response or end points at the poll's start event."""

    rel_type: Literal["m.reference"]
    event_id: StrictStr


class _Selections(_Shape):
    answers: list[StrictStr]


class _PollResponseContent(_Shape):
    relates_to: _Reference = Field(alias="m.relates_to")
    #: Element and matrix-rust-sdk: the block named after the unstable type.
    unstable: _Selections | None = Field(default=None, alias="org.matrix.msc3381.poll.response")
    #: The stable form of MSC3381, and the draft that matrix-js-sdk still reads.
    selections: list[StrictStr] | None = Field(default=None, alias="m.selections")
    draft: _Selections | None = Field(default=None, alias="m.poll.response")

    def chosen(self) -> list[str] | None:
        for block in (self.unstable, self.draft):
            if block is not None:
                return block.answers
        return self.selections


class _PollEndContent(_Shape):
    relates_to: _Reference = Field(alias="m.relates_to")


class _Unsigned(_Shape):
    prev_content: Loose = None


class _Envelope(_Shape):
    """The fields of every room event that the bot uses."""

    type: StrictStr
    event_id: StrictStr
    sender: StrictStr
    origin_server_ts: StrictInt = Field(ge=0, le=2**53)
    content: dict[str, Any]
    state_key: StrictStr | None = None
    redacts: StrictStr | None = None  # room versions before 11 put it here
    unsigned: Annotated[_Unsigned | None, BeforeValidator(_dict_or_none)] = None


class Incoming(_Shape):
    """What every event the bot acts on has: who, which, and when it was sent."""

    event_id: str
    sender: str
    sent_at: datetime


class Message(Incoming):
    body: str
    thread_root: str | None
    is_edit: bool


class Reaction(Incoming):
    reacts_to: str
    key: str


class Redaction(Incoming):
    redacts: str


class Membership(Incoming):
    """A membership change of ``member`` (the ``state_key``), with the one before it."""

    member: str
    membership: str
    previous: str | None
    is_direct: bool


class PowerLevels(Incoming):
    users: dict[str, int]
    users_default: int


class PollResponse(Incoming):
    """A person's answer to a poll: ``answers`` as sent (empty: no answer, withdrawn)."""

    poll: str  # the poll's start event
    answers: tuple[str, ...]
    sent_ms: int  # origin_server_ts, exactly: the latest response counts


class PollEnd(Incoming):
    poll: str
    sent_ms: int


Parsed = Message | Reaction | Redaction | Membership | PowerLevels | PollResponse | PollEnd


def parse(source: Any) -> Parsed | None:
    """The event as the bot understands it, or ``None`` when it is not for the bot."""
    try:
        envelope = _Envelope.model_validate(source)
        common = Incoming(
            event_id=envelope.event_id,
            sender=envelope.sender,
            sent_at=datetime.fromtimestamp(envelope.origin_server_ts / 1000, UTC),
        ).model_dump()
        kind = envelope.type
        if kind == "m.room.message":
            message = _MessageContent.model_validate(envelope.content)
            relation = message.relates_to
            is_thread = relation is not None and relation.rel_type == "m.thread"
            return Message(
                **common,
                body=message.body,
                thread_root=relation.event_id if relation is not None and is_thread else None,
                is_edit=relation is not None and relation.rel_type == "m.replace",
            )
        if kind == "m.reaction":
            relation = _ReactionContent.model_validate(envelope.content).relates_to
            if relation.rel_type != "m.annotation" or relation.event_id is None or not relation.key:
                return None
            return Reaction(**common, reacts_to=relation.event_id, key=relation.key)
        if kind == "m.room.redaction":
            redacts = _RedactionContent.model_validate(envelope.content).redacts
            redacts = redacts or envelope.redacts
            return None if redacts is None else Redaction(**common, redacts=redacts)
        if kind == "m.room.member" and envelope.state_key is not None:
            member = _MemberContent.model_validate(envelope.content)
            return Membership(
                **common,
                member=envelope.state_key,
                membership=member.membership,
                previous=_previous_membership(envelope.unsigned),
                is_direct=member.is_direct,
            )
        if kind == "m.room.power_levels" and envelope.state_key == "":
            return _power_levels(envelope.content, common)
        if kind in POLL_RESPONSE_TYPES or kind in POLL_END_TYPES:
            return _poll_event(kind, envelope, common)
    except (ValidationError, ValueError, OverflowError):
        return None
    return None


def _poll_event(kind: str, envelope: _Envelope, common: dict[str, Any]) -> Parsed | None:
    """A poll response or end; one that does not fit is logged (it was meant for a poll,
    perhaps the bot's) and is not for the bot."""
    try:
        if kind in POLL_END_TYPES:
            end = _PollEndContent.model_validate(envelope.content)
            return PollEnd(
                **common, poll=end.relates_to.event_id, sent_ms=envelope.origin_server_ts
            )
        response = _PollResponseContent.model_validate(envelope.content)
    except ValidationError as error:
        log.info(
            "Malformed %s %s skipped: %s",
            kind,
            envelope.event_id,
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in error.errors()),
            extra={"event_id": envelope.event_id},
        )
        return None
    chosen = response.chosen()
    if chosen is None:
        log.info("%s %s names no answers; skipped", kind, envelope.event_id)
        return None
    return PollResponse(
        **common,
        poll=response.relates_to.event_id,
        answers=tuple(chosen),
        sent_ms=envelope.origin_server_ts,
    )


def _previous_membership(unsigned: _Unsigned | None) -> str | None:
    previous = None if unsigned is None else unsigned.prev_content
    value = None if previous is None else previous.get("membership")
    return value if isinstance(value, str) else None


def _power_levels(content: dict[str, Any], common: dict[str, Any]) -> PowerLevels:
    """Power levels as the homeserver applies them: entries that are not whole numbers are
    left out, as a bad entry is no reason to forget the rest."""
    users = content.get("users")
    levels = {
        user: level
        for user, level in (users.items() if isinstance(users, dict) else ())
        if isinstance(user, str) and _is_level(level)
    }
    default = content.get("users_default", 0)
    return PowerLevels(**common, users=levels, users_default=default if _is_level(default) else 0)


def _is_level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53
