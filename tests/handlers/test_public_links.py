"""Links from the chat into the public report (handlers/public_links.py): with
``report.public_url`` set, cards, closing summaries, poll results and ``!challenge`` link to
the challenge's page, and the page the report writes has the anchor the link names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from handlers.effects import Announce, SendRoom, StartPoll
from handlers.public_links import PublicLinks, idea_anchor, page_name, page_path
from handlers.reply import Link, Reply
from handlers.settings import ReportSettings
from report import gather, write_site
from tests.handler_support import (
    ALICE,
    BOB,
    MODERATOR,
    Harness,
    catalogue,
    effects_of,
    new_challenge,
    open_harness,
    submit,
    text,
)
from tests.report_support import anchors

BASE = "https://stad.gent/uitdagingen/"


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path, report=ReportSettings(public_url=BASE)) as harness:
        yield harness


def links_in(reply: Reply) -> list[str]:
    """The addresses of the Link nodes of a reply."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Link):
            found.append(node.url)
        for child in getattr(node, "children", ()) or ():
            walk(child)
        child = getattr(node, "child", None)
        if child is not None:
            walk(child)
        content = getattr(node, "content", None)
        if content is not None:
            walk(content)
        for item in getattr(node, "items", ()) or ():
            walk(item)

    for block in reply.blocks:
        walk(block)
    return found


async def publish(bot: Harness, folder: Path) -> Path:
    """Generate the report as ``challenge-bot report`` does, into ``folder``."""
    async with bot.db.snapshot():
        data = await gather(bot.store, now=bot.clock())
    write_site(
        data,
        folder,
        language="nl",
        timezone="Europe/Brussels",
        site_title="Uitdagingen",
        catalogue=catalogue(),
    )
    return folder


def opens_at(site: Path, url: str) -> tuple[Path, str]:
    """The file of the published site a link leads to, and the anchor it opens at."""
    assert url.startswith(BASE), url
    parts = urlsplit(url)
    relative = unquote(parts.path).removeprefix(urlsplit(BASE).path)
    return site / relative, parts.fragment


async def test_a_cards_link_opens_the_generated_report_at_its_idea(
    linked: Harness, tmp_path: Path
) -> None:
    await new_challenge(linked, options="--deadline=2099-12-31")
    other = await submit(linked, BOB, "Benches on the square")
    submitted = await linked.say(ALICE, "!idea mobility Car-free school streets")
    (card,) = effects_of(submitted, SendRoom)
    assert card.card is not None
    (url,) = links_in(card.reply)
    assert url == f"{BASE}challenges/mobility.html#idea-{card.card}"
    assert url in text(card.reply)  # the address is shown, not hidden behind a word

    site = await publish(linked, tmp_path / "site")

    page, anchor = opens_at(site, url)
    assert page.is_file()
    found = anchors(page)
    assert anchor in found
    assert found[anchor].startswith(f"#{card.card} Car-free school streets")
    assert found[idea_anchor(other)].startswith(f"#{other} Benches on the square")


async def test_challenge_closing_summary_and_poll_result_link_to_the_challenges_page(
    linked: Harness, tmp_path: Path
) -> None:
    await new_challenge(linked, options="--deadline=2099-12-31")
    first = await submit(linked, ALICE, "Car-free school streets")
    second = await submit(linked, BOB, "Benches on the square")
    page_url = f"{BASE}challenges/mobility.html"

    shown = await linked.say(ALICE, "!challenge mobility")
    assert links_in(shown.reply or Reply()) == [page_url]

    for idea in (first, second):  # a poll asks among ideas a moderator accepted
        await linked.say(MODERATOR, f"!accept {idea}", moderator=True)
    started = await linked.say(MODERATOR, f"!poll mobility {first} {second}", moderator=True)
    assert effects_of(started, StartPoll)
    ended = await linked.say(MODERATOR, "!poll end mobility", moderator=True)
    assert links_in(ended.reply or Reply()) == [f"{page_url}#poll"]

    closed = await linked.say(MODERATOR, "!challenge close mobility", moderator=True)
    (summary,) = effects_of(closed, SendRoom)
    assert links_in(summary.reply) == [page_url]
    (for_moderators,) = effects_of(closed, Announce)
    assert links_in(for_moderators.reply) == [page_url]

    site = await publish(linked, tmp_path / "site")
    page, anchor = opens_at(site, f"{page_url}#poll")
    assert page.is_file() and anchor in anchors(page)


async def test_without_a_public_url_nothing_links(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31")
    submitted = await bot.say(ALICE, "!idea mobility Car-free school streets")
    (card,) = effects_of(submitted, SendRoom)
    assert links_in(card.reply) == []
    assert links_in((await bot.say(ALICE, "!challenge mobility")).reply or Reply()) == []
    assert "https://" not in text(card.reply)


def test_the_report_and_the_links_name_pages_alike() -> None:
    links = PublicLinks("https://example.org/report/")
    assert page_path("parks", 3) == "challenges/parks.html"
    # A slug that is no safe file name (the database is not ours to trust) gets its number.
    assert page_name("../etc", 4) == "challenge_4"
    assert page_path("../etc", 4) == "challenges/challenge_4.html"
    assert PublicLinks(None)._url("parks", 3) is None
    assert (
        links._url("parks", 3, idea_anchor(7))
        == "https://example.org/report/challenges/parks.html#idea-7"
    )
