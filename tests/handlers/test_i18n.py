"""The Dutch and English catalogues: complete, alike, and covering every key the code uses."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.discord.front_end import REVIEW_ACTIONS
from handlers import build_registry
from handlers.commands.moderation import ACCEPT, DUPLICATE, IMPLEMENTED, NEEDINFO, REJECT
from handlers.i18n import LANGUAGES, LOCALE_DIR, Catalogue
from handlers.registry import Kind, Option, Param
from storage import IdeaStatus

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
#: Where catalogue keys are used: the commands, and the public report.
SOURCES = (HANDLERS, HANDLERS.parent / "report", HANDLERS.parent / "bot" / "discord")

#: The first part of every catalogue key. A new area is added here on purpose, so that the
#: scan below looks for its keys too.
AREAS = (
    "discord",
    "e2e",
    "follow",
    "notifications",
    "notify",
    "remind",
    "export",
    "stats",
    "poll",
    "dialogue",
    "health",
    "audit",
    "block",
    "edit",
    "forget",
    "hide",
    "limit",
    "link",
    "mydata",
    "report",  # !report, flagging an idea
    "site",  # the public report (challenge-bot report)
    "unblock",
    "unhide",
    "card",
    "challenge",
    "challenges",
    "duplicate",
    "error",
    "help",
    "identity",
    "idea",
    "ideas",
    "join",
    "label",
    "lang",
    "mine",
    "moderation",
    "programme",
    "queue",
    "status",
    "triage",
    "vote",
    "withdraw",
    "links",  # links into the public report
    "open",  # !open
    "support",  # the support threshold
)
KEY_PATTERN = re.compile(rf"(?:{'|'.join(AREAS)})\.[a-z_.]+")

_formatter = string.Formatter()


def read(language: str) -> Catalog:
    with (LOCALE_DIR / f"{language}.po").open("rb") as handle:
        return read_po(handle, locale=language)


def messages(language: str) -> dict[str, tuple[str, ...]]:
    """Every entry of a .po file as it is written, empty texts included: key -> forms."""
    found: dict[str, tuple[str, ...]] = {}
    for message in read(language):
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple | list) else message.id
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        found[str(key)] = tuple(str(form or "") for form in forms)
    return found


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in _formatter.parse(text) if field is not None}


CATALOGUES = {language: messages(language) for language in LANGUAGES}
NL, EN = CATALOGUES["nl"], CATALOGUES["en"]


def referenced_literals() -> dict[str, list[str]]:
    """Plain string literals in handlers/ and report/ that look like a catalogue key, with where
    they are.

    f-strings are left out here: their families are checked one by one below.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(path for source in SOURCES for path in source.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        in_fstrings = {
            id(part)
            for node in ast.walk(tree)
            if isinstance(node, ast.JoinedStr)
            for part in node.values
        }
        for node in ast.walk(tree):
            where = f"{path.relative_to(HANDLERS.parent)}:{getattr(node, 'lineno', 0)}"
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in in_fstrings
                and KEY_PATTERN.fullmatch(node.value)
            ):
                found.setdefault(node.value, []).append(where)
            label = _label_argument(node)
            if label is not None:
                found.setdefault(f"label.{label}", []).append(where)
    return found


def _label_argument(node: ast.AST) -> str | None:
    """The argument name in ``ctx.label("title")`` and ``check_length(ctx, "title", ...)``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "label" and node.args:
        argument = node.args[0]
    elif isinstance(func, ast.Name) and func.id == "check_length" and len(node.args) > 1:
        argument = node.args[1]
    else:
        return None
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    return None


def dynamic_keys() -> set[str]:
    """Keys the code builds from names: labels, help texts, statuses, triage, parse errors."""
    commands = build_registry().commands()
    keys = {f"help.{command.key}" for command in commands}
    for command in commands:
        arguments: list[Param | Option] = [*command.params, *command.options]
        for argument in arguments:
            keys.add(f"label.{argument.name}")
            if argument.kind not in (Kind.REST, Kind.BODY, Kind.FLAG):
                keys.add(f"error.bad_{argument.kind.value}")
    keys |= {f"status.{status.value}" for status in IdeaStatus}
    keys |= {
        f"triage.author.{decision.action}"
        for decision in (ACCEPT, REJECT, NEEDINFO, IMPLEMENTED, DUPLICATE)
    }
    keys |= {f"discord.review.{action}" for action in REVIEW_ACTIONS}
    return keys


def test_dutch_and_english_have_the_same_keys() -> None:
    assert set(NL) - set(EN) == set(), "only in nl.po"
    assert set(EN) - set(NL) == set(), "only in en.po"
    assert len(NL) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_text_is_empty(language: str) -> None:
    empty = sorted(key for key, forms in CATALOGUES[language].items() if not all(forms))

    assert empty == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_belongs_to_a_known_area(language: str) -> None:
    strays = sorted(key for key in CATALOGUES[language] if not KEY_PATTERN.fullmatch(key))

    assert strays == []


def test_placeholders_are_the_same_in_both_languages() -> None:
    differ = {
        key: (nl_form, en_form)
        for key in NL.keys() & EN.keys()
        for nl_form, en_form in zip(NL[key], EN[key], strict=False)
        if placeholders(nl_form) != placeholders(en_form)
    }

    assert differ == {}


def test_placeholders_are_well_formed() -> None:
    broken = []
    for language, entries in CATALOGUES.items():
        for key, forms in entries.items():
            for form in forms:
                try:
                    fields = placeholders(form)
                except ValueError:
                    broken.append((language, key, form))
                    continue
                if any(not re.fullmatch(r"[a-z_]+", field) for field in fields):
                    broken.append((language, key, form))

    assert broken == []


def test_plural_keys_have_both_forms_in_both_languages() -> None:
    plural = {key for key, forms in NL.items() if len(forms) > 1}
    plural |= {key for key, forms in EN.items() if len(forms) > 1}

    assert plural, "the catalogue has plural entries"
    for key in sorted(plural):
        assert len(NL[key]) == 2, key
        assert len(EN[key]) == 2, key
        assert all(NL[key]) and all(EN[key]), key
        # The "other" form says how many; the "one" form may spell it out ("one idea").
        assert "count" in placeholders(NL[key][1]) and "count" in placeholders(EN[key][1]), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_po_header_declares_two_plural_forms(language: str) -> None:
    catalog = read(language)

    assert catalog.num_plurals == 2
    assert str(catalog.locale) == language


def test_the_code_only_uses_keys_that_exist() -> None:
    literals = referenced_literals()
    missing = {key: where for key, where in literals.items() if key not in NL or key not in EN}

    assert len(literals) > 70, "the scan finds the keys in handlers/"
    assert {"label.command", "label.reason", "error.too_long", "vote.counted"} <= set(literals)
    assert missing == {}


@pytest.mark.parametrize("family", ["label", "help", "status", "triage", "error"])
def test_keys_built_from_names_exist(family: str) -> None:
    keys = {key for key in dynamic_keys() if key.startswith(family + ".")}

    assert keys, f"the registry yields {family} keys"
    assert sorted(key for key in keys if key not in NL or key not in EN) == []


def test_every_text_is_used() -> None:
    used = set(referenced_literals()) | dynamic_keys()

    assert sorted(set(NL) - used) == []


def test_help_lists_every_command() -> None:
    commands = build_registry().commands()
    names = {command.key for command in commands}

    assert {"help", "lang", "idea", "vote", "challenge.new", "duplicate"} <= names
    assert {key.removeprefix("help.") for key in NL if key.startswith("help.")} >= names


def test_every_command_has_one_name_per_language_that_finds_it() -> None:
    """The Dutch name shown in help is one the registry answers to, and no two commands (or a
    command and its parent's other subcommands) share a name."""
    registry = build_registry()
    for command in registry.commands():
        for language in LANGUAGES:
            words = command.shown_name(language).split()
            assert registry.find_path(words) is command, (language, words)
            assert command.shown_name(language) not in command.other_names(language)
        assert set(command.names) <= set(LANGUAGES)
    shown_nl = [command.shown_name("nl") for command in registry.commands()]
    assert len(shown_nl) == len(set(shown_nl))
    assert registry.find("stem") is registry.find("vote")


def test_the_loaded_catalogue_matches_the_files() -> None:
    catalogue = Catalogue()

    for language in LANGUAGES:
        assert catalogue.keys(language) == set(CATALOGUES[language])
        assert catalogue.plain(language, "challenges.header", count=1) != catalogue.plain(
            language, "challenges.header", count=3
        )
    assert catalogue.plain("nl", "idea.line", id="#1", title="T", status="nieuw", count=1) == (
        "#1 T — nieuw — 1 stem"
    )
    assert catalogue.plain("en", "idea.line", id="#1", title="T", status="new", count=0) == (
        "#1 T — new — 0 votes"
    )
