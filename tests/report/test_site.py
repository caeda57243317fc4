"""The public report: its pages say what the database says, show only what is public, need
nothing from the internet, and can be read by everyone (language, headings, text beside each
chart, contrast)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from devtools.seed import seed_challenge
from handlers.export import export_data
from handlers.services.final_polls import answer_id
from report import ReportData, gather, write_site
from report.charts import activity_chart, status_chart
from report.model import ChallengeView, IdeaRow
from report.site import page_name
from report.style import BACKGROUND, CHART_COLOURS, STYLESHEET, TEXT_PAIRS
from storage import Challenge, IdeaStatus
from storage.timestamps import to_ms
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    START,
    Harness,
    catalogue,
    new_challenge,
    says,
    submit,
)
from tests.poll_support import answer as answer_poll
from tests.poll_support import start as start_poll
from tests.report_support import MATRIX_ID, Page, anchors, contrast, read_page

DAVE = "@dave:city.example"
ZONE = "Europe/Brussels"
SITE = "Uitdagingen van Stad Gent"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
#: A challenge for the tests of the activity alone (no database needed).
CHALLENGE = Challenge.model_validate(
    {
        "id": 1,
        "slug": "mobility",
        "title": "Safer bike lanes",
        "description": "",
        "status": "open",
        "room_id": None,
        "vote_budget": None,
        "premoderated": False,
        "created_by": MODERATOR,
        "created_at": START,
        "updated_at": START,
    }
)


async def fill(bot: Harness) -> dict[str, int]:
    """Two challenges with ideas in every state, and votes over three days."""
    await new_challenge(bot)
    ideas = {
        "benches": await submit(bot, ALICE, "Benches by the river", description="Shade too."),
        "crossing": await submit(bot, BOB, "Safe crossing <b>now</b>"),
    }
    await bot.say(CAROL, f"!vote {ideas['crossing']}")
    bot.clock.advance(days=1)
    ideas["hidden"] = await submit(bot, CAROL, "Hidden idea nobody may see")
    ideas["withdrawn"] = await submit(bot, ALICE, "Taken back by its author")
    ideas["rejected"] = await submit(bot, CAROL, "Turned down")
    ideas["copy"] = await submit(bot, CAROL, "Benches again")
    for voter, idea in ((ALICE, "crossing"), (BOB, "benches"), (BOB, "hidden"), (ALICE, "copy")):
        await bot.say(voter, f"!vote {ideas[idea]}")
    await bot.say(MODERATOR, f"!hide {ideas['hidden']}", moderator=True)
    await bot.say(ALICE, f"!withdraw {ideas['withdrawn']}")
    await bot.say(MODERATOR, f"!reject {ideas['rejected']} Not in scope", moderator=True)
    await bot.say(MODERATOR, f"!accept {ideas['crossing']}", moderator=True)
    await bot.say(MODERATOR, f"!duplicate {ideas['copy']} {ideas['benches']}", moderator=True)
    bot.clock.advance(days=1)
    await new_challenge(bot, "premod", options="--premoderated", title="Checked first")
    ideas["waiting"] = await submit(bot, ALICE, "Awaiting a moderator", slug="premod")
    ideas["let_through"] = await submit(bot, BOB, "Let through", slug="premod")
    await bot.say(MODERATOR, f"!accept {ideas['let_through']}", moderator=True)
    await bot.say(CAROL, f"!vote {ideas['let_through']}")
    return ideas


async def report(
    bot: Harness, output: Path, *, language: str = "nl", include_authors: bool = False
) -> ReportData:
    async with bot.db.snapshot():
        data = await gather(bot.store, now=bot.clock(), include_authors=include_authors)
    write_site(
        data, output, language=language, timezone=ZONE, site_title=SITE, catalogue=catalogue()
    )
    return data


def pages(output: Path) -> dict[str, Page]:
    return {str(p.relative_to(output)): read_page(p) for p in sorted(output.rglob("*.html"))}


async def test_the_figures_on_the_pages_are_the_databases(bot: Harness, tmp_path: Path) -> None:
    await fill(bot)
    await report(bot, tmp_path / "site")
    async with bot.db.snapshot():
        exported = await export_data(bot.store)
        voted = await bot.db.fetch_all(
            """SELECT c.slug, date(v.created_at, '+1 hour') AS day, COUNT(*) FROM votes v
                 JOIN ideas i ON i.id = v.idea_id JOIN challenges c ON c.id = i.challenge_id
                WHERE i.hidden = 0 AND i.status <> 'withdrawn'
                  AND (c.premoderated = 0 OR i.status IN ('accepted', 'implemented'))
                GROUP BY c.slug, day"""
        )  # Brussels is UTC+1 in March
    site = pages(tmp_path / "site")

    index = site["index.html"].table("De uitdagingen")
    assert [row[0] for row in index.body] == ["Safer bike lanes", "Checked first"]
    for row, challenge in zip(index.body, exported["challenges"], strict=True):
        assert row[4] == str(len(challenge["ideas"]))
        assert row[5] == str(sum(idea["votes"] for idea in challenge["ideas"]))
    assert (
        index.body[0][1] == "Open voor ideeën en stemmen tot 31 december 2099 (einde van de dag)."
    )

    for challenge in exported["challenges"]:
        page = site[f"challenges/{challenge['slug']}.html"]
        shown = {row[0]: (row[2], int(row[3])) for row in page.table("De ideeën").body}
        assert shown == {
            f"#{idea['id']}": (
                says("nl", f"status.{idea['status']}")
                + (f" (van #{idea['duplicate_of']})" if idea["duplicate_of"] else ""),
                idea["votes"],
            )
            for idea in challenge["ideas"]
        }
        by_status = Counter(says("nl", f"status.{idea['status']}") for idea in challenge["ideas"])
        outcome = page.table("Ideeën per status").body
        assert {row[0]: int(row[1]) for row in outcome} == dict(by_status)
        activity = page.table("Nieuwe ideeën en stemmen per dag").body
        assert sum(int(row[1]) for row in activity) == len(challenge["ideas"])
        votes_per_day = {
            date.fromisoformat(day): n for slug, day, n in voted if slug == challenge["slug"]
        }
        assert {row[0]: int(row[2]) for row in activity if row[2] != "0"} == {
            local_day(day): n for day, n in votes_per_day.items()
        }
        assert says("nl", "site.outcome_intro", count=len(challenge["ideas"])) in page.text


def local_day(day: date, language: str = "nl") -> str:
    return format_date(day, format="medium", locale=language)


async def test_hidden_withdrawn_and_not_let_through_never_appear(
    bot: Harness, tmp_path: Path
) -> None:
    ideas = await fill(bot)
    data = await report(bot, tmp_path / "site")
    everything = " ".join(page.text for page in pages(tmp_path / "site").values())

    for gone in ("Hidden idea nobody may see", "Taken back by its author", "Awaiting a moderator"):
        assert gone not in everything
    for kept in ("Benches by the river", "Safe crossing <b>now</b>", "Turned down", "Let through"):
        assert kept in everything
    shown = {idea.id for view in data.challenges for idea in view.ideas}
    assert shown.isdisjoint({ideas["hidden"], ideas["withdrawn"], ideas["waiting"]})
    # Bob's vote for the hidden idea is counted nowhere.
    assert sum(view.votes for view in data.challenges) == 5
    assert sum(n for view in data.challenges for _, n in view.vote_minutes) == 5


async def test_no_matrix_ids_unless_authors_are_asked_for(bot: Harness, tmp_path: Path) -> None:
    await fill(bot)
    await report(bot, tmp_path / "anonymous")
    await report(bot, tmp_path / "named", include_authors=True)

    files = [p for p in (tmp_path / "anonymous").rglob("*") if p.is_file()]
    assert len(files) == 8  # index, stylesheet, two pages with two charts each
    for path in files:
        assert MATRIX_ID.search(path.read_text(encoding="utf-8")) is None, path
    named = read_page(tmp_path / "named" / "challenges" / "mobility.html")
    authors = {row[0]: row[5] for row in named.table("De ideeën").body}
    assert set(authors.values()) == {ALICE, BOB, CAROL}
    assert "!mobility:city.example" not in named.text  # no room IDs either


async def test_nothing_is_fetched_from_elsewhere_and_every_link_resolves(
    bot: Harness, tmp_path: Path
) -> None:
    await fill(bot)
    output = tmp_path / "site"
    await report(bot, output)

    for name, page in pages(output).items():
        assert "script" not in page.tags and "iframe" not in page.tags, name
        for link in page.links:
            assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", link, re.I), (name, link)
            target = link.split("#")[0]
            if target:
                assert ((output / name).parent / target).resolve().is_file(), (name, link)
    assert "url(" not in STYLESHEET and "@import" not in STYLESHEET
    for chart in output.rglob("*.svg"):
        svg = chart.read_text(encoding="utf-8")
        assert "<image" not in svg and "@import" not in svg and "<text" not in svg, chart
        hrefs = re.findall(r'href="([^"]*)"', svg)
        assert all(href.startswith("#") for href in hrefs), chart


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_language_headings_and_text_beside_every_chart(
    bot: Harness, tmp_path: Path, language: str
) -> None:
    await fill(bot)
    output = tmp_path / language
    await report(bot, output, language=language)

    images = 0
    for name, page in pages(output).items():
        assert page.lang == language, name
        levels = [level for level, _ in page.headings]
        assert levels[0] == 1 and levels.count(1) == 1, name
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), name
        for image in page.images:
            assert image.alt and len(image.alt) > 20, (name, image)
            assert image.beside_table, (name, image)
            images += 1
        for table in page.tables:
            assert table.caption, name
    assert images == 4
    page = read_page(output / "challenges" / "mobility.html")
    headings = [text for _, text in page.headings]
    ideas = says(language, "site.ideas")
    assert headings == [
        "Safer bike lanes",
        ideas,
        says(language, "site.outcome"),
        says(language, "site.activity"),
        says(language, "site.poll"),
    ]
    (status_image, activity_image) = page.images
    assert says(language, "status.accepted") + ": 1" in (status_image.alt or "")
    assert activity_image.alt == says(
        language,
        "site.activity_alt_day",
        first=local_day(date(2026, 3, 2), language),
        last=local_day(date(2026, 3, 3), language),
        ideas=4,
        votes=4,
    )


def test_every_text_colour_has_enough_contrast() -> None:
    for text, background in TEXT_PAIRS:
        assert contrast(text, background) >= 4.5, (text, background)
    for colour in CHART_COLOURS:
        assert contrast(colour, BACKGROUND) >= 3.0, colour
    used = set(re.findall(r"#[0-9a-f]{6}", STYLESHEET))
    declared = {colour for pair in TEXT_PAIRS for colour in pair}
    assert used <= declared  # no colour in the stylesheet escapes the check


def test_the_contrast_formula_is_wcags() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


async def test_titles_are_escaped_wherever_they_appear(bot: Harness, tmp_path: Path) -> None:
    await new_challenge(bot, title=HOSTILE)
    await submit(bot, ALICE, HOSTILE, description=HOSTILE)
    output = tmp_path / "site"
    await report(bot, output)

    for name, page in pages(output).items():
        assert "script" not in page.tags, name
        assert all(image.src != "x" for image in page.images), name
        assert HOSTILE in page.text, name
    assert "<script>" not in (output / "index.html").read_text(encoding="utf-8")


async def test_the_same_database_gives_the_same_bytes(bot: Harness, tmp_path: Path) -> None:
    await fill(bot)
    await report(bot, tmp_path / "one")
    await report(bot, tmp_path / "two")

    one, two = (
        {p.relative_to(d): p.read_bytes() for p in d.rglob("*.*")}
        for d in (tmp_path / "one", tmp_path / "two")
    )
    assert one == two and len(one) > 5


def test_charts_are_svg_without_a_date_or_a_font() -> None:
    chart = activity_chart(
        ["1 mrt", "2 mrt"], [1, 2], [3, 0], ideas_label="i", votes_label="v", axis_label="n"
    )
    assert chart.startswith(b"<?xml") and b"<svg" in chart
    assert b"<dc:date>" not in chart and b"font-face" not in chart
    assert status_chart(["nieuw"], [2], axis_label="n") == status_chart(
        ["nieuw"], [2], axis_label="n"
    )


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``main`` sends the logs to this test's standard error, which closes with the test: put
    back what was there before, so that later tests log nowhere closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
def test_the_command_on_a_seeded_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(
        seed_challenge(
            database, "klimaat", ["Meer bomen", "Groene daken"], author=ALICE, title="Klimaat"
        )
    )
    config = tmp_path / "config.toml"
    config.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@bot:localhost"\n'
        f'password = "pw"\n[storage]\npath = "{database}"\n'
        '[programme]\nspace_name = "Gent denkt mee"\n'
    )
    output = tmp_path / "site"
    arguments = ["report", "--config", str(config), "--output", str(output)]

    assert main([*arguments, "--language", "en", "--include-authors"]) == 0
    assert "1 challenge, 5 files" in capsys.readouterr().out
    index = read_page(output / "index.html")
    assert index.lang == "en" and index.headings[0] == (1, "Gent denkt mee")
    page = read_page(output / "challenges" / "klimaat.html")
    assert {row[1]: row[5] for row in page.table("This challenge's ideas").body} == {
        "Meer bomen": ALICE,
        "Groene daken": ALICE,
    }
    assert main(arguments) == 0  # bot.language, nl by default; no authors
    page = read_page(output / "challenges" / "klimaat.html")
    assert page.lang == "nl" and MATRIX_ID.search(page.text) is None


def test_a_slug_that_is_no_file_name_gives_the_challenges_number() -> None:
    odd = CHALLENGE.model_copy(update={"slug": "../../etc/x", "id": 7})
    assert page_name(ChallengeView(CHALLENGE, (), ())) == "mobility"
    assert page_name(ChallengeView(odd, (), ())) == "challenge_7"


# --- the final poll ------------------------------------------------------------------------------


async def test_the_poll_section_shows_a_result_and_leaves_out_what_is_hidden(
    bot: Harness, tmp_path: Path
) -> None:
    ideas = await fill(bot)
    async with bot.db.snapshot():
        assert (await gather(bot.store, now=bot.clock())).challenges[0].poll is None  # no poll
    await bot.say(MODERATOR, f"!accept {ideas['benches']}", moderator=True)
    late = await submit(bot, DAVE, "Accepted, then hidden")
    await bot.say(MODERATOR, f"!accept {late}", moderator=True)
    bot.clock.advance(days=1)
    await start_poll(bot)
    sent = to_ms(bot.clock())
    for person, idea in ((ALICE, "crossing"), (BOB, "crossing"), (CAROL, "benches")):
        await answer_poll(bot, person, (answer_id(ideas[idea]),), sent)
    await answer_poll(bot, DAVE, (answer_id(late),), sent)
    await answer_poll(bot, MODERATOR, (answer_id(ideas["crossing"]),), sent)
    bot.clock.advance(hours=7)
    await bot.say(MODERATOR, "!poll end mobility", moderator=True)
    await bot.say(MODERATOR, f"!hide {late}", moderator=True)
    async with bot.db.snapshot():
        data = await gather(bot.store, now=bot.clock())
        stored = await bot.store.polls.latest_result(data.challenges[0].challenge.id)
    with_poll = data.challenges[0]
    assert stored is not None and with_poll.poll is not None
    assert with_poll.poll.voters == stored.voters == 5
    assert {answer.idea_id for answer in with_poll.poll.answers} == {
        ideas["crossing"],
        ideas["benches"],
    }
    output = tmp_path / "site"
    write_site(
        ReportData((with_poll,), data.generated_at),
        output,
        language="en",
        timezone=ZONE,
        site_title=SITE,
        catalogue=catalogue(),
    )
    page = read_page(output / "challenges" / "mobility.html")

    poll = page.table("Result of the final poll").body
    assert poll == [
        [f"#{ideas['crossing']} Safe crossing <b>now</b>", "3", "75%"],
        [f"#{ideas['benches']} Benches by the river", "1", "25%"],
    ]
    assert "5 people voted." in page.text
    assert (
        "The final poll ran from March 5, 2026 at 10:30 AM to March 5, 2026 at 5:30 PM."
        in page.text
    )
    assert "Accepted, then hidden" not in page.text


async def test_without_a_poll_the_page_says_so(bot: Harness, tmp_path: Path) -> None:
    await fill(bot)
    await report(bot, tmp_path / "site", language="en")

    page = read_page(tmp_path / "site" / "challenges" / "mobility.html")
    assert says("en", "site.no_poll") in page.text


# --- ideas and votes over time -------------------------------------------------------------------


def idea_at(number: int, moment: datetime) -> IdeaRow:
    return IdeaRow(number, f"Idea {number}", "", IdeaStatus.NEW, 0, moment)


async def view_of(bot: Harness, ideas: tuple[IdeaRow, ...], votes: list[datetime]) -> ChallengeView:
    challenge = await new_challenge(bot)
    minutes = tuple(sorted(Counter(v.replace(second=0, microsecond=0) for v in votes).items()))
    return ChallengeView(challenge, ideas, minutes)


async def test_days_are_the_programmes(bot: Harness) -> None:
    """Late on 1 March in UTC is 2 March in Ghent."""
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    view = await view_of(bot, (idea_at(1, late - timedelta(hours=1)),), [late])

    weekly, rows = view.activity(ZoneInfo(ZONE))
    assert not weekly
    assert [(row.start, row.ideas, row.votes) for row in rows] == [
        (date(2026, 3, 1), 1, 0),
        (date(2026, 3, 2), 0, 1),
    ]


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=200 * 24 * 60), min_size=1, max_size=40),
    votes=st.lists(st.integers(min_value=0, max_value=200 * 24 * 60), max_size=40),
)
def test_the_activity_adds_up_and_has_no_gaps(offsets: list[int], votes: list[int]) -> None:
    zone = ZoneInfo(ZONE)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    ideas = tuple(idea_at(n, base + timedelta(minutes=m)) for n, m in enumerate(offsets))
    vote_times = [base + timedelta(minutes=m) for m in votes]
    minutes = tuple(sorted(Counter(vote_times).items()))
    view = ChallengeView(challenge=CHALLENGE, ideas=ideas, vote_minutes=minutes)

    weekly, rows = view.activity(zone)
    assert sum(row.ideas for row in rows) == len(ideas)
    assert sum(row.votes for row in rows) == len(votes)
    step = timedelta(days=7 if weekly else 1)
    assert all(b.start - a.start == step for a, b in itertools.pairwise(rows))
    if weekly:
        assert all(row.start.weekday() == 0 for row in rows)
    days = [t.astimezone(zone).date() for t in [*(i.created_at for i in ideas), *vote_times]]
    assert rows[0].start <= min(days) and max(days) < rows[-1].start + step


def test_the_running_bot_does_not_load_the_plotting_library() -> None:
    """matplotlib is for `challenge-bot report` alone: importing it costs a start half a
    second and memory."""
    probe = "import sys, bot.cli, bot.app; print('matplotlib' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "False"


async def test_the_support_threshold_and_the_ideas_that_reached_it(
    bot: Harness, tmp_path: Path
) -> None:
    await new_challenge(bot, "parks", options="--deadline=2099-12-31 --threshold=2")
    reached = await submit(bot, ALICE, "Shade trees", slug="parks")
    below = await submit(bot, BOB, "Drinking fountain", slug="parks")
    for voter in (BOB, CAROL):
        await bot.say(voter, f"!vote {reached}")
    await bot.say(CAROL, f"!vote {below}")
    output = tmp_path / "site"
    await report(bot, output)

    page = output / "challenges" / "parks.html"
    rows = anchors(page)
    day = format_date(bot.clock().astimezone(ZoneInfo(ZONE)).date(), "medium", locale="nl")
    marker = says("nl", "site.support_reached", day=day)
    assert marker in rows[f"idea-{reached}"]
    assert marker not in rows[f"idea-{below}"] and "steundrempel" not in rows[f"idea-{below}"]
    assert says("nl", "site.threshold_votes", count=2) in read_page(page).text
