"""What moderators see of who voted: how many votes came from verified people, from accounts
on the listed homeservers, and from other accounts (``!audit``, the closing summary)."""

from __future__ import annotations

from handlers.i18n import Catalogue
from handlers.reply import Span
from storage import Standing


def votes_by_standing(catalogue: Catalogue, locale: str, counts: dict[Standing, int]) -> Span:
    """``Stemmen: 12 geverifieerd, 3 van vermelde servers, 1 andere``."""
    return catalogue.span(
        locale,
        "identity.votes_by_standing",
        verified=counts.get(Standing.VERIFIED, 0),
        listed=counts.get(Standing.LISTED, 0),
        other=counts.get(Standing.OTHER, 0),
    )
