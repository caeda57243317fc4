"""Following: what each person follows, how often they are told of it, and the notices that
wait for their next digest.

A person follows an idea when they said so (``!follow 12``), or wrote it, or voted for it,
unless they said otherwise (``!unfollow 12`` keeps a row with ``following = 0``). A challenge
is followed only when asked. Who follows what is read here, in SQL, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from storage.database import Database
from storage.models import DEFAULT_FREQUENCY, Frequency, Notice
from storage.timestamps import to_text


class FollowedIdea(NamedTuple):
    idea_id: int
    title: str
    slug: str
    #: Why: "own" (wrote it), "voted", or "asked" (``!follow``).
    reason: str


class FollowedChallenge(NamedTuple):
    challenge_id: int
    slug: str
    title: str


#: Who follows each idea: those who asked, its author and its voters, less those who said no.
_IDEA_FOLLOWERS = """
    SELECT user_id FROM follows WHERE idea_id = :idea AND following = 1
    UNION SELECT author FROM ideas WHERE id = :idea
    UNION SELECT voter FROM votes WHERE idea_id = :idea
    EXCEPT SELECT user_id FROM follows WHERE idea_id = :idea AND following = 0
"""


class FollowRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def follow_idea(self, user_id: str, idea_id: int, now: datetime, *, on: bool) -> bool:
        """Follow the idea (``on``) or stop; False when that was already so."""
        return await self._set(user_id, "idea_id", idea_id, now, on=on)

    async def follow_challenge(
        self, user_id: str, challenge_id: int, now: datetime, *, on: bool
    ) -> bool:
        return await self._set(user_id, "challenge_id", challenge_id, now, on=on)

    async def _set(
        self, user_id: str, column: str, target: int, now: datetime, *, on: bool
    ) -> bool:
        before = await self._db.fetch_value(
            f"SELECT following FROM follows WHERE user_id = ? AND {column} = ?", (user_id, target)
        )
        if before is not None and bool(before) == on:
            return False
        await self._db.execute(
            f"""INSERT INTO follows (user_id, {column}, following, since) VALUES (?, ?, ?, ?)
                ON CONFLICT (user_id, {column}) WHERE {column} IS NOT NULL
                DO UPDATE SET following = excluded.following, since = excluded.since""",
            (user_id, target, int(on), to_text(now)),
        )
        return True

    async def follows_idea(self, user_id: str, idea_id: int) -> bool:
        value = await self._db.fetch_value(
            f"SELECT 1 FROM ({_IDEA_FOLLOWERS}) WHERE user_id = :user",
            {"idea": idea_id, "user": user_id},
        )
        return value is not None

    async def follows_challenge(self, user_id: str, challenge_id: int) -> bool:
        value = await self._db.fetch_value(
            """SELECT 1 FROM follows WHERE user_id = ? AND challenge_id = ? AND following = 1""",
            (user_id, challenge_id),
        )
        return value is not None

    async def idea_followers(self, idea_id: int) -> list[str]:
        rows = await self._db.fetch_all(
            f"SELECT user_id FROM ({_IDEA_FOLLOWERS}) ORDER BY user_id", {"idea": idea_id}
        )
        return [str(row["user_id"]) for row in rows]

    async def challenge_followers(self, challenge_id: int) -> list[str]:
        rows = await self._db.fetch_all(
            """SELECT user_id FROM follows WHERE challenge_id = ? AND following = 1
                ORDER BY user_id""",
            (challenge_id,),
        )
        return [str(row["user_id"]) for row in rows]

    async def followed_challenges(self, user_id: str) -> list[FollowedChallenge]:
        rows = await self._db.fetch_all(
            """SELECT c.id, c.slug, c.title FROM follows f JOIN challenges c
                   ON c.id = f.challenge_id
                WHERE f.user_id = ? AND f.following = 1 ORDER BY c.id""",
            (user_id,),
        )
        return [FollowedChallenge(int(row["id"]), row["slug"], row["title"]) for row in rows]

    async def followed_ideas(self, user_id: str, limit: int) -> list[FollowedIdea]:
        """The ideas the person follows, newest first, with why (the first reason that holds:
        asked, wrote it, voted for it)."""
        rows = await self._db.fetch_all(
            """SELECT i.id, i.title, c.slug,
                      CASE WHEN EXISTS (SELECT 1 FROM follows f WHERE f.idea_id = i.id
                                          AND f.user_id = :user AND f.following = 1)
                           THEN 'asked'
                           WHEN i.author = :user THEN 'own' ELSE 'voted' END AS reason
                 FROM ideas i JOIN challenges c ON c.id = i.challenge_id
                WHERE (i.author = :user
                       OR EXISTS (SELECT 1 FROM votes v WHERE v.idea_id = i.id AND v.voter = :user)
                       OR EXISTS (SELECT 1 FROM follows f WHERE f.idea_id = i.id
                                    AND f.user_id = :user AND f.following = 1))
                  AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.idea_id = i.id
                                    AND f.user_id = :user AND f.following = 0)
                ORDER BY i.id DESC LIMIT :limit""",
            {"user": user_id, "limit": limit},
        )
        return [
            FollowedIdea(int(row["id"]), row["title"], row["slug"], row["reason"]) for row in rows
        ]

    async def frequency(self, user_id: str) -> Frequency:
        value = await self._db.fetch_value(
            "SELECT frequency FROM notification_settings WHERE user_id = ?", (user_id,)
        )
        return DEFAULT_FREQUENCY if value is None else Frequency(value)

    async def set_frequency(self, user_id: str, frequency: Frequency, now: datetime) -> None:
        await self._db.execute(
            """INSERT INTO notification_settings (user_id, frequency, since) VALUES (?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE
                  SET frequency = excluded.frequency, since = excluded.since""",
            (user_id, frequency.value, to_text(now)),
        )
        if frequency is Frequency.OFF:
            await self._db.execute("DELETE FROM notices WHERE user_id = ?", (user_id,))

    async def keep(self, notices: Iterable[Notice], now: datetime) -> None:
        """Keep notices for their person's next digest."""
        for notice in notices:
            await self._db.execute(
                """INSERT INTO notices (user_id, challenge_id, idea_id, original_id, kind,
                                        status, place, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    notice.user_id,
                    notice.challenge_id,
                    notice.idea_id,
                    notice.original_id,
                    notice.kind.value,
                    None if notice.status is None else notice.status.value,
                    notice.place,
                    to_text(now),
                ),
            )

    async def waiting(self, frequencies: tuple[Frequency, ...]) -> list[Notice]:
        """The notices waiting for people whose choice is one of ``frequencies`` (no choice:
        the default), by person, oldest first."""
        marks = ", ".join("?" for _ in frequencies)
        rows = await self._db.fetch_all(
            f"""SELECT n.* FROM notices n
                  LEFT JOIN notification_settings s ON s.user_id = n.user_id
                 WHERE coalesce(s.frequency, ?) IN ({marks})
                 ORDER BY n.user_id, n.id""",
            (DEFAULT_FREQUENCY.value, *(frequency.value for frequency in frequencies)),
        )
        return [Notice.model_validate(dict(row)) for row in rows]

    async def drop(self, notice_ids: Iterable[int]) -> None:
        for notice_id in notice_ids:
            await self._db.execute("DELETE FROM notices WHERE id = ?", (notice_id,))

    async def participants(self, challenge_id: int) -> list[str]:
        """Who took part in a challenge: wrote an idea, voted, or answered one of its polls."""
        rows = await self._db.fetch_all(
            """SELECT author AS who FROM ideas WHERE challenge_id = :challenge
               UNION SELECT v.voter FROM votes v JOIN ideas i ON i.id = v.idea_id
                      WHERE i.challenge_id = :challenge
               UNION SELECT r.voter FROM poll_responses r JOIN polls p ON p.id = r.poll_id
                      WHERE p.challenge_id = :challenge
               ORDER BY who""",
            {"challenge": challenge_id},
        )
        return [str(row["who"]) for row in rows]
