"""Logs a machine can read, and that never hold a message body, a token or a password."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import configure_logging, protect_secret

BODY = "my secret idea about the Korenmarkt"
TOKEN = "syt_Y2hhbGxlbmdlLWJvdA_aBcDeFgHiJkLmNoPqRsT_1a2B3c"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    nio_level = logging.getLogger("nio").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("nio").setLevel(nio_level)


def log_everything_dangerous() -> None:
    """What the bot and matrix-nio log that could leak, through the real loggers."""
    # matrix-nio's own words (nio/events/misc.py) when an event fails its schema.
    event = {"type": "m.room.message", "content": {"msgtype": 5, "body": BODY}}
    logging.getLogger("nio.events.misc").warning(
        f"Error validating event: 5 is not of type 'string'\n\nOn instance:\n    {event}"
    )
    logging.getLogger("nio.responses").warning(f"Error validating response: {event!r}")
    logging.getLogger("nio.http").warning(
        "GET /_matrix/client/v3/sync?access_token=%s&timeout=0 failed", TOKEN
    )
    log = logging.getLogger("bot.matrix.events")
    log.info("Request with Authorization: Bearer %s", TOKEN)
    log.warning("Saved session: %s", json.dumps({"access_token": TOKEN, "device_id": "DEV"}))
    log.warning("Could not log in with %s", PASSWORD)
    try:
        raise RuntimeError(f"the homeserver refused token {TOKEN}")
    except RuntimeError:
        log.exception(
            "Unexpected error handling %s in %s; passed over (ref %s)",
            "$event:localhost",
            "!room:localhost",
            "c0ffee42",
            extra={
                "event_id": "$event:localhost",
                "room_id": "!room:localhost",
                "reference": "c0ffee42",
            },
        )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_body_token_or_password_at_info_or_above(log_format: str, restore_logging: None) -> None:
    stream = io.StringIO()
    redactor = configure_logging("INFO", "json" if log_format == "json" else "text", stream)
    redactor.protect(PASSWORD)
    log_everything_dangerous()
    output = stream.getvalue()
    assert BODY not in output
    assert TOKEN not in output
    assert "aBcDeFgHiJkLmNoPqRsT" not in output
    assert PASSWORD not in output
    assert "Error validating" not in output  # demoted to DEBUG, below the threshold
    assert "[redacted]" in output
    assert "c0ffee42" in output  # the reference is kept, in text and in JSON


def test_json_lines_parse_and_carry_event_id_and_reference(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log_everything_dangerous()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 5  # the three nio lines: two demoted, one redacted and kept
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None
        assert line["time"].endswith("+00:00")
    error = lines[-1]
    assert error["level"] == "ERROR"
    assert error["logger"] == "bot.matrix.events"
    assert error["event_id"] == "$event:localhost"
    assert error["room_id"] == "!room:localhost"
    assert error["reference"] == "c0ffee42"
    assert "ref c0ffee42" in error["message"]
    assert "RuntimeError" in error["exception"]
    assert TOKEN not in error["exception"]
    assert "event_id" not in lines[0]  # extra fields only when given


def test_at_debug_the_validation_warning_is_a_debug_line(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    logging.getLogger("nio.events.misc").warning("Error validating event: %s", {"body": "x"})
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["level"] == "DEBUG"


def test_the_access_token_is_protected_once_known(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text", stream)
    opaque = "an-opaque-token-of-another-homeserver"
    protect_secret(opaque)
    logging.getLogger("bot.matrix.client").warning("token %s", opaque)
    assert opaque not in stream.getvalue()
    assert "token [redacted]" in stream.getvalue()


def test_the_cli_takes_a_log_format_and_protects_the_configured_password(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[matrix]\nhomeserver = "http://127.0.0.1:1"\nuser_id = "@bot:localhost"\n'
        f'password = "{PASSWORD}"\n[storage]\npath = "bot.sqlite3"\n'
    )
    assert main(["check-config", "--config", str(config), "--log-format", "json"]) == 0
    logging.getLogger("bot").warning("password is %s", PASSWORD)
    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "password is [redacted]"
