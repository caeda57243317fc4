"""What the bot says, as a small tree of nodes. Escaping happens once, when a front end renders
it (`bot.matrix.rendering`).

Handlers never build HTML or Markdown: user text goes into ``Text`` nodes as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Bold:
    child: Inline


@dataclass(frozen=True)
class Italic:
    child: Inline


@dataclass(frozen=True)
class Code:
    value: str


@dataclass(frozen=True)
class Mention:
    """A user the message is meant to notify; listed in ``m.mentions``."""

    user_id: str


@dataclass(frozen=True)
class Link:
    """A link to a web page the bot's configuration names (the public report): never to an
    address a person typed."""

    url: str
    child: Inline


@dataclass(frozen=True)
class Span:
    children: tuple[Inline, ...]


Inline = Text | Bold | Italic | Code | Mention | Link | Span


@dataclass(frozen=True)
class Para:
    content: Inline


@dataclass(frozen=True)
class Items:
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Quote:
    """Text a person wrote (a description, a reason), shown as a block quote."""

    value: str


Block = Para | Items | Quote


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...] = field(default=())

    @classmethod
    def of(cls, *parts: Inline | Block) -> Reply:
        return cls(
            tuple(part if isinstance(part, Para | Items | Quote) else Para(part) for part in parts)
        )

    def __add__(self, other: Reply) -> Reply:
        return Reply(self.blocks + other.blocks)

    @property
    def mentions(self) -> tuple[str, ...]:
        found: list[str] = []
        for block in self.blocks:
            inlines: tuple[Inline, ...] = ()
            if isinstance(block, Para):
                inlines = (block.content,)
            elif isinstance(block, Items):
                inlines = block.items
            for inline in inlines:
                _collect_mentions(inline, found)
        return tuple(dict.fromkeys(found))


def _collect_mentions(node: Inline, found: list[str]) -> None:
    if isinstance(node, Mention):
        found.append(node.user_id)
    elif isinstance(node, Bold | Italic | Link):
        _collect_mentions(node.child, found)
    elif isinstance(node, Span):
        for child in node.children:
            _collect_mentions(child, found)


def plain_text(node: Inline) -> str:
    """What a node says, without its formatting (a mention is the user's ID)."""
    if isinstance(node, Text | Code):
        return node.value
    if isinstance(node, Mention):
        return node.user_id
    if isinstance(node, Bold | Italic):
        return plain_text(node.child)
    if isinstance(node, Link):
        shown = plain_text(node.child)
        return shown if shown == node.url else f"{shown} ({node.url})"
    return "".join(plain_text(child) for child in node.children)
