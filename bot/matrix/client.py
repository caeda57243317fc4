"""The matrix-nio client: one device for the bot's lifetime, restored on every start."""

from __future__ import annotations

import json
import logging
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    WhoamiResponse,
)

from bot.config import Config, MatrixSettings
from bot.logs import protect_secret
from bot.matrix.crypto_store import CryptoStore
from storage import Store

log = logging.getLogger(__name__)

SESSION_KEY = "session"


class LoginFailed(RuntimeError):
    pass


class BotClient(AsyncClient):  # type: ignore[misc]  # nio has no type hints
    """matrix-nio's client, with one event's decryption unable to fail a whole sync.

    nio decrypts each encrypted timeline event while it takes in a sync response, and lets
    anything but an ``EncryptionError`` escape: a payload nested thousands of levels deep makes
    its ``json.loads`` raise ``RecursionError``, the sync fails, and as nio has already taken the
    batch's position, the retried batch is skipped by nio altogether. Here such an event alone
    is given up (as nio's own ``BadEvent``, which the bot ignores) and the rest of the batch is
    handled. These are nio's per-event hooks (``_handle_timeline_event``,
    ``_handle_decrypt_to_device``, matrix-nio 0.26): a new nio needs them checked.
    """

    def _handle_timeline_event(
        self, event: Any, room_id: str, room: MatrixRoom, encrypted_rooms: set[str]
    ) -> Any:
        try:
            return super()._handle_timeline_event(event, room_id, room, encrypted_rooms)
        except Exception as error:
            if not isinstance(event, MegolmEvent):
                raise
            return unreadable(event, room_id, error)

    def _handle_decrypt_to_device(self, to_device_event: Any) -> Any:
        try:
            return super()._handle_decrypt_to_device(to_device_event)
        except Exception as error:
            log.warning(
                "A to-device message from %s cannot be read (%s); it is skipped",
                getattr(to_device_event, "sender", "?"),
                type(error).__name__,
            )
            return None


def unreadable(event: MegolmEvent, room_id: str, error: Exception) -> BadEvent:
    """An encrypted event whose decryption failed other than for a missing key: given up with
    a line in the log (the key is there, so asking for it again or explaining it as
    undecryptable would be wrong)."""
    log.warning(
        "Encrypted event %s in %s cannot be read (%s); it is skipped",
        event.event_id,
        room_id,
        type(error).__name__,
        extra={"event_id": event.event_id, "room_id": room_id},
    )
    return BadEvent(
        event.source, event.event_id, event.sender, event.server_timestamp, "m.room.encrypted"
    )


def matrix_settings(config: Config) -> MatrixSettings:
    """The config's [matrix] section; only a bot that runs on Matrix asks."""
    if config.matrix is None:
        raise ValueError("the configuration has no [matrix] section")
    return config.matrix


def make_client(config: Config) -> AsyncClient:
    matrix = matrix_settings(config)
    store_path = config.storage.crypto_store
    store_path.mkdir(parents=True, exist_ok=True)
    client_config = AsyncClientConfig(
        # Retries are ours: the outbox and the sync loop back off and honour rate limits.
        max_limit_exceeded=0,
        max_timeouts=0,
        store_sync_tokens=False,
        encryption_enabled=True,
        # nio's store, with its device keys loaded in linear time (bot.matrix.crypto_store).
        store=CryptoStore,
        request_timeout=matrix.sync_timeout_ms / 1000 + 30,
    )
    return BotClient(
        matrix.homeserver,
        matrix.user_id,
        store_path=str(store_path),
        config=client_config,
    )


async def log_in(client: AsyncClient, config: Config, store: Store) -> None:
    """Restore the saved device; log in with the password only the very first time.

    Logging in again would create a new device and strand the encryption keys, so the session
    (device id and access token) is kept in the database and reused.
    """
    matrix = matrix_settings(config)
    async with store.db.transaction():
        saved = await store.state.get(SESSION_KEY)
    if saved is not None:
        session = json.loads(saved)
        if session["user_id"] == matrix.user_id:
            client.restore_login(session["user_id"], session["device_id"], session["access_token"])
            protect_secret(session["access_token"])
            log.info("Restored device %s", session["device_id"])
            return
        log.warning("Saved session is for %s; logging in as %s", session["user_id"], matrix.user_id)
    if matrix.access_token is not None:
        token = matrix.access_token.get_secret_value()
        client.access_token = token
        whoami = await client.whoami()
        if not isinstance(whoami, WhoamiResponse) or whoami.device_id is None:
            raise LoginFailed(f"the access token was not accepted: {whoami}")
        client.restore_login(whoami.user_id, whoami.device_id, token)
    else:
        assert matrix.password is not None
        response = await client.login(
            matrix.password.get_secret_value(), device_name=matrix.device_name
        )
        if not isinstance(response, LoginResponse):
            raise LoginFailed(f"could not log in as {matrix.user_id}: {response}")
    protect_secret(client.access_token)
    session = {
        "user_id": client.user_id,
        "device_id": client.device_id,
        "access_token": client.access_token,
    }
    async with store.db.transaction():
        await store.state.set(SESSION_KEY, json.dumps(session))
    log.info("Logged in as %s, device %s", client.user_id, client.device_id)
