"""Votes: one per person (or verified identity) and idea, and the 👍 reactions that cast them."""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.models import Standing
from storage.timestamps import to_text
from storage.visibility import TAKES_VOTES_SQL


class VoteRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        idea_id: int,
        voter: str,
        now: datetime,
        *,
        standing: Standing = Standing.OTHER,
        identity: str | None = None,
        new_account: bool = False,
    ) -> bool:
        """Record a vote; False when this person, or an account with the same ``identity``
        (a keyed hash), had already voted for the idea."""
        changed = await self._db.execute_rowcount(
            """INSERT OR IGNORE INTO votes (idea_id, voter, created_at, standing, identity,
                                            new_account)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (idea_id, voter, to_text(now), standing.value, identity, int(new_account)),
        )
        return changed == 1

    async def remove(self, idea_id: int, voter: str) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM votes WHERE idea_id = ? AND voter = ?", (idea_id, voter)
        )
        return changed == 1

    async def count(self, idea_id: int) -> int:
        return int(
            await self._db.fetch_value("SELECT COUNT(*) FROM votes WHERE idea_id = ?", (idea_id,))
        )

    async def has_voted(self, idea_id: int, voter: str) -> bool:
        return (
            await self._db.fetch_value(
                "SELECT 1 FROM votes WHERE idea_id = ? AND voter = ?", (idea_id, voter)
            )
            is not None
        )

    async def used_in_challenge(
        self, voter: str, challenge_id: int, identity: str | None = None
    ) -> int:
        """Votes of the budget spent in the challenge: the person's, and those of every account
        with the same ``identity`` (one person, one budget)."""
        value = await self._db.fetch_value(
            f"""SELECT COUNT(*) FROM votes v JOIN ideas i ON i.id = v.idea_id
                WHERE (v.voter = ? OR v.identity = ?) AND i.challenge_id = ?
                  AND {TAKES_VOTES_SQL}""",
            (voter, identity, challenge_id),
        )
        return int(value)

    async def voters(self, idea_id: int) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT voter FROM votes WHERE idea_id = ? ORDER BY voter", (idea_id,)
        )
        return [str(row["voter"]) for row in rows]

    async def voted_in_challenge(self, voter: str, challenge_id: int) -> set[int]:
        """The ideas of the challenge the person voted for."""
        rows = await self._db.fetch_all(
            """SELECT v.idea_id FROM votes v JOIN ideas i ON i.id = v.idea_id
                WHERE v.voter = ? AND i.challenge_id = ?""",
            (voter, challenge_id),
        )
        return {int(row["idea_id"]) for row in rows}

    async def linked_voter(self, idea_id: int, identity: str) -> str | None:
        """The account with this identity that voted for the idea, if one did."""
        value = await self._db.fetch_value(
            "SELECT voter FROM votes WHERE idea_id = ? AND identity = ?", (idea_id, identity)
        )
        return None if value is None else str(value)

    async def by_standing(
        self, *, challenge_id: int | None = None, idea_id: int | None = None
    ) -> dict[Standing, int]:
        """How many votes (of one challenge, one idea, or all) came from verified, listed-server
        and other accounts."""
        params: tuple[int, ...]
        if idea_id is not None:
            where, params = "WHERE v.idea_id = ?", (idea_id,)
        elif challenge_id is not None:
            where, params = "WHERE i.challenge_id = ?", (challenge_id,)
        else:
            where, params = "", ()
        rows = await self._db.fetch_all(
            f"""SELECT v.standing, COUNT(*) AS n FROM votes v JOIN ideas i ON i.id = v.idea_id
                {where} GROUP BY v.standing""",
            params,
        )
        counts = dict.fromkeys(Standing, 0)
        for row in rows:
            counts[Standing(row["standing"])] = int(row["n"])
        return counts

    async def new_accounts_since(self, challenge_id: int, since: datetime) -> list[datetime]:
        """When the votes in the challenge from accounts new at the time were cast, since
        ``since``, oldest first."""
        rows = await self._db.fetch_all(
            """SELECT v.created_at FROM votes v JOIN ideas i ON i.id = v.idea_id
                WHERE i.challenge_id = ? AND v.new_account = 1 AND v.created_at >= ?
                ORDER BY v.created_at""",
            (challenge_id, to_text(since)),
        )
        return [datetime.fromisoformat(row["created_at"]) for row in rows]

    async def move(self, from_idea: int, to_idea: int) -> int:
        """Move votes to another idea, once per person (and per identity); returns how many
        were added there."""
        added = await self._db.execute_rowcount(
            """INSERT OR IGNORE INTO votes (idea_id, voter, created_at, standing, identity,
                                            new_account)
               SELECT ?, voter, created_at, standing, identity, new_account
                 FROM votes WHERE idea_id = ?""",
            (to_idea, from_idea),
        )
        await self._db.execute("DELETE FROM votes WHERE idea_id = ?", (from_idea,))
        await self._db.execute(
            "UPDATE reaction_votes SET idea_id = ? WHERE idea_id = ?", (to_idea, from_idea)
        )
        return added

    async def record_reaction(self, reaction_event_id: str, idea_id: int, voter: str) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO reaction_votes (reaction_event_id, idea_id, voter) VALUES (?, ?, ?)",
            (reaction_event_id, idea_id, voter),
        )

    async def has_reaction(self, reaction_event_id: str) -> bool:
        """Whether a vote by this reaction is counted (a 👍 read back at start is not twice)."""
        value = await self._db.fetch_value(
            "SELECT 1 FROM reaction_votes WHERE reaction_event_id = ?", (reaction_event_id,)
        )
        return value is not None

    async def reactions_starting(self, prefix: str) -> list[str]:
        """The reactions that voted whose ids start with ``prefix`` (a front end's ids name the
        message they were given on)."""
        rows = await self._db.fetch_all(
            "SELECT reaction_event_id FROM reaction_votes WHERE substr(reaction_event_id, 1, ?) = ?",
            (len(prefix), prefix),
        )
        return [str(row["reaction_event_id"]) for row in rows]

    async def pop_reaction(self, reaction_event_id: str) -> tuple[int, str] | None:
        row = await self._db.fetch_one(
            "SELECT idea_id, voter FROM reaction_votes WHERE reaction_event_id = ?",
            (reaction_event_id,),
        )
        if row is None:
            return None
        await self._db.execute(
            "DELETE FROM reaction_votes WHERE reaction_event_id = ?", (reaction_event_id,)
        )
        return int(row["idea_id"]), str(row["voter"])
