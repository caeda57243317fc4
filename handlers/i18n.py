"""The message catalogue: every user-facing text, in Dutch and English, from gettext .po files.

Message ids are stable keys (``idea.submitted``); the .po files hold the text. Babel reads them
at start-up, so no compiled .mo file is generated or committed. Placeholders use ``{name}``; a
value may be a plain value (escaped when rendered) or a reply node such as ``Bold``.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, get_timezone
from babel.messages.pofile import read_po

from handlers.reply import Bold, Code, Inline, Italic, Link, Mention, Span, Text, plain_text
from storage import IdeaStatus

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("nl", "en")
LOCALE_DIR = Path(__file__).parent / "locales"

_Template = str | tuple[str, ...]
#: The inline nodes, as a tuple: isinstance with a tuple is cheaper than with a union.
_NODES = (Text, Bold, Italic, Code, Mention, Link, Span)
_formatter = string.Formatter()


@dataclass(frozen=True)
class Moment:
    """An instant shown in the programme's time zone (``programme.timezone``), in the reader's
    language: "30 juni 2026 om 18:00", or "30 juni 2026 (einde van de dag)" for midnight."""

    instant: datetime
    timezone: str


class Catalogue:
    def __init__(self, directory: Path = LOCALE_DIR, *, fallback: str = "en") -> None:
        self.fallback = fallback
        self._messages: dict[str, dict[str, _Template]] = {}
        self._parse_cache: dict[str, tuple[tuple[Text | None, str | None], ...]] = {}
        self._locales = {language: Locale.parse(language) for language in LANGUAGES}
        self._plural_forms = {
            language: self._locales[language].plural_form for language in LANGUAGES
        }
        for language in LANGUAGES:
            with (directory / f"{language}.po").open("rb") as handle:
                catalog = read_po(handle, locale=language)
            messages: dict[str, _Template] = {}
            for message in catalog:
                if not message.id:
                    continue
                key = str(message.id[0] if isinstance(message.id, list | tuple) else message.id)
                text = message.string
                if isinstance(text, list | tuple):
                    messages[key] = tuple(str(form) for form in text)
                elif text:
                    messages[key] = str(text)
            self._messages[language] = messages

    def keys(self, language: str) -> set[str]:
        return set(self._messages[language])

    def raw(self, language: str, key: str) -> _Template | None:
        return self._messages.get(language, {}).get(key)

    def template(self, language: str, key: str, count: int | None = None) -> str:
        found = self.raw(language, key)
        if not found:
            log.warning("Missing catalogue text %r for language %r", key, language)
            found = self.raw(self.fallback, key) or key
        if isinstance(found, tuple):
            one = count is not None and self._plural_forms[language](count) == "one"
            return found[0] if one or len(found) == 1 else found[1]
        return found

    def span(self, language: str, key: str, **params: Any) -> Span:
        count = params.get("count")
        template = self.template(language, key, count if isinstance(count, int) else None)
        children: list[Inline] = []
        for literal, field in self._parsed(template):
            if literal is not None:
                children.append(literal)
            if field is not None:
                children.append(self._inline(language, params, field))
        return Span(tuple(children))

    def _parsed(self, template: str) -> tuple[tuple[Text | None, str | None], ...]:
        """The template's literal text (as nodes, which are immutable) and placeholders,
        parsed once."""
        parsed = self._parse_cache.get(template)
        if parsed is None:
            parsed = tuple(
                (Text(literal) if literal else None, field)
                for literal, field, _, _ in _formatter.parse(template)
            )
            self._parse_cache[template] = parsed
        return parsed

    def plain(self, language: str, key: str, **params: Any) -> str:
        return plain_text(self.span(language, key, **params))

    def _inline(self, language: str, params: Mapping[str, Any], field: str) -> Inline:
        if field not in params:
            log.warning("Catalogue text is missing a value for {%s}", field)
            return Text("{" + field + "}")
        return self.value(language, params[field])

    def value(self, language: str, value: Any) -> Inline:
        if isinstance(value, _NODES):
            return value
        if isinstance(value, IdeaStatus):
            return self.span(language, f"status.{value.value}")
        if isinstance(value, Moment):
            return Text(self._moment(language, value))
        if isinstance(value, datetime):
            return Text(format_datetime(value, format="medium", locale=self._locales[language]))
        if isinstance(value, date):
            return Text(format_date(value, format="long", locale=self._locales[language]))
        if value is None:
            return Text("–")
        return Text(str(value))

    def _moment(self, language: str, moment: Moment) -> str:
        locale = self._locales[language]
        zone = get_timezone(moment.timezone)
        local = moment.instant.astimezone(zone)
        if local.time() == time(0):  # a deadline given as a date: the day it ends
            day = format_date(local.date() - timedelta(days=1), format="long", locale=locale)
            return self.plain(language, "programme.end_of_day", day=Text(day))
        return self.plain(
            language,
            "programme.at",
            day=Text(format_date(local.date(), format="long", locale=locale)),
            time=Text(format_time(moment.instant, format="short", tzinfo=zone, locale=locale)),
        )
