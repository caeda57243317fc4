"""Scale in rooms: the bot's account in N rooms, as a city deployment would have it (issue #24).

One Synapse of its own, with its access log on (each request's own processing time). For each
N of ``--sizes``, the bot's account is brought to N rooms: mostly direct chats, each opened by a
distinct person (registered through the shared-secret admin API and inviting the bot with
``is_direct``, as Element does; 30% of them encrypted, opened by a matrix-nio client with end-to-end
encryption that uploaded its device keys first), a few challenge rooms (opened by a moderator's
``!challenge new``), the moderation room, and the measuring person's direct chat. The bot itself
accepts the invites, as it would in production. Then, per N:

1. Restart to first answer in a direct chat: the bot is stopped; with Synapse's caches cold
   (Synapse stopped and started too) and warm (only the bot restarted), three times each, the
   bot's process is started and a person at once sends ``!challenges`` in their direct chat;
   the seconds from the process's start to the reply reaching that person (median of 3).
   Beside it, Synapse's own time for the bot's first sync after the restart, read from its
   access log ("Processed request"), and that response's size.
2. ``!vote`` command-to-reply p50 in the challenge room and in a direct chat, beside a minimal
   echo bot asked the same way at the same time in a room of the same kind (the floor).
3. The bot's resident memory after that, and its CPU time over 30 idle seconds. Then the
   floor in the bot's own rooms: the bot stopped, the echo bot logged in as the bot's account
   (a device of its own) and syncing with the bot's filter, asked the same way in the same
   challenge room and direct chat. Synapse's time for an account's sync grows with the rooms
   it is in; this floor pays it as the bot does, the echo bot of 2 is in two rooms.
   Then the same with no /sync at all: Synapse restarted with an application service
   registered for the bot's account (``benchmarks.echo_appservice``), which Synapse pushes each
   event of the account's rooms to and which answers as the account; Synapse is restarted
   without it afterwards. It is the floor of a bot that is its homeserver's application
   service, which this bot is not.
4. A start with N/2 invites waiting (people who opened a direct chat while the bot was down):
   the seconds to the first answer in a direct chat that already existed, then until every
   invite was accepted.
5. SIGTERM while the bot accepts invites (a batch of N/4, at most 250, waiting): the seconds
   from the signal to the process's exit; then the bot is started again, and the invites it
   saw but had not accepted are counted if they are still not accepted 90 s later.

The rooms of 4 and 5 stay: the next N starts from the rooms the bot is in. The machine's load average
is printed beside each N; other work on the machine moves every figure, so the echo bot is
always measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import random
import re
import sqlite3
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psutil
import yaml
from nio import AsyncClient, AsyncClientConfig

from benchmarks.common import PASSWORD, Run, Summary, Target, mib, ms, show, table
from benchmarks.echo_appservice import registration
from benchmarks.matrix import (
    Process,
    Watcher,
    bot_process,
    bot_settings,
    echo_process,
    gather_limited,
    wait_until,
    write_config,
)
from devtools.homeserver import Homeserver, free_port

DEFAULT_SIZES = (200, 500)
ENCRYPTED_SHARE = 0.3
#: One challenge room per this many rooms (at least one besides the measured one).
ROOMS_PER_CHALLENGE = 200
RESTARTS = 3
VOTE_ROUNDS = 30
VOTE_WARMUP = 3
IDLE_SECONDS = 30.0
SLUG = "scale-bench"
#: Bounds on the waits that grow with N.
JOINS_WITHIN = 1200.0
ANSWER_WITHIN = 600.0
EXIT_WITHIN = 60.0
#: How long the bot, started again after that SIGTERM, is given for the invites left.
AFTER_SIGTERM_WITHIN = 90.0
SIGTERM_BATCH = 250
ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}

_ACCESS_LINE = re.compile(
    r"\{(?P<user>@[^}]+)\} Processed request: (?P<seconds>[\d.]+)sec/.*? "
    r"(?P<bytes>\d+)B (?P<status>\d+) \"GET (?P<path>\S*/sync\S*)"
)

_SYNC_CPU = re.compile(
    r"\{(?P<user>@[^}]+)\} Processed request: [\d.]+sec/[\d.]+sec "
    r"ru=\((?P<user_cpu>[\d.]+)sec, (?P<system_cpu>[\d.]+)sec\) .*? \d+B 200 \"GET \S*/sync\?since="
)


def sync_cpu(log_text: str) -> dict[str, list[float]]:
    """Synapse's CPU for each incremental sync that returned, by account, in seconds."""
    found: dict[str, list[float]] = {}
    for match in _SYNC_CPU.finditer(log_text):
        seconds = float(match["user_cpu"]) + float(match["system_cpu"])
        found.setdefault(match["user"], []).append(seconds)
    return found


@dataclass(frozen=True)
class SyncServed:
    """One /sync as Synapse's access log has it."""

    seconds: float
    size: int
    path: str


def first_sync_served(log_text: str, user_id: str) -> SyncServed | None:
    """The first /sync of ``user_id`` in a stretch of Synapse's access log."""
    for match in _ACCESS_LINE.finditer(log_text):
        if match["user"] == user_id and match["status"] == "200":
            return SyncServed(float(match["seconds"]), int(match["bytes"]), match["path"])
    return None


class LoggedHomeserver(Homeserver):
    """Synapse as the suite runs it, with its access log on: each request's own time.

    ``app_services``: registration files of application services, read at the next start."""

    app_services: tuple[Path, ...] = ()

    def _write_config(self) -> None:
        super()._write_config()
        path = self.base_dir / "log_config.yaml"
        config = yaml.safe_load(path.read_text())
        config["loggers"] = {"synapse.access": {"level": "INFO"}}
        path.write_text(yaml.safe_dump(config))
        config = yaml.safe_load(self.config_path.read_text())
        config["app_service_config_files"] = [str(file) for file in self.app_services]
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def app_services_from_now(self) -> None:
        """Synapse stopped: an application service registered now is sent what happens from
        now on, not every event since the homeserver was made (the position starts at 0)."""
        with contextlib.closing(sqlite3.connect(self.base_dir / "homeserver.db")) as db, db:
            db.execute(
                "UPDATE appservice_stream_position SET stream_ordering = "
                "(SELECT COALESCE(MAX(stream_ordering), 0) FROM events)"
            )

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str
    device_id: str


class Api:
    """Raw client-server and admin requests, for building rooms fast."""

    def __init__(self, homeserver: Homeserver) -> None:
        self.homeserver = homeserver
        self.session = aiohttp.ClientSession()
        self.admin_token = ""

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str = ""
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for _attempt in range(20):
            async with self.session.request(
                method, self.homeserver.url + path, json=body, headers=headers
            ) as response:
                payload: dict[str, Any] = await response.json(content_type=None)
                if response.status == 429:
                    await asyncio.sleep(payload.get("retry_after_ms", 500) / 1000)
                    continue
                if response.status != 200:
                    raise RuntimeError(f"{method} {path} -> {response.status}: {payload}")
                return payload
        raise RuntimeError(f"{method} {path}: rate limited 20 times")

    async def register(self, localpart: str, *, admin: bool = False) -> Account:
        """Through the shared-secret admin API, which hands back a logged-in device."""
        path = "/_synapse/admin/v1/register"
        nonce = (await self.call("GET", path))["nonce"]
        mac = hmac.new(self.homeserver.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), PASSWORD.encode()]))
        mac.update(b"\x00admin" if admin else b"\x00notadmin")
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": PASSWORD,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        done = await self.call("POST", path, body)
        return Account(done["user_id"], done["access_token"], done["device_id"])

    async def create_room(self, token: str, body: dict[str, Any]) -> str:
        return str(
            (await self.call("POST", "/_matrix/client/v3/createRoom", body, token))["room_id"]
        )

    async def join(self, token: str, room: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/join/{quote(room)}", {}, token)

    async def joined_rooms(self, user_id: str) -> set[str]:
        path = f"/_synapse/admin/v1/users/{quote(user_id)}/joined_rooms"
        return set((await self.call("GET", path, token=self.admin_token))["joined_rooms"])

    async def close(self) -> None:
        await self.session.close()


@dataclass
class Restart:
    answer: float  # from the process's start to the reply reaching the person
    after_constructed: float  # from the bot object's existence to the reply
    served: SyncServed | None


@dataclass
class SizeFigures:
    size: int
    rooms: int
    load: str
    setup: float
    cold: list[Restart] = field(default_factory=list)
    warm: list[Restart] = field(default_factory=list)
    votes: dict[str, Summary] = field(default_factory=dict)
    #: The echo bot as the bot's account, in the same rooms (the floor at N rooms), asked in
    #: turn with the echo bot in two rooms (``floor_echo``, the same kinds of room).
    floor: dict[str, Summary] = field(default_factory=dict)
    floor_echo: dict[str, Summary] = field(default_factory=dict)
    #: The same with an echo application service as the bot's account (no /sync at all).
    appservice: dict[str, Summary] = field(default_factory=dict)
    appservice_echo: dict[str, Summary] = field(default_factory=dict)
    #: Synapse's CPU per incremental sync that returned, p50, while the votes ran: the bot's
    #: account (in N rooms) and the echo bot's (in two), in seconds.
    sync_cpu: dict[str, float] = field(default_factory=dict)
    rss: int = 0
    idle_cpu: float = 0.0
    invites: int = 0
    invite_answer: float = 0.0
    invites_done: float = 0.0
    sigterm_batch: int = 0
    sigterm_joined: int = 0
    sigterm_exit: float = 0.0
    never_accepted: int = 0


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class World:
    """The homeserver, the accounts and the rooms, grown from one N to the next."""

    def __init__(self, directory: Path, bot_code: Path | None) -> None:
        self.directory = directory
        self.bot_code = bot_code
        self.homeserver = LoggedHomeserver(directory / "synapse")
        self.api = Api(self.homeserver)
        self.people = 0
        self.bot_user = ""
        self.config = directory / "bot.toml"
        self.database = directory / "bot.sqlite3"
        self.crypto = directory / "people-crypto"
        self.bot: Process | None = None
        self.runs = 0
        self.moderator: Watcher | None = None
        self.tester: Watcher | None = None
        self.moderator_user = ""
        self.tester_user = ""
        self.echo_user = ""
        self.moderation_room = ""
        self.tester_dm = ""
        self.challenge_room = ""
        self.echo_dm = ""
        self.echo_room = ""
        self.challenges = 0

    # -- the homeserver and the watchers ------------------------------------------------------

    async def start(self) -> None:
        began = time.monotonic()
        await asyncio.to_thread(self.homeserver.start, 180)
        show(f"(Synapse started on {self.homeserver.url} in {time.monotonic() - began:.1f}s)")
        self.api.admin_token = (await self.api.register("scale-admin", admin=True)).token
        bot, moderator, tester, echo = await gather_limited(
            4, lambda n: self.api.register(("scale-bot", "moderator", "tester", "echo")[n])
        )
        self.bot_user, self.moderator_user = bot.user_id, moderator.user_id
        self.tester_user, self.echo_user = tester.user_id, echo.user_id
        for account in (bot.user_id, echo.user_id):
            await asyncio.to_thread(
                self.homeserver.override_ratelimit, self.api.admin_token, account
            )
        await self.watchers()
        assert self.moderator is not None and self.tester is not None
        self.moderation_room = await self.moderator.create_room([self.bot_user], name="Moderation")
        write_config(
            self.config,
            self.homeserver,
            self.bot_user,
            self.database,
            bot_settings(moderators=[self.moderator_user], moderation_room=self.moderation_room),
        )
        await self.start_bot()
        await self.moderator.wait_joined(self.moderation_room, self.bot_user, 120)
        self.tester_dm = await self.tester.create_room([self.bot_user], direct=True)
        await self.tester.wait_joined(self.tester_dm, self.bot_user, 120)
        self.challenge_room = await self.open_challenge(SLUG)
        await self.tester.client.join(self.challenge_room)
        await self.tester.wait_joined(self.challenge_room, self.tester_user)

    async def watchers(self) -> None:
        await self.close_watchers()
        self.moderator = await Watcher.start(self.homeserver, self.moderator_user, auto_join=True)
        self.tester = await Watcher.start(self.homeserver, self.tester_user, auto_join=True)

    async def close_watchers(self) -> None:
        for watcher in (self.moderator, self.tester):
            if watcher is not None:
                await watcher.close()
        self.moderator = self.tester = None

    async def restart_homeserver(self, app_services: tuple[Path, ...] | None = None) -> None:
        """Synapse stopped and started (its caches cold); with ``app_services``, registered
        from then on (``()`` removes them)."""
        await self.close_watchers()
        await asyncio.to_thread(self.homeserver.stop)
        if app_services is not None:
            self.homeserver.app_services = app_services
            self.homeserver.app_services_from_now()
        await asyncio.to_thread(self.homeserver.start, 180)
        await self.watchers()

    async def close(self) -> None:
        await self.stop_bot()
        await self.close_watchers()
        await self.api.close()
        await asyncio.to_thread(self.homeserver.stop)

    # -- the bot -----------------------------------------------------------------------------

    async def start_bot(self) -> Process:
        self.runs += 1
        self.bot = bot_process(
            self.config, self.directory / f"bot-{self.runs}.log", code=self.bot_code
        )
        await self.bot.start()
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.stop(EXIT_WITHIN)
            self.bot = None

    async def bot_rooms(self) -> int:
        return len(await self.api.joined_rooms(self.bot_user))

    async def wait_rooms(self, count: int, within: float = JOINS_WITHIN) -> float:
        """Until the bot's account is in ``count`` rooms; the seconds it took."""
        began = time.monotonic()
        while (now := await self.bot_rooms()) < count:
            if time.monotonic() - began > within:
                raise TimeoutError(f"the bot joined {now} of {count} rooms in {within:.0f}s")
            await asyncio.sleep(0.5)
        return time.monotonic() - began

    # -- rooms -------------------------------------------------------------------------------

    async def open_challenge(self, slug: str) -> str:
        assert self.moderator is not None
        await self.moderator.ask(self.moderation_room, f"!challenge new {slug} Challenge {slug}")
        alias = f"#{slug}:{self.homeserver.server_name}"
        await wait_until(
            lambda: any(
                alias in str(a.event.get("content", {}).get("body", ""))
                for a in self.moderator.arrivals  # type: ignore[union-attr]
                if a.room_id == self.moderation_room
            ),
            120,
            f"the room of {slug}",
        )
        resolved = await self.api.call(
            "GET", f"/_matrix/client/v3/directory/room/{quote(alias)}", token=self.api.admin_token
        )
        self.challenges += 1
        return str(resolved["room_id"])

    async def open_direct_chats(self, count: int) -> None:
        """``count`` new people each open a direct chat with the bot (a share encrypted)."""
        self.crypto.mkdir(parents=True, exist_ok=True)
        first = self.people
        self.people += count
        encrypted_every = round(1 / ENCRYPTED_SHARE) if ENCRYPTED_SHARE else 0

        async def one(index: int) -> None:
            number = first + index
            person = await self.api.register(f"person-{number}")
            body: dict[str, Any] = {
                "is_direct": True,
                "invite": [self.bot_user],
                "preset": "trusted_private_chat",
            }
            if encrypted_every and number % encrypted_every == 0:
                await self._upload_keys(person)
                body["initial_state"] = [ENCRYPTION]
            await self.api.create_room(person.token, body)

        await gather_limited(count, one, limit=6)

    async def _upload_keys(self, person: Account) -> None:
        client = AsyncClient(
            self.homeserver.url,
            person.user_id,
            device_id=person.device_id,
            store_path=str(self.crypto),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
        )
        try:
            client.restore_login(person.user_id, person.device_id, person.token)
            response = await client.keys_upload()
            if type(response).__name__ != "KeysUploadResponse":
                raise RuntimeError(f"{person.user_id} could not upload keys: {response}")
        finally:
            await client.close()

    async def grow_to(self, size: int) -> float:
        """The bot's account in ``size`` rooms (the bot running, accepting the invites)."""
        began = time.monotonic()
        if self.bot is None:
            await self.start_bot()
        now = await self.bot_rooms()
        challenges_wanted = 1 + max(1, size // ROOMS_PER_CHALLENGE)
        for number in range(self.challenges, challenges_wanted):
            await self.open_challenge(f"{SLUG}-{number}")
        now = await self.bot_rooms()
        direct = max(0, size - max(now, 3 + self.challenges))
        show(f"(opening {direct} direct chats with the bot, it is in {now} rooms)")
        await self.open_direct_chats(direct)
        created = time.monotonic() - began
        await self.wait_rooms(size)
        took = time.monotonic() - began
        show(
            f"(setup to {size} rooms took {took:.0f} s: {created:.0f} s to register people and "
            f"open rooms, the rest waiting for the bot to accept)"
        )
        return took

    async def ensure_echo_rooms(self, echo: Process) -> None:
        assert self.tester is not None and self.moderator is not None
        await echo.fact("ready")
        if self.echo_dm:
            return  # made at an earlier N (a watcher made since has not seen the joins)
        self.echo_dm = await self.tester.create_room([self.echo_user], direct=True)
        self.echo_room = await self.api.create_room(
            str(self.moderator.client.access_token),
            {"name": "Echo", "invite": [self.echo_user], "preset": "public_chat"},
        )
        await self.tester.client.join(self.echo_room)
        await self.tester.wait_joined(self.echo_dm, self.echo_user)
        await self.tester.wait_joined(self.echo_room, self.echo_user)


async def _first_answer(world: World) -> Restart:
    """Start the bot; at once, the person asks in their direct chat; until the reply."""
    assert world.tester is not None
    offset = world.homeserver.log_size()
    began = time.perf_counter()
    bot = await world.start_bot()
    event_id = await world.tester.send(world.tester_dm, "!challenges")
    arrival = await world.tester.reply_to(event_id, ANSWER_WITHIN)
    answer = arrival.at - began
    constructed = float(await bot.fact("constructed_at"))
    after_constructed = answer - (constructed - bot.spawned_at)
    await asyncio.sleep(0.5)  # the access log line is written as the response ends
    served = first_sync_served(world.homeserver.log_since(offset), world.bot_user)
    return Restart(answer, after_constructed, served)


async def _restarts(world: World, figures: SizeFigures) -> None:
    for cold in (True, False):
        for _number in range(RESTARTS):
            await world.stop_bot()
            if cold:
                await world.restart_homeserver()
            restart = await _first_answer(world)
            (figures.cold if cold else figures.warm).append(restart)
            served = restart.served
            show(
                f"  restart ({'cold' if cold else 'warm'}): first answer {restart.answer:.2f} s "
                f"({restart.after_constructed:.2f} s after the bot object existed); Synapse's "
                + (
                    f"first sync {served.seconds:.2f} s, {mib(served.size)} MiB"
                    if served
                    else "first sync not in its log"
                )
            )


async def _votes(world: World, figures: SizeFigures) -> None:
    assert world.tester is not None and world.moderator is not None
    echo = echo_process(world.homeserver, world.echo_user, world.directory / "echo.log")
    await echo.start()
    try:
        await world.ensure_echo_rooms(echo)
        ideas: list[int] = []
        for number in range(2 * (VOTE_WARMUP + VOTE_ROUNDS)):
            _seconds, reply = await world.moderator.ask(
                world.challenge_room, f"!idee Idee {figures.size}-{number}"
            )
            found = re.search(r"#(\d+)", str(reply.event.get("content", {}).get("body", "")))
            if found is None:
                raise RuntimeError(f"no idea number in {reply.event}")
            ideas.append(int(found[1]))
        samples: dict[str, list[float]] = {
            "!vote, challenge room": [],
            "echo, public room": [],
            "!vote, direct chat": [],
            "echo, direct chat": [],
        }
        rng = random.Random(figures.size)
        offset = world.homeserver.log_size()
        for number in range(VOTE_WARMUP + VOTE_ROUNDS):
            steps = [
                ("!vote, challenge room", world.challenge_room, f"!vote {ideas[2 * number]}"),
                ("echo, public room", world.echo_room, f"!vote {ideas[2 * number]}"),
                ("!vote, direct chat", world.tester_dm, f"!vote {ideas[2 * number + 1]}"),
                ("echo, direct chat", world.echo_dm, f"!vote {ideas[2 * number + 1]}"),
            ]
            rng.shuffle(steps)
            for kind, room, text in steps:
                seconds, _reply = await world.tester.ask(room, text)
                if number >= VOTE_WARMUP:
                    samples[kind].append(seconds)
                await asyncio.sleep(0.03)
        figures.votes = {kind: Summary.of(values) for kind, values in samples.items()}
        await asyncio.sleep(0.5)  # the access log line is written as the response ends
        cpu = sync_cpu(world.homeserver.log_since(offset))
        for label, user in (("bot", world.bot_user), ("echo", world.echo_user)):
            if cpu.get(user):
                figures.sync_cpu[label] = _median(cpu[user])
    finally:
        await echo.stop()


async def _idle(world: World, figures: SizeFigures) -> None:
    assert world.bot is not None and world.bot.process is not None
    figures.rss = world.bot.rss()
    process = psutil.Process(world.bot.process.pid)
    await asyncio.sleep(5)
    before = process.cpu_times()
    await asyncio.sleep(IDLE_SECONDS)
    after = process.cpu_times()
    figures.idle_cpu = (after.user + after.system) - (before.user + before.system)


async def _in_turn(
    world: World, as_bot: Process, seed: int
) -> tuple[dict[str, Summary], dict[str, Summary]]:
    """``as_bot`` (answering as the bot's account, the bot stopped) in the bot's challenge room
    and direct chat, asked in turn with the echo bot in two rooms: the p50s of each, by kind of
    room, for ``as_bot`` and for the echo bot."""
    assert world.tester is not None
    echo = echo_process(world.homeserver, world.echo_user, world.directory / "echo.log")
    await as_bot.start()
    await echo.start()
    samples: dict[str, list[float]] = {
        "challenge room": [],
        "direct chat": [],
        "echo, public room": [],
        "echo, direct chat": [],
    }
    try:
        await as_bot.fact("ready", ANSWER_WITHIN)
        await world.ensure_echo_rooms(echo)
        rng = random.Random(seed)
        for number in range(VOTE_WARMUP + VOTE_ROUNDS):
            steps = [
                ("challenge room", world.challenge_room),
                ("direct chat", world.tester_dm),
                ("echo, public room", world.echo_room),
                ("echo, direct chat", world.echo_dm),
            ]
            rng.shuffle(steps)
            for kind, room in steps:
                seconds, _reply = await world.tester.ask(room, f"!vote {number + 1}")
                if number >= VOTE_WARMUP:
                    samples[kind].append(seconds)
                await asyncio.sleep(0.03)
    finally:
        await as_bot.stop()
        await echo.stop()
    summaries = {kind: Summary.of(values) for kind, values in samples.items()}
    return (
        {kind: summaries[kind] for kind in ("challenge room", "direct chat")},
        {
            "challenge room": summaries["echo, public room"],
            "direct chat": summaries["echo, direct chat"],
        },
    )


async def _floor(world: World, figures: SizeFigures) -> None:
    """The echo bot as the bot's account (the bot stopped), syncing with the bot's filter, in
    the bot's challenge room and direct chat, asked in turn with the echo bot in two rooms:
    what an account in N rooms costs a reply on this homeserver, in the same minutes. Then the
    bot again (it answers those commands too, as ones sent while it was away)."""
    await world.stop_bot()
    as_bot = echo_process(
        world.homeserver, world.bot_user, world.directory / "echo-as-bot.log", bot_filter=True
    )
    figures.floor, figures.floor_echo = await _in_turn(world, as_bot, -figures.size)
    bot = await world.start_bot()
    await bot.fact("first_sync_at", ANSWER_WITHIN)


async def _appservice(world: World, figures: SizeFigures) -> None:
    """The floor without /sync: the echo bot as an application service answering as the bot's
    account (``benchmarks.echo_appservice``; Synapse pushes it each event of the account's
    rooms), asked in turn with the echo bot in two rooms, as :func:`_floor` is. Synapse is
    restarted with the service registered, and again without it afterwards."""
    await world.stop_bot()
    port = free_port()
    registration_file = world.directory / "echo-appservice.yaml"
    registration(registration_file, world.bot_user, port)
    as_bot = Process(
        [
            "-m",
            "benchmarks.echo_appservice",
            *("--homeserver", world.homeserver.url, "--user", world.bot_user),
            *("--port", str(port), "--registration", str(registration_file)),
        ],
        world.directory / "echo-appservice.log",
    )
    try:
        await world.restart_homeserver(app_services=(registration_file,))
        figures.appservice, figures.appservice_echo = await _in_turn(
            world, as_bot, figures.size + 1
        )
    finally:
        await world.restart_homeserver(app_services=())
    bot = await world.start_bot()
    await bot.fact("first_sync_at", ANSWER_WITHIN)


async def _invites_waiting(world: World, figures: SizeFigures) -> None:
    assert world.tester is not None
    await world.stop_bot()
    rooms = await world.bot_rooms()
    figures.invites = figures.size // 2
    began = time.monotonic()
    await world.open_direct_chats(figures.invites)
    show(f"  ({figures.invites} invites waiting, made in {time.monotonic() - began:.0f} s)")
    restart = await _first_answer(world)
    figures.invite_answer = restart.answer
    figures.invites_done = restart.answer + await world.wait_rooms(rooms + figures.invites)
    show(
        f"  start with {figures.invites} invites waiting: first answer {restart.answer:.2f} s, "
        f"all accepted after {figures.invites_done:.1f} s"
    )


async def _sigterm(world: World, figures: SizeFigures) -> None:
    await world.stop_bot()
    rooms = await world.bot_rooms()
    figures.sigterm_batch = min(SIGTERM_BATCH, figures.size // 4)
    await world.open_direct_chats(figures.sigterm_batch)
    bot = await world.start_bot()
    assert bot.process is not None
    await world.wait_rooms(rooms + max(1, min(10, figures.sigterm_batch // 4)), 300)
    figures.sigterm_joined = await world.bot_rooms() - rooms
    began = time.monotonic()
    bot.process.terminate()
    try:
        await asyncio.wait_for(bot.process.wait(), EXIT_WITHIN)
        figures.sigterm_exit = time.monotonic() - began
    except TimeoutError:
        figures.sigterm_exit = float("inf")
    await bot.stop()  # kills it if it is still there
    world.bot = None
    show(
        f"  SIGTERM with {figures.sigterm_batch - figures.sigterm_joined} of "
        f"{figures.sigterm_batch} invites still waiting: exit after {figures.sigterm_exit:.2f} s"
    )
    # Then started again: are the invites it had seen, but not accepted, accepted now?
    await world.start_bot()
    wanted = rooms + figures.sigterm_batch
    with contextlib.suppress(TimeoutError):
        await world.wait_rooms(wanted, AFTER_SIGTERM_WITHIN)
    figures.never_accepted = wanted - await world.bot_rooms()
    if figures.never_accepted:
        show(
            f"  after a restart, {figures.never_accepted} of those invites were still not "
            f"accepted {AFTER_SIGTERM_WITHIN:.0f} s later"
        )


PHASES = {
    "restarts": _restarts,
    "votes": _votes,
    "idle": _idle,
    "floor": _floor,
    "appservice": _appservice,
    "invites": _invites_waiting,
    "sigterm": _sigterm,
}


async def _measure(world: World, size: int, phases: tuple[str, ...] = tuple(PHASES)) -> SizeFigures:
    setup = await world.grow_to(size)
    figures = SizeFigures(size=size, rooms=await world.bot_rooms(), load=_load(), setup=setup)
    show(f"\n#### {figures.rooms} rooms (load average {figures.load})")
    for phase in (PHASES[name] for name in PHASES if name in phases):
        try:
            if world.bot is None:  # an earlier phase failed with the bot stopped
                bot = await world.start_bot()
                await bot.fact("first_sync_at", ANSWER_WITHIN)
            await phase(world, figures)
        except Exception as error:  # one phase's failure leaves the others' figures
            show(f"  FAILED: {phase.__name__.strip('_')}: {error!r} (its figures stay empty)")
        if phase is _idle:
            show(
                f"  resident memory {mib(figures.rss)} MiB, CPU {figures.idle_cpu:.2f} s per "
                f"{IDLE_SECONDS:.0f} idle s; "
                + ", ".join(f"{kind} p50 {ms(s.p50)} ms" for kind, s in figures.votes.items())
            )
        if phase is _floor and figures.floor:
            show(
                "  echo bot as the bot's account, in its rooms / the echo bot in two rooms, "
                "asked in turn: "
                + ", ".join(
                    f"{kind} p50 {ms(s.p50)} / {ms(figures.floor_echo[kind].p50)} ms"
                    for kind, s in figures.floor.items()
                )
            )
        if phase is _appservice and figures.appservice:
            show(
                "  echo application service as the bot's account / the echo bot in two rooms, "
                "asked in turn: "
                + ", ".join(
                    f"{kind} p50 {ms(s.p50)} / {ms(figures.appservice_echo[kind].p50)} ms"
                    for kind, s in figures.appservice.items()
                )
            )
    figures.load += f" → {_load()}"
    return figures


def through_echo(f: SizeFigures, vote: str, echo: str, room: str) -> float:
    """The bot beside the echo bot as its own account, each measured in turn with the echo bot
    in two rooms (they cannot answer in the same rooms at once): the ratio of the two ratios,
    so that what the homeserver did in between counts for neither."""
    return (f.votes[vote].p50 / f.votes[echo].p50) / (f.floor[room].p50 / f.floor_echo[room].p50)


def _seconds(values: list[float]) -> str:
    if not values:
        return ""
    return f"{_median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _curve(results: list[SizeFigures]) -> str:
    def row(label: str, make: Any) -> list[object]:
        return [label, *(make(f) for f in results)]

    def served(restarts: list[Restart]) -> str:
        times = [r.served.seconds for r in restarts if r.served]
        sizes = [r.served.size for r in restarts if r.served]
        full = all("full_state=true" in r.served.path for r in restarts if r.served)
        state = "full state" if full else "not full state"
        if not restarts:
            return ""  # not measured (--phases)
        return f"{_seconds(times)}, {mib(max(sizes))} MiB, {state}" if sizes else "?"

    def ratio(f: SizeFigures, vote: str, echo: str) -> str:
        if not f.votes:
            return ""
        v, e = f.votes[vote].p50, f.votes[echo].p50
        return f"{ms(v)} / {ms(e)} ms = {v / e:.2f}"

    def account(f: SizeFigures, room: str, *, appservice: bool = False) -> str:
        floor, echo = (f.appservice, f.appservice_echo) if appservice else (f.floor, f.floor_echo)
        if not floor:
            return ""
        a, e = floor[room].p50, echo[room].p50
        return f"{ms(a)} / {ms(e)} ms = {a / e:.2f}"

    def through(f: SizeFigures, vote: str, echo: str, room: str) -> str:
        return f"{through_echo(f, vote, echo, room):.2f}" if f.votes and f.floor else ""

    rows = [
        row("rooms the bot is in", lambda f: f"{f.rooms:,}"),
        row("load average (1, 5, 15 min), start → end", lambda f: f.load),
        row("setup to this size, s", lambda f: f"{f.setup:.0f}"),
        row(
            "restart → first answer in a DM, caches cold, s (median, range)",
            lambda f: _seconds([r.answer for r in f.cold]),
        ),
        row(
            "  the same, from the bot object's existence, s",
            lambda f: _seconds([r.after_constructed for r in f.cold]),
        ),
        row(
            "restart → first answer, caches warm, s",
            lambda f: _seconds([r.answer for r in f.warm]),
        ),
        row("Synapse's time for the bot's first sync, cold, s", lambda f: served(f.cold)),
        row("Synapse's time for the bot's first sync, warm, s", lambda f: served(f.warm)),
        row(
            "start with invites waiting → first answer in an existing DM, s",
            lambda f: f"{f.invite_answer:.2f} ({f.invites} waiting)" if f.invites else "",
        ),
        row(
            "  … until every invite was accepted, s",
            lambda f: f"{f.invites_done:.1f}" if f.invites else "",
        ),
        row(
            "SIGTERM while accepting invites → exit, s",
            lambda f: (
                f"{f.sigterm_exit:.2f} ({f.sigterm_batch - f.sigterm_joined} waiting)"
                if f.sigterm_batch
                else ""
            ),
        ),
        row(
            f"  invites of those not accepted {AFTER_SIGTERM_WITHIN:.0f} s after a restart",
            lambda f: f"{f.never_accepted}" if f.sigterm_batch else "",
        ),
        row(
            "!vote p50, challenge room / echo bot",
            lambda f: ratio(f, "!vote, challenge room", "echo, public room"),
        ),
        row(
            "!vote p50, direct chat / echo bot",
            lambda f: ratio(f, "!vote, direct chat", "echo, direct chat"),
        ),
        row(
            "echo as the bot's account (N rooms) / echo bot (two rooms), in turn, challenge room",
            lambda f: account(f, "challenge room"),
        ),
        row(
            "echo as the bot's account (N rooms) / echo bot (two rooms), in turn, direct chat",
            lambda f: account(f, "direct chat"),
        ),
        row(
            "echo as an application service for the bot's account (no /sync) / echo bot, in "
            "turn, challenge room",
            lambda f: account(f, "challenge room", appservice=True),
        ),
        row(
            "echo as an application service for the bot's account (no /sync) / echo bot, in "
            "turn, direct chat",
            lambda f: account(f, "direct chat", appservice=True),
        ),
        row(
            "!vote / echo as the bot's account, through the echo bot, challenge room",
            lambda f: through(f, "!vote, challenge room", "echo, public room", "challenge room"),
        ),
        row(
            "!vote / echo as the bot's account, through the echo bot, direct chat",
            lambda f: through(f, "!vote, direct chat", "echo, direct chat", "direct chat"),
        ),
        row(
            "Synapse's CPU per sync that returned, p50: the bot's account / the echo bot's, ms",
            lambda f: " / ".join(ms(f.sync_cpu.get(who, float("nan"))) for who in ("bot", "echo")),
        ),
        row("resident memory, MiB", lambda f: mib(f.rss)),
        row(f"idle CPU per {IDLE_SECONDS:.0f} s, s", lambda f: f"{f.idle_cpu:.2f}"),
    ]
    return table(
        "Scale in rooms: the curve",
        ["", *(f"N = {f.size:,}" for f in results)],
        rows,
    )


async def run_scale_rooms(
    run: Run,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    bot_code: Path | None = None,
    phases: tuple[str, ...] | None = None,
) -> list[Target]:
    """``bot_code``: a checkout whose bot the bot's process runs (default: this one's);
    ``phases``: the names in :data:`PHASES` to run at each size (default: all)."""
    directory = run.directory("scale-rooms")
    world = World(directory, bot_code)
    if bot_code is not None:
        show(f"(the bot runs from {bot_code})")
    results: list[SizeFigures] = []
    began = time.monotonic()
    try:
        await world.start()
        show(f"(accounts and the first rooms made in {time.monotonic() - began:.0f} s)")
        for size in sorted(sizes):
            results.append(await _measure(world, size, phases or tuple(PHASES)))
            show(_curve(results))
    finally:
        await world.close()
    targets: list[Target] = []
    for f in results:
        # Only what was measured (``--phases``): a phase left out has no figures to judge.
        if f.cold:
            cold = _median([r.answer for r in f.cold])
            limit = 1.0 if f.size <= 2000 else 1.5
            targets.append(
                Target(
                    "scale-rooms",
                    f"restart → first answer, cold, {f.rooms:,} rooms",
                    f"{cold:.2f} s",
                    f"<= {limit} s",
                    cold <= limit,
                )
            )
        if f.invites:
            targets.append(
                Target(
                    "scale-rooms",
                    f"start with {f.invites} invites waiting → answer, {f.rooms:,} rooms",
                    f"{f.invite_answer:.2f} s",
                    "<= 2 s",
                    f.invite_answer <= 2,
                )
            )
        for kind, echo, room in (
            ("!vote, challenge room", "echo, public room", "challenge room"),
            ("!vote, direct chat", "echo, direct chat", "direct chat"),
        ):
            if not f.votes:
                continue
            ratio = f.votes[kind].p50 / f.votes[echo].p50
            targets.append(
                Target(
                    "scale-rooms",
                    f"{kind} p50 / echo, {f.rooms:,} rooms",
                    f"{ratio:.2f}",
                    "<= 1.10",
                    ratio <= 1.10,
                )
            )
            if f.floor:
                floor = f.floor[room].p50 / f.floor_echo[room].p50
                targets.append(
                    Target(
                        "scale-rooms",
                        f"(the floor) echo as the bot's account / echo, {room}, {f.rooms:,} rooms",
                        f"{floor:.2f}",
                        "<= 1.10",
                        floor <= 1.10,
                    )
                )
                same = through_echo(f, kind, echo, room)
                targets.append(
                    Target(
                        "scale-rooms",
                        f"{kind} p50 / echo as the bot's account, {f.rooms:,} rooms",
                        f"{same:.2f}",
                        "<= 1.10",
                        same <= 1.10,
                    )
                )
        if not f.rss:
            continue
        targets.append(
            Target(
                "scale-rooms",
                f"resident memory, {f.rooms:,} rooms",
                f"{mib(f.rss)} MiB",
                "<= 150 MiB",
                f.rss <= 150 * 2**20,
            )
        )
        targets.append(
            Target(
                "scale-rooms",
                f"idle CPU per 30 s, {f.rooms:,} rooms",
                f"{f.idle_cpu:.2f} s",
                "<= 0.1 s",
                f.idle_cpu <= 0.1,
            )
        )
    return targets
