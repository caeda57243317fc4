"""Linked accounts: a Discord account and a Matrix account that are one person, and the
one-time codes by which a person links them (only the codes' hashes are kept)."""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.models import Link
from storage.timestamps import to_text


class LinkRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def issue_code(self, account: str, code_hash: str, expires_at: datetime) -> None:
        """Keep a new code for ``account``; an earlier code of theirs stops working."""
        await self._db.execute("DELETE FROM link_codes WHERE account = ?", (account,))
        await self._db.execute(
            "INSERT INTO link_codes (code_hash, account, expires_at) VALUES (?, ?, ?)",
            (code_hash, account, to_text(expires_at)),
        )

    async def take_code(self, code_hash: str, now: datetime) -> str | None:
        """The account whose code this is, if it has not expired; used up either way."""
        row = await self._db.fetch_one(
            "SELECT account, expires_at FROM link_codes WHERE code_hash = ?", (code_hash,)
        )
        if row is None:
            return None
        await self._db.execute("DELETE FROM link_codes WHERE code_hash = ?", (code_hash,))
        if datetime.fromisoformat(str(row["expires_at"])) <= now:
            return None
        return str(row["account"])

    async def drop_codes(self, account: str) -> None:
        await self._db.execute("DELETE FROM link_codes WHERE account = ?", (account,))

    async def drop_expired_codes(self, now: datetime) -> int:
        return await self._db.execute_rowcount(
            "DELETE FROM link_codes WHERE expires_at <= ?", (to_text(now),)
        )

    async def of(self, account: str) -> Link | None:
        """The link ``account`` is in, from either side (the Discord or the Matrix account)."""
        row = await self._db.fetch_one(
            "SELECT * FROM account_links WHERE account = ? OR matrix_account = ?",
            (account, account),
        )
        return None if row is None else Link.model_validate(dict(row))

    async def link(self, account: str, matrix_account: str, person_key: str, now: datetime) -> Link:
        """Link the two accounts; neither may be in a link already (the schema refuses)."""
        await self._db.execute(
            """INSERT INTO account_links (account, matrix_account, person_key, linked_at)
               VALUES (?, ?, ?, ?)""",
            (account, matrix_account, person_key, to_text(now)),
        )
        return Link(
            account=account, matrix_account=matrix_account, person_key=person_key, linked_at=now
        )

    async def merge(self, account: str, matrix_account: str, identity: str) -> int:
        """Make what two newly linked accounts did count as one person's: the ``account``'s
        votes for ideas that ``matrix_account`` (or anyone of ``identity``) voted for too are
        dropped, with the 👍 that cast them; then both accounts' votes, poll answers and
        reports without an identity take ``identity``. Returns how many votes were dropped."""
        twice = """idea_id IN (SELECT idea_id FROM votes WHERE voter = ? OR identity = ?)"""
        await self._db.execute(
            f"DELETE FROM reaction_votes WHERE voter = ? AND {twice}",
            (account, matrix_account, identity),
        )
        dropped = await self._db.execute_rowcount(
            f"DELETE FROM votes WHERE voter = ? AND {twice}", (account, matrix_account, identity)
        )
        # OR IGNORE: a vote whose idea has a vote of the identity already keeps no identity.
        for table, column in (
            ("votes", "voter"),
            ("poll_responses", "voter"),
            ("reports", "reporter"),
        ):
            await self._db.execute(
                f"""UPDATE OR IGNORE {table} SET identity = ?
                     WHERE {column} IN (?, ?) AND identity IS NULL""",
                (identity, account, matrix_account),
            )
        return dropped

    async def unlink(self, account: str) -> Link | None:
        """End the link ``account`` is in (from either side); the link that was, or None."""
        link = await self.of(account)
        if link is not None:
            await self._db.execute("DELETE FROM account_links WHERE account = ?", (link.account,))
        return link
