"""The configuration: the example documents every key, and mistakes are named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from bot.cli import explain
from bot.config import Config, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def keys_of(model: type[BaseModel], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, UnionType):  # an optional section: X | None
            annotation = next(arg for arg in get_args(annotation) if arg is not NoneType)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= keys_of(annotation, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def keys_in(table: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict):
            found |= keys_in(value, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def test_the_example_documents_every_key_and_no_other() -> None:
    with EXAMPLE.open("rb") as handle:
        example = tomllib.load(handle)
    assert keys_in(example) == keys_of(Config)


def test_the_example_loads_once_a_secret_is_given() -> None:
    config = load_config(
        EXAMPLE,
        environ={
            "CHALLENGE_BOT_PASSWORD": "from-the-environment",
            "CHALLENGE_BOT_DISCORD_TOKEN": "discord-from-the-environment",
        },
    )
    assert config.discord is not None and config.discord.token is not None
    assert config.discord.token.get_secret_value() == "discord-from-the-environment"
    assert config.matrix.password is not None
    assert config.matrix.password.get_secret_value() == "from-the-environment"
    assert config.storage.path == EXAMPLE.parent / "data" / "challenge-bot.sqlite3"
    assert config.bot.language == "nl"


def test_the_example_holds_no_secret() -> None:
    with EXAMPLE.open("rb") as handle:
        example = tomllib.load(handle)
    assert example["matrix"]["password"] == ""
    assert example["matrix"]["access_token"] == ""
    assert example["identity"]["admin_token"] == ""
    assert example["identity"]["hash_key"] == ""
    assert example["discord"]["token"] == ""
    with pytest.raises(ConfigError, match="password"):
        load_config(EXAMPLE, environ={})


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:8008"\nuser_id = "@bot:localhost"\npassword = "x"\n'
        '[bot]\nprefx = "!"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert "bot.prefx: unknown key" in str(error.value)


def test_a_missing_key_and_a_bad_value_are_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[matrix]\nuser_id = "not-a-user"\npassword = "x"\n[bot]\nlanguage = "fr"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    message = str(error.value)
    assert "matrix.homeserver: missing key" in message
    assert "matrix.user_id" in message
    assert "bot.language" in message


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[matrix\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


def _with_identity(tmp_path: Path, identity: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:8008"\nuser_id = "@bot:gent.be"\npassword = "x"\n'
        f"[identity]\n{identity}\n"
    )
    return path


def test_the_identity_secrets_come_from_the_environment_and_are_secrets(tmp_path: Path) -> None:
    path = _with_identity(tmp_path, 'admin_token = ""\nhash_key = ""\nauth_providers = ["oidc"]')
    environ = {
        "CHALLENGE_BOT_ADMIN_TOKEN": "syt_admin_token_value",
        "CHALLENGE_BOT_IDENTITY_KEY": "0123456789abcdef0123",
    }
    config = load_config(path, environ=environ)

    assert config.identity.admin_token is not None
    assert config.identity.admin_token.get_secret_value() == "syt_admin_token_value"
    assert "syt_admin_token_value" not in repr(config)  # SecretStr: never printed
    assert config.identity.can_verify
    assert config.server_name == "gent.be"
    assert {secret.get_secret_value() for secret in config.secrets} >= set(environ.values())
    # Empty in the file and absent from the environment: no token at all.
    assert load_config(path, environ={}).identity.admin_token is None


def test_the_environment_gives_identity_secrets_without_an_identity_section(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:8008"\nuser_id = "@bot:gent.be"\npassword = "x"\n'
    )
    config = load_config(path, environ={"CHALLENGE_BOT_ADMIN_TOKEN": "token-from-env"})

    assert config.identity.admin_token is not None


@pytest.mark.parametrize(
    ("identity", "named"),
    [
        ('default_eligibility = "verified"', "needs admin_token and auth_providers"),
        ('default_eligibility = "everybody"', "identity.default_eligibility"),
        ('hash_key = "short"', "identity.hash_key"),
        ("cache_minutes = 0", "identity.cache_minutes"),
        ('auth_provider = ["oidc"]', "identity.auth_provider: unknown key"),
    ],
)
def test_a_wrong_identity_setting_is_named(tmp_path: Path, identity: str, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_with_identity(tmp_path, identity), environ={})
    assert named in str(error.value)


@pytest.mark.parametrize(
    ("section", "setting", "sentence"),
    [
        (
            "matrix",
            'homeserver = "matrix.example.org"',
            "matrix.homeserver: must be an http:// or https:// URL, such as "
            "https://matrix.example.org",
        ),
        (
            "matrix",
            'user_id = "bot"',
            "matrix.user_id: must be a Matrix user ID, such as @challenge-bot:example.org",
        ),
        ("bot", 'language = "fr"', "bot.language: must be 'nl' or 'en'"),
        ("bot", "page_size = 0", "bot.page_size: must be at least 1"),
        ("bot", "page_size = 51", "bot.page_size: must be at most 50"),
        ("bot", 'page_size = "ten"', "bot.page_size: must be a whole number"),
        ("bot", 'prefix = ""', "bot.prefix: must not be empty"),
        ("bot", 'moderators = "@ann:example.org"', "bot.moderators: must be a list"),
        ("metrics", 'enabled = "sometimes"', "metrics.enabled: must be true or false"),
        *(
            (
                "report",
                f"public_url = {value}",
                "report.public_url: must be the http:// or https:// address of the report's folder",
            )
            for value in (
                '"stad.gent/uitdagingen"',
                '"javascript:alert(1)"',
                '"https://stad.gent/uitdagingen/?page=1"',
                '"https://stad.gent/uitdagingen/#top"',
                '"https:///no-host"',
                '"https://stad.gent/a b"',
            )
        ),
    ],
)
def test_a_bad_value_is_explained_in_plain_words(
    tmp_path: Path, section: str, setting: str, sentence: str
) -> None:
    """What a deployer needs to know, not the pattern or the type that checked it."""
    matrix = {
        "homeserver": '"http://127.0.0.1:8008"',
        "user_id": '"@bot:localhost"',
        "password": '"x"',
    }
    key = setting.split(" = ")[0]
    lines = ["[matrix]"]
    lines += [
        f"{name} = {value}" for name, value in matrix.items() if section != "matrix" or name != key
    ]
    lines += [setting] if section == "matrix" else [f"[{section}]", setting]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    message = str(error.value)
    assert message.splitlines()[0].endswith("1 problem in the configuration:")
    assert f"  {sentence}" in message
    assert "should" not in message and "pattern" not in message and "^" not in message


def test_the_public_report_address_is_kept_as_a_folder(tmp_path: Path) -> None:
    base = '[matrix]\nhomeserver = "http://127.0.0.1:8008"\nuser_id = "@bot:localhost"\npassword = "x"\n'
    path = tmp_path / "config.toml"
    path.write_text(base + '[report]\npublic_url = "https://stad.gent/uitdagingen"\n')
    assert load_config(path, environ={}).report.public_url == "https://stad.gent/uitdagingen/"
    path.write_text(base + '[report]\npublic_url = ""\n')
    assert load_config(path, environ={}).report.public_url is None
    path.write_text(base)
    assert load_config(path, environ={}).report.public_url is None


def test_discord_without_a_token_says_where_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = EXAMPLE.read_text(encoding="utf-8").replace("guild_id = 100000000000000001", "")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"discord\.guild_id: missing key"):
        load_config(
            path, environ={"CHALLENGE_BOT_PASSWORD": "x", "CHALLENGE_BOT_DISCORD_TOKEN": "t"}
        )
    with pytest.raises(
        ConfigError, match=r"discord: set the Discord bot's token in CHALLENGE_BOT_DISCORD_TOKEN"
    ):
        load_config(EXAMPLE, environ={"CHALLENGE_BOT_PASSWORD": "x"})


def test_the_discord_token_is_a_secret(tmp_path: Path) -> None:
    environ = {"CHALLENGE_BOT_PASSWORD": "x", "CHALLENGE_BOT_DISCORD_TOKEN": "s3cret.token"}
    config = load_config(EXAMPLE, environ=environ)
    assert "s3cret.token" in [secret.get_secret_value() for secret in config.secrets]
    assert "s3cret.token" not in repr(config)


DISCORD_ONLY = """
[discord]
guild_id = 11
moderator_role_id = 12
review_channel_id = 13
category_id = 14
"""


def test_discord_alone_is_a_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(DISCORD_ONLY, encoding="utf-8")
    config = load_config(path, environ={"CHALLENGE_BOT_DISCORD_TOKEN": "t"})
    assert config.matrix is None and config.discord is not None
    assert config.server_name == ""
    explained = explain(config)
    assert "Discord alone" in explained and "review channel 13" in explained


def test_a_configuration_without_a_network_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[bot]\nlanguage = "nl"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"set up \[matrix\], \[discord\] or both"):
        load_config(path, environ={})
