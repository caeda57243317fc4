"""Repositories: the SQL of each kind of record, with bound parameters only."""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast
from urllib.parse import quote

from storage.database import Database, Row
from storage.models import (
    AuditEntry,
    Challenge,
    ChallengeStatus,
    Dialogue,
    Eligibility,
    Firing,
    Idea,
    IdeaStatus,
    OutboxItem,
    ScheduleKind,
    Standing,
    Verification,
)
from storage.outbox_kinds import ADDRESSED
from storage.polls import PollRepository
from storage.upkeep import Upkeep

IdeaOrder = Literal["top", "new"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Challenge models kept for reuse (a city has dozens of challenges, not thousands).
_MODELS_KEPT = 1024


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def _ts_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _ts(moment.astimezone(UTC))


def _micros(moment: datetime) -> int:
    """Microseconds since 1970, exactly (no detour through a float)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


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
    ) -> Challenge:
        challenge_id = await self._db.execute(
            """INSERT INTO challenges (slug, title, description, created_by, created_at,
                                       updated_at, submission_deadline_at, voting_deadline_at,
                                       vote_budget, premoderated, tags, partner, eligibility)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                slug,
                title,
                description,
                created_by,
                _ts(now),
                _ts(now),
                _ts_or_none(submission_deadline),
                _ts_or_none(voting_deadline),
                vote_budget,
                int(premoderated),
                ",".join(tags),
                partner,
                None if eligibility is None else eligibility.value,
            ),
        )
        challenge = await self.get(challenge_id)
        assert challenge is not None
        return challenge

    async def update(self, challenge: Challenge, now: datetime) -> None:
        """Write the editable fields of ``challenge`` (title to eligibility) over its row."""
        await self._db.execute(
            """UPDATE challenges SET title = ?, description = ?, submission_deadline_at = ?,
                      voting_deadline_at = ?, vote_budget = ?, premoderated = ?, tags = ?,
                      partner = ?, eligibility = ?, updated_at = ?
                WHERE id = ?""",
            (
                challenge.title,
                challenge.description,
                _ts_or_none(challenge.submission_deadline_at),
                _ts_or_none(challenge.voting_deadline_at),
                challenge.vote_budget,
                int(challenge.premoderated),
                ",".join(challenge.tags),
                challenge.partner,
                None if challenge.eligibility is None else challenge.eligibility.value,
                _ts(now),
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
            await self._db.fetch_one(self._SELECT + " WHERE c.room_id = ?", (room_id,))
        )

    async def list(self, *, open_only: bool) -> list[Challenge]:
        where = " WHERE c.status = 'open'" if open_only else ""
        rows = await self._db.fetch_all(self._SELECT + where + " ORDER BY c.created_at, c.id")
        return [self._model(row) for row in rows]

    async def set_status(self, challenge_id: int, status: ChallengeStatus, now: datetime) -> None:
        await self._db.execute(
            "UPDATE challenges SET status = ?, updated_at = ? WHERE id = ?",
            (status.value, _ts(now), challenge_id),
        )

    async def set_room(self, challenge_id: int, room_id: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE challenges SET room_id = ?, updated_at = ? WHERE id = ?",
            (room_id, _ts(now), challenge_id),
        )


class IdeaRepository:
    _SELECT = """
        SELECT i.*, c.slug AS challenge_slug,
               (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id) AS votes
          FROM ideas i JOIN challenges c ON c.id = i.challenge_id
    """
    #: What citizens see of a challenge: not the withdrawn, merged or rejected ones, and in
    #: a pre-moderated challenge only what a moderator let through.
    _VISIBLE = """
        i.status NOT IN ('withdrawn', 'duplicate', 'rejected')
        AND i.hidden = 0
        AND (c.premoderated = 0 OR i.status IN ('accepted', 'implemented'))
    """
    #: What the open data and the public report show: not hidden, not withdrawn by its
    #: author, and in a pre-moderated challenge only what a moderator let through.
    _PUBLISHED = """
        i.hidden = 0 AND i.status <> 'withdrawn'
        AND (c.premoderated = 0 OR i.status IN ('accepted', 'implemented'))
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, *, challenge_id: int, title: str, description: str, author: str, now: datetime
    ) -> Idea:
        idea_id = await self._db.execute(
            """INSERT INTO ideas (challenge_id, title, description, author, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (challenge_id, title, description, author, _ts(now), _ts(now)),
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
            + f" WHERE i.challenge_id = ? AND {self._VISIBLE} ORDER BY {order_by} LIMIT ? OFFSET ?",
            (challenge_id, limit, offset),
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def visible_titles(self, challenge_id: int) -> list[tuple[int, str, int]]:
        """(id, title, votes) of the ideas citizens see in a challenge, most votes first."""
        rows = await self._db.fetch_all(
            """SELECT i.id, i.title,
                      (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id) AS votes
                 FROM ideas i JOIN challenges c ON c.id = i.challenge_id"""
            f" WHERE i.challenge_id = ? AND {self._VISIBLE} ORDER BY votes DESC, i.id",
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
                               WHERE i.challenge_id = c.id AND {self._VISIBLE})
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
            self._SELECT + f" WHERE i.challenge_id = ? AND {self._PUBLISHED} ORDER BY i.id",
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
            f" WHERE i.challenge_id = ? AND {self._PUBLISHED} GROUP BY minute ORDER BY minute",
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
        where = " WHERE i.status IN ('new', 'needs_info')"
        params: tuple[Any, ...] = ()
        if challenge_id is not None:
            where += " AND i.challenge_id = ?"
            params = (challenge_id,)
        rows = await self._db.fetch_all(
            self._SELECT + where + " ORDER BY i.created_at, i.id LIMIT ?", (*params, limit)
        )
        return [Idea.model_validate(dict(row)) for row in rows]

    async def set_hidden(self, idea_id: int, hidden: bool, now: datetime) -> None:
        await self._db.execute(
            "UPDATE ideas SET hidden = ?, updated_at = ? WHERE id = ?",
            (int(hidden), _ts(now), idea_id),
        )

    async def update_text(
        self, idea_id: int, *, title: str, description: str | None, now: datetime
    ) -> None:
        await self._db.execute(
            """UPDATE ideas SET title = ?, description = COALESCE(?, description), updated_at = ?
                WHERE id = ?""",
            (title, description, _ts(now), idea_id),
        )

    async def submitted_since(self, author: str, since: datetime) -> list[datetime]:
        """When the author submitted ideas from ``since`` on, oldest first (for rate limits)."""
        rows = await self._db.fetch_all(
            "SELECT created_at FROM ideas WHERE author = ? AND created_at >= ? ORDER BY created_at",
            (author, _ts(since)),
        )
        return [datetime.fromisoformat(row["created_at"]) for row in rows]

    async def set_status(
        self, idea_id: int, status: IdeaStatus, now: datetime, *, duplicate_of: int | None = None
    ) -> None:
        await self._db.execute(
            "UPDATE ideas SET status = ?, duplicate_of = ?, updated_at = ? WHERE id = ?",
            (status.value, duplicate_of, _ts(now), idea_id),
        )


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
            (idea_id, voter, _ts(now), standing.value, identity, int(new_account)),
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
            """SELECT COUNT(*) FROM votes v JOIN ideas i ON i.id = v.idea_id
                WHERE (v.voter = ? OR v.identity = ?) AND i.challenge_id = ?
                  AND i.status NOT IN ('rejected', 'withdrawn', 'duplicate')""",
            (voter, identity, challenge_id),
        )
        return int(value)

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
            (challenge_id, _ts(since)),
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


class VerificationRepository:
    """The city's homeserver's last answer about each person asked: a cache, re-checked after
    ``identity.cache_minutes``. Never the external id, only its keyed hash."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> Verification | None:
        row = await self._db.fetch_one("SELECT * FROM verifications WHERE user_id = ?", (user_id,))
        return None if row is None else Verification.model_validate(dict(row))

    async def save(self, verification: Verification) -> None:
        await self._db.execute(
            """INSERT INTO verifications (user_id, provider, identity, checked_at,
                                          account_created_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET provider = excluded.provider,
                      identity = excluded.identity, checked_at = excluded.checked_at,
                      account_created_at = excluded.account_created_at""",
            (
                verification.user_id,
                verification.provider,
                verification.identity,
                _ts(verification.checked_at.astimezone(UTC)),
                _ts_or_none(verification.account_created_at),
            ),
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

    async def mark_stale(self, idea_id: int, due_at: datetime) -> None:
        """Ask for the idea's cards to be edited at ``due_at``; later asks join the first."""
        await self._db.execute(
            "INSERT OR IGNORE INTO card_refresh (idea_id, due_at) VALUES (?, ?)",
            (idea_id, _ts(due_at)),
        )

    async def take_due(self, now: datetime) -> list[int]:
        """Ideas whose cards are due for an edit; they leave the queue."""
        rows = await self._db.fetch_all(
            "SELECT idea_id FROM card_refresh WHERE due_at <= ? ORDER BY due_at", (_ts(now),)
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
            (idea_id, reporter, reason, _ts(now), standing.value, identity, int(counted)),
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


class BlockRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def block(self, user_id: str, *, by: str, reason: str, now: datetime) -> bool:
        changed = await self._db.execute_rowcount(
            """INSERT OR IGNORE INTO blocked_users (user_id, blocked_by, reason, at)
               VALUES (?, ?, ?, ?)""",
            (user_id, by, reason, _ts(now)),
        )
        return changed == 1

    async def unblock(self, user_id: str) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM blocked_users WHERE user_id = ?", (user_id,)
        )
        return changed == 1

    async def is_blocked(self, user_id: str) -> bool:
        value = await self._db.fetch_value(
            "SELECT 1 FROM blocked_users WHERE user_id = ?", (user_id,)
        )
        return value is not None


class ConfirmationRepository:
    """Destructive requests that wait for the person to say yes, with an expiry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def request(self, user_id: str, action: str, expires_at: datetime) -> None:
        await self._db.execute(
            """INSERT INTO confirmations (user_id, action, expires_at) VALUES (?, ?, ?)
               ON CONFLICT (user_id, action) DO UPDATE SET expires_at = excluded.expires_at""",
            (user_id, action, _ts(expires_at)),
        )

    async def take(self, user_id: str, action: str, now: datetime) -> bool:
        """True once if a request is pending and not expired; it is used up either way."""
        value = await self._db.fetch_value(
            "SELECT expires_at FROM confirmations WHERE user_id = ? AND action = ?",
            (user_id, action),
        )
        if value is None:
            return False
        await self._db.execute(
            "DELETE FROM confirmations WHERE user_id = ? AND action = ?", (user_id, action)
        )
        return datetime.fromisoformat(str(value)) >= now


class PendingSummary(NamedTuple):
    """The outbox's rows still to send: how many, and the oldest one's ``created_at``."""

    waiting: int
    oldest: datetime | None


class Erasure(NamedTuple):
    """What an erasure did: how many of each were erased, and the cards to redact."""

    counts: dict[str, int]
    cards: list[tuple[str, str]]  # (room_id, event_id)


class PersonalDataRepository:
    """Everything kept about one person: to hand it over, or to erase it."""

    #: Free text that may quote a person's Matrix ID (a reason, a title, a dialogue's answers):
    #: the ID is replaced there on erasure. The person's own block record is not among them.
    _FREE_TEXT = (
        ("ideas", "title"),
        ("ideas", "description"),
        ("challenges", "title"),
        ("challenges", "description"),
        ("challenges", "partner"),
        ("audit_log", "detail"),
        ("reports", "reason"),
        ("dialogues", "data"),
        ("outbox", "failed"),
        ("poll_answers", "title"),
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    async def collect(self, user_id: str) -> dict[str, Any]:
        """All the bot holds on the person. Left out: messages still waiting in the outbox to be
        sent to them (they get those anyway), and other people's data."""
        ideas = await self._db.fetch_all(
            """SELECT i.id, c.slug AS challenge, i.title, i.description, i.status, i.hidden,
                      i.created_at, i.updated_at
                 FROM ideas i JOIN challenges c ON c.id = i.challenge_id
                WHERE i.author = ? ORDER BY i.id""",
            (user_id,),
        )
        votes = await self._db.fetch_all(
            """SELECT idea_id, created_at, standing, identity, new_account FROM votes
                WHERE voter = ? ORDER BY idea_id""",
            (user_id,),
        )
        verification = await self._db.fetch_one(
            """SELECT provider, identity, checked_at, account_created_at FROM verifications
                WHERE user_id = ?""",
            (user_id,),
        )
        reactions = await self._db.fetch_all(
            """SELECT reaction_event_id, idea_id FROM reaction_votes WHERE voter = ?
                ORDER BY idea_id, reaction_event_id""",
            (user_id,),
        )
        reports = await self._db.fetch_all(
            """SELECT idea_id, reason, at, standing, identity, counted FROM reports
                WHERE reporter = ? ORDER BY idea_id""",
            (user_id,),
        )
        language = await self._db.fetch_value(
            "SELECT language FROM users WHERE user_id = ?", (user_id,)
        )
        direct_room = await self._db.fetch_value(
            "SELECT room_id FROM direct_rooms WHERE user_id = ?", (user_id,)
        )
        dialogues = await self._db.fetch_all(
            """SELECT room_id, flow, step, data, expires_at FROM dialogues
                WHERE user_id = ? ORDER BY room_id""",
            (user_id,),
        )
        block = await self._db.fetch_one(
            "SELECT reason, at FROM blocked_users WHERE user_id = ?", (user_id,)
        )
        audit = await self._db.fetch_all(
            """SELECT id, at, actor, action, subject, challenge_id, idea_id, detail
                 FROM audit_log WHERE actor = ? OR subject = ? ORDER BY id""",
            (user_id, user_id),
        )
        challenges = await self._db.fetch_all(
            "SELECT slug, created_at FROM challenges WHERE created_by = ? ORDER BY id", (user_id,)
        )
        confirmations = await self._db.fetch_all(
            "SELECT action, expires_at FROM confirmations WHERE user_id = ? ORDER BY action",
            (user_id,),
        )
        waiting = await self._db.fetch_all(
            """SELECT event_id, room_id, received_at FROM undecrypted_events
                WHERE instr(source, ?) > 0 ORDER BY received_at""",
            (user_id,),
        )
        explained = await self._db.fetch_all(
            """SELECT event_id AS key, handled_at FROM handled_events
                WHERE instr(event_id, ?) > 0 ORDER BY handled_at""",
            (user_id,),
        )
        poll_responses = await self._db.fetch_all(
            """SELECT c.slug AS challenge, r.poll_id, a.idea_id, r.event_id, r.sent_ms,
                      r.standing, r.identity, r.counted, r.told
                 FROM poll_responses r
                 JOIN polls p ON p.id = r.poll_id
                 JOIN challenges c ON c.id = p.challenge_id
                 LEFT JOIN poll_answers a ON a.poll_id = r.poll_id AND a.answer_id = r.answer_id
                WHERE r.voter = ? ORDER BY r.poll_id""",
            (user_id,),
        )
        return {
            "user_id": user_id,
            "language": language,
            "direct_room": direct_room,
            "blocked": (
                {"blocked": True, "reason": block["reason"], "at": block["at"]}
                if block is not None
                else {"blocked": False}
            ),
            "ideas": [dict(row) | {"hidden": bool(row["hidden"])} for row in ideas],
            "votes": [dict(row) | {"new_account": bool(row["new_account"])} for row in votes],
            "verification": None if verification is None else dict(verification),
            "reaction_votes": [dict(row) for row in reactions],
            "reports": [dict(row) | {"counted": bool(row["counted"])} for row in reports],
            "dialogues": [dict(row) | {"data": json.loads(row["data"])} for row in dialogues],
            "audit": [dict(row) for row in audit],
            "challenges_created": [dict(row) for row in challenges],
            "confirmations": [dict(row) for row in confirmations],
            "undecrypted_messages": [dict(row) for row in waiting],
            "undecryptable_notices": [dict(row) for row in explained],
            "poll_responses": [
                dict(row) | {"counted": bool(row["counted"]), "told": bool(row["told"])}
                for row in poll_responses
            ],
        }

    async def erase(self, user_id: str, *, delete_ideas: bool, placeholder: str) -> Erasure:
        """Remove what concerns a person from every table; their ideas are deleted or anonymised.

        An idea that other ideas were merged into is anonymised even when deleting, so that
        the merged ideas keep pointing somewhere. The audit log keeps the actions, not the
        person. A block record of the person stays, so that erasure is no way out of a block.
        Deleted rows are overwritten (``secure_delete``), and once the transaction has committed
        the WAL is checkpointed and truncated, so that no old page keeps what was erased. The
        cards of deleted ideas are returned for the bot to redact in their rooms.
        """
        db = self._db
        taken_down: list[tuple[str, str]] = []
        counts = {
            "votes": await db.execute_rowcount("DELETE FROM votes WHERE voter = ?", (user_id,)),
            "reports": await db.execute_rowcount(
                "DELETE FROM reports WHERE reporter = ?", (user_id,)
            ),
        }
        for table, column in (
            ("reaction_votes", "voter"),
            ("users", "user_id"),
            ("direct_rooms", "user_id"),
            ("confirmations", "user_id"),
            ("dialogues", "user_id"),
            ("poll_responses", "voter"),
            ("verifications", "user_id"),
        ):
            await db.execute(f"DELETE FROM {table} WHERE {column} = ?", (user_id,))
        # Encrypted messages from them waiting for a key, and the keys of "could not decrypt"
        # notices (undecryptable:<room>:<user>:<session>): both hold the Matrix ID.
        await db.execute("DELETE FROM undecrypted_events WHERE instr(source, ?) > 0", (user_id,))
        await db.execute("DELETE FROM handled_events WHERE instr(event_id, ?) > 0", (user_id,))

        deleted: list[Row] = []
        if delete_ideas:
            deleted = await db.fetch_all(
                """SELECT id, title, description FROM ideas i WHERE author = ?
                     AND NOT EXISTS (SELECT 1 FROM ideas d WHERE d.duplicate_of = i.id)""",
                (user_id,),
            )
            for row in deleted:
                idea_id = row["id"]
                taken_down += await take_down_cards(db, idea_id)
                for table in ("votes", "reaction_votes", "reports"):
                    await db.execute(f"DELETE FROM {table} WHERE idea_id = ?", (idea_id,))
                # A poll's answer for the idea goes; whoever chose it chose nothing.
                await db.execute(
                    """UPDATE poll_responses SET answer_id = NULL
                        WHERE (poll_id, answer_id) IN
                              (SELECT poll_id, answer_id FROM poll_answers WHERE idea_id = ?)""",
                    (idea_id,),
                )
                await db.execute("DELETE FROM poll_answers WHERE idea_id = ?", (idea_id,))
                await db.execute(
                    "UPDATE audit_log SET idea_id = NULL WHERE idea_id = ?", (idea_id,)
                )
                await db.execute("DELETE FROM ideas WHERE id = ?", (idea_id,))
        counts["ideas_deleted"] = len(deleted)
        await self._scrub_outbox(
            user_id,
            placeholder,
            deleted=deleted,
        )
        counts["ideas_anonymised"] = await db.execute_rowcount(
            "UPDATE ideas SET author = ? WHERE author = ?", (placeholder, user_id)
        )
        for table, column in (
            ("audit_log", "actor"),
            ("audit_log", "subject"),
            ("challenges", "created_by"),
            ("blocked_users", "blocked_by"),
            ("polls", "started_by"),
        ):
            await db.execute(
                f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (placeholder, user_id)
            )
        for table, column in self._FREE_TEXT:
            await db.execute(
                f"UPDATE {table} SET {column} = replace({column}, ?, ?) WHERE instr({column}, ?) > 0",
                (user_id, placeholder, user_id),
            )
        await db.execute(
            """UPDATE blocked_users SET reason = replace(reason, ?, ?)
                WHERE user_id <> ? AND instr(reason, ?) > 0""",
            (user_id, placeholder, user_id, user_id),
        )
        db.checkpoint_after_commit()
        return Erasure(counts, taken_down)

    async def _scrub_outbox(self, user_id: str, placeholder: str, *, deleted: list[Row]) -> None:
        """Messages not sent yet: those to the person, and (deleting) those showing a deleted
        idea, are dropped; elsewhere the Matrix ID gives way to the placeholder. Sent rows hold
        no content (``OutboxRepository.mark_done``)."""
        rows = await self._db.fetch_all(
            "SELECT id, kind, payload FROM outbox WHERE done_at IS NULL ORDER BY id"
        )
        forms = _forms(user_id)
        for row in rows:
            payload = json.loads(row["payload"])
            strings = list(_strings(payload))
            addressed = row["kind"] in _ADDRESSED and payload.get("user_id") == user_id
            shows_deleted = any(
                payload.get("card") == idea["id"] or _shows_idea(strings, idea) for idea in deleted
            )
            if addressed or shows_deleted:
                await self._db.execute("DELETE FROM outbox WHERE id = ?", (row["id"],))
            elif any(form in string for form in forms for string in strings):
                scrubbed = _scrub(payload, forms, placeholder)
                await self._db.execute(
                    "UPDATE outbox SET payload = ? WHERE id = ?",
                    (json.dumps(scrubbed, ensure_ascii=False), row["id"]),
                )


#: Outbox kinds sent to one person (``payload["user_id"]``): an invite to a challenge's room
#: too, since inviting someone who asked to be forgotten would store them again.
_ADDRESSED = ADDRESSED


def _shows_idea(strings: list[str], idea: Row) -> bool:
    """Whether a message's strings show a deleted idea's text: its title or description, or
    one of the description's lines (a quote in a message is split into lines). A text shorter
    than 12 characters is too common to tell alone; it counts next to the idea's number."""
    number = f"#{idea['id']}"
    values = {str(idea["title"]), str(idea["description"])}
    values.update(str(idea["description"]).splitlines())
    for value in filter(None, (value.strip() for value in values)):
        for form in _forms(value):
            for string in strings:
                if form in string and (len(value) >= 12 or number in string):
                    return True
    return False


def _forms(text: str) -> set[str]:
    """The ways a text appears in a message's content: as typed, HTML-escaped, in a link."""
    return {text, html.escape(text, quote=False), html.escape(text), quote(text), quote(text, "")}


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _scrub(value: Any, forms: set[str], placeholder: str) -> Any:
    """``value`` with the Matrix ID (in each of its ``forms``) replaced in its strings, and
    dropped from its lists (the people a message mentions, those a new room invites): no one
    is called the placeholder."""
    if isinstance(value, str):
        for form in sorted(forms, key=len, reverse=True):
            value = value.replace(form, placeholder)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, forms, placeholder) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, forms, placeholder) for item in value if item not in forms]
    return value


class UndecryptedRepository:
    """Encrypted events the bot could not read yet, kept until their keys arrive."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event_id: str, room_id: str, source: dict[str, Any], now: datetime) -> None:
        await self._db.execute(
            """INSERT OR IGNORE INTO undecrypted_events (event_id, room_id, source, received_at)
               VALUES (?, ?, ?, ?)""",
            (event_id, room_id, json.dumps(source), _ts(now)),
        )

    async def all(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self._db.fetch_all(
            "SELECT event_id, room_id, source FROM undecrypted_events ORDER BY received_at"
        )
        return [(row["event_id"], row["room_id"], json.loads(row["source"])) for row in rows]

    async def remove(self, event_id: str) -> None:
        await self._db.execute("DELETE FROM undecrypted_events WHERE event_id = ?", (event_id,))

    async def drop_older_than(self, moment: datetime) -> int:
        return await self._db.execute_rowcount(
            "DELETE FROM undecrypted_events WHERE received_at < ?", (_ts(moment),)
        )


class DialogueRepository:
    """Guided conversations in progress, one per person and room, kept across restarts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str, room_id: str) -> Dialogue | None:
        """The person's dialogue in the room, expired or not (the caller compares the time)."""
        row = await self._db.fetch_one(
            "SELECT * FROM dialogues WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return None if row is None else _dialogue(row)

    async def save(
        self,
        *,
        user_id: str,
        room_id: str,
        flow: str,
        step: str,
        data: dict[str, Any],
        expires_at: datetime,
        now: datetime,
    ) -> Dialogue:
        """Start the dialogue, or move it on: it replaces what was kept for this person and room."""
        dialogue = Dialogue(
            user_id=user_id,
            room_id=room_id,
            flow=flow,
            step=step,
            data=data,
            expires_at=expires_at,
            updated_at=now,
        )
        await self._db.execute(
            """INSERT INTO dialogues (user_id, room_id, flow, step, data, expires_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (user_id, room_id) DO UPDATE SET
                   flow = excluded.flow, step = excluded.step, data = excluded.data,
                   expires_at = excluded.expires_at, updated_at = excluded.updated_at""",
            (
                user_id,
                room_id,
                flow,
                step,
                json.dumps(data, ensure_ascii=False),
                _ts(expires_at),
                _ts(now),
            ),
        )
        return dialogue

    async def delete(self, user_id: str, room_id: str) -> bool:
        """End the dialogue; False when there was none."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM dialogues WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return changed == 1

    async def expired(self, now: datetime) -> list[Dialogue]:
        """Dialogues whose time ran out at or before ``now``, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM dialogues WHERE expires_at <= ? ORDER BY expires_at, user_id, room_id",
            (_ts(now),),
        )
        return [_dialogue(row) for row in rows]


def _dialogue(row: Row) -> Dialogue:
    return Dialogue.model_validate(dict(row) | {"data": json.loads(row["data"])})


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def language(self, user_id: str) -> str | None:
        value = await self._db.fetch_value(
            "SELECT language FROM users WHERE user_id = ?", (user_id,)
        )
        return None if value is None else str(value)

    async def set_language(self, user_id: str, language: str) -> None:
        await self._db.execute(
            """INSERT INTO users (user_id, language) VALUES (?, ?)
               ON CONFLICT (user_id) DO UPDATE SET language = excluded.language""",
            (user_id, language),
        )

    async def direct_room(self, user_id: str) -> str | None:
        value = await self._db.fetch_value(
            "SELECT room_id FROM direct_rooms WHERE user_id = ?", (user_id,)
        )
        return None if value is None else str(value)

    async def all_direct_rooms(self) -> list[tuple[str, str]]:
        """Every recorded direct chat, as ``(user_id, room_id)``: whose it is, and where."""
        rows = await self._db.fetch_all("SELECT user_id, room_id FROM direct_rooms")
        return [(str(row["user_id"]), str(row["room_id"])) for row in rows]

    async def set_direct_room(self, user_id: str, room_id: str) -> None:
        await self._db.execute(
            """INSERT INTO direct_rooms (user_id, room_id) VALUES (?, ?)
               ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id""",
            (user_id, room_id),
        )


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        action: str,
        now: datetime,
        challenge_id: int | None = None,
        idea_id: int | None = None,
        detail: str = "",
        subject: str | None = None,
    ) -> None:
        await self._db.execute(
            """INSERT INTO audit_log (actor, action, challenge_id, idea_id, detail, at, subject)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (actor, action, challenge_id, idea_id, detail, _ts(now), subject),
        )

    async def for_idea(self, idea_id: int) -> list[AuditEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM audit_log WHERE idea_id = ? ORDER BY id", (idea_id,)
        )
        return [AuditEntry.model_validate(dict(row)) for row in rows]

    async def all(self) -> list[AuditEntry]:
        rows = await self._db.fetch_all("SELECT * FROM audit_log ORDER BY id")
        return [AuditEntry.model_validate(dict(row)) for row in rows]

    async def recent(
        self, *, idea_id: int | None = None, actor: str | None = None, limit: int = 20
    ) -> list[AuditEntry]:
        """The latest entries, newest first; optionally of one idea or one person."""
        where, params = "", cast(tuple[Any, ...], ())
        if idea_id is not None:
            where, params = " WHERE idea_id = ?", (idea_id,)
        elif actor is not None:
            where, params = " WHERE actor = ? OR subject = ?", (actor, actor)
        rows = await self._db.fetch_all(
            f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [AuditEntry.model_validate(dict(row)) for row in rows]


class StateRepository:
    """Small named values: the sync checkpoint, the login session, the rooms joined."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        value = await self._db.fetch_value("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        await self._db.execute(
            """INSERT INTO bot_state (key, value) VALUES (?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            (key, value),
        )

    async def delete(self, key: str) -> None:
        await self._db.execute("DELETE FROM bot_state WHERE key = ?", (key,))

    async def instance_secret(self) -> str:
        """A random value of this database's own, made on first use: the outbox's transaction
        ids and the markers of rooms the bot opens are derived from it."""
        value = await self.get("txn_prefix")
        if value is None:
            value = secrets.token_hex(8)
            await self.set("txn_prefix", value)
        return value

    async def is_handled(self, event_id: str) -> bool:
        return (
            await self._db.fetch_value(
                "SELECT 1 FROM handled_events WHERE event_id = ?", (event_id,)
            )
            is not None
        )

    async def mark_handled(self, event_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO handled_events (event_id, handled_at) VALUES (?, ?)",
            (event_id, _ts(now)),
        )


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        room_id: str | None = None,
        lane: str | None = None,
    ) -> int:
        """Queue a row. Rows of one ``lane`` (by default their room) go out in order; lanes
        don't wait for each other.

        A new row's id is greater than any before it and, going by the clock, than any a
        restored backup has forgotten. A row's id is in its Matrix transaction id
        (bot.delivery), and the homeserver drops a message whose transaction id it has seen,
        in the same room. An id taken as the next one after the highest would, after a
        restore, be one the lost rows already used: the reply to a command after the restore
        would be taken for a duplicate and never arrive. So an id is at least the time in
        microseconds (max(id) is the last entry of the table's b-tree: no scan).
        """
        return await self._db.execute(
            """INSERT INTO outbox (id, kind, room_id, payload, created_at, lane)
               VALUES (max(coalesce((SELECT max(id) FROM outbox), 0) + 1, ?), ?, ?, ?, ?, ?)""",
            (
                _micros(now),
                kind,
                room_id,
                json.dumps(payload, ensure_ascii=False),
                _ts(now),
                lane or room_id or kind,
            ),
        )

    async def pending(self, limit: int = 50) -> list[OutboxItem]:
        rows = await self._db.fetch_all(
            """SELECT id, kind, room_id, payload, attempts FROM outbox
                WHERE done_at IS NULL ORDER BY id LIMIT ?""",
            (limit,),
        )
        return [_outbox_item(row) for row in rows]

    async def waiting_lanes(self, limit: int) -> list[WaitingLane]:
        """The lanes with rows to send, the one waiting longest first, each with its next row
        and whether that row answers someone's command."""
        rows = await self._db.fetch_all(
            """SELECT o.lane, o.id,
                      json_extract(o.payload, '$.content."m.relates_to"."m.in_reply_to"')
                          IS NOT NULL AS answers
                 FROM (SELECT MIN(id) AS head FROM outbox WHERE done_at IS NULL
                        GROUP BY lane ORDER BY head LIMIT ?) h
                 JOIN outbox o ON o.id = h.head
                ORDER BY o.id""",
            (limit,),
        )
        return [WaitingLane(str(row["lane"]), int(row["id"]), bool(row["answers"])) for row in rows]

    async def next_in_lane(self, lane: str, limit: int = 1) -> list[OutboxItem]:
        rows = await self._db.fetch_all(
            """SELECT id, kind, room_id, payload, attempts FROM outbox
                WHERE done_at IS NULL AND lane = ? ORDER BY id LIMIT ?""",
            (lane, limit),
        )
        return [_outbox_item(row) for row in rows]

    async def count_pending(self) -> int:
        return int(await self._db.fetch_value("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL"))

    async def pending_summary(self) -> PendingSummary:
        """How many rows wait to be sent, and when the oldest of them was queued."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS count, MIN(created_at) AS oldest FROM outbox WHERE done_at IS NULL"
        )
        if row is None or row["oldest"] is None:
            return PendingSummary(0, None)
        return PendingSummary(int(row["count"]), datetime.fromisoformat(str(row["oldest"])))

    async def mark_attempt(self, item_id: int) -> None:
        await self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    async def mark_done(self, item_id: int, now: datetime, *, failed: str | None = None) -> None:
        """Sent, or refused for good. The content is dropped: a sent message is on the
        homeserver, and a resend's transaction id comes from the row's id, not its payload."""
        await self._db.execute(
            "UPDATE outbox SET done_at = ?, failed = ?, payload = '{}', lane = NULL WHERE id = ?",
            (_ts(now), failed, item_id),
        )

    async def prune_done(self, before: datetime) -> int:
        """Forget the rows sent (or failed) before ``before``; returns how many."""
        return await self._db.execute_rowcount(
            "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?", (_ts(before),)
        )


class WaitingLane(NamedTuple):
    lane: str
    head: int  # its next row
    answers: bool  # that row is a reply to someone's command


def _outbox_item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        kind=row["kind"],
        room_id=row["room_id"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
    )


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
        shown = f"AND {IdeaRepository._VISIBLE}" if public_only else ""
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
            (challenge_id, kind.value, _ts(deadline.astimezone(UTC))),
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
            {"reminders": _ts(now + reminder_lead), "closings": _ts(now)},
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
                "reminders": _ts(now + reminder_lead),
                "closings": _ts(now),
                "now": _ts(now),
                "challenge_id": challenge_id,
            },
        )

    async def mark_done(self, firing: Firing, now: datetime) -> bool:
        """Mark it done; False when it was done already or its deadline moved meanwhile."""
        changed = await self._db.execute_rowcount(
            """UPDATE schedule SET done_at = ?
                WHERE challenge_id = ? AND kind = ? AND deadline_at = ? AND done_at IS NULL""",
            (_ts(now), firing.challenge_id, firing.kind.value, _ts(firing.deadline_at)),
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


class Store:
    """All repositories over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.challenges = ChallengeRepository(db)
        self.ideas = IdeaRepository(db)
        self.votes = VoteRepository(db)
        self.cards = CardRepository(db)
        self.users = UserRepository(db)
        self.audit = AuditRepository(db)
        self.state = StateRepository(db)
        self.outbox = OutboxRepository(db)
        self.reports = ReportRepository(db)
        self.blocks = BlockRepository(db)
        self.confirmations = ConfirmationRepository(db)
        self.personal_data = PersonalDataRepository(db)
        self.dialogues = DialogueRepository(db)
        self.undecrypted = UndecryptedRepository(db)
        self.stats = StatsRepository(db)
        self.upkeep = Upkeep(db)
        self.schedule = ScheduleRepository(db)
        self.polls = PollRepository(db)
        self.verifications = VerificationRepository(db)
