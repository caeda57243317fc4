"""The kinds of outbox row: what the bot will do once the delivery loop gets to a row.

The strings are stored in the ``outbox.kind`` column, so they never change: a row queued by an
older version is still carried out after an upgrade. Each kind's payload is a model in
:mod:`bot.outbox`; a front end carries each kind out (:mod:`bot.matrix.outgoing`).
"""

from __future__ import annotations

from enum import StrEnum


class OutboxKind(StrEnum):
    MESSAGE = "message"
    DIRECT = "direct"
    DIRECT_FILE = "direct_file"
    ROOM_FILE = "room_file"
    INVITE = "invite"
    REDACT = "redact"
    ROOM_PROFILE = "room_profile"
    SPACE_CHILD = "space_child"
    MODERATOR_LEVELS = "moderator_levels"
    POLL_START = "poll_start"
    POLL_END = "poll_end"
    CREATE_CHALLENGE_ROOM = "create_challenge_room"


#: The kinds sent to one person, named by the payload's ``user_id``: an erasure drops the ones
#: still waiting for the person it erases (an invite to a challenge's room too, since inviting
#: someone who asked to be forgotten would store them again).
ADDRESSED: frozenset[OutboxKind] = frozenset(
    {OutboxKind.DIRECT, OutboxKind.DIRECT_FILE, OutboxKind.INVITE}
)
