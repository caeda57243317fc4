"""The `[bot]` and `[programme]` sections of the configuration: what the command layer needs."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from storage import Eligibility


class BotSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(default="!", min_length=1, max_length=8)
    language: Literal["nl", "en"] = "nl"
    moderators: tuple[str, ...] = ()
    moderation_room: str | None = None
    moderator_power_level: int = Field(default=50, ge=0, le=100)
    page_size: int = Field(default=10, ge=1, le=50)
    max_title_length: int = Field(default=200, ge=10, le=1000)
    max_description_length: int = Field(default=5000, ge=100, le=60000)
    max_reason_length: int = Field(default=2000, ge=10, le=20000)
    #: Servers whose users may invite the bot into rooms; empty means the bot's own server.
    allowed_servers: tuple[str, ...] = ()
    report_threshold: int = Field(default=3, ge=1, le=100)
    ideas_per_hour: int = Field(default=10, ge=1, le=1000)
    commands_per_minute: int = Field(default=30, ge=1, le=600)
    forget_ideas: Literal["anonymise", "delete"] = "anonymise"
    #: Minutes without an answer after which a guided dialogue (``!idea`` alone) ends.
    dialogue_timeout_minutes: int = Field(default=30, ge=1, le=1440)
    #: Days a sent message stays in the outbox (its content is dropped once sent) before the
    #: row is deleted.
    outbox_retention_days: int = Field(default=30, ge=1, le=3650)
    #: Days a handled event's id is kept beyond the oldest point a replay can reach (the sync
    #: checkpoint less the gap fill's margin): a safety against clocks that disagree. However
    #: small, no id a replay could still need is deleted (bot/sweeper.py).
    handled_events_retention_days: int = Field(default=7, ge=1, le=3650)
    #: Minutes between two rounds of upkeep: pruning, ``PRAGMA optimize``, incremental vacuum.
    upkeep_interval_minutes: int = Field(default=60, ge=1, le=1440)
    #: Who sees an idea's author in ``!show``: "moderators" (the Matrix ID, in a direct chat
    #: or the moderation room; the author sees "you"), "everyone", or "nobody". See
    #: handlers/audience.py.
    show_authors: Literal["moderators", "everyone", "nobody"] = "moderators"
    #: How many rooms (or direct chats) the bot sends to at once; within one, in order.
    rooms_in_flight: int = Field(default=8, ge=1, le=64)


class ProgrammeSettings(BaseModel):
    """The `[programme]` section: the city's calendar, in which deadlines are given and shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The IANA time zone deadlines are typed and shown in; stored instants are UTC.
    timezone: str = "Europe/Brussels"
    #: Hours before each deadline at which the challenge's room gets a reminder.
    reminder_hours: int = Field(default=24, ge=1, le=24 * 14)
    #: The hour (0-23, in ``timezone``) at which daily and weekly digests of what people
    #: follow are sent (``!notifications``).
    digest_hour: int = Field(default=18, ge=0, le=23)
    #: The day of the weekly digest: 1 is Monday, 7 is Sunday.
    digest_weekday: int = Field(default=1, ge=1, le=7)
    #: The Matrix Space that holds the programme's challenge rooms: its name and topic.
    space_name: str = Field(default="Uitdagingen van Stad Gent", min_length=1, max_length=200)
    space_topic: str = Field(default="", max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ReportSettings(BaseModel):
    """The `[report]` section: where the city publishes the public report
    (``challenge-bot report``), so that the chat can link to it (``handlers/public_links.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The address of the report's folder on the web (its ``index.html``); None: no links.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is None or value == "":  # left empty: no links
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or any(character.isspace() or character in "<>\"'" for character in value)
        ):
            raise ValueError(
                "must be the http:// or https:// address of the report's folder, without "
                "?query or #anchor, such as https://stad.gent/uitdagingen/"
            )
        return value.rstrip("/") + "/"


class IdentitySettings(BaseModel):
    """The `[identity]` section: who counts as a verified person, and who may take part by
    default. See handlers/policy.py for the rule, bot/matrix/identity_lookup.py for the check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: An admin access token for the city's homeserver (the bot's own), to read a person's
    #: external identities; None: nobody can be verified. Kept like the bot's own secrets.
    admin_token: SecretStr | None = None
    #: The ``auth_provider`` ids (Synapse's SSO idp ids, such as ``oidc-itsme``) whose identities
    #: count as verified. Their ids are compared with each other: one person, one identity.
    auth_providers: tuple[str, ...] = ()
    #: Homeservers whose accounts may take part where a challenge is open to listed servers;
    #: empty means the bot's own server.
    listed_servers: tuple[str, ...] = ()
    #: How long a verification is trusted before it is checked again.
    cache_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    #: Who may submit and vote in a challenge that does not say (``--eligibility``).
    default_eligibility: Eligibility = Eligibility.ANYONE
    #: The key of the keyed hash (HMAC-SHA256) by which linked accounts are found; None:
    #: derived from a secret kept in the database (weaker: the key sits beside the hashes).
    hash_key: SecretStr | None = None
    #: An account this young (minutes since it was made) when it votes counts as new ...
    new_account_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    #: ... and this many votes from new accounts in one challenge within ``burst_minutes``
    #: are flagged in the moderation room, once per burst.
    burst_votes: int = Field(default=10, ge=2, le=10_000)
    burst_minutes: int = Field(default=60, ge=1, le=60 * 24)

    @field_validator("hash_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("use at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _verifiable(self) -> IdentitySettings:
        if self.default_eligibility is Eligibility.VERIFIED and not self.can_verify:
            raise ValueError(
                "default_eligibility = 'verified' needs admin_token and auth_providers"
            )
        return self

    @property
    def can_verify(self) -> bool:
        """Whether anyone can be verified at all: a token, and providers that count."""
        return self.admin_token is not None and bool(self.auth_providers)
