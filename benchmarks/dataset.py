"""A large, plausible database for the scale benchmark: 200 challenges, 100,000 ideas, 1,000,000 votes.

The schema is the bot's own (all migrations, through ``Database.open``); the rows are written
in bulk with the standard ``sqlite3`` module. Seeded, so every run builds the same data:

- 200 challenges of 500 ideas each; 180 open, 20 closed; one in ten pre-moderated, one in ten
  with a vote budget. Without rooms: the bot under test is in none of them, and would wait in
  vain to post or edit cards there.
- ideas by 20,000 authors, created over the past year; statuses as a city would see them after
  a while (a quarter still new, most triaged); duplicates point at an earlier idea.
- 5,000 votes per challenge by 50,000 people, spread over its ideas as attention is: a few
  ideas get hundreds of votes, most get a handful (Zipf, s = 1).
- what a long-running bot keeps beside them: 1.1 million handled events, the people's
  languages and direct rooms. (Sent outbox rows are left out: only the unsent ones are
  ever read, through a partial index.)
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Database

CHALLENGES = 200
IDEAS_PER_CHALLENGE = 500
VOTES_PER_CHALLENGE = 5_000
AUTHORS = 20_000
VOTERS = 50_000
HANDLED_EVENTS = 1_100_000
MODERATOR = "@moderator:bench.example"

_STATUSES = (
    ("new", 25),
    ("needs_info", 5),
    ("accepted", 40),
    ("rejected", 15),
    ("implemented", 8),
    ("withdrawn", 4),
    ("duplicate", 3),
)


@dataclass
class Dataset:
    path: Path
    slugs: list[str] = field(default_factory=list)
    open_slugs: list[str] = field(default_factory=list)
    #: Ideas anyone may vote for at once: open, not pre-moderated, no budget, votable.
    votable: list[int] = field(default_factory=list)
    ideas: int = 0
    votes: int = 0


def user(kind: str, number: int) -> str:
    return f"@{kind}{number}:bench.example"


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def build(path: Path, seed: int = 5) -> Dataset:
    """Write the dataset into a freshly migrated database at ``path``."""
    asyncio.run(_migrate(path))
    rng = random.Random(seed)
    data = Dataset(path)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
        challenge_rows = []
        for number in range(CHALLENGES):
            slug = f"challenge-{number:03d}"
            is_open = number % 10 != 9
            data.slugs.append(slug)
            if is_open:
                data.open_slugs.append(slug)
            created = start + timedelta(days=number)
            challenge_rows.append(
                (
                    number + 1,
                    slug,
                    f"Challenge {number}: a better Ghent",
                    "What would help? " * 10,
                    "open" if is_open else "closed",
                    None,
                    None if number % 3 else "2099-12-31T22:59:59+00:00",
                    10 if number % 10 == 3 else None,
                    1 if number % 10 == 5 else 0,
                    MODERATOR,
                    _ts(created),
                    _ts(created),
                )
            )
        conn.executemany(
            """INSERT INTO challenges (id, slug, title, description, status, room_id,
                   submission_deadline_at, vote_budget, premoderated, created_by, created_at,
                   updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            challenge_rows,
        )
        statuses = [name for name, _weight in _STATUSES]
        weights = [weight for _name, weight in _STATUSES]
        idea_rows = []
        idea_id = 0
        total = CHALLENGES * IDEAS_PER_CHALLENGE
        for challenge in challenge_rows:
            challenge_id, is_open, budget, premoderated = (
                challenge[0],
                challenge[4] == "open",
                challenge[7],
                challenge[8],
            )
            first = idea_id + 1
            for _ in range(IDEAS_PER_CHALLENGE):
                idea_id += 1
                status = rng.choices(statuses, weights)[0]
                duplicate_of = None
                if status == "duplicate":
                    if idea_id == first:
                        status = "accepted"
                    else:
                        duplicate_of = rng.randrange(first, idea_id)
                created = start + timedelta(seconds=365 * 86400 * idea_id / total)
                idea_rows.append(
                    (
                        idea_id,
                        challenge_id,
                        f"Idea {idea_id}: more trees and benches on the square",
                        "A longer description of what would change, and why it matters. " * 4,
                        user("citizen", rng.randrange(AUTHORS)),
                        status,
                        duplicate_of,
                        _ts(created),
                        _ts(created),
                    )
                )
                if (
                    is_open
                    and not premoderated
                    and budget is None
                    and status in ("new", "needs_info", "accepted", "implemented")
                ):
                    data.votable.append(idea_id)
        conn.executemany(
            """INSERT INTO ideas (id, challenge_id, title, description, author, status,
                   duplicate_of, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            idea_rows,
        )
        data.ideas = idea_id
        data.votes = 0

        def votes() -> Iterator[tuple[int, str, str]]:
            zipf = [1 / (rank + 1) for rank in range(IDEAS_PER_CHALLENGE)]
            for challenge_index in range(CHALLENGES):
                ids = list(
                    range(
                        challenge_index * IDEAS_PER_CHALLENGE + 1,
                        (challenge_index + 1) * IDEAS_PER_CHALLENGE + 1,
                    )
                )
                rng.shuffle(ids)
                counts = Counter(rng.choices(ids, zipf, k=VOTES_PER_CHALLENGE))
                for target, count in counts.items():
                    moment = _ts(start + timedelta(seconds=rng.randrange(365 * 86400)))
                    for voter in rng.sample(range(VOTERS), count):
                        yield target, user("voter", voter), moment

        conn.executemany("INSERT INTO votes (idea_id, voter, created_at) VALUES (?, ?, ?)", votes())
        data.votes = int(conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0])
        handled_at = _ts(now)
        conn.executemany(
            "INSERT INTO handled_events (event_id, handled_at) VALUES (?, ?)",
            ((f"$handled{number}:bench.example", handled_at) for number in range(HANDLED_EVENTS)),
        )
        conn.executemany(
            "INSERT INTO users (user_id, language) VALUES (?, ?)",
            (
                (user("voter", number), "en" if number % 3 else "nl")
                for number in range(0, VOTERS, 10)
            ),
        )
        conn.executemany(
            "INSERT INTO direct_rooms (user_id, room_id) VALUES (?, ?)",
            ((user("citizen", number), f"!dm{number}:bench.example") for number in range(AUTHORS)),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return data


async def _migrate(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()
