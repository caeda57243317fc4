"""The report's colours and stylesheet. Every pair of text and background colour here has a
contrast ratio of at least 4.5:1 (WCAG 2.1, 1.4.3), and the charts' colours at least 3:1
against the white they are drawn on (1.4.11): ``tests/report/test_site.py`` computes them."""

from __future__ import annotations

#: Body text and its background.
TEXT = "#1b1b1b"
BACKGROUND = "#ffffff"
#: Secondary text (notes, captions), on the background and in table stripes.
MUTED = "#4d4d4d"
#: Links, on the background.
LINK = "#0b4f8a"
#: The page header: light text on a dark band.
HEADER_TEXT = "#ffffff"
HEADER_BACKGROUND = "#0b3d66"
#: Table headers and every other row.
STRIPE = "#eef2f6"
#: The charts: ideas, votes (and the bars of ideas by status).
IDEAS_COLOUR = "#1f5f99"
VOTES_COLOUR = "#b34700"

#: (text, background) pairs that appear on the pages.
TEXT_PAIRS = (
    (TEXT, BACKGROUND),
    (TEXT, STRIPE),
    (MUTED, BACKGROUND),
    (MUTED, STRIPE),
    (LINK, BACKGROUND),
    (LINK, STRIPE),
    (HEADER_TEXT, HEADER_BACKGROUND),
    (TEXT, HEADER_TEXT),  # the skip link, when it has the focus
)
#: Colours drawn on the charts' white background.
CHART_COLOURS = (IDEAS_COLOUR, VOTES_COLOUR, TEXT)

STYLESHEET = f"""\
*, *::before, *::after {{ box-sizing: border-box; }}
html {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
  color: {TEXT}; background: {BACKGROUND}; }}
body {{ margin: 0; }}
a {{ color: {LINK}; }}
a:focus-visible {{ outline: 3px solid {LINK}; outline-offset: 2px; }}
.skip {{ position: absolute; left: -9999px; }}
.skip:focus {{ left: 1rem; top: 1rem; background: {HEADER_TEXT}; color: {TEXT}; padding: .5rem; }}
header {{ background: {HEADER_BACKGROUND}; color: {HEADER_TEXT}; padding: 1rem 1.5rem; }}
header a {{ color: {HEADER_TEXT}; }}
header p {{ margin: 0; }}
main {{ max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }}
footer {{ max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem; color: {MUTED};
  border-top: 1px solid {STRIPE}; }}
.note, .description, figcaption {{ color: {MUTED}; }}
.description {{ margin: .25rem 0 0; white-space: pre-line; }}
table {{ border-collapse: collapse; margin: 1rem 0; min-width: 50%; }}
caption {{ text-align: left; font-weight: 600; padding-bottom: .25rem; }}
th, td {{ text-align: left; vertical-align: top; padding: .35rem .75rem;
  border-bottom: 1px solid {STRIPE}; }}
thead th {{ background: {STRIPE}; }}
tbody tr:nth-child(even) {{ background: {STRIPE}; }}
td.number, th.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
.chart {{ display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }}
figure {{ margin: 0; flex: 1 1 28rem; }}
figure img {{ width: 100%; height: auto; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; }}
"""
