"""What reaches the bot besides commands: reactions, their removal, poll answers and ends, and
messages it could not read. A front end turns its network's events into these; a feature's
router declares what it does with each (``@router.on(ReactionAdded)``), and
``Dispatcher.handle_event`` runs it, as it runs a command.

They carry the network's opaque event ids and nothing else of the network: the same vote by
👍 can come from Matrix or from another chat network.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

#: The reaction that votes for the idea on a card (any skin tone or presentation counts).
VOTE_REACTION = "👍"

_SKIN_TONES_AND_VARIANTS = {chr(code) for code in range(0x1F3FB, 0x1F400)} | {"\ufe0f", "\ufe0e"}


def is_vote_reaction(key: str) -> bool:
    """👍 in any skin tone or presentation."""
    core = "".join(
        ch for ch in unicodedata.normalize("NFC", key) if ch not in _SKIN_TONES_AND_VARIANTS
    )
    return core == VOTE_REACTION


@dataclass(frozen=True)
class ReactionAdded:
    """A vote reaction put on a message: on an idea's card, it is a vote."""

    card_event_id: str
    reaction_event_id: str


@dataclass(frozen=True)
class ReactionRemoved:
    """An event taken back (redacted); when it was a 👍 that voted, the vote may go with it."""

    reaction_event_id: str


@dataclass(frozen=True)
class PollAnswered:
    """A person's response to a poll: the answer ids they chose (none: withdrawn)."""

    poll_event_id: str
    response_event_id: str
    answers: tuple[str, ...]
    #: When it was sent, in milliseconds since the epoch, on the bot's clock.
    sent_ms: int


@dataclass(frozen=True)
class PollEnded:
    """A poll end sent with the bot's own account."""

    poll_event_id: str
    ended_at: datetime


@dataclass(frozen=True)
class Undecryptable:
    """A message the bot could not decrypt (explained once per session by the front end)."""


IncomingEvent = ReactionAdded | ReactionRemoved | PollAnswered | PollEnded | Undecryptable
