"""Final polls: their answers, each person's latest response, and the result at the end.

The counting rule of MSC3381 lives here, in one place: one response per person, the latest by
``origin_server_ts`` (then by event id, so that the order responses arrive in never matters);
an empty or spoiled response withdraws; responses sent after the end do not count. A person is
an account, or all the accounts that share one verified identity (its keyed hash): the latest
response of any of them is theirs. It counts only if the policy let it count when it came
(``counted``: not blocked, and allowed to take part in the challenge, ``handlers.policy``)
and its account is not blocked now. At the end the counts are written down and stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from storage.database import Database, Row
from storage.models import Poll, PollAnswer, PollAnswerCount, PollResult, Standing
from storage.timestamps import to_ms


def _poll(row: Row | None) -> Poll | None:
    return None if row is None else Poll.model_validate(dict(row))


class PollRepository:
    _SELECT = (
        "SELECT id, challenge_id, room_id, started_by, started_at, start_event_id, ended_at "
        "FROM polls"
    )
    #: Each person's latest response sent by the cutoff (if any), that counts: an answer,
    #: allowed when it came, not blocked now. Parameters: poll, cutoff, cutoff.
    _COUNTED = """
        WITH sent AS (
            SELECT r.voter, r.answer_id, r.counted,
                   ROW_NUMBER() OVER (
                       PARTITION BY r.identity, CASE WHEN r.identity IS NULL THEN r.voter END
                       ORDER BY r.sent_ms DESC, r.event_id DESC) AS newest
              FROM poll_responses r
             WHERE r.poll_id = ? AND (? IS NULL OR r.sent_ms <= ?))
        SELECT voter, answer_id FROM sent
         WHERE newest = 1 AND counted = 1 AND answer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM blocked_users b WHERE b.user_id = sent.voter)"""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(
        self,
        *,
        challenge_id: int,
        room_id: str,
        started_by: str,
        now: datetime,
        answers: Sequence[PollAnswer],
    ) -> Poll:
        """A new running poll with ``answers`` in this order. The caller makes sure no other
        poll of the challenge runs (the schema refuses a second one)."""
        poll_id = await self._db.execute(
            """INSERT INTO polls (challenge_id, room_id, started_by, started_at)
               VALUES (?, ?, ?, ?)""",
            (challenge_id, room_id, started_by, now.astimezone(UTC).isoformat()),
        )
        for position, answer in enumerate(answers):
            await self._db.execute(
                """INSERT INTO poll_answers (poll_id, answer_id, position, idea_id, title)
                   VALUES (?, ?, ?, ?, ?)""",
                (poll_id, answer.answer_id, position, answer.idea_id, answer.title),
            )
        poll = await self.get(poll_id)
        assert poll is not None
        return poll

    async def get(self, poll_id: int) -> Poll | None:
        return _poll(await self._db.fetch_one(f"{self._SELECT} WHERE id = ?", (poll_id,)))

    async def running(self, challenge_id: int) -> Poll | None:
        return _poll(
            await self._db.fetch_one(
                f"{self._SELECT} WHERE challenge_id = ? AND ended_at IS NULL", (challenge_id,)
            )
        )

    async def latest(self, challenge_id: int) -> Poll | None:
        return _poll(
            await self._db.fetch_one(
                f"{self._SELECT} WHERE challenge_id = ? ORDER BY id DESC LIMIT 1", (challenge_id,)
            )
        )

    async def by_start_event(self, event_id: str) -> Poll | None:
        return _poll(
            await self._db.fetch_one(
                f"{self._SELECT} WHERE start_event_id = ?1"
                " OR id IN (SELECT poll_id FROM poll_starts WHERE event_id = ?1)",
                (event_id,),
            )
        )

    async def set_start_event(
        self, poll_id: int, event_id: str, room_id: str | None = None
    ) -> None:
        """The poll's start in ``room_id`` (by default the room it was started for): a
        challenge on both networks starts it in each of its rooms."""
        await self._db.execute(
            "UPDATE polls SET start_event_id = COALESCE(start_event_id, ?) WHERE id = ?",
            (event_id, poll_id),
        )
        await self._db.execute(
            """INSERT OR IGNORE INTO poll_starts (event_id, poll_id, room_id)
               SELECT ?, id, COALESCE(?, room_id) FROM polls WHERE id = ?""",
            (event_id, room_id, poll_id),
        )

    async def start_event_in(self, poll_id: int, room_id: str) -> str | None:
        """The poll's start event in ``room_id``, once it was started there."""
        value = await self._db.fetch_value(
            "SELECT event_id FROM poll_starts WHERE poll_id = ? AND room_id = ?",
            (poll_id, room_id),
        )
        return None if value is None else str(value)

    async def answers(self, poll_id: int) -> list[PollAnswer]:
        rows = await self._db.fetch_all(
            "SELECT answer_id, idea_id, title FROM poll_answers WHERE poll_id = ? ORDER BY position",
            (poll_id,),
        )
        return [PollAnswer.model_validate(dict(row)) for row in rows]

    async def answered(self, poll_id: int) -> set[str]:
        """Who has an answer in the poll now (not withdrawn)."""
        rows = await self._db.fetch_all(
            "SELECT voter FROM poll_responses WHERE poll_id = ? AND answer_id IS NOT NULL",
            (poll_id,),
        )
        return {str(row["voter"]) for row in rows}

    async def record_response(
        self,
        poll_id: int,
        voter: str,
        *,
        event_id: str,
        sent_ms: int,
        answer_id: str | None,
        standing: Standing = Standing.OTHER,
        identity: str | None = None,
        counted: bool = True,
    ) -> bool:
        """Keep the response if it is the account's latest; True when it is (now) theirs.

        ``answer_id`` is None for a withdrawal or a spoiled response; ``standing`` and
        ``identity`` are what the account was then, ``counted`` whether the policy let the
        response count. Whether the response may be taken at all (the poll runs, it was sent
        before the end) is the caller's to decide.
        """
        changed = await self._db.execute_rowcount(
            """INSERT INTO poll_responses (poll_id, voter, event_id, sent_ms, answer_id,
                                           standing, identity, counted)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (poll_id, voter) DO UPDATE
                  SET event_id = excluded.event_id, sent_ms = excluded.sent_ms,
                      answer_id = excluded.answer_id, standing = excluded.standing,
                      identity = excluded.identity, counted = excluded.counted
                WHERE (excluded.sent_ms, excluded.event_id)
                      > (poll_responses.sent_ms, poll_responses.event_id)""",
            (poll_id, voter, event_id, sent_ms, answer_id, standing.value, identity, int(counted)),
        )
        return changed == 1

    async def tell_once(self, poll_id: int, voter: str) -> bool:
        """True the first time it is asked for the account's response to the poll: to explain
        once, not at every click, that their answer does not count."""
        changed = await self._db.execute_rowcount(
            "UPDATE poll_responses SET told = 1 WHERE poll_id = ? AND voter = ? AND told = 0",
            (poll_id, voter),
        )
        return changed == 1

    async def end(self, poll_id: int, at: datetime) -> PollResult | None:
        """End the poll at ``at``: the responses sent by then are counted and the counts kept.
        None when it had ended already (each poll ends once)."""
        counts = await self._counts(poll_id, to_ms(at))
        voters = await self._voters(poll_id, to_ms(at))
        ended = await self._db.execute_rowcount(
            "UPDATE polls SET ended_at = ?, voters = ? WHERE id = ? AND ended_at IS NULL",
            (at.astimezone(UTC).isoformat(), voters, poll_id),
        )
        if ended != 1:
            return None
        for answer_id, count in counts.items():
            await self._db.execute(
                "UPDATE poll_answers SET count = ? WHERE poll_id = ? AND answer_id = ?",
                (count, poll_id, answer_id),
            )
        return await self.result(poll_id)

    async def result(self, poll_id: int) -> PollResult | None:
        """The poll's result: as kept at its end, or counted now while it runs. Answers whose
        idea has been hidden since are left out (``voters`` still counts everyone)."""
        row = await self._db.fetch_one(
            "SELECT challenge_id, started_at, ended_at, voters FROM polls WHERE id = ?",
            (poll_id,),
        )
        if row is None:
            return None
        running = row["ended_at"] is None
        live = await self._counts(poll_id, None) if running else {}
        answers = await self._db.fetch_all(
            """SELECT a.answer_id, a.idea_id, a.title, a.count
                 FROM poll_answers a JOIN ideas i ON i.id = a.idea_id
                WHERE a.poll_id = ? AND i.hidden = 0
                ORDER BY a.position""",
            (poll_id,),
        )
        return PollResult(
            challenge_id=int(row["challenge_id"]),
            started_at=datetime.fromisoformat(row["started_at"]),
            ended_at=None if running else datetime.fromisoformat(row["ended_at"]),
            voters=await self._voters(poll_id, None) if running else int(row["voters"]),
            answers=tuple(
                PollAnswerCount(
                    idea_id=int(answer["idea_id"]),
                    title=str(answer["title"]),
                    count=live.get(answer["answer_id"], 0) if running else int(answer["count"]),
                )
                for answer in answers
            ),
        )

    async def latest_result(self, challenge_id: int) -> PollResult | None:
        """The result of the challenge's latest poll, ended or running (counted as of now)."""
        poll = await self.latest(challenge_id)
        return None if poll is None else await self.result(poll.id)

    async def _counts(self, poll_id: int, cutoff: int | None) -> dict[str, int]:
        rows = await self._db.fetch_all(
            f"""SELECT a.answer_id, COUNT(c.voter) FROM poll_answers a
                  LEFT JOIN ({self._COUNTED}) c ON c.answer_id = a.answer_id
                 WHERE a.poll_id = ?
                 GROUP BY a.answer_id""",
            (poll_id, cutoff, cutoff, poll_id),
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def _voters(self, poll_id: int, cutoff: int | None) -> int:
        """How many people's answers count."""
        return int(
            await self._db.fetch_value(
                f"SELECT COUNT(*) FROM ({self._COUNTED})", (poll_id, cutoff, cutoff)
            )
        )
