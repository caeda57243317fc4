"""One person, one vote, without a homeserver: the city's identity settings, what its
homeserver says of a person, and a harness that hands that on with every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import SecretStr

from handlers.dispatch import Sender
from handlers.effects import Outcome
from handlers.settings import IdentitySettings
from storage import Verification
from tests.handler_support import Harness, direct_room, text

CITY = "city.example"
ITSME, EID = "oidc-itsme", "oidc-eid"
TOKEN = "syt_the_admin_token_of_the_city"
SETTINGS = IdentitySettings(
    admin_token=SecretStr(TOKEN),
    auth_providers=(ITSME, EID),
    burst_votes=3,
    burst_minutes=60,
    new_account_minutes=60,
)


def verification(
    user_id: str,
    identity: str | None,
    *,
    created: datetime | None = None,
    provider: str | None = ITSME,
) -> Verification:
    return Verification(
        user_id=user_id,
        provider=provider if identity is not None else None,
        identity=identity,
        checked_at=datetime(2026, 3, 2, tzinfo=UTC),
        account_created_at=created,
    )


@dataclass
class City:
    bot: Harness
    #: What the city's homeserver says of each person (as bot/ would pass it in).
    known: dict[str, Verification] = field(default_factory=dict)

    async def say(self, user_id: str, body: str, *, moderator: bool = False) -> Outcome:
        sender = Sender(
            user_id=user_id,
            room_id=direct_room(user_id),
            is_direct=True,
            is_moderator=moderator,
            verification=self.known.get(user_id),
        )
        async with self.bot.store.db.transaction():
            outcome = await self.bot.dispatcher.handle_message(sender, body)
        assert outcome is not None
        return outcome

    async def ask(self, user_id: str, body: str, *, moderator: bool = False) -> str:
        return text((await self.say(user_id, body, moderator=moderator)).reply)
