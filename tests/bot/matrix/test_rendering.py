"""Rendering a reply into Matrix content (bot/matrix/rendering.py): links into the public
report."""

from __future__ import annotations

from bot.matrix.rendering import render
from handlers.reply import Bold, Link, Reply, Span, Text


def test_a_link_is_an_anchor_with_its_address_escaped_and_in_the_plain_body() -> None:
    url = 'https://stad.gent/uitdagingen/challenges/parks.html#idea-12"><script>'
    content = render(Reply.of(Span((Text("Op de website: "), Link(url, Text(url))))))

    assert content["body"] == f"Op de website: {url}"
    assert (
        '<a href="https://stad.gent/uitdagingen/challenges/parks.html#idea-12&quot;&gt;'
        '&lt;script&gt;">' in content["formatted_body"]
    )
    assert "<script>" not in content["formatted_body"]
    assert content["m.mentions"] == {}


def test_a_link_with_words_shows_its_address_in_the_plain_body() -> None:
    content = render(Reply.of(Link("https://example.org/", Bold(Text("the report")))))

    assert content["body"] == "the report (https://example.org/)"
    assert content["formatted_body"] == (
        '<p><a href="https://example.org/"><strong>the report</strong></a></p>'
    )
