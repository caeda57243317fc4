"""A :class:`handlers.reply.Reply` as JSON, for the outbox: rows carry what the bot says, not
how one network shows it, and each front end renders it when the row goes out
(:mod:`bot.matrix.rendering`, :mod:`bot.discord.markdown`).

The one place where replies are written to and read from JSON. A row's JSON is read back as
untrusted: what does not fit raises :class:`ValueError`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from handlers.reply import (
    Block,
    Bold,
    Code,
    Inline,
    Italic,
    Items,
    Link,
    Mention,
    Para,
    Quote,
    Reply,
    Span,
    Text,
)

#: Deeper nesting than this is no reply the handlers build.
MAX_DEPTH = 16


def dump_reply(reply: Reply) -> dict[str, Any]:
    return {"blocks": [_dump_block(block) for block in reply.blocks]}


def load_reply(data: object) -> Reply:
    """The reply ``data`` holds; :class:`ValueError` if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise ValueError("a reply is an object with a list of blocks")
    return Reply(tuple(_load_block(block) for block in data["blocks"]))


def _dump_block(block: Block) -> dict[str, Any]:
    if isinstance(block, Para):
        return {"para": _dump_inline(block.content)}
    if isinstance(block, Items):
        return {"items": [_dump_inline(item) for item in block.items]}
    return {"quote": block.value}


def _dump_inline(node: Inline) -> dict[str, Any]:
    if isinstance(node, Text):
        return {"text": node.value}
    if isinstance(node, Code):
        return {"code": node.value}
    if isinstance(node, Mention):
        return {"mention": node.user_id}
    if isinstance(node, Bold):
        return {"bold": _dump_inline(node.child)}
    if isinstance(node, Italic):
        return {"italic": _dump_inline(node.child)}
    if isinstance(node, Link):
        return {"link": {"url": node.url, "child": _dump_inline(node.child)}}
    return {"span": [_dump_inline(child) for child in node.children]}


def _load_block(data: object) -> Block:
    key, value = _single(data)
    if key == "para":
        return Para(_load_inline(value, 0))
    if key == "items" and isinstance(value, list):
        return Items(tuple(_load_inline(item, 0) for item in value))
    if key == "quote" and isinstance(value, str):
        return Quote(value)
    raise ValueError(f"not a block: {key!r}")


def _load_inline(data: object, depth: int) -> Inline:
    if depth > MAX_DEPTH:
        raise ValueError("a reply nested too deep")
    key, value = _single(data)
    if key == "text" and isinstance(value, str):
        return Text(value)
    if key == "code" and isinstance(value, str):
        return Code(value)
    if key == "mention" and isinstance(value, str):
        return Mention(value)
    if key == "bold":
        return Bold(_load_inline(value, depth + 1))
    if key == "italic":
        return Italic(_load_inline(value, depth + 1))
    if key == "link" and isinstance(value, dict) and isinstance(value.get("url"), str):
        return Link(value["url"], _load_inline(value.get("child"), depth + 1))
    if key == "span" and isinstance(value, list):
        return Span(tuple(_load_inline(child, depth + 1) for child in value))
    raise ValueError(f"not an inline node: {key!r}")


def _single(data: object) -> tuple[str, object]:
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError("a node is an object with one key")
    ((key, value),) = data.items()
    return str(key), value


def _validate(value: object) -> Reply:
    return value if isinstance(value, Reply) else load_reply(value)


#: A payload's field holding a reply: a :class:`Reply` in the model, its JSON in the row.
ReplyField = Annotated[
    Reply, PlainValidator(_validate), PlainSerializer(dump_reply, return_type=dict[str, Any])
]
