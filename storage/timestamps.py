"""How instants are written to the database: ISO 8601 text, or whole numbers where a count of
time is needed (an outbox row's id, a poll response's Matrix timestamp). Every repository writes
its times through these, so that what one writes the others read back and compare alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_text(moment: datetime) -> str:
    """The instant as a text column holds it (ISO 8601, in the offset it was given in)."""
    return moment.isoformat()


def to_utc_text_or_none(moment: datetime | None) -> str | None:
    """An optional instant as a nullable text column holds it, in UTC."""
    return None if moment is None else to_text(moment.astimezone(UTC))


def to_micros(moment: datetime) -> int:
    """Microseconds since 1970, exactly (no detour through a float)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def to_ms(moment: datetime) -> int:
    """An instant as Matrix timestamps it: milliseconds since 1970."""
    return int(moment.timestamp() * 1000)
