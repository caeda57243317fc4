"""Commands and events: how they are declared, found and given their arguments.

Each feature module has a ``CommandRouter``; ``handlers.build_registry`` composes them into one
``CommandRegistry``. A command declares its name, aliases, required role and arguments; the
registry parses a message against that declaration, and builds the usage line from it. A router
also declares what its feature does with an incoming event (:mod:`handlers.incoming`, a 👍 or a
poll answer): ``@router.on(ReactionAdded)``; each kind of event has one such handler.

A command's name is English (``vote``); ``names`` gives it another per language
(``{"nl": "stem"}``), which help and usage lines show to a reader of that language. Every name
works in every language, and so do the ``aliases`` (other spellings, shown by ``!help vote``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from handlers.errors import UsageError
from handlers.incoming import IncomingEvent
from handlers.parsing import CommandText, Token, rest_of_line, tokenize

if TYPE_CHECKING:
    from handlers.effects import Outcome

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,47}")
MAX_NUMBER = 2**62
DEADLINE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?")
#: A Matrix user ID, or a Discord account (``discord:<snowflake>``).
USER_PATTERN = re.compile(r"@[^\s:]+:[^\s:]+(:\d+)?|discord:[1-9][0-9]{0,19}")


class Role(IntEnum):
    CITIZEN = 0
    MODERATOR = 1


class Kind(StrEnum):
    WORD = "word"
    SLUG = "slug"
    IDEA = "idea"
    NUMBER = "number"
    CHOICE = "choice"
    #: A date (the end of that day) or a date and time, ``YYYY-MM-DD[THH:MM]``, in the
    #: programme's time zone: a ``date`` or a naive ``datetime``.
    DEADLINE = "deadline"
    FLAG = "flag"
    USER = "user"  # a Matrix user ID or a Discord account
    REST = "rest"  # the rest of the first line (and the body, when the command takes no body)
    BODY = "body"  # the lines after the first


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    required: bool = True
    choices: tuple[str, ...] = ()
    #: Left out inside a challenge's room, where the room says which challenge is meant.
    implied_by_room: bool = False


@dataclass(frozen=True)
class Option:
    """``--name=value`` (or ``--name`` for a flag) anywhere on the first line. A ``_`` in the
    name is typed as ``-`` (``--voting-deadline``); either is understood."""

    name: str
    kind: Kind
    choices: tuple[str, ...] = ()


Handler = Callable[..., Awaitable["Outcome"]]
EventT = TypeVar("EventT", bound=IncomingEvent)
#: ``async def f(ctx: Context, event) -> Outcome | None``. The context is ``Any`` here only
#: because ``handlers.context`` imports this module (for ``Role``).
EventHandler = Callable[[Any, EventT], Awaitable["Outcome | None"]]


@dataclass(frozen=True)
class EventRoute:
    """What a feature does with one kind of incoming event."""

    event_type: type[IncomingEvent]
    handler: EventHandler[Any]
    #: Within the per-person limit of commands: past it the event is ignored in silence. Only
    #: what the bot did itself (its own poll end) is not.
    limited: bool = True
    #: What it may do depends on who the person is (as for a command's ``needs_identity``):
    #: the front end looks their verification up first.
    needs_identity: bool = False


# eq=False: a command is one declared thing, equal only to itself, and hashable as such.
@dataclass(eq=False)
class Command:
    path: tuple[str, ...]
    handler: Handler
    aliases: tuple[str, ...] = ()
    role: Role = Role.CITIZEN
    params: tuple[Param, ...] = ()
    options: tuple[Option, ...] = ()
    subcommands: dict[str, Command] = field(default_factory=dict)
    #: Sent with nothing after its name, the command runs with every argument None instead of
    #: failing on the missing ones: ``!idea`` alone starts the guided dialogue.
    may_be_bare: bool = False
    #: Who may run it depends on who the person is (a verified identity, their homeserver):
    #: the bot layer looks that up before the command runs (handlers/policy.py decides).
    needs_identity: bool = False
    #: The command's name in another language (language -> name), shown to its readers.
    names: Mapping[str, str] = field(default_factory=dict)
    #: A subcommand's parent, set by the registry: its name comes first in the shown name.
    parent: Command | None = None

    @property
    def name(self) -> str:
        return " ".join(self.path)

    def word(self, language: str | None) -> str:
        """This command's own word (a subcommand's without its parent) in ``language``."""
        return self.names.get(language or "", self.path[-1])

    def shown_name(self, language: str | None) -> str:
        """The name a reader of ``language`` types: ``stem``, ``uitdaging nieuw``."""
        own = self.word(language)
        return own if self.parent is None else f"{self.parent.word(language)} {own}"

    def other_names(self, language: str | None) -> tuple[str, ...]:
        """Every other word the command answers to, besides the one shown in ``language``."""
        words = (self.path[-1], *self.names.values(), *self.aliases)
        shown = self.word(language)
        return tuple(word for word in dict.fromkeys(words) if word != shown)

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def usage(
        self,
        prefix: str,
        label: Callable[[str], str],
        *,
        in_challenge_room: bool = False,
        language: str | None = None,
    ) -> str:
        parts = [prefix + self.shown_name(language)]
        parts += [
            f"[--{option.name.replace('_', '-')}{_option_value(option, label)}]"
            for option in self.options
        ]
        body = ""
        for param in self.params:
            if param.implied_by_room and in_challenge_room:
                continue
            text = "|".join(param.choices) if param.kind is Kind.CHOICE else label(param.name)
            shown = f"<{text}>" if param.required else f"[{text}]"
            if param.kind is Kind.BODY:
                body = "\n" + shown
            else:
                parts.append(shown)
        return " ".join(parts) + body


def _option_value(option: Option, label: Callable[[str], str]) -> str:
    if option.kind is Kind.FLAG:
        return ""
    return "=" + ("|".join(option.choices) if option.choices else label(option.name))


class CommandRouter:
    """The commands of one feature module."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.events: list[EventRoute] = []

    def command(
        self,
        name: str,
        *,
        parent: str | None = None,
        aliases: tuple[str, ...] = (),
        role: Role = Role.CITIZEN,
        params: tuple[Param, ...] = (),
        options: tuple[Option, ...] = (),
        may_be_bare: bool = False,
        needs_identity: bool = False,
        names: Mapping[str, str] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            path = (parent, name) if parent else (name,)
            self.commands.append(
                Command(
                    path,
                    handler,
                    aliases,
                    role,
                    params,
                    options,
                    may_be_bare=may_be_bare,
                    needs_identity=needs_identity,
                    names=dict(names or {}),
                )
            )
            return handler

        return register

    def on(
        self, event_type: type[EventT], *, limited: bool = True, needs_identity: bool = False
    ) -> Callable[[EventHandler[EventT]], EventHandler[EventT]]:
        """Declare the handler of ``event_type``: ``async def f(ctx, event) -> Outcome | None``."""

        def register(handler: EventHandler[EventT]) -> EventHandler[EventT]:
            # mypy cannot see that a type bound by the union is one of the union's types.
            kind = cast("type[IncomingEvent]", event_type)
            self.events.append(EventRoute(kind, handler, limited, needs_identity))
            return handler

        return register


class CommandRegistry:
    def __init__(self) -> None:
        self._top: dict[str, Command] = {}
        self._by_alias: dict[str, Command] = {}
        self._events: dict[type[IncomingEvent], EventRoute] = {}

    def include(self, router: CommandRouter) -> None:
        for route in router.events:
            if route.event_type in self._events:
                raise ValueError(f"event {route.event_type.__name__} is handled twice")
            self._events[route.event_type] = route
        for command in sorted(router.commands, key=lambda c: len(c.path)):
            if len(command.path) == 1:
                # Our own copy: the routers are module-level, and subcommands are added to the
                # parent, so a second registry built from them must not see the first one's.
                command = replace(command, subcommands={})
                self._add(self._by_alias, command, command.path[0])
                self._top[command.path[0]] = command
            else:
                parent = self._top[command.path[0]]
                self._add(parent.subcommands, replace(command, parent=parent), command.path[1])

    @staticmethod
    def _add(table: dict[str, Command], command: Command, name: str) -> None:
        for alias in dict.fromkeys((name, *command.names.values(), *command.aliases)):
            if alias in table:
                raise ValueError(f"command name {alias!r} is declared twice")
            table[alias] = command

    def commands(self) -> list[Command]:
        """Every command, subcommands after their parent, in declaration order."""
        found: list[Command] = []
        for command in self._top.values():
            found.append(command)
            found.extend(dict.fromkeys(command.subcommands.values()))
        return found

    def event_route(self, event_type: type[IncomingEvent]) -> EventRoute | None:
        return self._events.get(event_type)

    def find(self, name: str) -> Command | None:
        return self._by_alias.get(name.lower())

    def find_path(self, words: list[str]) -> Command | None:
        command = self.find(words[0]) if words else None
        if command and len(words) > 1:
            return command.subcommands.get(words[1].lower())
        return command

    def resolve(self, text: CommandText) -> tuple[Command, str] | None:
        """The command a message names, and the part of its first line left for arguments."""
        command = self.find(text.name)
        if command is None:
            return None
        tokens = tokenize(text.line)
        if command.subcommands and tokens:
            sub = command.subcommands.get(tokens[0].value.lower())
            if sub is not None:
                return sub, text.line[tokens[0].end :].lstrip()
        return command, text.line


def parse_arguments(
    command: Command, line: str, body: str, *, in_challenge_room: bool
) -> dict[str, Any]:
    """Match the message against the command's declaration; raise ``UsageError`` when it doesn't."""
    values: dict[str, Any] = {}
    line = _take_options(command, line, values)
    if command.may_be_bare and not line.strip() and not body:
        return values | {param.name: None for param in command.params}
    tokens = tokenize(line)
    takes_body = any(param.kind is Kind.BODY for param in command.params)
    index = 0
    for position, param in enumerate(command.params):
        if param.implied_by_room and in_challenge_room:
            values[param.name] = None
            continue
        if param.kind is Kind.BODY:
            values[param.name] = body or None
        elif param.kind is Kind.REST:
            text = rest_of_line(line, tokens[index]) if index < len(tokens) else ""
            index = len(tokens)
            if not takes_body and body:
                text = f"{text}\n{body}".strip()
            values[param.name] = text or None
        elif index >= len(tokens):
            values[param.name] = None
        else:
            token = tokens[index]
            later_choice = any(
                token.value.lower() in later.choices for later in command.params[position + 1 :]
            )
            if not param.required and later_choice:
                values[param.name] = None
                continue
            try:
                values[param.name] = convert(param.kind, token.value, param.choices)
            except ValueError:
                if param.required:
                    raise UsageError(f"error.bad_{param.kind.value}", value=token.value) from None
                values[param.name] = None
                continue
            index += 1
        if param.required and values[param.name] is None:
            raise UsageError("error.missing_argument", name=param.name)
    if index < len(tokens):
        raise UsageError("error.too_many_arguments", value=_tail(tokens[index:]))
    return values


def convert(kind: Kind, raw: str, choices: tuple[str, ...] = ()) -> Any:
    if kind is Kind.WORD:
        return raw
    if kind is Kind.SLUG:
        slug = raw.lower().lstrip("#")
        if not SLUG_PATTERN.fullmatch(slug):
            raise ValueError(raw)
        return slug
    if kind in (Kind.IDEA, Kind.NUMBER):
        digits = raw.removeprefix("#") if kind is Kind.IDEA else raw
        if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
            raise ValueError(raw)
        number = int(digits)
        if not 0 < number < MAX_NUMBER:
            raise ValueError(raw)
        return number
    if kind is Kind.CHOICE:
        if raw.lower() not in choices:
            raise ValueError(raw)
        return raw.lower()
    if kind is Kind.DEADLINE:
        if DEADLINE_PATTERN.fullmatch(raw) is None:
            raise ValueError(raw)
        return datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
    if kind is Kind.USER:
        if len(raw) > 255 or not USER_PATTERN.fullmatch(raw):
            raise ValueError(raw)
        return raw
    raise ValueError(kind)


def _take_options(command: Command, line: str, values: dict[str, Any]) -> str:
    """Pull the declared ``--options`` out of the line, keeping other positions intact."""
    for option in command.options:
        values[option.name] = False if option.kind is Kind.FLAG else None
    if not command.options:
        return line
    known = {option.name: option for option in command.options}
    chars = list(line)
    tokens = tokenize(line)
    skip_next = False
    for position, token in enumerate(tokens):
        if skip_next:
            skip_next = False
            continue
        if not re.match(r"--[a-zA-Z]", token.value):
            continue
        name, has_value, raw = token.value[2:].partition("=")
        found = known.get(name.lower().replace("-", "_"))
        if found is None:
            raise UsageError("error.unknown_option", value=token.value)
        option = found
        end = token.end
        if option.kind is Kind.FLAG:
            values[option.name] = True
        else:
            if not has_value:
                if position + 1 >= len(tokens):
                    raise UsageError("error.missing_argument", name=option.name)
                following: Token = tokens[position + 1]
                raw = following.value
                end = following.end
                skip_next = True
            try:
                values[option.name] = convert(option.kind, raw, option.choices)
            except ValueError:
                raise UsageError(f"error.bad_{option.kind.value}", value=raw) from None
        chars[token.start : end] = " " * (end - token.start)
    return "".join(chars)


def _tail(tokens: list[Token]) -> str:
    text = " ".join(token.value for token in tokens)
    return text if len(text) <= 40 else text[:39] + "…"
