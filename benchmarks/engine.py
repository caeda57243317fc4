"""Engine throughput, without a homeserver: votes per second through the bot's whole path.

The path is the one ``challenge-bot run`` takes for every sync: the JSON body of a ``/sync``
response is decoded and parsed by matrix-nio (``SyncResponse.from_dict``, then the client's own
``receive_response``), and the real ``SyncLoop`` hands each event to the real ``EventHandler``,
which dispatches, parses, runs the handler, writes the reply to the outbox and commits, one
SQLite transaction per event, then stores the checkpoint. Only the network is replaced: the
client's ``sync`` returns prepared bodies, read receipts go nowhere, and the outbox is never
drained (its rows are still written in the event's transaction).

Beside it, a bare aiosqlite loop writes the rows a vote needs (the vote, the reply in the
outbox or the reaction's record, the handled event) with the same pragmas, one transaction per
vote: the floor set by SQLite, aiosqlite and the disk. Each is run ``REPEATS`` times,
alternately, the bare loop right after the bot path it is compared with. The ratio counted
is the median of those pairs' ratios: this machine's speed drifts by a factor of two within
a minute (other guests on the host), and a pair run back to back sees the same machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinedMembersResponse,
    RoomGetStateEventResponse,
    RoomMember,
    RoomReadMarkersResponse,
    SyncResponse,
)

from benchmarks.common import Run, Target, show, table
from bot.matrix.events import EventHandler
from bot.matrix.homeserver_errors import HomeserverReachability
from bot.matrix.roles import ModeratorRoles
from bot.matrix.rooms import Rooms
from bot.matrix.sync import SyncLoop
from handlers import build_registry
from handlers.dispatch import Dispatcher
from handlers.i18n import Catalogue
from handlers.settings import BotSettings
from storage import Database, Store

BOT = "@challenge-bot:bench.example"
ROOM = "!engine:bench.example"
MODERATOR = "@moderator:bench.example"
IDEAS = 100
VOTES = 3000
REPEATS = 5
WARM_UP = 500  # votes in the uncounted first pair
BATCH = 50  # events per sync response: the timeline limit of the bot's sync filter
IDEAS_PER_VOTER = 20
#: Bound on each measured loop, whatever the machine.
TIME_LIMIT = 120.0


@dataclass(frozen=True)
class EngineResult:
    label: str
    votes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.votes / self.seconds


def median(results: list[EngineResult]) -> EngineResult:
    return sorted(results, key=lambda result: result.seconds)[len(results) // 2]


def _voter(index: int) -> str:
    return f"@voter{index // IDEAS_PER_VOTER}:bench.example"


def _idea(index: int) -> int:
    """Each voter votes for ``IDEAS_PER_VOTER`` different ideas: no vote is a repeat."""
    voter = index // IDEAS_PER_VOTER
    return 1 + (index % IDEAS_PER_VOTER + voter * IDEAS_PER_VOTER) % IDEAS


def _vote_event(index: int, kind: str, now_ms: int) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"${kind}{index}:bench.example",
        "sender": _voter(index),
        "origin_server_ts": now_ms + index,
        "unsigned": {"age": 20},
    }
    if kind == "command":
        return {
            **base,
            "type": "m.room.message",
            "content": {"msgtype": "m.text", "body": f"!vote {_idea(index)}"},
        }
    return {
        **base,
        "type": "m.reaction",
        "content": {
            "m.relates_to": {
                "rel_type": "m.annotation",
                "event_id": f"$card{_idea(index)}:bench.example",
                "key": "👍",
            }
        },
    }


def _sync_body(
    next_batch: str, timeline: list[dict[str, Any]], state: list[dict[str, Any]]
) -> bytes:
    room = {
        "timeline": {"events": timeline, "limited": False, "prev_batch": f"p{next_batch}"},
        "state": {"events": state},
        "summary": {"m.joined_member_count": 250, "m.invited_member_count": 0},
        "ephemeral": {"events": []},
        "account_data": {"events": []},
        "unread_notifications": {"notification_count": 0, "highlight_count": 0},
    }
    body = {
        "next_batch": next_batch,
        "rooms": {"join": {ROOM: room}, "invite": {}, "leave": {}},
        "to_device": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {},
        "presence": {"events": []},
        "account_data": {"events": []},
    }
    return json.dumps(body).encode()


def _room_state(now_ms: int) -> list[dict[str, Any]]:
    def state(kind: str, key: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": kind,
            "state_key": key,
            "sender": MODERATOR,
            "event_id": f"${kind}-{key}:bench.example",
            "origin_server_ts": now_ms,
            "content": content,
        }

    return [
        state("m.room.create", "", {"creator": MODERATOR, "room_version": "10"}),
        state("m.room.member", MODERATOR, {"membership": "join"}),
        state("m.room.member", BOT, {"membership": "join"}),
        state("m.room.power_levels", "", {"users": {MODERATOR: 100}, "users_default": 0}),
        state("m.room.name", "", {"name": "Engine room"}),
    ]


def prepared_syncs(kind: str, votes: int) -> list[bytes]:
    """The first sync (the room, as history), then ``votes`` vote events in batches."""
    now_ms = int(time.time() * 1000)
    bodies = [_sync_body("s0", [], _room_state(now_ms))]
    events = [_vote_event(index, kind, now_ms) for index in range(votes)]
    for start in range(0, votes, BATCH):
        bodies.append(_sync_body(f"s{len(bodies)}", events[start : start + BATCH], []))
    return bodies


class ReplayedSyncs:
    """Stands in for ``AsyncClient.sync``: returns prepared bodies the way nio handles a real one."""

    def __init__(self, client: AsyncClient, bodies: list[bytes], stop: asyncio.Event) -> None:
        self._client = client
        self._bodies = list(bodies)
        self._stop = stop
        self._served = 0
        self.first_served_at = 0.0  # after the first sync: the measured part starts here
        self.done_at = 0.0

    async def sync(self, **_request: Any) -> SyncResponse:
        if self._served == 1:
            self.first_served_at = time.perf_counter()
        if not self._bodies:
            self.done_at = time.perf_counter()
            self._stop.set()
            await asyncio.Event().wait()  # cancelled by the sync loop, which sees the stop
        self._served += 1
        response = SyncResponse.from_dict(json.loads(self._bodies.pop(0)))
        await self._client.receive_response(response)
        return response

    async def read_markers(self, room_id: str, **_markers: Any) -> RoomReadMarkersResponse:
        """Stands in for ``AsyncClient.room_read_markers``: the receipt goes nowhere."""
        return RoomReadMarkersResponse(room_id)

    async def joined_members(self, room_id: str) -> JoinedMembersResponse:
        """Stands in for ``AsyncClient.joined_members``: the moderation room holds the
        moderator (asked once, at the first sync)."""
        return JoinedMembersResponse([RoomMember(MODERATOR, None, None)], room_id)

    async def power_levels(self, room_id: str, event_type: str) -> RoomGetStateEventResponse:
        """Stands in for ``AsyncClient.room_get_state_event``: the moderation room's levels,
        read once at the first sync since a restart no longer brings the room's state."""
        return RoomGetStateEventResponse({"users": {MODERATOR: 100}}, event_type, "", room_id)


async def seed(store: Store, now: datetime) -> None:
    async with store.db.transaction():
        challenge = await store.challenges.create(
            slug="engine", title="Engine", description="", created_by=MODERATOR, now=now
        )
        await store.challenges.set_room(challenge.id, ROOM, now)
        for number in range(1, IDEAS + 1):
            idea = await store.ideas.add(
                challenge_id=challenge.id,
                title=f"Idea {number}",
                description="",
                author=MODERATOR,
                now=now,
            )
            await store.cards.add(f"$card{idea.id}:bench.example", idea.id, ROOM)


async def bot_path(path: Path, kind: str, votes: int, catalogue: Catalogue) -> EngineResult:
    settings = BotSettings(moderators=(MODERATOR,), moderation_room="!moderation:bench.example")
    db = Database(path)
    await db.open()
    store = Store(db)
    try:
        await seed(store, datetime.now(UTC))
        client = AsyncClient(
            "http://127.0.0.1:9",
            BOT,
            config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False),
        )
        stop = asyncio.Event()
        replay = ReplayedSyncs(client, prepared_syncs(kind, votes), stop)
        client.sync = replay.sync
        client.room_read_markers = replay.read_markers
        client.joined_members = replay.joined_members
        client.room_get_state_event = replay.power_levels
        dispatcher = Dispatcher(build_registry(), store, catalogue, settings)
        rooms, roles = Rooms(client, store, settings), ModeratorRoles(settings)
        await rooms.load()
        # No delivery loop: the replies stay queued in the outbox.
        events = EventHandler(client, store, dispatcher, rooms, roles, wake_outbox=lambda: None)
        loop = SyncLoop(
            client, store, events, rooms, roles, HomeserverReachability(client), timeout_ms=0
        )
        async with asyncio.timeout(TIME_LIMIT):
            await loop.run(stop)
        await client.close()
        counted = int(await db.fetch_value("SELECT COUNT(*) FROM votes"))
        if counted != votes:
            raise RuntimeError(f"{kind}: {counted} votes counted of {votes}")
        return EngineResult(
            "bot path, `!vote` commands" if kind == "command" else "bot path, 👍 reactions",
            votes,
            replay.done_at - replay.first_served_at,
        )
    finally:
        await db.close()


async def outbox_payload(path: Path) -> str:
    db = Database(path)
    await db.open(migrate=False)
    try:
        return str(await db.fetch_value("SELECT payload FROM outbox ORDER BY id LIMIT 1"))
    finally:
        await db.close()


async def bare_loop(path: Path, kind: str, votes: int, payload: str) -> EngineResult:
    """The same rows, one transaction per vote, through aiosqlite with the bot's pragmas."""
    db = Database(path)
    await db.open()  # the same schema and pragmas (WAL, synchronous=FULL, foreign keys)
    try:
        await seed(Store(db), datetime.now(UTC))
        conn = db.conn
        began = time.perf_counter()
        for index in range(votes):
            now = datetime.now(UTC).isoformat()
            idea, voter = _idea(index), _voter(index)
            await conn.execute("BEGIN IMMEDIATE")
            if kind == "reaction":
                await conn.execute(
                    "INSERT INTO reaction_votes (reaction_event_id, idea_id, voter) VALUES (?, ?, ?)",
                    (f"$reaction{index}", idea, voter),
                )
            await conn.execute(
                "INSERT INTO votes (idea_id, voter, created_at) VALUES (?, ?, ?)",
                (idea, voter, now),
            )
            if kind == "command":
                await conn.execute(
                    "INSERT INTO outbox (kind, room_id, payload, created_at) VALUES (?, ?, ?, ?)",
                    ("message", ROOM, payload, now),
                )
            await conn.execute(
                "INSERT INTO handled_events (event_id, handled_at) VALUES (?, ?)",
                (f"${kind}{index}", now),
            )
            await conn.execute("COMMIT")
            if time.perf_counter() - began > TIME_LIMIT:
                raise RuntimeError("the bare loop took too long")
        seconds = time.perf_counter() - began
        label = (
            "bare aiosqlite loop (vote + outbox + handled)"
            if kind == "command"
            else "bare aiosqlite loop (reaction + vote + handled)"
        )
        return EngineResult(label, votes, seconds)
    finally:
        await db.close()


async def measure(
    run: Run, *, votes: int = VOTES, profile: bool = False
) -> list[list[EngineResult]]:
    """For commands, then reactions: the bot path's runs, and the bare loop's."""
    directory = run.directory("engine")
    catalogue = Catalogue()
    results: list[list[EngineResult]] = []
    for kind in ("command", "reaction"):
        # A first, uncounted pair: the first run of each path also pays for what Python does
        # once (compiling regular expressions, loading the catalogue's plural rules, ...).
        await bot_path(directory / f"warm-bot-{kind}.sqlite3", kind, WARM_UP, catalogue)
        await bare_loop(directory / f"warm-bare-{kind}.sqlite3", kind, WARM_UP, "{}")
        bot_runs: list[EngineResult] = []
        bare_runs: list[EngineResult] = []
        for repeat in range(1 if profile else REPEATS):
            bot_db = directory / f"bot-{kind}-{repeat}.sqlite3"
            if profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled")
                with profiler:
                    bot_runs.append(await bot_path(bot_db, kind, votes, catalogue))
                show(profiler.output_text(unicode=True, color=False, show_all=False))
            else:
                bot_runs.append(await bot_path(bot_db, kind, votes, catalogue))
            payload = await outbox_payload(bot_db) if kind == "command" else ""
            bare_db = directory / f"bare-{kind}-{repeat}.sqlite3"
            bare_runs.append(await bare_loop(bare_db, kind, votes, payload))
        results += [bot_runs, bare_runs]
    return results


async def run_engine(run: Run, *, profile: bool = False) -> list[Target]:
    runs = await measure(run, profile=profile)
    rows = [
        [
            median(each).label,
            f"{len(each)} × {median(each).votes}",
            f"{median(each).rate:,.0f}",
            " / ".join(f"{result.rate:,.0f}" for result in each),
        ]
        for each in runs
    ]
    show(
        table(
            "Engine throughput (no homeserver), votes per second",
            ["path", "runs × votes", "median", "each run"],
            rows,
        )
    )
    targets: list[Target] = []
    for bot_runs, bare_runs in zip(runs[0::2], runs[1::2], strict=True):
        ratios = [bot.rate / bare.rate for bot, bare in zip(bot_runs, bare_runs, strict=True)]
        ratio = sorted(ratios)[len(ratios) // 2]
        label = bot_runs[0].label
        show(
            f"{label}: {ratio:.2f} of the bare loop's rate (pairs in run order: "
            + " / ".join(f"{each:.2f}" for each in ratios)
            + ")"
        )
        targets.append(
            Target(
                "engine",
                f"{label}: rate vs bare loop (median of pairs)",
                f"{median(bot_runs).rate:,.0f}/s vs {median(bare_runs).rate:,.0f}/s; "
                f"pairs {ratio:.2f}",
                ">= 0.50",
                ratio >= 0.5,
            )
        )
    return targets
