"""Challenges: their records, what the bot does by itself at their deadlines (the schedule),
and the participation figures counted over their ideas and votes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from storage.database import Database, Row
from storage.models import Challenge, ChallengeStatus, Eligibility, Firing, ScheduleKind
from storage.timestamps import to_text, to_utc_text_or_none
from storage.visibility import LISTED_SQL

#: Challenge models kept for reuse (a city has dozens of challenges, not thousands).
_MODELS_KEPT = 1024


class ChallengeRepository:
    # No count of ideas here: nearly every command looks up a challenge, and only the
    # listings show how many ideas it has (IdeaRepository.count_visible_in_challenges).
    _SELECT = "SELECT c.* FROM challenges c"

    def __init__(self, db: Database) -> None:
        self._db = db
        # Models by the row they were built from: nearly every command reads its room's
        # challenge, which seldom changes, and a frozen model can be handed out again.
        self._models: dict[tuple[Any, ...], Challenge] = {}

    def _challenge(self, row: Row | None) -> Challenge | None:
        return None if row is None else self._model(row)

    def _model(self, row: Row) -> Challenge:
        key = tuple(row)
        model = self._models.get(key)
        if model is None:
            if len(self._models) >= _MODELS_KEPT:
                self._models.clear()
            model = self._models[key] = Challenge.model_validate(dict(row))
        return model

    async def create(
        self,
        *,
        slug: str,
        title: str,
        description: str,
        created_by: str,
        now: datetime,
        submission_deadline: datetime | None = None,
        voting_deadline: datetime | None = None,
        vote_budget: int | None = None,
        premoderated: bool = False,
        tags: tuple[str, ...] = (),
        partner: str = "",
        eligibility: Eligibility | None = None,
        support_threshold: int | None = None,
    ) -> Challenge:
        challenge_id = await self._db.execute(
            """INSERT INTO challenges (slug, title, description, created_by, created_at,
                                       updated_at, submission_deadline_at, voting_deadline_at,
                                       vote_budget, premoderated, tags, partner, eligibility,
                                       support_threshold)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                slug,
                title,
                description,
                created_by,
                to_text(now),
                to_text(now),
                to_utc_text_or_none(submission_deadline),
                to_utc_text_or_none(voting_deadline),
                vote_budget,
                int(premoderated),
                ",".join(tags),
                partner,
                None if eligibility is None else eligibility.value,
                support_threshold,
            ),
        )
        challenge = await self.get(challenge_id)
        assert challenge is not None
        return challenge

    async def update(self, challenge: Challenge, now: datetime) -> None:
        """Write the editable fields of ``challenge`` (title to the support threshold) over its
        row."""
        await self._db.execute(
            """UPDATE challenges SET title = ?, description = ?, submission_deadline_at = ?,
                      voting_deadline_at = ?, vote_budget = ?, premoderated = ?, tags = ?,
                      partner = ?, eligibility = ?, support_threshold = ?, updated_at = ?
                WHERE id = ?""",
            (
                challenge.title,
                challenge.description,
                to_utc_text_or_none(challenge.submission_deadline_at),
                to_utc_text_or_none(challenge.voting_deadline_at),
                challenge.vote_budget,
                int(challenge.premoderated),
                ",".join(challenge.tags),
                challenge.partner,
                None if challenge.eligibility is None else challenge.eligibility.value,
                challenge.support_threshold,
                to_text(now),
                challenge.id,
            ),
        )

    async def get(self, challenge_id: int) -> Challenge | None:
        return self._challenge(
            await self._db.fetch_one(self._SELECT + " WHERE c.id = ?", (challenge_id,))
        )

    async def by_slug(self, slug: str) -> Challenge | None:
        return self._challenge(
            await self._db.fetch_one(self._SELECT + " WHERE c.slug = ?", (slug,))
        )

    async def by_room(self, room_id: str) -> Challenge | None:
        return self._challenge(
            await self._db.fetch_one(
                self._SELECT + " WHERE c.room_id = ?1 OR c.id IN"
                " (SELECT challenge_id FROM challenge_rooms WHERE room_id = ?1)",
                (room_id,),
            )
        )

    async def list(self, *, open_only: bool) -> list[Challenge]:
        where = " WHERE c.status = 'open'" if open_only else ""
        rows = await self._db.fetch_all(self._SELECT + where + " ORDER BY c.created_at, c.id")
        return [self._model(row) for row in rows]

    async def set_status(self, challenge_id: int, status: ChallengeStatus, now: datetime) -> None:
        await self._db.execute(
            "UPDATE challenges SET status = ?, updated_at = ? WHERE id = ?",
            (status.value, to_text(now), challenge_id),
        )

    async def set_room(self, challenge_id: int, room_id: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE challenges SET room_id = ?, updated_at = ? WHERE id = ?",
            (room_id, to_text(now), challenge_id),
        )

    async def add_room(self, challenge_id: int, room_id: str, network: str) -> None:
        """The challenge's place on another network than its ``room_id``'s (one a network)."""
        await self._db.execute(
            """INSERT INTO challenge_rooms (room_id, challenge_id, network) VALUES (?, ?, ?)
               ON CONFLICT (challenge_id, network) DO UPDATE SET room_id = excluded.room_id""",
            (room_id, challenge_id, network),
        )

    async def rooms_of(self, challenge_id: int) -> tuple[str, ...]:
        """All the challenge's rooms: its ``room_id`` first, then its places elsewhere."""
        rows = await self._db.fetch_all(
            """SELECT room_id FROM challenges WHERE id = ?1 AND room_id IS NOT NULL
               UNION ALL
               SELECT room_id FROM (SELECT room_id FROM challenge_rooms
                                    WHERE challenge_id = ?1 ORDER BY network)""",
            (challenge_id,),
        )
        return tuple(str(row[0]) for row in rows)

    async def rooms_with(self, room_id: str) -> tuple[str, ...]:
        """The rooms of the challenge that has ``room_id`` among its rooms, else just it."""
        challenge = await self.by_room(room_id)
        if challenge is None:
            return (room_id,)
        return await self.rooms_of(challenge.id)


class ScheduleRepository:
    """What the bot does by itself at deadlines; each firing once (``done_at``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def plan(self, challenge_id: int, kind: ScheduleKind, deadline: datetime | None) -> None:
        """The firing of ``kind`` for this deadline: none without one; a moved deadline fires
        anew (also when it had fired for the old one), an unchanged one keeps its state."""
        if deadline is None:
            await self._db.execute(
                "DELETE FROM schedule WHERE challenge_id = ? AND kind = ?",
                (challenge_id, kind.value),
            )
            return
        await self._db.execute(
            """INSERT INTO schedule (challenge_id, kind, deadline_at) VALUES (?, ?, ?)
               ON CONFLICT (challenge_id, kind) DO UPDATE
                  SET deadline_at = excluded.deadline_at, done_at = NULL
                WHERE deadline_at <> excluded.deadline_at""",
            (challenge_id, kind.value, to_text(deadline.astimezone(UTC))),
        )

    #: When a firing is due: a closing at its deadline, a reminder ``reminder_lead`` before it
    #: (bound as ``:reminders``, now plus the lead, and ``:closings``, now).
    _DUE = "deadline_at <= CASE WHEN kind LIKE 'reminder_%' THEN :reminders ELSE :closings END"

    async def due(self, now: datetime, reminder_lead: timedelta) -> list[Firing]:
        """Pending firings due at ``now``: closings at their deadline, reminders
        ``reminder_lead`` before it; earliest first, a closing before its reminder."""
        rows = await self._db.fetch_all(
            f"""SELECT challenge_id, kind, deadline_at FROM schedule
                 WHERE done_at IS NULL AND {self._DUE}
                 ORDER BY deadline_at, challenge_id, kind""",
            {"reminders": to_text(now + reminder_lead), "closings": to_text(now)},
        )
        return [Firing.model_validate(dict(row)) for row in rows]

    async def reopen(self, challenge_id: int, now: datetime, reminder_lead: timedelta) -> None:
        """A challenge reopened by hand: what is not due yet fires (again), what came due
        while it was closed is done without a word."""
        await self._db.execute(
            f"""UPDATE schedule
                   SET done_at = CASE WHEN {self._DUE} THEN coalesce(done_at, :now) END
                 WHERE challenge_id = :challenge_id""",
            {
                "reminders": to_text(now + reminder_lead),
                "closings": to_text(now),
                "now": to_text(now),
                "challenge_id": challenge_id,
            },
        )

    async def mark_done(self, firing: Firing, now: datetime) -> bool:
        """Mark it done; False when it was done already or its deadline moved meanwhile."""
        changed = await self._db.execute_rowcount(
            """UPDATE schedule SET done_at = ?
                WHERE challenge_id = ? AND kind = ? AND deadline_at = ? AND done_at IS NULL""",
            (to_text(now), firing.challenge_id, firing.kind.value, to_text(firing.deadline_at)),
        )
        return changed == 1

    async def of_challenge(self, challenge_id: int) -> list[tuple[ScheduleKind, datetime, bool]]:
        """(kind, deadline, done) of each planned firing of a challenge."""
        rows = await self._db.fetch_all(
            "SELECT kind, deadline_at, done_at FROM schedule WHERE challenge_id = ? ORDER BY kind",
            (challenge_id,),
        )
        return [
            (
                ScheduleKind(row["kind"]),
                datetime.fromisoformat(row["deadline_at"]),
                row["done_at"] is not None,
            )
            for row in rows
        ]


class ChallengeFigures(NamedTuple):
    """Participation in one challenge: how many took part, with what, and when."""

    people: int  # authors and voters, each counted once
    ideas: int
    votes: int
    by_status: dict[str, int]
    weeks: list[tuple[str, int, int]]  # (Monday of the week, ideas, votes), oldest first


class StatsRepository:
    """Participation figures, counted in SQL; ``public_only`` counts what everyone may see."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def figures(self, challenge_id: int, *, public_only: bool) -> ChallengeFigures:
        shown = f"AND {LISTED_SQL}" if public_only else ""
        ideas = f"""SELECT i.id, i.status, i.created_at, i.author FROM ideas i
                      JOIN challenges c ON c.id = i.challenge_id
                     WHERE i.challenge_id = ? {shown}"""
        by_status = {
            str(row[0]): int(row[1])
            for row in await self._db.fetch_all(
                f"SELECT status, COUNT(*) FROM ({ideas}) GROUP BY status ORDER BY status",
                (challenge_id,),
            )
        }
        votes = int(
            await self._db.fetch_value(
                f"SELECT COUNT(*) FROM votes v JOIN ({ideas}) i ON i.id = v.idea_id",
                (challenge_id,),
            )
        )
        people = int(
            await self._db.fetch_value(
                f"""SELECT COUNT(*) FROM (SELECT author FROM ({ideas})
                     UNION SELECT v.voter FROM votes v JOIN ({ideas}) i ON i.id = v.idea_id)""",
                (challenge_id, challenge_id),
            )
        )
        week = "date({column}, 'weekday 0', '-6 days')"
        rows = await self._db.fetch_all(
            f"""SELECT week, SUM(ideas), SUM(votes) FROM (
                    SELECT {week.format(column="created_at")} AS week, 1 AS ideas, 0 AS votes
                      FROM ({ideas})
                    UNION ALL
                    SELECT {week.format(column="v.created_at")}, 0, 1
                      FROM votes v JOIN ({ideas}) i ON i.id = v.idea_id)
                GROUP BY week ORDER BY week""",
            (challenge_id, challenge_id),
        )
        return ChallengeFigures(
            people=people,
            ideas=sum(by_status.values()),
            votes=votes,
            by_status=by_status,
            weeks=[(str(row[0]), int(row[1]), int(row[2])) for row in rows],
        )
