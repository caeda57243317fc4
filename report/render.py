"""The report's HTML pages. Every value that comes from the database (titles, descriptions,
tags, the partner's name: typed by people) goes through :func:`html.escape` once, here; the
catalogue's texts are escaped the same way, as they are not HTML either."""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from handlers.i18n import Catalogue, Moment
from handlers.programme import phase_text
from handlers.public_links import POLL_ANCHOR, idea_anchor
from handlers.reply import plain_text
from report.model import ActivityRow, ChallengeView, ReportData

#: The stylesheet beside the index; challenge pages are one folder down
#: (``handlers.public_links.CHALLENGES_DIR``).
STYLESHEET = "style.css"


@dataclass(frozen=True)
class Chart:
    """A chart's file (relative to the page) and its text alternative."""

    src: str
    alt: str


class Pages:
    """Renders the pages in one language, with the deadlines in the programme's zone."""

    def __init__(self, catalogue: Catalogue, language: str, timezone: str, site_title: str) -> None:
        self.catalogue = catalogue
        self.language = language
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.site_title = site_title

    # --- text --------------------------------------------------------------------------------

    def t(self, key: str, **params: Any) -> str:
        """A catalogue text, escaped for HTML."""
        return html.escape(self.catalogue.plain(self.language, key, **params))

    def number(self, value: int) -> str:
        return html.escape(format_decimal(value, locale=self.language))

    def moment(self, instant: datetime | None) -> str:
        if instant is None:
            return self.t("site.no_deadline")
        return html.escape(
            plain_text(self.catalogue.value(self.language, Moment(instant, self.timezone)))
        )

    def day(self, value: date) -> str:
        return format_date(value, format="medium", locale=self.language)

    def status(self, status: Any) -> str:
        return self.t(f"status.{status.value}")

    # --- pages -------------------------------------------------------------------------------

    def index(self, data: ReportData, page_of: dict[int, str]) -> str:
        parts = [
            f"<h1>{html.escape(self.site_title)}</h1>",
            f'<p class="note">{self.t("site.generated", moment=Moment(data.generated_at, self.timezone))}</p>',
            f"<h2>{self.t('site.challenges')}</h2>",
        ]
        if not data.challenges:
            parts.append(f"<p>{self.t('site.no_challenges')}</p>")
        else:
            rows = [
                [
                    f'<a href="{html.escape(page_of[view.challenge.id])}">'
                    f"{html.escape(view.challenge.title)}</a>",
                    self._phase(view, data.generated_at),
                    self.moment(view.challenge.submission_deadline_at),
                    self.moment(view.challenge.voting_deadline_at),
                    self.number(len(view.ideas)),
                    self.number(view.votes),
                ]
                for view in data.challenges
            ]
            parts.append(
                self._table(
                    self.t("site.challenges_caption"),
                    [
                        self.t("site.col_challenge"),
                        self.t("site.col_phase"),
                        self.t("site.col_deadline"),
                        self.t("site.col_voting_deadline"),
                        self.t("site.col_ideas"),
                        self.t("site.col_votes"),
                    ],
                    rows,
                    numeric=(4, 5),
                )
            )
        return self._page(html.escape(self.site_title), "", "\n".join(parts))

    def challenge(
        self,
        data: ReportData,
        view: ChallengeView,
        *,
        status_chart: Chart | None,
        activity_chart: Chart | None,
    ) -> str:
        challenge = view.challenge
        title = html.escape(challenge.title)
        parts = [f"<h1>{title}</h1>"]
        if challenge.description:
            parts.append(f'<p class="description">{html.escape(challenge.description)}</p>')
        facts = [
            (self.t("site.col_phase"), self._phase(view, data.generated_at)),
            (self.t("site.col_deadline"), self.moment(challenge.submission_deadline_at)),
            (self.t("site.col_voting_deadline"), self.moment(challenge.voting_deadline_at)),
            (self.t("site.col_ideas"), self.number(len(view.ideas))),
            (self.t("site.col_votes"), self.number(view.votes)),
        ]
        if challenge.tags:
            facts.append((self.t("site.tags"), html.escape(", ".join(challenge.tags))))
        if challenge.partner:
            facts.append((self.t("site.partner"), html.escape(challenge.partner)))
        if challenge.support_threshold is not None:
            facts.append(
                (
                    self.t("site.threshold"),
                    self.t("site.threshold_votes", count=challenge.support_threshold),
                )
            )
        parts.append(
            "<dl>" + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts) + "</dl>"
        )
        parts.append(
            f'<p class="note">{self.t("site.generated", moment=Moment(data.generated_at, self.timezone))}</p>'
        )
        parts += self._ideas(view, data.include_authors)
        parts += self._outcome(view, status_chart)
        parts += self._activity(view, activity_chart)
        parts += self._poll(view)
        back = f'<a href="../index.html">{self.t("site.back")}</a>'
        return self._page(
            self.t("site.page_title", title=challenge.title, site=self.site_title),
            "../",
            "\n".join(parts),
            nav=back,
        )

    # --- sections ----------------------------------------------------------------------------

    def _ideas(self, view: ChallengeView, include_authors: bool) -> list[str]:
        parts = [f"<h2>{self.t('site.ideas')}</h2>"]
        if not view.ideas:
            return [*parts, f"<p>{self.t('site.no_ideas')}</p>"]
        headers = [
            self.t("site.col_number"),
            self.t("site.col_title"),
            self.t("site.col_status"),
            self.t("site.col_votes"),
            self.t("site.col_submitted"),
        ]
        if include_authors:
            headers.append(self.t("site.col_author"))
        rows = []
        for idea in view.ideas:
            text = html.escape(idea.title)
            if idea.description:
                text += f'<p class="description">{html.escape(idea.description)}</p>'
            status = self.status(idea.status)
            if idea.duplicate_of is not None:
                status += " " + self.t("site.duplicate_of", id=idea.duplicate_of)
            if idea.support_reached_at is not None:
                reached = self.day(idea.support_reached_at.astimezone(self.zone).date())
                status += "; " + self.t("site.support_reached", day=reached)
            row = [
                f"#{idea.id}",
                text,
                status,
                self.number(idea.votes),
                html.escape(self.day(idea.created_at.astimezone(self.zone).date())),
            ]
            if include_authors:
                row.append(html.escape(idea.author or ""))
            rows.append(row)
        # Each idea's row has its number as anchor: a link from the chat opens at that idea.
        parts.append(
            self._table(
                self.t("site.ideas_caption"),
                headers,
                rows,
                numeric=(3,),
                row_ids=[idea_anchor(idea.id) for idea in view.ideas],
            )
        )
        return parts

    def _outcome(self, view: ChallengeView, chart: Chart | None) -> list[str]:
        parts = [
            f"<h2>{self.t('site.outcome')}</h2>",
            f"<p>{self.t('site.outcome_intro', count=len(view.ideas))}</p>",
        ]
        counts = view.by_status()
        if not counts:
            return parts
        table = self._table(
            self.t("site.outcome_caption"),
            [self.t("site.col_status"), self.t("site.col_ideas")],
            [[self.status(status), self.number(count)] for status, count in counts],
            numeric=(1,),
        )
        return [*parts, self._beside(chart, self.t("site.outcome_caption"), table)]

    def _activity(self, view: ChallengeView, chart: Chart | None) -> list[str]:
        parts = [f"<h2>{self.t('site.activity')}</h2>"]
        weekly, rows = view.activity(self.zone)
        if not rows:
            return [*parts, f"<p>{self.t('site.no_activity')}</p>"]
        caption = self.activity_caption(weekly)
        table = self._table(
            caption,
            [
                self.t("site.col_week" if weekly else "site.col_day"),
                self.t("site.col_ideas"),
                self.t("site.col_votes"),
            ],
            [
                [html.escape(self.day(row.start)), self.number(row.ideas), self.number(row.votes)]
                for row in rows
            ],
            numeric=(1, 2),
        )
        return [*parts, self._beside(chart, caption, table)]

    def _poll(self, view: ChallengeView) -> list[str]:
        parts = [f'<h2 id="{POLL_ANCHOR}">{self.t("site.poll")}</h2>']
        poll = view.poll
        if poll is None:
            return [*parts, f"<p>{self.t('site.no_poll')}</p>"]
        if poll.ended_at is None:
            when = self.t("site.poll_running", started=Moment(poll.started_at, self.timezone))
        else:
            when = self.t(
                "site.poll_ended",
                started=Moment(poll.started_at, self.timezone),
                ended=Moment(poll.ended_at, self.timezone),
            )
        parts.append(f"<p>{when} {self.t('site.poll_voters', count=poll.voters)}</p>")
        if poll.answers:
            total = sum(answer.count for answer in poll.answers)
            parts.append(
                self._table(
                    self.t("site.poll_caption"),
                    [
                        self.t("site.col_answer"),
                        self.t("site.col_count"),
                        self.t("site.col_share"),
                    ],
                    [
                        [
                            f"#{answer.idea_id} {html.escape(answer.title)}",
                            self.number(answer.count),
                            html.escape(
                                format_percent(
                                    answer.count / total if total else 0, locale=self.language
                                )
                            ),
                        ]
                        for answer in poll.answers
                    ],
                    numeric=(1, 2),
                )
            )
        return parts

    # --- text alternatives of the charts -----------------------------------------------------

    def activity_caption(self, weekly: bool) -> str:
        return self.t(
            "site.activity_caption_week" if weekly else "site.activity_caption_day",
            zone=self.timezone,
        )

    def status_alt(self, view: ChallengeView) -> str:
        figures = ", ".join(
            self.catalogue.plain(self.language, "programme.summary_status", status=s, count=n)
            for s, n in view.by_status()
        )
        return self.catalogue.plain(self.language, "site.outcome_alt", figures=figures)

    def activity_alt(self, weekly: bool, rows: Sequence[ActivityRow]) -> str:
        return self.catalogue.plain(
            self.language,
            "site.activity_alt_week" if weekly else "site.activity_alt_day",
            first=self.day(rows[0].start),
            last=self.day(rows[-1].start),
            ideas=format_decimal(sum(row.ideas for row in rows), locale=self.language),
            votes=format_decimal(sum(row.votes for row in rows), locale=self.language),
        )

    # --- building blocks ---------------------------------------------------------------------

    def _phase(self, view: ChallengeView, now: datetime) -> str:
        text = phase_text(self.catalogue, self.language, view.challenge, now, self.timezone)
        return html.escape(plain_text(text))

    def _beside(self, chart: Chart | None, caption: str, table: str) -> str:
        """A chart and the table of its figures, side by side (one under the other when the
        window is narrow)."""
        if chart is None:
            return table
        figure = (
            f'<figure><img src="{html.escape(chart.src)}" alt="{html.escape(chart.alt)}">'
            f"<figcaption>{caption}. {self.t('site.figure_note')}</figcaption></figure>"
        )
        return f'<div class="chart">{figure}{table}</div>'

    def _table(
        self,
        caption: str,
        headers: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        numeric: Sequence[int] = (),
        row_ids: Sequence[str] | None = None,
    ) -> str:
        """A table of already escaped cells; the first cell of a row is its header. With
        ``row_ids``, each row gets its id (an anchor a link can open at)."""

        def cell(tag: str, index: int, value: str, scope: str) -> str:
            css = ' class="number"' if index in numeric else ""
            return (
                f'<{tag} scope="{scope}"{css}>{value}</{tag}>'
                if tag == "th"
                else (f"<td{css}>{value}</td>")
            )

        head = "".join(cell("th", i, h, "col") for i, h in enumerate(headers))
        ids: Iterable[str | None] = row_ids if row_ids is not None else itertools.repeat(None)
        body = "".join(
            (f'<tr id="{html.escape(row_id)}">' if row_id else "<tr>")
            + "".join(
                cell("th" if i == 0 else "td", i, value, "row") for i, value in enumerate(row)
            )
            + "</tr>\n"
            for row, row_id in zip(rows, ids, strict=False)
        )
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>\n{body}</tbody></table>"
        )

    def _page(self, title: str, root: str, content: str, *, nav: str = "") -> str:
        """A whole page; ``title`` is escaped already, ``root`` leads back to the index."""
        return f"""<!DOCTYPE html>
<html lang="{self.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{root}{STYLESHEET}">
</head>
<body>
<a class="skip" href="#main">{self.t("site.skip")}</a>
<header><p>{html.escape(self.site_title)}</p>{f"<nav>{nav}</nav>" if nav else ""}</header>
<main id="main">
{content}
</main>
<footer><p>{self.t("site.footer")}</p></footer>
</body>
</html>
"""
