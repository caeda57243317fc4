"""What an idea's status means for who sees it, whether it takes votes and whether it is
published: one table, read both by the SQL of the repositories (the fragments below are built
from it) and by the rules in ``handlers/policy.py`` (``seen_by_all``, ``listed``,
``published``, a vote's refusal). ``tests/handlers/test_policy.py`` checks the two against each other on
every status, hidden or not, with and without pre-moderation.

The hidden flag and pre-moderation are not statuses: the fragments below and the policy's
functions combine them with this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from storage.models import IdeaStatus


class StatusMeaning(NamedTuple):
    #: A moderator let the idea through: in a pre-moderated challenge, everyone may see it.
    let_through: bool
    #: Still in the running: it takes votes, its votes use up a budget, and it is in the
    #: lists and counts everyone sees.
    takes_votes: bool
    #: It goes into the open-data export and the public report (when everyone may see it).
    published: bool


#: Each status and what it means: the one place where that is decided.
STATUS_MEANINGS: Mapping[IdeaStatus, StatusMeaning] = {
    IdeaStatus.NEW: StatusMeaning(let_through=False, takes_votes=True, published=True),
    IdeaStatus.NEEDS_INFO: StatusMeaning(let_through=False, takes_votes=True, published=True),
    IdeaStatus.ACCEPTED: StatusMeaning(let_through=True, takes_votes=True, published=True),
    IdeaStatus.REJECTED: StatusMeaning(let_through=False, takes_votes=False, published=True),
    IdeaStatus.DUPLICATE: StatusMeaning(let_through=False, takes_votes=False, published=True),
    IdeaStatus.WITHDRAWN: StatusMeaning(let_through=False, takes_votes=False, published=False),
    IdeaStatus.IMPLEMENTED: StatusMeaning(let_through=True, takes_votes=True, published=True),
}
# A status added to IdeaStatus must say here what it means, or nothing would decide it.
assert set(STATUS_MEANINGS) == set(IdeaStatus), "every idea status needs a row"

#: Statuses in which a pre-moderated challenge's idea has been let through by a moderator.
LET_THROUGH = frozenset(status for status, means in STATUS_MEANINGS.items() if means.let_through)
#: Statuses in which an idea can no longer receive votes.
CLOSED_FOR_VOTES = frozenset(
    status for status, means in STATUS_MEANINGS.items() if not means.takes_votes
)
#: Statuses left out of the open data and the public report.
NOT_PUBLISHED = frozenset(
    status for status, means in STATUS_MEANINGS.items() if not means.published
)


def _sql_list(statuses: frozenset[IdeaStatus]) -> str:
    """The statuses as a list of SQL string literals, in the order IdeaStatus declares them:
    a frozenset's order changes from one process to the next (strings are hashed with a random
    seed), and a statement's text should not. The values are our own enum's, so quoting them
    here is safe."""
    return ", ".join(f"'{status.value}'" for status in IdeaStatus if status in statuses)


# The fragments below are conditions over ``ideas i JOIN challenges c ON c.id = i.challenge_id``.

#: Still in the running (``takes_votes``): the votes that use up a budget are on these.
TAKES_VOTES_SQL = f"i.status NOT IN ({_sql_list(CLOSED_FOR_VOTES)})"

#: Everyone may see it: not hidden, and let through where that is needed
#: (``handlers.policy.seen_by_all``).
SEEN_BY_ALL_SQL = f"""i.hidden = 0
        AND (c.premoderated = 0 OR i.status IN ({_sql_list(LET_THROUGH)}))"""

#: What citizens see of a challenge, in its lists and counts: seen by all, and still in the
#: running (``handlers.policy.listed``).
LISTED_SQL = f"""
        {TAKES_VOTES_SQL}
        AND {SEEN_BY_ALL_SQL}
    """

#: What the open data and the public report show: seen by all, and not withdrawn by its
#: author (``handlers.policy.published``).
PUBLISHED_SQL = f"""
        i.status NOT IN ({_sql_list(NOT_PUBLISHED)})
        AND {SEEN_BY_ALL_SQL}
    """
