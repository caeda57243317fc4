"""The content of the poll events the bot sends (MSC3381, under the unstable names that
Element Web and Element X read), with the text fallback of MSC1767 for other clients."""

from __future__ import annotations

from typing import Any

from bot.matrix.content import POLL_END_TYPE, POLL_START_TYPE
from handlers.services.final_polls import MAX_SELECTIONS

__all__ = ["POLL_END_TYPE", "POLL_START_TYPE", "end_content", "start_content"]

_TEXT = "org.matrix.msc1767.text"


def start_content(question: str, answers: list[tuple[str, str]]) -> dict[str, Any]:
    """A disclosed poll (everyone sees the counts as they come) with one answer per person."""
    fallback = "\n".join(
        [question, *(f"{number}. {text}" for number, (_id, text) in enumerate(answers, 1))]
    )
    return {
        POLL_START_TYPE: {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": MAX_SELECTIONS,
            "question": {_TEXT: question},
            "answers": [{"id": answer_id, _TEXT: text} for answer_id, text in answers],
        },
        _TEXT: fallback,
        "m.mentions": {},
    }


def end_content(start_event_id: str, text: str) -> dict[str, Any]:
    """The end of the poll started by ``start_event_id``; ``text`` says the result."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_event_id},
        POLL_END_TYPE: {},
        _TEXT: text,
        "m.mentions": {},
    }
