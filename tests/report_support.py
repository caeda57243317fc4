"""Reading the public report back: its HTML parsed with the standard library's parser into what
the tests check (language, headings, tables, images, links, text), and the WCAG contrast ratio."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

#: A Matrix user or room ID, as it would appear in text: @name:server or !room:server.
MATRIX_ID = re.compile(r"[@!][A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+")


@dataclass
class Table:
    caption: str = ""
    rows: list[list[str]] = field(default_factory=list)

    @property
    def body(self) -> list[list[str]]:
        """The rows without the header row."""
        return self.rows[1:]


@dataclass
class Image:
    src: str
    alt: str | None
    #: Whether a table stands beside it (in the same chart block).
    beside_table: bool = False


class Page(HTMLParser):
    """One page, parsed: what a reader (or a screen reader) gets from it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.headings: list[tuple[int, str]] = []
        self.tables: list[Table] = []
        self.images: list[Image] = []
        self.links: list[str] = []  # every href and src
        self.tags: list[str] = []
        self.text_parts: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._table: Table | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._chart_depth = 0  # >0 inside a div.chart
        self._div_depth = 0
        self._chart_images: list[Image] = []
        self._chart_has_table = False
        self.feed(source)
        self.close()

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        for name in ("href", "src"):
            if values.get(name) is not None:
                self.links.append(str(values[name]))
        if tag == "html":
            self.lang = values.get("lang")
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = (int(tag[1]), [])
        elif tag == "div":
            self._div_depth += 1
            if "chart" in (values.get("class") or "").split():
                self._chart_depth = self._div_depth
                self._chart_images, self._chart_has_table = [], False
        elif tag == "img":
            image = Image(str(values.get("src")), values.get("alt"))
            self.images.append(image)
            if self._chart_depth:
                self._chart_images.append(image)
        elif tag == "table":
            self._table = Table()
            if self._chart_depth:
                self._chart_has_table = True
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            level, parts = self._heading
            self.headings.append((level, " ".join("".join(parts).split())))
            self._heading = None
        elif tag == "div":
            if self._chart_depth == self._div_depth:
                for image in self._chart_images:
                    image.beside_table = self._chart_has_table
                self._chart_depth = 0
            self._div_depth -= 1
        elif tag == "caption" and self._caption is not None and self._table is not None:
            self._table.caption = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self._table.rows.append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        for parts in (
            self._heading[1] if self._heading else None,
            self._cell,
            self._caption,
        ):
            if parts is not None:
                parts.append(data)

    def table(self, caption_start: str) -> Table:
        (found,) = [t for t in self.tables if t.caption.startswith(caption_start)]
        return found


def read_page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


class _Anchors(HTMLParser):
    """The ids of a page's elements, each with the text inside it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of the elements open now
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element_id = dict(attrs).get("id")
        if element_id is not None:
            self.found.setdefault(element_id, [])
        self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, element_id in self._open:
            if element_id is not None:
                self.found[element_id].append(data)


def anchors(path: Path) -> dict[str, str]:
    """Every ``id`` on the page at ``path`` and the text of its element: where a link's
    ``#fragment`` opens, and what the reader sees there."""
    parsed = _Anchors(path.read_text(encoding="utf-8"))
    return {key: " ".join(" ".join(parts).split()) for key, parts in parsed.found.items()}
