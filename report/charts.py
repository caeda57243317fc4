"""The report's charts, drawn with matplotlib to SVG: no pyplot (no global state), text drawn
as paths (no font to fetch), and the same bytes for the same figures (a fixed hash salt, no
date in the metadata)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a window: the report runs on servers

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from report.style import BACKGROUND, IDEAS_COLOUR, TEXT, VOTES_COLOUR

#: rc parameters (typed loosely: matplotlib spells every key as a Literal).
_SETTINGS: dict[Any, Any] = {
    "svg.hashsalt": "challenge-bot-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",  # shipped with matplotlib
    "font.size": 11,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "axes.edgecolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "figure.facecolor": BACKGROUND,
    "axes.facecolor": BACKGROUND,
}
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


def activity_chart(
    labels: Sequence[str],
    ideas: Sequence[int],
    votes: Sequence[int],
    *,
    ideas_label: str,
    votes_label: str,
    axis_label: str,
) -> bytes:
    """Grouped bars: ideas and votes per period, one pair of bars a period."""
    with rc_context(_SETTINGS):
        figure = Figure(figsize=(6.4, 3.2), dpi=100)
        axes = figure.add_subplot()
        positions = range(len(labels))
        width = 0.4
        axes.bar(
            [p - width / 2 for p in positions], ideas, width, label=ideas_label, color=IDEAS_COLOUR
        )
        axes.bar(
            [p + width / 2 for p in positions], votes, width, label=votes_label, color=VOTES_COLOUR
        )
        axes.set_ylabel(axis_label)
        axes.set_xlim(-0.6, max(len(labels), 7) - 0.4)  # a day or two: no bars a mile wide
        step = max(1, len(labels) // 12)  # at most about twelve labels under the axis
        axes.set_xticks(list(positions)[::step], list(labels)[::step], rotation=30, ha="right")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(frameon=False)
        figure.tight_layout()
        return _svg(figure)


def status_chart(labels: Sequence[str], counts: Sequence[int], *, axis_label: str) -> bytes:
    """Horizontal bars: how many ideas have each status, the first status on top."""
    with rc_context(_SETTINGS):
        figure = Figure(figsize=(6.4, 0.9 + 0.4 * max(1, len(labels))), dpi=100)
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        bars = axes.barh(positions, counts, color=IDEAS_COLOUR)
        axes.bar_label(bars, padding=3)
        axes.set_yticks(positions, list(labels))
        axes.invert_yaxis()
        axes.set_xlabel(axis_label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return _svg(figure)


def _svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata=_METADATA)
    return buffer.getvalue()
