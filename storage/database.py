"""The SQLite connection: pragmas, migrations, and transactions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

Row = sqlite3.Row


class DatabaseTooNew(RuntimeError):
    """The database was written by a newer version of the bot than this one."""


class Database:
    """One aiosqlite connection shared by the bot.

    Every read and write goes through :meth:`transaction`, which serialises users of the
    connection so that one command's effects are never interleaved with another's.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self, *, migrate: bool = True) -> None:
        if self.path != Path(":memory:"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        await conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit survives a power cut or kernel crash too, not only a crash of the
        # process (which NORMAL already survives in WAL mode). A vote is worth one fsync.
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        if migrate:
            await self.migrate()

    async def close(self) -> None:
        if self._conn is not None:
            async with self._lock:
                await self._conn.close()
                self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, migrations: Iterable[Migration] = MIGRATIONS) -> None:
        migrations = sorted(migrations, key=lambda m: m.version)
        latest = migrations[-1].version if migrations else 0
        async with self._lock:
            current = await self.schema_version()
            if current > latest:
                raise DatabaseTooNew(
                    f"{self.path} has schema version {current}; this bot knows up to {latest}"
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                log.info("Migrating database to v%d: %s", migration.version, migration.description)
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_statements(migration.sql):
                        await self.conn.execute(statement)
                    await self.conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                except BaseException:
                    await self.conn.execute("ROLLBACK")
                    raise
                await self.conn.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One SQLite transaction; commits on success, rolls back on any exception."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    @asynccontextmanager
    async def savepoint(self, name: str = "step") -> AsyncIterator[None]:
        """A nested unit inside the current transaction that can fail on its own."""
        await self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self.conn.execute(f"ROLLBACK TO {name}")
            await self.conn.execute(f"RELEASE {name}")
            raise
        await self.conn.execute(f"RELEASE {name}")

    # Each helper is one trip to aiosqlite's thread, which costs more than most of our queries:
    # no separate fetch, and no closing trip for a cursor that is done once it has run (sqlite3
    # resets the statement when it finishes, and frees the cursor with its last reference).

    async def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """Run one statement; returns the last inserted row id."""
        cursor = await self.conn.execute(sql, params)
        return int(cursor.lastrowid or 0)

    async def execute_rowcount(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        cursor = await self.conn.execute(sql, params)
        return int(cursor.rowcount)

    async def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        """The first row; for look-ups by key (all rows are fetched in the same trip)."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, params))

    async def fetch_value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def backup_to(self, target: str | Path) -> None:
        """A consistent copy through SQLite's online backup API, safe while the bot runs."""
        target_conn = await aiosqlite.connect(target)
        try:
            await self.conn.backup(target_conn)
        finally:
            await target_conn.close()


def _split_statements(script: str) -> list[str]:
    """Split a migration script into statements (no triggers here, so ';' ends a statement)."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            statement = "\n".join(buffer).strip()
            if sqlite3.complete_statement(statement):
                statements.append(statement)
                buffer = []
    tail = "\n".join(buffer).strip()
    if tail:
        statements.append(tail)
    return statements
