"""The SQLite connection: pragmas, migrations, and transactions.

Where each statement runs. The bot holds one SQLite connection, and :meth:`transaction` lets one
task use it at a time. A statement's own work is small: a look-up by key or an insert takes
5–20 µs with the pages in memory. A trip to aiosqlite's thread and back costs 60–80 µs on top,
whatever the statement, and a vote took 16 of them. So statements run on the event loop's
thread, on the connection that aiosqlite also holds, and only what waits on the disk goes to
aiosqlite's thread: ``COMMIT`` (the fsync that makes a vote durable), the WAL checkpoint that
follows an erasure (:meth:`checkpoint_after_commit`) and :meth:`backup_to`.
On a million votes the targets' commands take under 3 ms, statements and Python together, and
the slowest statement, `!challenges`' count of ideas, some 35 ms (docs/benchmarks.md).

The two threads never use the connection at once: every statement runs while its task holds
the lock, and a trip to the other thread finishes before the lock is released, even when the
waiting task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

Row = sqlite3.Row


#: The schema version this code reads and writes: that of its last migration.
LATEST_VERSION = max(migration.version for migration in MIGRATIONS)


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for."""


class DatabaseTooNew(SchemaMismatch):
    """The database was written by a newer version of the bot than this one."""


class DatabaseTooOld(SchemaMismatch):
    """The database has migrations still to apply, and was opened for reading only."""


class DatabaseMissing(RuntimeError):
    """There is no database file to open for reading."""


class Database:
    """One SQLite connection shared by the bot.

    Statements run inside :meth:`transaction`, which serialises users of the connection so that
    one command's effects are never interleaved with another's; a statement outside it waits its
    turn the same way. A transaction belongs to the task that opened it: a statement from any
    other task waits until it ends (so a transaction must not wait for such a task).
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._raw: sqlite3.Connection | None = None
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._checkpoint_after_commit = False

    async def open(self, *, migrate: bool = True, read_only: bool = False) -> None:
        """Open the database; apply pending migrations when ``migrate``.

        ``read_only`` (backup, export) changes nothing, not even the schema: it raises
        :class:`DatabaseMissing` without a file, and :class:`DatabaseTooOld` or
        :class:`DatabaseTooNew` unless the schema is exactly this code's.
        """
        if read_only:
            raw = self._connect_read_only()
        else:
            if self.path != Path(":memory:"):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opened here, shared with aiosqlite's thread: only one of them uses it at a time.
            raw = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout_ms / 1000,
            )
            # Before anything is written: a new database keeps the list of free pages that
            # ``PRAGMA incremental_vacuum`` gives back (storage.upkeep). An older one is
            # converted by migration 12's VACUUM; on it this does nothing until then.
            raw.execute("PRAGMA auto_vacuum = INCREMENTAL")
            raw.execute("PRAGMA journal_mode = WAL")
        raw.row_factory = sqlite3.Row
        # FULL: a commit survives a power cut or kernel crash too, not only a crash of the
        # process (which NORMAL already survives in WAL mode). A vote is worth one fsync.
        raw.execute("PRAGMA synchronous = FULL")
        raw.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten with zeros rather than left in free pages and free space:
        # after !forget the file must not hold what was erased (see PersonalDataRepository).
        raw.execute("PRAGMA secure_delete = ON")
        self._raw = raw
        self._conn = await aiosqlite.Connection(lambda: raw, iter_chunk_size=64)
        if read_only:
            await self._require_latest_schema()
        elif migrate:
            try:
                await self.migrate()
            except BaseException:
                # aiosqlite's thread keeps the process alive until the connection is closed:
                # a database too new for this code must end the process, not hang it.
                await self.close()
                raise

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that cannot write, and that leaves no file behind.

        While the bot runs (or after it crashed) the database has a ``-wal`` file: a reader
        must use it and the ``-shm`` beside it, and ``mode=ro`` does. A stopped bot leaves
        neither; ``mode=ro`` would create both (owned by whoever runs the backup, which can
        lock the bot's own user out of them), so the file is read as ``immutable`` instead.
        """
        if not self.path.is_file():
            raise DatabaseMissing(f"{self.path}: no database here (check storage.path)")
        wal = self.path.with_name(self.path.name + "-wal")
        query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        uri = f"{self.path.resolve().as_uri()}?{query}"
        raw = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        raw.execute("PRAGMA query_only = ON")
        return raw

    async def _require_latest_schema(self) -> None:
        try:
            current = await self.schema_version()
        except BaseException:
            await self.close()
            raise
        if current != LATEST_VERSION:
            await self.close()
        if current > LATEST_VERSION:
            raise DatabaseTooNew(
                f"{self.path} has schema version {current}, this challenge-bot knows up to "
                f"{LATEST_VERSION}: this challenge-bot is older than the database; use the "
                "version that wrote it"
            )
        if current < LATEST_VERSION:
            raise DatabaseTooOld(
                f"{self.path} has schema version {current}, this challenge-bot needs "
                f"{LATEST_VERSION}: run `challenge-bot migrate` or start the bot first"
            )

    async def close(self) -> None:
        if self._conn is not None:
            async with self._lock:
                await self._conn.close()  # closes the shared connection in aiosqlite's thread
                self._conn = None
                self._raw = None

    @property
    def conn(self) -> aiosqlite.Connection:
        """The aiosqlite side of the connection (for a loop that measures aiosqlite alone)."""
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @property
    def _sqlite(self) -> sqlite3.Connection:
        if self._raw is None:
            raise RuntimeError("database is not open")
        return self._raw

    async def schema_version(self) -> int:
        return int(await self.fetch_value("PRAGMA user_version") or 0)

    async def migrate(self, migrations: Iterable[Migration] = MIGRATIONS) -> tuple[int, int]:
        """Apply the migrations the database lacks; returns its versions before and after."""
        migrations = sorted(migrations, key=lambda m: m.version)
        latest = migrations[-1].version if migrations else 0
        current = await self.schema_version()
        if current > latest:
            raise DatabaseTooNew(
                f"{self.path} has schema version {current}, this challenge-bot knows up to "
                f"{latest}: this challenge-bot is older than the database"
            )
        if current == 0 and migrations:
            # A new database is made at the latest schema in one go: one transaction, one line
            # in the log (a step-by-step account is news only for a database that had data).
            async with self.transaction():
                for migration in migrations:
                    await self._apply(migration)
            log.info("Created a new database at schema version %d", latest)
            return current, latest
        vacuum = False
        for migration in migrations:
            if migration.version <= current:
                continue
            log.info("Migrating database to v%d: %s", migration.version, migration.description)
            async with self.transaction():
                await self._apply(migration)
            vacuum = vacuum or migration.vacuum_after
        if vacuum:
            log.info("Rewriting the database file (VACUUM)")
            async with self._lock:
                try:
                    await self.conn.execute("VACUUM")
                except BaseException:
                    await self._thread_done()
                    raise
        return current, max(current, latest)

    async def _apply(self, migration: Migration) -> None:
        """One migration, inside the caller's transaction, its version bump included."""
        for statement in _split_statements(migration.sql):
            await self.execute(statement)
        if migration.step is not None:
            await migration.step(self)
        await self.execute(f"PRAGMA user_version = {int(migration.version)}")

    def size_bytes(self) -> int:
        """The database's size on disk: its file and its write-ahead log (0 in memory)."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):  # no WAL yet, or a database in memory
                total += path.stat().st_size
        return total

    def transaction(self) -> _Transaction:
        """One SQLite transaction: ``async with db.transaction():`` commits on success and
        rolls back on any exception."""
        return _Transaction(self, "BEGIN IMMEDIATE")

    def snapshot(self) -> _Transaction:
        """A transaction for reading only, such as an export: it sees the database as it was
        at its first read, and takes no write lock, so the running bot can go on writing."""
        return _Transaction(self, "BEGIN DEFERRED")

    def savepoint(self, name: str = "step") -> _Savepoint:
        """A nested unit inside the current transaction that can fail on its own."""
        return _Savepoint(self, name)

    def checkpoint_after_commit(self) -> None:
        """Once the current transaction has committed, copy the WAL into the database and
        truncate it: what the transaction overwrote must not live on in the WAL's old frames."""
        if self._holder is not asyncio.current_task():
            raise RuntimeError("a checkpoint after commit needs a transaction of the same task")
        self._checkpoint_after_commit = True

    async def _checkpoint(self) -> None:
        """``wal_checkpoint(TRUNCATE)`` in aiosqlite's thread: it writes and fsyncs like COMMIT."""
        try:
            cursor = await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = await cursor.fetchone()
        except BaseException:
            await self._thread_done()
            raise
        if row is not None and row[0]:
            # A reader in another process (an export, a backup) holds an older snapshot.
            log.warning("The WAL could not be truncated: a reader holds it; it will be later")

    async def _commit(self) -> None:
        try:
            await self.conn.execute("COMMIT")
        except BaseException:
            await self._thread_done()
            if self._sqlite.in_transaction:  # a COMMIT that failed leaves the transaction open
                self._sqlite.execute("ROLLBACK")
            raise

    async def _thread_done(self) -> None:
        """Return once aiosqlite's thread has run all it was given, even if cancelled meanwhile.

        A task cancelled while it waits for that thread stops waiting, but the thread goes on
        with the shared connection; the lock must not be given up before it is done. The thread
        runs its work in order, so a statement queued now returns after all of it.
        """
        done = asyncio.ensure_future(self.conn.execute("SELECT 1"))
        while not done.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(done)

    async def _run(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> sqlite3.Cursor:
        if self._holder is asyncio.current_task():
            return self._sqlite.execute(sql, params)
        async with self._lock:  # a statement of its own (a test, the CLI): wait for our turn
            return self._sqlite.execute(sql, params)

    async def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """Run one statement; returns the last inserted row id."""
        return int((await self._run(sql, params)).lastrowid or 0)

    async def execute_rowcount(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int((await self._run(sql, params)).rowcount)

    async def fetch_one(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> Row | None:
        row: Row | None = (await self._run(sql, params)).fetchone()
        return row

    async def fetch_all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        return (await self._run(sql, params)).fetchall()

    async def fetch_value(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def backup_to(self, target: str | Path) -> None:
        """A consistent copy through SQLite's online backup API, safe while the bot runs."""
        target_conn = await aiosqlite.connect(target)
        try:
            async with self._lock:
                try:
                    await self.conn.backup(target_conn)
                except BaseException:
                    await self._thread_done()
                    raise
        finally:
            await target_conn.close()


# Classes rather than generator-based context managers: every event enters both, and a
# class's enter and exit cost a quarter of those of @asynccontextmanager.


class _Transaction:
    __slots__ = ("_begin", "_db")

    def __init__(self, db: Database, begin: str) -> None:
        self._db = db
        self._begin = begin

    async def __aenter__(self) -> None:
        db = self._db
        await db._lock.acquire()
        try:
            # BEGIN IMMEDIATE never waits: the bot is its database's only writer (backup and
            # export only read, and in WAL mode readers and the writer go on together).
            # Another writer would hold up the loop's thread up to the busy timeout.
            db._sqlite.execute(self._begin)
        except BaseException:
            db._lock.release()
            raise
        db._holder = asyncio.current_task()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        db = self._db
        checkpoint, db._checkpoint_after_commit = db._checkpoint_after_commit, False
        try:
            if kind is None:
                await db._commit()
                if checkpoint:  # still holding the lock: no statement runs in between
                    await db._checkpoint()
            else:
                db._sqlite.execute("ROLLBACK")
        finally:
            db._holder = None
            db._lock.release()


class _Savepoint:
    __slots__ = ("_db", "_name")

    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self._name = name

    async def __aenter__(self) -> None:
        if self._db._holder is not asyncio.current_task():
            raise RuntimeError("a savepoint needs a transaction of the same task")
        self._db._sqlite.execute(f"SAVEPOINT {self._name}")

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        if kind is not None:
            self._db._sqlite.execute(f"ROLLBACK TO {self._name}")
        self._db._sqlite.execute(f"RELEASE {self._name}")


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
