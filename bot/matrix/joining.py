"""A busy room gets fewer, better messages: short confirmations waiting together are joined.

The rule: when at least :data:`JOIN_AT_LEAST` short confirmations ("your vote is counted",
marked by the handler as ``Outcome.confirmation``) for at least two people wait one after the
other at the head of a room's queue, in the same thread (or all outside threads), they go out
as one message (a direct chat, with one person, keeps its replies): a line
per person, each naming and mentioning that person (so each is notified), with the text they
would have had on its own, in the thread they came from. Errors, answers to other commands and
anything longer keep their own reply. The joined rows are marked sent only when the joined
message is; a crash in between sends it again, once (its transaction id names its rows).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from bot.delivery import Joining
from bot.matrix.rendering import content_of
from bot.outbox import MessagePayload, UnreadableRow, read
from storage import OutboxItem

#: Fewer waiting confirmations than this go out one by one, as replies.
JOIN_AT_LEAST = 3
#: At most this many in one message: it stays readable.
JOIN_AT_MOST = 30


def joinable_run(items: list[OutboxItem]) -> list[OutboxItem]:
    """The confirmations at the head of ``items`` (a lane's next rows, in order) that may go
    out as one message; empty when the head goes out alone."""
    run: list[OutboxItem] = []
    thread: Any = None
    for item in items[:JOIN_AT_MOST]:
        mark = _mark(item)
        if mark is None:
            break
        if run and mark.get("thread_root") != thread:
            break
        thread = mark.get("thread_root")
        run.append(item)
    people = {str((_mark(item) or {}).get("user_id")) for item in run}
    return run if len(run) >= JOIN_AT_LEAST and len(people) >= 2 else []


def joined(items: list[OutboxItem]) -> OutboxItem:
    """One message row for the confirmations in ``items`` (from :func:`joinable_run`)."""
    lines_plain: list[str] = []
    lines_html: list[str] = []
    people: list[str] = []
    for item in items:
        mark = _mark(item)
        assert mark is not None
        user_id = str(mark["user_id"])
        message = read(item)
        assert isinstance(message, MessagePayload)  # only messages are marked joinable
        content = content_of(message)
        if user_id not in people:
            people.append(user_id)
        href = "https://matrix.to/#/" + quote(user_id, safe="@:")
        link = f'<a href="{html.escape(href, quote=True)}">{html.escape(user_id)}</a>'
        lines_plain.append(f"{user_id}: {content['body']}")
        lines_html.append(f"<li>{link}: {_inline(content['formatted_body'])}</li>")
    combined: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": "\n".join(lines_plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "<ul>" + "".join(lines_html) + "</ul>",
        "m.mentions": {"user_ids": people},
    }
    thread_root = _mark(items[0]) or {}
    if thread_root.get("thread_root"):
        combined["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread_root["thread_root"],
            "is_falling_back": True,
        }
    first = items[0]
    return OutboxItem(
        id=first.id,
        kind="message",
        room_id=first.room_id,
        payload={"content": combined, "card": None},
        attempts=first.attempts,
    )


def _mark(item: OutboxItem) -> dict[str, Any] | None:
    """A readable message's joinable mark; a row that cannot be read goes alone (and fails)."""
    mark = item.payload.get("joinable") if item.kind == "message" else None
    if not isinstance(mark, dict) or not isinstance(mark.get("user_id"), str):
        return None
    try:
        read(item)
    except UnreadableRow:
        return None
    return mark


def _inline(formatted: str) -> str:
    """Our own rendering of a one-paragraph reply, as inline HTML (it was escaped when made)."""
    text = formatted.strip()
    if text.startswith("<p>") and text.endswith("</p>"):
        text = text[3:-4]
    return text.replace("</p><p>", " ")


#: The delivery loop's joining in a Matrix room (:class:`bot.delivery.Joining`).
JOIN_CONFIRMATIONS = Joining(run=joinable_run, join=joined, at_most=JOIN_AT_MOST)
