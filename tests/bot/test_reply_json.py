"""Outbox rows carry replies as JSON, rendered by the front end when they go out; rows queued by
an earlier version with Matrix content are still carried out as they are."""

from __future__ import annotations

import pytest

from bot.matrix.rendering import content_of, poll_end_text, render
from bot.outbox import (
    DirectPayload,
    MessagePayload,
    PollEndPayload,
    UnreadableRow,
    read,
)
from bot.reply_json import dump_reply, load_reply
from handlers.reply import Bold, Code, Italic, Items, Mention, Para, Quote, Reply, Span, Text
from storage import OutboxItem

REPLY = Reply(
    (
        Para(Span((Bold(Text("Idea #3")), Text(" by "), Mention("@ann:city.test")))),
        Items((Italic(Text("<b>not html</b>")), Code("!vote 3"))),
        Quote("line one\nline two"),
    )
)


def _row(kind: str, payload: dict[str, object]) -> OutboxItem:
    return OutboxItem(id=1, kind=kind, room_id="!room:city.test", payload=payload, attempts=0)


def test_a_reply_survives_its_json() -> None:
    assert load_reply(dump_reply(REPLY)) == REPLY


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"blocks": "no"},
        {"blocks": [{"para": {"text": 5}}]},
        {"blocks": [{"para": {"text": "a", "bold": {"text": "b"}}}]},
        {"blocks": [{"heading": "x"}]},
        {"blocks": [{"para": {"script": "alert(1)"}}]},
    ],
)
def test_what_is_no_reply_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        load_reply(data)


def test_a_queued_reply_is_rendered_when_it_goes_out() -> None:
    payload = MessagePayload(reply=REPLY, reply_to="$cmd", thread_root="$root", card=3)
    row = _row("message", payload.model_dump(mode="json", exclude_unset=True))
    assert "content" not in row.payload
    message = read(row)
    assert isinstance(message, MessagePayload)
    assert content_of(message) == render(REPLY, reply_to="$cmd", thread_root="$root")


def test_a_row_of_an_earlier_version_keeps_its_content() -> None:
    content = {"msgtype": "m.notice", "body": "queued before the upgrade"}
    message = read(_row("message", {"content": content, "card": None}))
    assert isinstance(message, MessagePayload)
    assert content_of(message) == content
    direct = read(_row("direct", {"user_id": "@ann:city.test", "content": content}))
    assert isinstance(direct, DirectPayload)
    assert content_of(direct) == content
    end = read(_row("poll_end", {"poll_id": 1, "text": "The result"}))
    assert isinstance(end, PollEndPayload)
    assert poll_end_text(end) == "The result"


def test_a_card_edit_renders_as_an_edit() -> None:
    message = MessagePayload(reply=REPLY, replaces="$card", edit_of=3)
    content = content_of(message)
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$card"}


@pytest.mark.parametrize(
    "payload",
    [
        {"card": None},  # says nothing
        {"content": {"body": "x"}, "reply": dump_reply(REPLY)},  # says two things
        {"reply": {"blocks": [{"para": {"text": ["x"]}}]}},
    ],
)
def test_a_message_row_that_does_not_fit_is_unreadable(payload: dict[str, object]) -> None:
    with pytest.raises(UnreadableRow):
        read(_row("message", payload))


def test_the_summary_of_a_poll_is_its_plain_text() -> None:
    end = PollEndPayload(poll_id=1, summary=Reply.of(Span((Text("Winner: "), Bold(Text("#3"))))))
    assert poll_end_text(end) == "Winner: #3"
