"""Logging for a deployer: text for a terminal, JSON lines for a log collector.

Whatever the format, one rule holds for every line at INFO or above: no message body, no access
token, no password. :class:`Redactor` sits on the handler and enforces it for every logger,
matrix-nio's included: nio logs an event it cannot validate at WARNING with the whole event
(``Error validating event: ... On instance: {...content...}``); such lines are demoted to DEBUG.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Fields that a log call may pass in ``extra=`` and that a JSON line carries when present.
EXTRA_FIELDS = ("event_id", "room_id", "reference")

REDACTED = "[redacted]"

# Access tokens as they show up in text: Synapse's own, an Authorization header, a URL's query
# and a JSON field. The value is replaced; the name stays, so that a reader sees what was there.
_TOKEN_PATTERNS = (
    re.compile(r"\bsy[ut]_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)(\baccess_token=)[^&\s'\"]+"),
    re.compile(r"(?i)(['\"]access_token['\"]\s*:\s*['\"])[^'\"]*"),
    re.compile(r"(?i)(['\"]password['\"]\s*:\s*['\"])[^'\"]*"),
)

# matrix-nio's validation messages quote the event or response they could not validate.
_NIO_CONTENT_DUMPS = ("Error validating event", "Error validating response")


def redact(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """``text`` with access tokens and the given secrets replaced by ``[redacted]``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


class Redactor(logging.Filter):
    """On the handler: demotes matrix-nio's event dumps to DEBUG (dropped unless the handler's
    threshold lets DEBUG through) and redacts tokens and secrets from every line it passes."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold
        self.secrets: frozenset[str] = frozenset()

    def protect(self, secret: str | None) -> None:
        """Redact ``secret`` (a password, an access token) wherever it would appear."""
        if secret and len(secret) >= 4:  # a shorter "secret" would redact ordinary words
            self.secrets = self.secrets | {secret}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name.startswith("nio") and message.startswith(_NIO_CONTENT_DUMPS):
            if record.levelno > logging.DEBUG:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if self.threshold > logging.DEBUG:
                return False
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, the extra fields
    that are present, and the exception's traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EXTRA_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    level: str | int = "INFO", log_format: LogFormat = "text", stream: TextIO | None = None
) -> Redactor:
    """Send the root logger's records to ``stream`` (standard error) in ``log_format``.

    Replaces the handler an earlier call installed, so that calling it twice does not log twice.
    Returns the handler's :class:`Redactor`, to :meth:`~Redactor.protect` secrets with.
    """
    threshold = logging.getLevelName(level) if isinstance(level, str) else level
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    redactor = Redactor(threshold)
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        if any(isinstance(candidate, Redactor) for candidate in old.filters):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    # matrix-nio logs every state event at INFO; its warnings are what a deployer needs.
    logging.getLogger("nio").setLevel(max(logging.WARNING, threshold))
    return redactor


def protect_secret(secret: str | None) -> None:
    """Redact ``secret`` in every handler set up by :func:`configure_logging` (the bot's access
    token, known only once it has logged in)."""
    for handler in logging.getLogger().handlers:
        for candidate in handler.filters:
            if isinstance(candidate, Redactor):
                candidate.protect(secret)


def log_failure(logger: logging.Logger, message: str, *args: object, **fields: object) -> str:
    """Log the exception being handled, with a new reference (in the text and as a field of
    its own, beside ``fields`` such as ``event_id``); returns the reference."""
    reference = token_hex(4)
    logger.exception(
        message + " (ref %s)", *args, reference, extra={**fields, "reference": reference}
    )
    return reference
