"""How a command is typed, in the reader's language: ``!stem 12`` for a Dutch reader, ``!vote 12``
for an English one. Every reply that tells someone what to type asks here, so that a Dutch
speaker sees the Dutch names everywhere, not only in ``!help`` (every name works in every
language all the same)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from handlers.registry import CommandRegistry
from handlers.reply import Code


@dataclass(frozen=True)
class CommandWords:
    prefix: str = "!"
    #: A command's English name (``vote``, ``poll end``) -> language -> the name shown in it.
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, registry: CommandRegistry, prefix: str, languages: tuple[str, ...]) -> CommandWords:
        return cls(
            prefix,
            {
                command.name: {language: command.shown_name(language) for language in languages}
                for command in registry.commands()
            },
        )

    def name(self, language: str, command: str) -> str:
        """``stem`` for ``vote``; ``peiling einde`` for ``poll end``. A command the registry
        does not know is typed as it is written."""
        return self.names.get(command, {}).get(language, command)

    def typed(self, language: str, command: str, *arguments: object) -> Code:
        """What to type: the prefix, the name in ``language``, then ``arguments``."""
        words = [
            self.prefix + self.name(language, command),
            *(str(argument) for argument in arguments),
        ]
        return Code(" ".join(words))
