"""The Matrix side of the benchmarks: accounts, measuring clients, and the bots as processes.

The bot and the echo bot each run in their own process, as they would in production; the
clients that measure them run in the benchmark's process. Everything talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from benchmarks.common import PASSWORD
from devtools.homeserver import Homeserver
from handlers.settings import BotSettings

#: Bound on every wait for the homeserver or a bot.
WAIT = 60.0

T = TypeVar("T")


async def gather_limited(
    count: int, make: Callable[[int], Awaitable[T]], limit: int = 8
) -> list[T]:
    """``make(0) ... make(count - 1)``, at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(index: int) -> T:
        async with gate:
            return await make(index)

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def register(homeserver: Homeserver, localparts: Iterable[str]) -> list[str]:
    """Accounts through the shared-secret admin API, a few at a time."""
    names = list(localparts)
    return await gather_limited(
        len(names), lambda n: asyncio.to_thread(homeserver.register_user, names[n], PASSWORD)
    )


async def log_in(homeserver: Homeserver, user_id: str) -> AsyncClient:
    return await log_in_url(homeserver.url, user_id)


async def log_in_url(url: str, user_id: str) -> AsyncClient:
    """A client logged in with the benchmarks' password, from a process that has only the
    homeserver's address."""
    client = AsyncClient(
        url,
        user_id,
        config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False),
    )
    response = await client.login(PASSWORD, device_name="bench")
    if not isinstance(response, LoginResponse):
        raise RuntimeError(f"could not log in as {user_id}: {response}")
    return client


@dataclass
class Arrival:
    at: float  # time.perf_counter() when the sync that brought it returned
    room_id: str
    event: dict[str, Any]


@dataclass
class Watcher:
    """A client that syncs in the background and notes when each event reached it."""

    client: AsyncClient
    arrivals: list[Arrival] = field(default_factory=list)
    replies: dict[str, Arrival] = field(default_factory=dict)  # by the event replied to
    joins: set[tuple[str, str]] = field(default_factory=set)  # (room, user) seen joined
    auto_join: bool = False
    #: Events per room a sync may bring; None leaves it to the homeserver (10 on Synapse), so
    #: that a busy room's sync is limited and the events in its gap never arrive here.
    timeline_limit: int | None = None
    _waiters: dict[str, asyncio.Future[Arrival]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def start(
        cls,
        homeserver: Homeserver,
        user_id: str,
        *,
        auto_join: bool = False,
        timeline_limit: int | None = None,
    ) -> Watcher:
        client = await log_in(homeserver, user_id)
        return await cls.started(client, auto_join=auto_join, timeline_limit=timeline_limit)

    @classmethod
    async def started(
        cls, client: AsyncClient, *, auto_join: bool = False, timeline_limit: int | None = None
    ) -> Watcher:
        """A watcher of a client already logged in: its first sync done, then syncing on."""
        watcher = cls(client, auto_join=auto_join, timeline_limit=timeline_limit)
        first = await watcher.client.sync(timeout=0, full_state=True)
        if not isinstance(first, SyncResponse):
            raise RuntimeError(f"first sync of {client.user_id} failed: {first}")
        watcher._task = asyncio.create_task(watcher._sync_forever())
        return watcher

    async def _sync_forever(self) -> None:
        while True:
            timeline = {} if self.timeline_limit is None else {"limit": self.timeline_limit}
            response = await self.client.sync(
                timeout=30_000, sync_filter={"room": {"timeline": timeline}}
            )
            now = time.perf_counter()
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.2)
                continue
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    self._arrived(Arrival(now, room_id, event.source))
            for room_id, invite in response.rooms.invite.items():
                if self.auto_join and any(
                    isinstance(e, InviteMemberEvent) and e.state_key == self.user_id
                    for e in invite.invite_state
                ):
                    await self.client.join(room_id)

    def _arrived(self, arrival: Arrival) -> None:
        self.arrivals.append(arrival)
        content = arrival.event.get("content", {})
        if arrival.event.get("type") == "m.room.member" and content.get("membership") == "join":
            self.joins.add((arrival.room_id, str(arrival.event.get("state_key"))))
        target = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if target:
            self.replies[target] = arrival
            waiter = self._waiters.pop(target, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(arrival)

    async def send(self, room_id: str, body: str) -> str:
        response = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": body}
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"could not send to {room_id}: {response}")
        return str(response.event_id)

    async def ask(self, room_id: str, body: str, within: float = WAIT) -> tuple[float, Arrival]:
        """Send a message; the seconds until its reply arrived here, and the reply."""
        began = time.perf_counter()
        event_id = await self.send(room_id, body)
        arrival = await self.reply_to(event_id, within)
        return arrival.at - began, arrival

    async def reply_to(self, event_id: str, within: float = WAIT) -> Arrival:
        """The reply to ``event_id``, once it arrived here."""
        arrival = self.replies.get(event_id)
        if arrival is None:
            waiter: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
            self._waiters[event_id] = waiter
            arrival = await asyncio.wait_for(waiter, within)
        return arrival

    async def wait_joined(self, room_id: str, user_id: str, within: float = WAIT) -> None:
        await wait_until(
            lambda: (room_id, user_id) in self.joins, within, f"{user_id} in {room_id}"
        )

    async def create_room(self, invite: list[str], *, direct: bool = False, name: str = "") -> str:
        options: dict[str, Any] = {"invite": invite}
        if direct:
            options.update(is_direct=True, preset=RoomPreset.trusted_private_chat)
        if name:
            options["name"] = name
        response = await self.client.room_create(**options)
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"could not create a room: {response}")
        return str(response.room_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()


async def wait_until(condition: Callable[[], bool], within: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > within:
            raise TimeoutError(f"waited {within:.0f}s for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def bot_settings(**values: Any) -> dict[str, Any]:
    """``[bot]`` settings for a benchmark: generous per-person limits where the bot has them.

    One measuring client sends hundreds of commands a minute, far more than a person would.
    """
    generous = {"commands_per_minute": 600, "ideas_per_hour": 1000}
    known = BotSettings.model_fields
    return {**{k: v for k, v in generous.items() if k in known}, **values}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def write_config(
    path: Path, homeserver: Homeserver, user_id: str, database: Path, bot: dict[str, Any]
) -> Path:
    sections = {
        "matrix": {
            "homeserver": homeserver.url,
            "user_id": user_id,
            "password": PASSWORD,
            "sync_timeout_ms": 30_000,
        },
        "bot": bot,
        "storage": {"path": str(database)},
    }
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(
            f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None
        )
    path.write_text("\n".join(lines) + "\n")
    return path


class Process:
    """A benchmark helper process that reports on its standard output, one JSON line a fact."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = args
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.spawned_at = 0.0  # time.time(), to compare with what the process reports
        self.facts: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.spawned_at = time.time()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=self.cwd,
            )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.facts.update(json.loads(line))
                self._changed.set()

    async def fact(self, name: str, within: float = WAIT) -> Any:
        deadline = time.monotonic() + within
        while name not in self.facts:
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.args} exited; see {self.log_path}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.01, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name!r} from {self.args} within {within:.0f}s")
        return self.facts[name]

    async def tell(self, line: str) -> None:
        """A line on the process's standard input (for those that wait for a signal)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    def rss(self) -> int:
        assert self.process is not None
        return int(psutil.Process(self.process.pid).memory_info().rss)

    async def stop(self, within: float = 30.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def bot_process(config: Path, log_path: Path, code: Path | None = None) -> Process:
    """The bot in its own process; ``code``: the checkout it runs from (default: this one). It
    is also the process's working directory: ``python -m`` puts that before ``PYTHONPATH``."""
    env = None if code is None else {**os.environ, "PYTHONPATH": str(code)}
    return Process(["-m", "benchmarks.botproc", "--config", str(config)], log_path, env, code)


def asker_process(
    homeserver: Homeserver,
    user_id: str,
    rooms: tuple[str, str],
    counts: tuple[int, int],
    log_path: Path,
) -> Process:
    """The person asking in direct chats, in a process of their own (:mod:`benchmarks.asker`):
    ``rooms`` their chats with the bot and the echo bot, ``counts`` the asks idle and during."""
    bot_room, echo_room = rooms
    idle, during = counts
    return Process(
        [
            "-m",
            "benchmarks.asker",
            "--homeserver",
            homeserver.url,
            "--user",
            user_id,
            "--bot-room",
            bot_room,
            "--echo-room",
            echo_room,
            "--idle",
            str(idle),
            "--during",
            str(during),
        ],
        log_path,
    )


def echo_process(
    homeserver: Homeserver, user_id: str, log_path: Path, *, bot_filter: bool = False
) -> Process:
    args = ["-m", "benchmarks.echo_bot", "--homeserver", homeserver.url, "--user", user_id]
    return Process([*args, "--bot-filter"] if bot_filter else args, log_path)


def read_db(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the bot's database from outside, as another process would (WAL allows it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


async def db_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(read_db, path, sql, params)


async def db_value(path: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    rows = await db_rows(path, sql, params)
    return rows[0][0] if rows else None
