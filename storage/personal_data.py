"""Everything kept about one person, across all tables: collected for ``!mydata``, erased for
``!forget``. A table added to the schema that holds an account (a Matrix ID, a Discord account)
belongs here too. A person with two linked accounts (``storage/links.py``) is one person here
too: both accounts' data is handed over, and erased, together."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import quote

from storage.database import Database, Row
from storage.idea_records import take_down_cards
from storage.outbox_kinds import ADDRESSED


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

    async def linked_account(self, user_id: str) -> str | None:
        """The other account of the person, if ``user_id`` is linked to one."""
        row = await self._db.fetch_one(
            "SELECT account, matrix_account FROM account_links WHERE account = ? OR matrix_account = ?",
            (user_id, user_id),
        )
        if row is None:
            return None
        return str(row["matrix_account"] if row["account"] == user_id else row["account"])

    async def collect(self, user_id: str) -> dict[str, Any]:
        """All the bot holds on the person: on this account, and on the account linked to it
        (``linked_account``, with the same fields)."""
        data = await self._collect_account(user_id)
        other = await self.linked_account(user_id)
        data["linked_account"] = None if other is None else await self._collect_account(other)
        return data

    async def _collect_account(self, user_id: str) -> dict[str, Any]:
        """All the bot holds on one account. Left out: messages still waiting in the outbox to
        be sent to them (they get those anyway), and other people's data."""
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
        link = await self._db.fetch_one(
            """SELECT account, matrix_account, linked_at FROM account_links
                WHERE account = ? OR matrix_account = ?""",
            (user_id, user_id),
        )
        link_code = await self._db.fetch_value(
            "SELECT expires_at FROM link_codes WHERE account = ?", (user_id,)
        )
        follows = await self._db.fetch_all(
            """SELECT c.slug AS challenge, f.idea_id, f.following, f.since FROM follows f
                 LEFT JOIN challenges c ON c.id = f.challenge_id
                WHERE f.user_id = ? ORDER BY f.challenge_id, f.idea_id""",
            (user_id,),
        )
        notifications = await self._db.fetch_one(
            "SELECT frequency, since FROM notification_settings WHERE user_id = ?", (user_id,)
        )
        notices = await self._db.fetch_all(
            """SELECT c.slug AS challenge, n.idea_id, n.original_id, n.kind, n.status, n.place,
                      n.created_at
                 FROM notices n JOIN challenges c ON c.id = n.challenge_id
                WHERE n.user_id = ? ORDER BY n.id""",
            (user_id,),
        )
        return {
            "user_id": user_id,
            "link": None if link is None else dict(link),
            "link_code_expires_at": link_code,
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
            "follows": [dict(row) | {"following": bool(row["following"])} for row in follows],
            "notifications": None if notifications is None else dict(notifications),
            "waiting_notices": [dict(row) for row in notices],
        }

    async def erase(self, user_id: str, *, delete_ideas: bool, placeholder: str) -> Erasure:
        """Remove what concerns a person from every table, on both their accounts when two are
        linked (and the link itself); see :meth:`_erase_account`."""
        other = await self.linked_account(user_id)
        counts: dict[str, int] = {}
        cards: list[tuple[str, str]] = []
        for account in (user_id,) if other is None else (user_id, other):
            erased = await self._erase_account(
                account, delete_ideas=delete_ideas, placeholder=placeholder
            )
            for key, value in erased.counts.items():
                counts[key] = counts.get(key, 0) + value
            cards += erased.cards
        return Erasure(counts, cards)

    async def _erase_account(
        self, user_id: str, *, delete_ideas: bool, placeholder: str
    ) -> Erasure:
        """Remove what concerns one account from every table; its ideas are deleted or
        anonymised.

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
            ("account_links", "account"),
            ("account_links", "matrix_account"),
            ("link_codes", "account"),
            ("follows", "user_id"),
            ("notification_settings", "user_id"),
            ("notices", "user_id"),
            ("pending_invites", "inviter"),
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
                for table in ("votes", "reaction_votes", "reports", "follows"):
                    await db.execute(f"DELETE FROM {table} WHERE idea_id = ?", (idea_id,))
                await db.execute(
                    "DELETE FROM notices WHERE idea_id = ? OR original_id = ?", (idea_id, idea_id)
                )
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
            addressed = row["kind"] in ADDRESSED and payload.get("user_id") == user_id
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
        if value.keys() == {"mention"} and value["mention"] in forms:
            return {"text": placeholder}  # a queued reply's mention of them: plain text now
        return {key: _scrub(item, forms, placeholder) for key, item in value.items()}
    if isinstance(value, list):
        return [
            _scrub(item, forms, placeholder)
            for item in value
            if not (isinstance(item, str) and item in forms)
        ]
    return value
