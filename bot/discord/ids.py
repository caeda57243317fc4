"""How Discord's things are named in the core and the database: an account, a channel or thread
is ``discord:<snowflake>``; a message is ``discord:<channel>/<message>`` (editing or reading it
needs its channel). Matrix user IDs start with ``@`` and room IDs with ``!``: never the same.
The one place these strings are built and read."""

from __future__ import annotations

import re

from handlers.accounts import DISCORD_PREFIX as PREFIX

_SNOWFLAKE = re.compile(r"[1-9][0-9]{0,19}")
_MESSAGE = re.compile(r"discord:([1-9][0-9]{0,19})/([1-9][0-9]{0,19})")


def ref(snowflake: int) -> str:
    """The account, channel or thread with this ID."""
    return f"{PREFIX}{snowflake}"


def message_ref(channel_id: int, message_id: int) -> str:
    return f"{PREFIX}{channel_id}/{message_id}"


def is_discord(name: str | None) -> bool:
    return name is not None and name.startswith(PREFIX)


def snowflake_of(name: str | None) -> int | None:
    """The ID in ``discord:<id>``; None for anything else (a Matrix ID, a message)."""
    if name is None or not name.startswith(PREFIX):
        return None
    rest = name.removeprefix(PREFIX)
    return int(rest) if _SNOWFLAKE.fullmatch(rest) else None


def message_of(name: str | None) -> tuple[int, int] | None:
    """The (channel, message) in ``discord:<channel>/<message>``; None for anything else."""
    found = _MESSAGE.fullmatch(name or "")
    return None if found is None else (int(found[1]), int(found[2]))


def reaction_ref(channel_id: int, message_id: int, user_id: int) -> str:
    """A person's 👍 on a message, as the vote it gave is known by."""
    return f"{message_ref(channel_id, message_id)}/thumb/{user_id}"
