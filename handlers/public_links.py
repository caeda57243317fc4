"""Where the public report (``challenge-bot report``) puts each challenge and idea, and the links
to them: the one place that decides both. The report (``report/site.py``, ``report/render.py``)
writes its pages and anchors by these names; the bot links to them from cards, closing summaries,
poll results and ``!challenge`` once ``report.public_url`` says where the city publishes the site.
A link made here therefore opens the page the report wrote, at the idea it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from handlers.reply import Inline, Link, Text
from storage import Challenge, Idea

#: The folder of the challenge pages, beside the index.
CHALLENGES_DIR = "challenges"
#: The anchor of the final poll's section on a challenge page.
POLL_ANCHOR = "poll"

#: What a page's file name may be made of. The bot's slugs always are, but the database is not
#: ours to trust.
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def page_name(slug: str, challenge_id: int) -> str:
    """The challenge's file name in ``challenges/``, without ``.html``: its slug, or else its
    number (with an underscore, which no slug has: the two never meet)."""
    return slug if _SAFE_NAME.fullmatch(slug) else f"challenge_{challenge_id}"


def page_path(slug: str, challenge_id: int) -> str:
    """The challenge page's path from the site's root: ``challenges/parks.html``."""
    return f"{CHALLENGES_DIR}/{page_name(slug, challenge_id)}.html"


def idea_anchor(idea_id: int) -> str:
    """The ``id`` of an idea's row on its challenge's page: ``idea-12``."""
    return f"idea-{int(idea_id)}"


@dataclass(frozen=True)
class PublicLinks:
    """Links into the published report at ``base_url`` (``report.public_url``); with none
    configured, every method gives None and nothing links anywhere."""

    base_url: str | None = None

    def _url(self, slug: str, challenge_id: int, anchor: str | None = None) -> str | None:
        if self.base_url is None:
            return None
        url = self.base_url.rstrip("/") + "/" + quote(page_path(slug, challenge_id))
        return url if anchor is None else f"{url}#{anchor}"

    def challenge(self, challenge: Challenge) -> str | None:
        """The challenge's page."""
        return self._url(challenge.slug, challenge.id)

    def idea(self, idea: Idea) -> str | None:
        """The challenge's page, opened at the idea's row."""
        return self._url(idea.challenge_slug, idea.challenge_id, idea_anchor(idea.id))

    def poll(self, challenge: Challenge) -> str | None:
        """The challenge's page, opened at the final poll's result."""
        return self._url(challenge.slug, challenge.id, POLL_ANCHOR)


def link(url: str) -> Inline:
    """A link that shows its own address (a reader sees where it leads before following it)."""
    return Link(url, Text(url))
