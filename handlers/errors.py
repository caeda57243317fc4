"""Errors a command can end in. Each carries a catalogue key; the dispatcher turns it into a reply."""

from __future__ import annotations

from typing import Any


class BotError(Exception):
    """A refusal or a mistake the user should hear about, in their language."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class UsageError(BotError):
    """The command's arguments did not parse; the reply adds the command's usage."""


class NotFound(BotError):
    pass


class Forbidden(BotError):
    pass


class Conflict(BotError):
    """The request is understood but the current state does not allow it."""
