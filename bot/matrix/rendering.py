"""Turns a ``Reply`` into Matrix event content: plain body, escaped HTML, and ``m.mentions``.

Outbox rows carry the reply; it is rendered here when the row goes out (:func:`content_of`).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from bot.outbox import DirectPayload, MessagePayload, PollEndPayload
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
    Text,
    plain_text,
)


def content_of(payload: MessagePayload | DirectPayload) -> dict[str, Any]:
    """The event content of an outbox message: its reply rendered now, or the content a row of
    an earlier version was queued with."""
    if payload.content is not None:
        return payload.content
    assert payload.reply is not None  # the payload's model holds one or the other
    if isinstance(payload, DirectPayload):
        return render(payload.reply)
    if payload.replaces is not None:
        return render_edit(payload.reply, payload.replaces)
    return render(payload.reply, reply_to=payload.reply_to, thread_root=payload.thread_root)


def poll_end_text(payload: PollEndPayload) -> str:
    """What a poll's end says: its summary's plain text (rows of earlier versions: their text)."""
    if payload.summary is not None:
        return str(render(payload.summary)["body"])
    return payload.text or ""


def render(
    reply: Reply, *, reply_to: str | None = None, thread_root: str | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": _defuse_room_mention("\n".join(_plain_block(block) for block in reply.blocks)),
        "format": "org.matrix.custom.html",
        "formatted_body": "".join(_html_block(block) for block in reply.blocks),
        # Only the people a message is meant for get notified; never @room.
        "m.mentions": {"user_ids": list(reply.mentions)} if reply.mentions else {},
    }
    if thread_root is not None:
        relation: dict[str, Any] = {"rel_type": "m.thread", "event_id": thread_root}
        if reply_to is not None:
            relation |= {"is_falling_back": False, "m.in_reply_to": {"event_id": reply_to}}
        content["m.relates_to"] = relation
    elif reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def render_edit(reply: Reply, original_event_id: str) -> dict[str, Any]:
    """An edit (``m.replace``) that makes ``original_event_id`` show ``reply`` instead."""
    new_content = render(reply)
    return {
        "msgtype": new_content["msgtype"],
        "body": "* " + new_content["body"],
        "format": new_content["format"],
        "formatted_body": "* " + new_content["formatted_body"],
        "m.new_content": new_content,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
        "m.mentions": {},
    }


def _plain_block(block: Block) -> str:
    if isinstance(block, Para):
        return plain_text(block.content)
    if isinstance(block, Items):
        return "\n".join(f"• {plain_text(item)}" for item in block.items)
    return "\n".join(f"> {line}" for line in block.value.split("\n"))


def _html_block(block: Block) -> str:
    if isinstance(block, Para):
        return f"<p>{_html(block.content)}</p>"
    if isinstance(block, Items):
        return "<ul>" + "".join(f"<li>{_html(item)}</li>" for item in block.items) + "</ul>"
    assert isinstance(block, Quote)
    return f"<blockquote>{_escape(block.value)}</blockquote>"


def _html(node: Inline) -> str:
    if isinstance(node, Text):
        return _escape(node.value)
    if isinstance(node, Code):
        return f"<code>{_escape(node.value)}</code>"
    if isinstance(node, Bold):
        return f"<strong>{_html(node.child)}</strong>"
    if isinstance(node, Italic):
        return f"<em>{_html(node.child)}</em>"
    if isinstance(node, Mention):
        href = "https://matrix.to/#/" + quote(node.user_id, safe="@:")
        return f'<a href="{_escape(href)}">{_escape(node.user_id)}</a>'
    if isinstance(node, Link):
        return f'<a href="{_escape(node.url)}">{_html(node.child)}</a>'
    return "".join(_html(child) for child in node.children)


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


def _defuse_room_mention(body: str) -> str:
    """Older clients and push rules treat "@room" in a body as a mention of everyone; a word
    joiner keeps the text readable and harmless. ``m.mentions`` is what counts for new ones."""
    return body.replace("@room", "@\u2060room")
