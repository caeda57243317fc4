"""Ideas, the cards that show them in rooms, and the reports made about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from storage.database import Database
from storage.models import Idea, IdeaStatus, Standing
from storage.timestamps import to_text
from storage.visibility import LISTED_SQL, PUBLISHED_SQL

IdeaOrder = Literal["top", "new"]


class IdeaRepository:
    _SELECT = """
        SELECT i.*, c.slug AS challenge_slug,
               (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id) AS votes
          FROM ideas i JOIN challenges c ON c.id = i.challenge_id
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, *, challenge_id: int, title: str, description: str, author: str, now: datetime
    ) -> Idea:
        idea_id = await self._db.execute(
            """INSERT INTO ideas (challenge_id, title, description, author, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (challenge_id, title, description, author, to_text(now), to_text(now)),
        )
        idea = await self.get(idea_id)
        assert idea is not None
        return idea

    async def get(self, idea_id: int) -> Idea | None:
        row = await self._db.fetch_one(self._SELECT + " WHERE i.id = ?", (idea_id,))
        return None if row is None else Idea.model_validate(dict(row))

    async def visible_in_challenge(
        self, challenge_id: int, *, order: IdeaOrder, limit: int, offset: int
    ) -> list[Idea]:
        order_by = "votes DESC, i.id ASC" if order == "top" else "i.id DESC"
        rows = await self._db.fetch_all(
            self._SELECT
            + f" WHERE i.challenge_id = ? AND {LISTED_SQL} ORDER BY {order_by} LIMIT ? OFFSET ?",
            (challenge_id, limit, offset),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def visible_titles(self, challenge_id: int) -> list[tuple[int, str, int]]:
        """(id, title, votes) of the ideas citizens see in a challenge, most votes first."""
        rows = await self._db.fetch_all(
            """SELECT i.id, i.title,
                      (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id) AS votes
                 FROM ideas i JOIN challenges c ON c.id = i.challenge_id"""
            f" WHERE i.challenge_id = ? AND {LISTED_SQL} ORDER BY votes DESC, i.id",
            (challenge_id,),
        )
        return [(int(row["id"]), str(row["title"]), int(row["votes"])) for row in rows]

    async def count_visible_in_challenge(self, challenge_id: int) -> int:
        return (await self.count_visible_in_challenges([challenge_id]))[challenge_id]

    async def count_visible_in_challenges(self, challenge_ids: list[int]) -> dict[int, int]:
        """How many ideas citizens see in each of these challenges (0 where there are none)."""
        if not challenge_ids:
            return {}
        marks = ", ".join("?" * len(challenge_ids))
        # Counted per challenge, not joined per idea: the challenge's row is read once.
        rows = await self._db.fetch_all(
            f"""SELECT c.id, (SELECT COUNT(*) FROM ideas i
                               WHERE i.challenge_id = c.id AND {LISTED_SQL})
                  FROM challenges c WHERE c.id IN ({marks})""",
            tuple(challenge_ids),
        )
        counts = dict.fromkeys(challenge_ids, 0)
        counts.update((int(row[0]), int(row[1])) for row in rows)
        return counts

    async def published_in_challenge(self, challenge_id: int) -> list[Idea]:
        """The ideas that go into the open-data export: not hidden, not withdrawn by their
        author, and in a pre-moderated challenge only those a moderator let through."""
        rows = await self._db.fetch_all(
            self._SELECT + f" WHERE i.challenge_id = ? AND {PUBLISHED_SQL} ORDER BY i.id",
            (challenge_id,),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def published_votes_per_minute(self, challenge_id: int) -> list[tuple[datetime, int]]:
        """(minute, in UTC; votes cast in it) for the votes on the published ideas of a
        challenge, oldest first. Minutes, not days: the reader groups them by day in the
        programme's time zone, and every zone's offset is a whole number of minutes."""
        rows = await self._db.fetch_all(
            """SELECT strftime('%Y-%m-%dT%H:%M:00+00:00', v.created_at) AS minute, COUNT(*)
                 FROM votes v JOIN ideas i ON i.id = v.idea_id
                 JOIN challenges c ON c.id = i.challenge_id"""
            f" WHERE i.challenge_id = ? AND {PUBLISHED_SQL} GROUP BY minute ORDER BY minute",
            (challenge_id,),
        )
        return [(datetime.fromisoformat(str(row[0])), int(row[1])) for row in rows]

    async def in_challenge(self, challenge_id: int) -> list[Idea]:
        """Every idea of a challenge, hidden or not, most votes first (for a summary)."""
        rows = await self._db.fetch_all(
            self._SELECT + " WHERE i.challenge_id = ? ORDER BY votes DESC, i.id",
            (challenge_id,),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def participants(self, challenge_id: int) -> int:
        """How many different people submitted or voted in a challenge."""
        value = await self._db.fetch_value(
            """SELECT COUNT(*) FROM (
                   SELECT author AS who FROM ideas WHERE challenge_id = ?
                   UNION
                   SELECT v.voter FROM votes v JOIN ideas i ON i.id = v.idea_id
                    WHERE i.challenge_id = ?)""",
            (challenge_id, challenge_id),
        )
        return int(value)

    async def by_author(self, author: str) -> list[Idea]:
        rows = await self._db.fetch_all(
            self._SELECT + " WHERE i.author = ? ORDER BY i.id DESC", (author,)
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def awaiting_triage(self, challenge_id: int | None, *, limit: int) -> list[Idea]:
        """The ideas a moderator still has to decide on: those that reached their challenge's
        support threshold first (in the order they reached it), then the oldest first."""
        where = " WHERE i.status IN ('new', 'needs_info')"
        params: tuple[Any, ...] = ()
        if challenge_id is not None:
            where += " AND i.challenge_id = ?"
            params = (challenge_id,)
        rows = await self._db.fetch_all(
            self._SELECT
            + where
            + """ ORDER BY i.support_reached_at IS NULL, i.support_reached_at, i.created_at, i.id
                  LIMIT ?""",
            (*params, limit),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def unvoted_votable(
        self, challenge_id: int, voter: str, identity: str | None
    ) -> list[Idea]:
        """The ideas of a challenge that everyone sees and that take votes, that neither this
        account nor another with the same verified ``identity`` voted for, and that are not the
        account's own: most votes first. (Whether the person may vote now is the policy's.)"""
        rows = await self._db.fetch_all(
            self._SELECT
            + f""" WHERE i.challenge_id = ? AND {LISTED_SQL} AND i.author <> ?
                     AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.idea_id = i.id
                                        AND (v.voter = ? OR v.identity = ?))
                   ORDER BY votes DESC, i.id""",
            (challenge_id, voter, voter, identity),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def mark_support_reached(self, idea_id: int, now: datetime) -> bool:
        """Note that the idea reached its challenge's support threshold; True only the first
        time (the mark stays, whatever its votes do afterwards)."""
        changed = await self._db.execute_rowcount(
            "UPDATE ideas SET support_reached_at = ? WHERE id = ? AND support_reached_at IS NULL",
            (to_text(now), idea_id),
        )
        return changed == 1

    async def set_hidden(self, idea_id: int, hidden: bool, now: datetime) -> None:
        await self._db.execute(
            "UPDATE ideas SET hidden = ?, updated_at = ? WHERE id = ?",
            (int(hidden), to_text(now), idea_id),
        )

    async def update_text(
        self, idea_id: int, *, title: str, description: str | None, now: datetime
    ) -> None:
        await self._db.execute(
            """UPDATE ideas SET title = ?, description = COALESCE(?, description), updated_at = ?
                WHERE id = ?""",
            (title, description, to_text(now), idea_id),
        )

    async def submitted_since(self, author: str, since: datetime) -> list[datetime]:
        """When the author submitted ideas from ``since`` on, oldest first (for rate limits)."""
        rows = await self._db.fetch_all(
            "SELECT created_at FROM ideas WHERE author = ? AND created_at >= ? ORDER BY created_at",
            (author, to_text(since)),
        )
        return [datetime.fromisoformat(row["created_at"]) for row in rows]

    async def set_status(
        self, idea_id: int, status: IdeaStatus, now: datetime, *, duplicate_of: int | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE ideas SET status = ?, duplicate_of = ?, updated_at = ? WHERE id = ?",
            (status.value, duplicate_of, to_text(now), idea_id),
        )


class CardRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event_id: str, idea_id: int, room_id: str) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO idea_cards (event_id, idea_id, room_id) VALUES (?, ?, ?)",
            (event_id, idea_id, room_id),
        )

    async def add_edit(self, event_id: str, idea_id: int, room_id: str) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO card_edits (event_id, idea_id, room_id) VALUES (?, ?, ?)",
            (event_id, idea_id, room_id),
        )

    async def take_down(self, idea_id: int) -> list[tuple[str, str]]:
        """Forget the idea's cards and their edits; returns ``(room_id, event_id)`` of each, for
        the bot to redact."""
        return await take_down_cards(self._db, idea_id)

    async def exists_for(self, idea_id: int) -> bool:
        value = await self._db.fetch_value("SELECT 1 FROM idea_cards WHERE idea_id = ?", (idea_id,))
        return value is not None

    async def live_in_room(self, idea_id: int, room_id: str) -> str | None:
        """The idea's live card in the room: the latest one posted there. Earlier cards (an
        older ``!show`` answer, the first card) still take a 👍 but are no longer edited, so a
        vote costs one edit however often the idea was shown."""
        value = await self._db.fetch_value(
            """SELECT event_id FROM idea_cards WHERE idea_id = ? AND room_id = ?
               ORDER BY rowid DESC LIMIT 1""",
            (idea_id, room_id),
        )
        return None if value is None else str(value)

    async def first_in_room(self, idea_id: int, room_id: str) -> str | None:
        """The idea's first card in the room (on Discord, the one its thread started from)."""
        value = await self._db.fetch_value(
            """SELECT event_id FROM idea_cards WHERE idea_id = ? AND room_id = ?
               ORDER BY rowid LIMIT 1""",
            (idea_id, room_id),
        )
        return None if value is None else str(value)

    async def in_room(self, room_id: str) -> list[str]:
        """Every card posted in a room (a 👍 on any of them votes), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT event_id FROM idea_cards WHERE room_id = ? ORDER BY rowid", (room_id,)
        )
        return [str(row["event_id"]) for row in rows]

    async def mark_stale(self, idea_id: int, due_at: datetime) -> None:
        """Ask for the idea's cards to be edited at ``due_at``; later asks join the first."""
        await self._db.execute(
            "INSERT OR IGNORE INTO card_refresh (idea_id, due_at) VALUES (?, ?)",
            (idea_id, to_text(due_at)),
        )

    async def take_due(self, now: datetime) -> list[int]:
        """Ideas whose cards are due for an edit; they leave the queue."""
        rows = await self._db.fetch_all(
            "SELECT idea_id FROM card_refresh WHERE due_at <= ? ORDER BY due_at", (to_text(now),)
        )
        ids = [int(row["idea_id"]) for row in rows]
        for idea_id in ids:
            await self._db.execute("DELETE FROM card_refresh WHERE idea_id = ?", (idea_id,))
        return ids

    async def idea_for(self, event_id: str) -> int | None:
        value = await self._db.fetch_value(
            "SELECT idea_id FROM idea_cards WHERE event_id = ?", (event_id,)
        )
        return None if value is None else int(value)


async def take_down_cards(db: Database, idea_id: int) -> list[tuple[str, str]]:
    rows = await db.fetch_all(
        """SELECT room_id, event_id FROM idea_cards WHERE idea_id = ?
           UNION ALL SELECT room_id, event_id FROM card_edits WHERE idea_id = ?""",
        (idea_id, idea_id),
    )
    for table in ("idea_cards", "card_edits", "card_refresh"):
        await db.execute(f"DELETE FROM {table} WHERE idea_id = ?", (idea_id,))
    return [(str(row["room_id"]), str(row["event_id"])) for row in rows]


class ReportRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        idea_id: int,
        reporter: str,
        reason: str,
        now: datetime,
        *,
        standing: Standing = Standing.OTHER,
        identity: str | None = None,
        counted: bool = True,
    ) -> bool:
        """Record a report, with what the account was then (``standing``, the keyed hash of
        its verified ``identity``) and whether it counts toward hiding the idea; False when
        this account had reported the idea already."""
        changed = await self._db.execute_rowcount(
            """INSERT OR IGNORE INTO reports (idea_id, reporter, reason, at, standing, identity,
                                              counted)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (idea_id, reporter, reason, to_text(now), standing.value, identity, int(counted)),
        )
        return changed == 1

    async def count(self, idea_id: int) -> int:
        """Every report of the idea, whether it counts toward hiding it or not."""
        value = await self._db.fetch_value(
            "SELECT COUNT(*) FROM reports WHERE idea_id = ?", (idea_id,)
        )
        return int(value)

    async def people_counted(self, idea_id: int) -> int:
        """How many people's reports count toward hiding the idea: those that counted when
        they came, from accounts not blocked now, and accounts that share a verified identity
        as one person."""
        value = await self._db.fetch_value(
            """SELECT COUNT(DISTINCT COALESCE('=' || identity, reporter)) FROM reports r
                WHERE r.idea_id = ? AND r.counted = 1
                  AND NOT EXISTS (SELECT 1 FROM blocked_users b WHERE b.user_id = r.reporter)""",
            (idea_id,),
        )
        return int(value)

    async def linked_reporter(self, idea_id: int, identity: str, reporter: str) -> bool:
        """Whether another account with this identity has a counted report of the idea."""
        value = await self._db.fetch_value(
            """SELECT 1 FROM reports WHERE idea_id = ? AND identity = ? AND reporter <> ?
                  AND counted = 1""",
            (idea_id, identity, reporter),
        )
        return value is not None

    async def clear(self, idea_id: int) -> None:
        await self._db.execute("DELETE FROM reports WHERE idea_id = ?", (idea_id,))
