"""Slash commands generated from the handlers' registry, in Dutch and English.

Each command of :mod:`handlers.registry` becomes an application command: its English name is
Discord's name, its Dutch name (``names={"nl": ...}``) and both help texts are localisations
given by :class:`RegistryTranslator` (Discord shows each person the names of their client's
language). A command with subcommands becomes a group; the parent's own action is its
subcommand ``show`` (``toon``). Options are the command's parameters.

What a person fills in is turned back into the command's text (``!vote 12``) and handed to the
same dispatcher as a Matrix message: one parser, one set of rules, one usage message.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional

import discord
from discord import app_commands

from bot.discord.ids import ref
from handlers.i18n import Catalogue
from handlers.registry import Command, CommandRegistry, Kind, Option, Param

#: What a slash command does once its options are read: the command's text, and whether it
#: came with a body (lines after the first).
Invoke = Callable[[discord.Interaction, str], Awaitable[None]]
#: Challenge slugs matching what is typed so far (for the options that name a challenge).
ChallengeChoices = Callable[[discord.Interaction, str], Awaitable[list[str]]]
#: Ideas everyone sees, (number, title), matching what is typed so far (options naming an idea).
IdeaChoices = Callable[[discord.Interaction, str], Awaitable[list[tuple[int, str]]]]

#: Discord's limits on a name and a description.
MAX_NAME = 32
MAX_DESCRIPTION = 100
#: The parent's own action, in a group.
SHOW = {"en": "show", "nl": "toon"}
#: Commands left out on Discord: ``/idee`` is a modal of its own (:mod:`bot.discord.front_end`).
OWN_COMMANDS = frozenset({"idea"})


@dataclass(frozen=True)
class Texts:
    """A command's or option's name and description in each language."""

    names: dict[str, str]
    descriptions: dict[str, str]


class RegistryTranslator(app_commands.Translator):
    """Discord's localisations, from the texts each ``locale_str`` carries (``extras``)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = "nl" if locale is discord.Locale.dutch else None
        if language is None:
            return None
        value = string.extras.get(language)
        return value if isinstance(value, str) else None


def localised(english: str, dutch: str, *, limit: int) -> app_commands.locale_str:
    return app_commands.locale_str(english[:limit], nl=dutch[:limit])


def command_text(command: Command, values: dict[str, Any], prefix: str) -> str:
    """The text a person would have typed for ``command`` with these option values."""
    first: list[str] = [prefix + command.name]
    body = ""
    for param in command.params:
        value = values.get(param.name)
        if value is None or value == "":
            continue
        text = _as_text(value)
        if param.kind is Kind.BODY:
            body = text
        elif param.kind is Kind.REST:
            first.append(" ".join(text.split()))
        else:
            word = " ".join(text.replace('"', "").split())
            first.append(f'"{word}"' if " " in word else word)
    for option in command.options:
        value = values.get(option.name)
        if value is None or value is False or value == "":
            continue
        dashed = option.name.replace("_", "-")
        if option.kind is Kind.FLAG:
            first.insert(1, f"--{dashed}")
        else:
            word = "".join(str(value).replace('"', "").split())
            first.insert(1, f"--{dashed}={word}")
    line = " ".join(first)
    return f"{line}\n{body}" if body else line


def build_commands(
    registry: CommandRegistry,
    catalogue: Catalogue,
    prefix: str,
    invoke: Invoke,
    challenges: ChallengeChoices,
    ideas: IdeaChoices,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """Every command of the registry as an application command (groups for subcommands)."""
    built: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    for command in registry.commands():
        if command.parent is not None or command.name in OWN_COMMANDS:
            continue
        if not command.subcommands:
            built.append(_command(command, catalogue, prefix, invoke, (challenges, ideas)))
            continue
        group = app_commands.Group(
            name=localised(command.name, command.word("nl"), limit=MAX_NAME),
            description=_description(catalogue, command),
        )
        group.add_command(
            _command(command, catalogue, prefix, invoke, (challenges, ideas), name=SHOW)
        )
        for sub in dict.fromkeys(command.subcommands.values()):
            group.add_command(_command(sub, catalogue, prefix, invoke, (challenges, ideas)))
        built.append(group)
    return built


def _description(catalogue: Catalogue, command: Command) -> app_commands.locale_str:
    key = f"help.{command.key}"
    return localised(
        _one_line(catalogue.plain("en", key)),
        _one_line(catalogue.plain("nl", key)),
        limit=MAX_DESCRIPTION,
    )


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _command(
    command: Command,
    catalogue: Catalogue,
    prefix: str,
    invoke: Invoke,
    choices: tuple[ChallengeChoices, IdeaChoices],
    *,
    name: dict[str, str] | None = None,
) -> app_commands.Command[Any, ..., Any]:
    challenges, ideas = choices
    params = list(command.params)

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await invoke(interaction, command_text(command, values, prefix))

    signature = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    taken = {param.name for param in params}
    options = [option for option in command.options if option.name not in taken]
    for param in params:
        required = param.required and not param.implied_by_room
        signature.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(param) if required else Optional[_annotation(param)],  # noqa: UP045
                default=inspect.Parameter.empty if required else None,
            )
        )
    for option in options:
        signature.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Optional[_annotation(option)],  # noqa: UP045
                default=None,
            )
        )
    callback.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    labels = [param.name for param in params] + [option.name for option in options]
    descriptions = {
        label: localised(
            catalogue.plain("en", f"label.{label}"),
            catalogue.plain("nl", f"label.{label}"),
            limit=MAX_DESCRIPTION,
        )
        for label in labels
    }
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    names = name or {"en": command.path[-1], "nl": command.word("nl")}
    built: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name=localised(names["en"], names["nl"], limit=MAX_NAME),
        description=_description(catalogue, command),
        callback=callback,
    )
    for param in params:
        if param.kind is Kind.SLUG:

            async def complete(
                interaction: discord.Interaction, current: str
            ) -> list[app_commands.Choice[str]]:
                return [
                    app_commands.Choice(name=slug, value=slug)
                    for slug in await challenges(interaction, current)
                ]

            built.autocomplete(param.name)(complete)
        elif param.kind is Kind.IDEA:

            async def complete_idea(
                interaction: discord.Interaction, current: str
            ) -> list[app_commands.Choice[int]]:
                return [
                    app_commands.Choice(name=_one_line(f"#{number} {title}"), value=number)
                    for number, title in await ideas(interaction, current)
                ]

            built.autocomplete(param.name)(complete_idea)
    return built


def _as_text(value: Any) -> str:
    """An option's value as typed; a Discord user chosen in the picker is their account."""
    if isinstance(value, discord.abc.User):
        return ref(value.id)
    return str(value)


def _annotation(param: Param | Option) -> Any:
    if param.kind is Kind.USER:
        return discord.User
    if param.kind in (Kind.IDEA, Kind.NUMBER):
        return app_commands.Range[int, 1, 2**53]
    if param.kind is Kind.CHOICE and param.choices:
        return _choices(param.choices)
    if param.kind is Kind.FLAG:
        return bool
    return app_commands.Range[str, 1, 4000]


def _choices(choices: tuple[str, ...]) -> Any:
    return Literal[tuple(str(choice) for choice in choices)]
