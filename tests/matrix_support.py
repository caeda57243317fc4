"""Real Matrix clients for the integration tests, and the bot run in-process against Synapse."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    ReceiptEvent,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)
from pydantic import SecretStr

from bot.app import BotApp
from bot.bot_clock import BotClock
from bot.config import Config, MatrixSettings, StorageSettings
from devtools.homeserver import Homeserver
from handlers.settings import BotSettings, IdentitySettings, ReportSettings

PASSWORD = "correct horse battery staple"
WAIT = 20.0
_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:6]}"


@dataclass
class Seen:
    room_id: str
    event_id: str
    sender: str
    type: str
    content: dict[str, Any]


def idea_number(seen: Seen) -> int:
    """The idea's number in a reply of the bot's (``#12``)."""
    found = re.search(r"#(\d+)", str(seen.content.get("body", "")))
    assert found is not None, seen.content
    return int(found.group(1))


@dataclass
class Person:
    """A Matrix user driven by a test: sends, reacts, and records everything it sees."""

    client: AsyncClient
    seen: list[Seen] = field(default_factory=list)
    invites: list[str] = field(default_factory=list)
    receipts: list[tuple[str, str, str]] = field(default_factory=list)  # room, event, reader
    auto_join: bool = True
    _task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def create(
        cls,
        homeserver: Homeserver,
        name: str,
        *,
        store_path: Path | None = None,
        user_id: str | None = None,
        client_class: type[AsyncClient] = AsyncClient,
    ) -> Person:
        """A new user, or ``user_id`` on a new device; with ``store_path``, one with encryption
        (a ``client_class`` of the bot's own keeps it syncing past what breaks nio)."""
        user_id = user_id or homeserver.register_user(unique(name), PASSWORD)
        # matrix-nio retries a request that cannot connect with waits that double up to a
        # minute; capped at a second, a test of the bot's recovery from an outage measures the
        # bot, not how long this person's client happened to be asleep.
        if store_path is None:
            config = AsyncClientConfig(encryption_enabled=False, max_timeout_retry_wait_time=1.0)
            client = AsyncClient(homeserver.url, user_id, config=config)
        else:
            store_path.mkdir(parents=True, exist_ok=True)
            config = AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=False, max_timeout_retry_wait_time=1.0
            )
            client = client_class(
                homeserver.url, user_id, store_path=str(store_path), config=config
            )
        response = await client.login(PASSWORD)
        assert response.__class__.__name__ == "LoginResponse", response
        person = cls(client)
        if client.olm is not None:
            await person._maintain_encryption()
        first = await client.sync(timeout=0)
        assert isinstance(first, SyncResponse), first
        person._task = asyncio.create_task(person._sync_forever())
        return person

    async def _sync_forever(self) -> None:
        while True:
            response = await self.client.sync(timeout=500)
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.2)
                continue
            if self.client.olm is not None:
                await self._maintain_encryption()
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    source = event.source  # the plaintext, for an event nio decrypted
                    content = source.get("content", {})
                    self.seen.append(
                        Seen(room_id, source["event_id"], source["sender"], source["type"], content)
                    )
            for room_id, info in response.rooms.join.items():
                for ephemeral in info.ephemeral:
                    if isinstance(ephemeral, ReceiptEvent):
                        self.receipts.extend(
                            (room_id, r.event_id, r.user_id) for r in ephemeral.receipts
                        )
            for room_id, info in response.rooms.invite.items():
                if any(
                    isinstance(e, InviteMemberEvent) and e.state_key == self.user_id
                    for e in info.invite_state
                ):
                    self.invites.append(room_id)
                    if self.auto_join:
                        await self.client.join(room_id)

    async def _maintain_encryption(self) -> None:
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        await self.client.send_to_device_messages()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def send(self, room_id: str, text: str) -> str:
        content = {"msgtype": "m.text", "body": text}
        response = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def react(self, room_id: str, event_id: str, key: str = "👍") -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        response = await self.client.room_send(
            room_id, "m.reaction", content, ignore_unverified_devices=True
        )
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def redact(self, room_id: str, event_id: str) -> None:
        response = await self.client.room_redact(room_id, event_id)
        assert response.__class__.__name__ == "RoomRedactResponse", response

    async def direct_chat_with(self, other: str, *, encrypted: bool = False) -> str:
        """A DM created the way clients create one: is_direct, trusted private chat, and (as
        Element does) encrypted from the start when ``encrypted``."""
        initial_state = []
        if encrypted:
            algorithm = {"algorithm": "m.megolm.v1.aes-sha2"}
            initial_state.append(
                {"type": "m.room.encryption", "state_key": "", "content": algorithm}
            )
        response = await self.client.room_create(
            is_direct=True,
            invite=[other],
            preset=RoomPreset.trusted_private_chat,
            initial_state=initial_state,
        )
        assert isinstance(response, RoomCreateResponse), response
        await self.wait_joined(response.room_id, other)
        return str(response.room_id)

    async def set_power_level(self, room_id: str, user_id: str, level: int) -> None:
        """Give ``user_id`` the power ``level`` in the room (this person must be allowed to)."""
        state = await self.client.room_get_state_event(room_id, "m.room.power_levels")
        content = dict(state.content)  # type: ignore[union-attr]
        content["users"] = {**content.get("users", {}), user_id: level}
        response = await self.client.room_put_state(room_id, "m.room.power_levels", content)
        assert response.__class__.__name__ == "RoomPutStateResponse", response

    async def create_room(self, invite: list[str], name: str = "room") -> str:
        response = await self.client.room_create(name=name, invite=invite)
        assert isinstance(response, RoomCreateResponse), response
        return str(response.room_id)

    async def create_public_room(
        self, invite: list[str], *, is_direct: bool = False, world_readable: bool = False
    ) -> str:
        """A room anyone may join (and, when ``world_readable``, read without joining), its
        invites marked ``is_direct`` when asked: what a hostile member can make."""
        initial_state = []
        if world_readable:
            visibility = {"history_visibility": "world_readable"}
            initial_state.append(
                {"type": "m.room.history_visibility", "state_key": "", "content": visibility}
            )
        response = await self.client.room_create(
            name="Chat",
            invite=invite,
            is_direct=is_direct,
            preset=RoomPreset.public_chat,
            initial_state=initial_state,
        )
        assert isinstance(response, RoomCreateResponse), response
        return str(response.room_id)

    async def set_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        response = await self.client.room_put_state(room_id, event_type, content)
        assert response.__class__.__name__ == "RoomPutStateResponse", response

    async def read_without_joining(self, room_id: str) -> list[dict[str, Any]]:
        """A room's latest events by ``/messages``, as anyone may read a world-readable room
        without joining it (newest first)."""
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=100"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        response = await self.client.send("GET", path, headers=headers)
        try:
            assert response.status == 200, await response.text()
            body = await response.json()
        finally:
            response.release()
        return list(body["chunk"])

    async def wait_for(self, predicate: Callable[[Seen], bool], timeout: float = WAIT) -> Seen:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.seen:
                if predicate(item):
                    return item
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.user_id} did not see the expected event within {timeout}s")

    async def reply_to(self, room_id: str, event_id: str, timeout: float = WAIT) -> Seen:
        """The bot's reply to one of this person's messages."""
        return await self.wait_for(
            lambda s: s.room_id == room_id and reply_target(s.content) == event_id, timeout
        )

    async def ask(self, room_id: str, text: str) -> Seen:
        return await self.reply_to(room_id, await self.send(room_id, text))

    async def wait_joined(self, room_id: str, user_id: str, timeout: float = WAIT) -> None:
        await self.wait_for(
            lambda s: (
                s.room_id == room_id
                and s.type == "m.room.member"
                and s.content.get("membership") == "join"
                and s.sender == user_id
            ),
            timeout,
        )

    async def wait_invited(self, room_id: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while room_id not in self.invites:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} got no invite to {room_id} within {timeout}s")
            await asyncio.sleep(0.05)

    def messages_from(self, sender: str, room_id: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.sender == sender
            and s.type == "m.room.message"
            and (room_id is None or s.room_id == room_id)
        ]


@dataclass
class RunningBot:
    app: BotApp
    task: asyncio.Task[None]
    config: Config

    @property
    def user_id(self) -> str:
        return self.config.matrix.user_id

    async def stop(self) -> None:
        self.app.stop.set()
        await asyncio.wait_for(self.task, timeout=30)


def bot_config(
    homeserver: Homeserver,
    bot_user: str,
    data_dir: Path,
    *,
    identity: IdentitySettings | None = None,
    report: ReportSettings | None = None,
    **bot: Any,
) -> Config:
    return Config(
        matrix=MatrixSettings(
            homeserver=homeserver.url,
            user_id=bot_user,
            password=SecretStr(PASSWORD),
            sync_timeout_ms=1000,
        ),
        bot=BotSettings(**bot),
        storage=StorageSettings(path=data_dir / "bot.sqlite3"),
        identity=identity or IdentitySettings(),
        report=report or ReportSettings(),
    )


async def start_bot(config: Config, clock: BotClock | None = None) -> RunningBot:
    """The bot, running in this process until :meth:`RunningBot.stop`; on ``clock`` when
    given (a test that moves the bot's time, :mod:`bot.bot_clock`)."""
    app = BotApp(config, clock)
    task = asyncio.create_task(app.run())
    deadline = time.monotonic() + WAIT
    while not app.sync.first_sync_done.is_set():
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise AssertionError("the bot did not complete its first sync")
        await asyncio.sleep(0.05)
    return RunningBot(app, task, config)


def write_config(config: Config, path: Path) -> Path:
    """The same configuration as a TOML file, for the bot run as its own process."""
    password = config.matrix.password.get_secret_value() if config.matrix.password else ""
    lines = [
        "[matrix]",
        f'homeserver = "{config.matrix.homeserver}"',
        f'user_id = "{config.matrix.user_id}"',
        f'password = "{password}"',
        f"sync_timeout_ms = {config.matrix.sync_timeout_ms}",
        "[bot]",
    ]
    for key, value in config.bot.model_dump().items():
        if value is not None:
            lines.append(f"{key} = {_toml(value)}")
    lines += ["[storage]", f'path = "{config.storage.path}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value))


class BotProcess:
    """The bot as a deployer runs it: ``python -m bot.cli run``, in its own process."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--config",
                str(self.config_path),
                stderr=log,
            )

    async def kill(self) -> None:
        """``kill -9``: no chance to finish anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=60)

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()


def reply_target(content: Any) -> str | None:
    """The event a message replies to; tests see hostile content too, so nothing is assumed."""
    relation = content.get("m.relates_to") if isinstance(content, dict) else None
    reply = relation.get("m.in_reply_to") if isinstance(relation, dict) else None
    target = reply.get("event_id") if isinstance(reply, dict) else None
    return target if isinstance(target, str) else None


def replies_by_command(person: Person, bot_user: str) -> dict[str, int]:
    """How many replies the bot sent to each of the person's messages."""
    counts: dict[str, int] = {}
    for message in person.messages_from(bot_user):
        target = reply_target(message.content)
        if target:
            counts[target] = counts.get(target, 0) + 1
    return counts


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


@dataclass
class ModeratedBot:
    """The bot with a moderator (listed in its config) and a moderation room."""

    bot: RunningBot
    moderator: Person
    moderation_room: str

    async def open_challenge(self, prefix: str, title: str, options: str = "") -> tuple[str, str]:
        """A challenge opened by the moderator's command (with ``options`` such as
        ``--budget=3``); returns its slug and its room."""
        slug = unique(prefix)
        await self.moderator.ask(self.moderation_room, f"!challenge new {options} {slug} {title}")
        await self.moderator.wait_for(lambda s: f"#{slug}:" in s.content.get("body", ""))
        async with self.bot.app.db.transaction():
            challenge = await self.bot.app.store.challenges.by_slug(slug)
        assert challenge is not None and challenge.room_id is not None
        return slug, challenge.room_id

    async def close(self) -> None:
        await self.bot.stop()
        await self.moderator.close()


async def start_moderated_bot(
    homeserver: Homeserver,
    data_dir: Path,
    *,
    clock: BotClock | None = None,
    identity: IdentitySettings | None = None,
    report: ReportSettings | None = None,
    **settings: Any,
) -> ModeratedBot:
    bot_user = homeserver.register_user(unique("bot"), PASSWORD)
    moderator = await Person.create(homeserver, "moderator")
    room = await moderator.create_room([bot_user], name="Moderation")
    config = bot_config(
        homeserver,
        bot_user,
        data_dir,
        moderators=(moderator.user_id,),
        moderation_room=room,
        identity=identity,
        report=report,
        **settings,
    )
    bot = await start_bot(config, clock)
    await moderator.wait_joined(room, bot_user)
    return ModeratedBot(bot, moderator, room)
