"""Who a person is, as the city's homeserver knows it: the one place the bot reads Synapse's
admin API (``GET /_synapse/admin/v2/users/<user_id>``).

A person counts as verified when the homeserver holds an external identity of theirs from one
of ``identity.auth_providers`` (its single sign-on through itsme or the federal service). The
bot keeps only which provider verified them and when, the account's creation time, and a keyed
hash (HMAC-SHA256) of the external id, by which two accounts of one person are recognised;
never the id itself. The answer is cached in SQLite for ``identity.cache_minutes``.

When the homeserver cannot answer (down, a 5xx, a refused token, a timeout), a cached answer
still within its time is used; otherwise the lookup *failed*, and the policy refuses what
needs a verification, politely, until it answers again. Nobody is counted as verified on a
guess, and nothing here raises: a failure is logged once, when it starts and when it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from nio import AsyncClient
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.logs import log_failure
from bot.server import NETWORK_ERRORS, Permanent, Unreachable
from handlers.accounts import identity_account, is_matrix
from handlers.policy import server_of
from handlers.settings import IdentitySettings
from storage import Store, Verification

log = logging.getLogger(__name__)

#: The admin API is asked while a person waits for their reply (and the next events wait for
#: theirs): not for long.
ADMIN_TIMEOUT = 5.0
#: After a failed request, lookups fail at once for this long instead of each waiting for the
#: same outage: a stalled homeserver holds up one command a minute, not every one.
QUIET_AFTER_FAILURE = timedelta(seconds=60)
#: A ``creation_ts`` above this is in milliseconds (Synapse gives seconds; be liberal).
_MILLISECONDS_FROM = 10**11
#: What the derived key of the identity hash is made for (see :meth:`IdentityChecker.load`).
_KEY_PURPOSE = b"challenge-bot identity hash"


class _ExternalId(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    auth_provider: str
    external_id: str


class _AdminUser(BaseModel):
    """What the bot reads of the admin API's answer; the rest is left alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    external_ids: list[_ExternalId] = []
    creation_ts: int | None = None


@dataclass(frozen=True)
class Lookup:
    """The answer for one person: a (fresh) verification, or None; ``failed`` when the
    homeserver had to be asked and could not be."""

    verification: Verification | None = None
    failed: bool = False


class IdentityChecker:
    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        settings: IdentitySettings,
        *,
        server_name: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.server_name = server_name
        self.clock = clock
        self._key: bytes | None = None
        self._failing = False
        self._quiet_until: datetime | None = None

    async def load(self) -> None:
        """At start: the key of the identity hash. The configured ``identity.hash_key``, or
        else one derived from the database's own secret (which then sits beside the hashes:
        weaker, see the README)."""
        if self.settings.hash_key is not None:
            self._key = self.settings.hash_key.get_secret_value().encode()
            return
        async with self.store.db.transaction():
            secret = (await self.store.state.instance_secret()).encode()
        self._key = hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()

    def asks(self, user_id: str) -> bool:
        """Whether the homeserver is asked about this Matrix account: with an admin token, and
        only for its own accounts (it knows no others, and no account of another network)."""
        return (
            self.settings.admin_token is not None
            and is_matrix(user_id)
            and server_of(user_id) == self.server_name
        )

    async def lookup(self, account: str) -> Lookup:
        """The verification that counts for ``account`` (any network's): of the Matrix account
        itself, or of the Matrix account a Discord account is linked to
        (:func:`handlers.accounts.identity_account`); none for a Discord account linked to
        none. From the cache while it is fresh, else from the homeserver (and cached). Never
        raises for the homeserver's failures."""
        user_id = await identity_account(self.store, account)
        if user_id is None or not self.asks(user_id):
            return Lookup()
        now = self.clock()
        cached = await self.store.verifications.get(user_id)
        if cached is not None and self._fresh(cached, now):
            return Lookup(cached)
        if self._quiet_until is not None and now < self._quiet_until:
            return Lookup(failed=True)
        try:
            answer = await self._ask(user_id)
        except (Unreachable, Permanent) as error:
            self._quiet_until = now + QUIET_AFTER_FAILURE
            if not self._failing:
                self._failing = True
                log.warning("Cannot check identities on the homeserver (%s)", error)
            return Lookup(failed=True)
        except Exception:  # a bug here must not cost the person their command's reply
            self._quiet_until = now + QUIET_AFTER_FAILURE
            log_failure(log, "Unexpected error checking an identity")
            return Lookup(failed=True)
        self._quiet_until = None
        if self._failing:
            self._failing = False
            log.warning("Identities can be checked on the homeserver again")
        verification = self.verification(user_id, answer, now)
        async with self.store.db.transaction():
            await self.store.verifications.save(verification)
        return Lookup(verification)

    def _fresh(self, cached: Verification, now: datetime) -> bool:
        age = now - cached.checked_at
        return timedelta(0) <= age < timedelta(minutes=self.settings.cache_minutes)

    def verification(
        self, user_id: str, answer: dict[str, Any] | None, now: datetime
    ) -> Verification:
        """What is kept of the homeserver's answer (None: it knows no such user): the first
        configured provider that holds an identity of theirs, and the keyed hash of that id."""
        user = _AdminUser.model_validate(answer or {})
        by_provider = {item.auth_provider: item.external_id for item in user.external_ids}
        provider = next((p for p in self.settings.auth_providers if p in by_provider), None)
        identity = None if provider is None else self.hash(by_provider[provider])
        created = None
        if user.creation_ts is not None and user.creation_ts > 0:
            seconds = user.creation_ts
            if seconds >= _MILLISECONDS_FROM:
                seconds //= 1000
            created = datetime.fromtimestamp(seconds, UTC)
        return Verification(
            user_id=user_id,
            provider=provider,
            identity=identity,
            checked_at=now,
            account_created_at=created,
        )

    def hash(self, external_id: str) -> str:
        """The keyed hash by which accounts of one person are linked. Only the id is hashed,
        not its provider: the providers listed give the same id to the same person."""
        if self._key is None:
            raise RuntimeError("IdentityChecker.load() was not called")
        return hmac.new(self._key, external_id.encode(), hashlib.sha256).hexdigest()

    async def _ask(self, user_id: str) -> dict[str, Any] | None:
        """The admin API's answer about the user; None when it knows no such user."""
        token = self.settings.admin_token
        assert token is not None
        path = f"/_synapse/admin/v2/users/{quote(user_id, safe='')}"
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        try:
            async with asyncio.timeout(ADMIN_TIMEOUT):
                response = await self.client.send("GET", path, headers=headers)
                async with response:
                    status = response.status
                    if status == 404:
                        return None
                    if status == 200:
                        body = await response.json(content_type=None)
                        if not isinstance(body, dict):
                            raise Unreachable("an answer that is not a JSON object")
                        _AdminUser.model_validate(body)  # the shape, before it is used
                        return body
        except NETWORK_ERRORS as error:
            raise Unreachable(type(error).__name__) from None
        except ValidationError:
            raise Unreachable("an answer of an unexpected shape") from None
        if status in (401, 403):
            raise Permanent(f"{status}: the admin token is refused")
        raise Unreachable(f"HTTP {status}")
