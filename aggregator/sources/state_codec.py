"""Encoding of a source's stored state as JSON values (pure).

A fetcher writes its cursor as plain JSON and reads it back with these; a value of the
wrong type raises TypeError or ValueError, which the reader takes as "state unusable,
start over" rather than a failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(when: datetime | None) -> str | None:
    """``when`` as ISO 8601 in UTC, or None."""
    return None if when is None else when.astimezone(UTC).isoformat()


def from_iso(value: Any) -> datetime | None:
    """What :func:`iso` wrote (a naive time is taken as UTC); None stays None."""
    if value is None:
        return None
    when = datetime.fromisoformat(typed(value, str))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def typed(value: Any, kind: type, *default: None) -> Any:
    """``value`` if it is a ``kind`` (never a bool); None too if a default is given."""
    if default and value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}")
    return value


__all__ = ["from_iso", "iso", "typed"]
