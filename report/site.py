"""Writing the report's folder: ``index.html``, ``style.css``, and per challenge a page and its
charts in ``challenges/``. Nothing in it is fetched from elsewhere: no script, no font, no
stylesheet but the one beside the index."""

from __future__ import annotations

from pathlib import Path

from handlers import public_links
from handlers.i18n import Catalogue
from report import charts
from report.model import ChallengeView, ReportData
from report.render import STYLESHEET, Chart, Pages
from report.style import STYLESHEET as CSS


def page_name(view: ChallengeView) -> str:
    """The challenge's file name in ``challenges/`` (``handlers/public_links.py`` decides it,
    for the bot's links too)."""
    return public_links.page_name(view.challenge.slug, view.challenge.id)


def write_site(
    data: ReportData,
    output: Path,
    *,
    language: str,
    timezone: str,
    site_title: str,
    catalogue: Catalogue | None = None,
) -> list[Path]:
    """Write the report into ``output`` (created if need be); returns the files written.
    The same data gives the same bytes."""
    pages = Pages(catalogue or Catalogue(), language, timezone, site_title)
    folder = output / public_links.CHALLENGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(path: Path, content: str | bytes) -> None:
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        written.append(path)

    names = {view.challenge.id: page_name(view) for view in data.challenges}
    write(output / STYLESHEET, CSS)
    write(
        output / "index.html",
        pages.index(
            data,
            {
                view.challenge.id: public_links.page_path(view.challenge.slug, view.challenge.id)
                for view in data.challenges
            },
        ),
    )
    for view in data.challenges:
        name = names[view.challenge.id]
        status: Chart | None = None
        activity: Chart | None = None
        counts = view.by_status()
        if counts:
            status = Chart(f"{name}-status.svg", pages.status_alt(view))
            write(
                folder / status.src,
                charts.status_chart(
                    [pages.catalogue.plain(language, f"status.{s.value}") for s, _ in counts],
                    [n for _, n in counts],
                    axis_label=pages.catalogue.plain(language, "site.col_ideas"),
                ),
            )
        weekly, rows = view.activity(pages.zone)
        if rows:
            activity = Chart(f"{name}-activity.svg", pages.activity_alt(weekly, rows))
            write(
                folder / activity.src,
                charts.activity_chart(
                    [pages.day(row.start) for row in rows],
                    [row.ideas for row in rows],
                    [row.votes for row in rows],
                    ideas_label=pages.catalogue.plain(language, "site.legend_ideas"),
                    votes_label=pages.catalogue.plain(language, "site.col_votes"),
                    axis_label=pages.catalogue.plain(language, "site.col_count"),
                ),
            )
        write(
            folder / f"{name}.html",
            pages.challenge(data, view, status_chart=status, activity_chart=activity),
        )
    return written
