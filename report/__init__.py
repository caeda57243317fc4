"""The public report: a static site of the programme's challenges, for the city's website.

Transport-free, like ``handlers/``: it reads through ``storage`` and speaks through the message
catalogue; it knows nothing of Matrix. :func:`gather` reads what is public (the export's rule,
``handlers.policy.published``), :func:`write_site` renders it to HTML pages, a stylesheet and
SVG charts in a folder.
"""

from report.gather import gather
from report.model import ChallengeView, IdeaRow, ReportData
from report.site import write_site

__all__ = [
    "ChallengeView",
    "IdeaRow",
    "ReportData",
    "gather",
    "write_site",
]
