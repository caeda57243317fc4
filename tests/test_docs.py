"""The documentation against the code: its command tables against the command registry, its
commands in prose against the names the bot knows, and its links against the files they name.

A command table is a Markdown table with an ``English`` and a ``Nederlands`` column: one row per
command, each cell the first line of the command's usage as ``!help`` shows it to a reader of
that language, and an ``also / ook`` column with its other spellings (``aliases``). The
participants' guide (docs/deelnemen.md) lists every command everyone may use, the moderators'
guide (docs/moderators.md) every command only moderators may use: a command added, renamed or
given other arguments fails here until the guide of its audience says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeGuard, get_args

import pytest
from pydantic import BaseModel

from bot.config import Config
from handlers import build_registry
from handlers.i18n import Catalogue
from handlers.registry import Command, CommandRegistry, Role

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))
PREFIX = "!"

#: Which guide lists the commands of which role, and nothing else in its command tables.
GUIDE_OF_ROLE = {Role.CITIZEN: DOCS / "deelnemen.md", Role.MODERATOR: DOCS / "moderators.md"}

ENGLISH = "English"
DUTCH = "Nederlands"
ALSO = ("also / ook", "ook / also")

CODE_SPAN = re.compile(r"`([^`]+)`")
#: ``[text](target)``, not an image's; the target up to the first space or closing bracket.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
#: A command named in prose: ``!word`` then a space or the end (``!room:server`` is a room ID).
NAMED_COMMAND = re.compile(r"^!([^\s!:`]+)(?:\s|$)")


@dataclass(frozen=True)
class Row:
    page: Path
    line: int
    cells: dict[str, str]

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@cache
def registry() -> CommandRegistry:
    return build_registry()


@cache
def catalogue() -> Catalogue:
    return Catalogue()


def usage(command: Command, language: str) -> str:
    """The first line of the usage ``!help`` shows a reader of ``language``."""
    shown = command.usage(
        PREFIX, lambda name: catalogue().plain(language, f"label.{name}"), language=language
    )
    return shown.split("\n")[0]


def prose_lines(page: Path) -> Iterator[tuple[int, str]]:
    """The page's lines outside fenced code blocks, numbered from 1."""
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def split_row(line: str) -> list[str]:
    """A table row's cells; ``\\|`` is a pipe inside a cell (a code span, usually)."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]


def command_rows(page: Path) -> list[Row]:
    rows: list[Row] = []
    header: list[str] | None = None
    for number, line in prose_lines(page):
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = split_row(line)
        if header is None:
            header = cells
        elif all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        elif ENGLISH in header and DUTCH in header:
            where = f"{page.relative_to(ROOT)}:{number}"
            assert len(cells) == len(header), f"{where}: {len(cells)} cells (an unescaped |?)"
            rows.append(Row(page, number, dict(zip(header, cells, strict=True))))
    return rows


def all_command_rows() -> list[Row]:
    return [row for page in PAGES for row in command_rows(page)]


def code_spans(cell: str) -> list[str]:
    return CODE_SPAN.findall(cell)


def command_of(row: Row) -> Command:
    """The command a row is about, found by its English usage as a person would type it."""
    spans = code_spans(row.cells[ENGLISH])
    assert len(spans) == 1, f"{row.where()}: the {ENGLISH} cell holds one code span, the usage"
    words = spans[0].removeprefix(PREFIX).split()
    # A subcommand's row names its parent first (challenge new); otherwise word two is an argument.
    command = registry().find_path(words[:2]) or registry().find_path(words[:1])
    assert command is not None, f"{row.where()}: {spans[0]!r} is no command the bot knows"
    return command


def test_the_guides_have_command_tables() -> None:
    for page in GUIDE_OF_ROLE.values():
        assert command_rows(page), f"{page.relative_to(ROOT)} has no command table"


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.name.lower())
def test_each_guide_lists_exactly_the_commands_of_its_audience(role: Role) -> None:
    page = GUIDE_OF_ROLE[role]
    listed = [command_of(row) for row in command_rows(page)]
    expected = [command for command in registry().commands() if command.role is role]
    missing = [command.name for command in expected if command not in listed]
    others = [command.name for command in listed if command.role is not role]
    twice = sorted({command.name for command in listed if listed.count(command) > 1})
    problems = [
        *(f"leaves out {name}" for name in missing),
        *(f"lists {name}, not a {role.name.lower()} command" for name in others),
        *(f"lists {name} more than once" for name in twice),
    ]
    assert not problems, f"{page.name}: " + "; ".join(problems)


def test_every_command_table_shows_the_usage_help_shows_in_each_language() -> None:
    problems: list[str] = []
    for row in all_command_rows():
        command = command_of(row)
        for column, language in ((ENGLISH, "en"), (DUTCH, "nl")):
            expected = usage(command, language)
            shown = code_spans(row.cells[column])
            if shown != [expected]:
                problems.append(f"{row.where()}: {column} shows {shown}, help shows {expected!r}")
    assert not problems, "\n".join(problems)


def test_every_command_table_lists_the_other_spellings() -> None:
    problems: list[str] = []
    for row in all_command_rows():
        command = command_of(row)
        column = next((name for name in ALSO if name in row.cells), None)
        if column is None:
            problems.append(f"{row.where()}: no {ALSO[0]!r} column")
            continue
        listed = [span.removeprefix(PREFIX).split()[-1] for span in code_spans(row.cells[column])]
        if sorted(listed) != sorted(command.aliases):
            problems.append(f"{row.where()}: lists {listed}, the command has {command.aliases}")
    assert not problems, "\n".join(problems)


def test_every_command_named_in_the_docs_exists() -> None:
    problems: list[str] = []
    for page in PAGES:
        for number, line in prose_lines(page):
            for span in code_spans(line):
                named = NAMED_COMMAND.match(span)
                if named and registry().find(named.group(1)) is None:
                    problems.append(f"{page.relative_to(ROOT)}:{number}: {span!r}")
    assert not problems, "commands the bot does not know:\n" + "\n".join(problems)


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    kept = "".join(char for char in text if char in " -_" or unicodedata.category(char)[0] in "LN")
    return kept.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found: list[str] = []
    seen: dict[str, int] = {}
    for _, line in prose_lines(page):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            name = anchor(CODE_SPAN.sub(r"\1", heading.group(1)))
            # A repeated heading gets -1, -2 ... after its name, as GitHub numbers them.
            found.append(f"{name}-{seen[name]}" if name in seen else name)
            seen[name] = seen.get(name, 0) + 1
    return frozenset(found)


def test_every_relative_link_points_at_a_file_that_exists() -> None:
    problems: list[str] = []
    for page in PAGES:
        numbered = list(prose_lines(page))
        # Whole paragraphs, not lines: a link's text may wrap onto the next line.
        text = "\n".join(line for _, line in numbered)
        for found in LINK.finditer(text):
            target = found.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:: not ours to check
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            number = numbered[text.count("\n", 0, found.start(1))][0]
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where}: no such file")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                problems.append(f"{where}: no such heading in {linked.name}")
    assert not problems, "\n".join(problems)


def test_every_configuration_key_is_in_the_operators_guide() -> None:
    guide = (DOCS / "operators.md").read_text(encoding="utf-8")
    sections = {
        name: next(  # an optional section (X | None) is documented as X
            (arg for arg in (field.annotation, *get_args(field.annotation)) if _is_model(arg)),
            None,
        )
        for name, field in Config.model_fields.items()
    }
    keys = [
        f"{section}.{key}"
        for section, model in sections.items()
        if model is not None
        for key in model.model_fields
    ]
    assert keys, "Config has no sections"
    missing = [key for key in keys if f"| `{key}` |" not in guide]
    assert not missing, f"docs/operators.md, Configuration, has no row for {missing}"


def _is_model(annotation: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
