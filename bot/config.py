"""The TOML configuration, loaded into frozen pydantic models. A wrong or missing key is an error."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails

from handlers.policy import server_of
from handlers.settings import BotSettings, IdentitySettings, ProgrammeSettings, ReportSettings

ENV_PASSWORD = "CHALLENGE_BOT_PASSWORD"
ENV_ACCESS_TOKEN = "CHALLENGE_BOT_ACCESS_TOKEN"
#: The secrets of ``[identity]``: the homeserver's admin token and the identity hash's key.
ENV_ADMIN_TOKEN = "CHALLENGE_BOT_ADMIN_TOKEN"
ENV_HASH_KEY = "CHALLENGE_BOT_IDENTITY_KEY"
#: The Discord bot's token (never in the file: it is the bot's password).
ENV_DISCORD_TOKEN = "CHALLENGE_BOT_DISCORD_TOKEN"


class ConfigError(Exception):
    """The configuration can't be used; the message names each offending key."""


class MatrixSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    homeserver: str = Field(pattern=r"^https?://\S+$")
    user_id: str = Field(pattern=r"^@[^:\s]+:\S+$")
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_name: str = "challenge-bot"
    sync_timeout_ms: int = Field(default=30_000, ge=0, le=120_000)

    @model_validator(mode="after")
    def _has_credentials(self) -> MatrixSettings:
        if self.password is None and self.access_token is None:
            raise ValueError(
                f"set matrix.password or matrix.access_token (or {ENV_PASSWORD} / {ENV_ACCESS_TOKEN})"
            )
        return self


class DiscordSettings(BaseModel):
    """The Discord front end, beside Matrix: the server (guild) the bot serves, who moderates
    there, where moderators review new ideas, and under which category challenges get their
    channels. The token comes from the environment only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr | None = None
    # Discord IDs (snowflakes): positive 64-bit numbers.
    guild_id: int = Field(ge=1, le=2**63 - 1)
    moderator_role_id: int = Field(ge=1, le=2**63 - 1)
    review_channel_id: int = Field(ge=1, le=2**63 - 1)
    category_id: int = Field(ge=1, le=2**63 - 1)

    @model_validator(mode="after")
    def _has_token(self) -> DiscordSettings:
        if self.token is None:
            raise ValueError(f"set the Discord bot's token in {ENV_DISCORD_TOKEN}")
        return self


class StorageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Path("data/challenge-bot.sqlite3")

    @property
    def crypto_store(self) -> Path:
        """matrix-nio's encryption key store, beside the database."""
        return self.path.parent / "crypto"


class MetricsSettings(BaseModel):
    """The optional HTTP endpoint with ``/healthz`` and ``/metrics`` (off unless enabled)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9464, ge=1, le=65535)


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    matrix: MatrixSettings | None = None
    bot: BotSettings = BotSettings()
    programme: ProgrammeSettings = ProgrammeSettings()
    storage: StorageSettings = StorageSettings()
    metrics: MetricsSettings = MetricsSettings()
    identity: IdentitySettings = IdentitySettings()
    report: ReportSettings = ReportSettings()
    discord: DiscordSettings | None = None

    @model_validator(mode="after")
    def _has_a_network(self) -> Config:
        if self.matrix is None and self.discord is None:
            raise ValueError("set up [matrix], [discord] or both: the bot needs a chat network")
        return self

    @property
    def server_name(self) -> str:
        """The bot's own homeserver, the city's: where people are verified (none without
        Matrix)."""
        return "" if self.matrix is None else server_of(self.matrix.user_id)

    @property
    def secrets(self) -> tuple[SecretStr, ...]:
        """Every secret of the configuration: none may reach a log line."""
        matrix = self.matrix
        candidates = (
            None if matrix is None else matrix.password,
            None if matrix is None else matrix.access_token,
            self.identity.admin_token,
            self.identity.hash_key,
            None if self.discord is None else self.discord.token,
        )
        return tuple(secret for secret in candidates if secret is not None)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; secrets may come from the environment instead."""
    path = Path(path)
    environ = dict(os.environ) if environ is None else environ
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    matrix = raw.get("matrix")
    if isinstance(matrix, dict):
        if environ.get(ENV_PASSWORD):
            matrix["password"] = environ[ENV_PASSWORD]
        if environ.get(ENV_ACCESS_TOKEN):
            matrix["access_token"] = environ[ENV_ACCESS_TOKEN]
        for key in ("password", "access_token"):
            if matrix.get(key) == "":
                del matrix[key]
    discord = raw.get("discord")
    if isinstance(discord, dict):
        if environ.get(ENV_DISCORD_TOKEN):
            discord["token"] = environ[ENV_DISCORD_TOKEN]
        if discord.get("token") == "":
            del discord["token"]
    identity = raw.get("identity")
    if environ.get(ENV_ADMIN_TOKEN) or environ.get(ENV_HASH_KEY):
        identity = raw.setdefault("identity", {}) if identity is None else identity
    if isinstance(identity, dict):
        if environ.get(ENV_ADMIN_TOKEN):
            identity["admin_token"] = environ[ENV_ADMIN_TOKEN]
        if environ.get(ENV_HASH_KEY):
            identity["hash_key"] = environ[ENV_HASH_KEY]
        for key in ("admin_token", "hash_key"):
            if identity.get(key) == "":
                del identity[key]
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_explain(path, error)) from None
    if not config.storage.path.is_absolute():
        storage = config.storage.model_copy(update={"path": path.parent / config.storage.path})
        config = config.model_copy(update={"storage": storage})
    return config


#: What a key's pattern means, for the keys that have one.
PATTERN_MEANINGS = {
    "matrix.homeserver": "must be an http:// or https:// URL, such as https://matrix.example.org",
    "matrix.user_id": "must be a Matrix user ID, such as @challenge-bot:example.org",
}


def _explain(path: Path, error: ValidationError) -> str:
    count = error.error_count()
    lines = [f"{path}: {count} problem{'' if count == 1 else 's'} in the configuration:"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {key}: {_sentence(key, problem)}")
    return "\n".join(lines)


def _sentence(key: str, problem: ErrorDetails) -> str:
    """Pydantic's error as a deployer reads it: what the value must be, not how it is checked."""
    kind = problem["type"]
    context = problem.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and its [section])"
    if kind == "missing":
        return "missing key"
    if kind == "string_pattern_mismatch":
        return PATTERN_MEANINGS.get(key, "does not have the form this key needs")
    if kind == "value_error":  # our own validators' words
        return str(context.get("error", problem["msg"]))
    if kind in ("literal_error", "enum"):
        return f"must be {context.get('expected')}"
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if kind in SIZE_LIMITS:
        text, limit = SIZE_LIMITS[kind]
        return text.format(context.get(limit))
    return TYPE_SENTENCES.get(kind, problem["msg"])


#: Limits on a value, with the name of the limit in the error's context.
SIZE_LIMITS = {
    "greater_than_equal": ("must be at least {}", "ge"),
    "greater_than": ("must be more than {}", "gt"),
    "less_than_equal": ("must be at most {}", "le"),
    "less_than": ("must be less than {}", "lt"),
    "string_too_short": ("must be at least {} characters long", "min_length"),
    "string_too_long": ("must be at most {} characters long", "max_length"),
    "too_short": ("must have at least {} entries", "min_length"),
    "too_long": ("must have at most {} entries", "max_length"),
}

#: Values of the wrong kind.
TYPE_SENTENCES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": 'must be text, in quotes: "like this"',
    "list_type": 'must be a list, such as ["one", "two"]',
    "tuple_type": 'must be a list, such as ["one", "two"]',
    "dict_type": "must be a [section] of its own",
    "model_type": "must be a [section] of its own",
    "model_attributes_type": "must be a [section] of its own",
    "path_type": 'must be a path, in quotes: "data/challenge-bot.sqlite3"',
}
