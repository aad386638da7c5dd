"""Typed accessors for decoded JSON payloads, shared by the platform parsers (pure).

Each takes the object, the key and ``what`` (the thing being parsed, for the message),
and raises :class:`~aggregator.exceptions.ParseError`, the only error a parser lets
escape. Messages never quote more than 40 characters of the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aggregator.exceptions import ParseError


def type_name(value: object) -> str:
    """JSON's name for ``null``, Python's for the rest (``str``, ``int``, ``list``)."""
    return "null" if value is None else type(value).__name__


def req_dict(obj: Mapping[str, Any], name: str, what: str) -> Mapping[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise ParseError(f"{what}: {name} is {type_name(value)}, expected an object")
    return value


def req_str(obj: Mapping[str, Any], name: str, what: str) -> str:
    """A non-empty string."""
    value = opt_str(obj, name, what)
    if not value:
        raise ParseError(f"{what}: {name} is missing")
    return value


def opt_str(obj: Mapping[str, Any], name: str, what: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"{what}: {name} is {type_name(value)}, expected a string")
    return value


def opt_strs(obj: Mapping[str, Any], names: tuple[str, ...], what: str) -> list[str | None]:
    """:func:`opt_str` of each of ``names``, read in one go: the common payload has
    every field of the right type, and is checked once rather than field by field."""
    values = [obj.get(name) for name in names]
    for value in values:
        if value is not None and not isinstance(value, str):
            return [opt_str(obj, name, what) for name in names]  # raises at the bad one
    return values


def req_int(obj: Mapping[str, Any], name: str, what: str) -> int:
    value = opt_int(obj, name, what)
    if value is None:
        raise ParseError(f"{what}: {name} is missing")
    return value


def opt_int(obj: Mapping[str, Any], name: str, what: str) -> int | None:
    value = obj.get(name)
    if value is None or type(value) is int:  # type(), not isinstance: a bool is not a count
        return value
    raise ParseError(f"{what}: {name} is {type_name(value)}, expected an integer")


def opt_bool(obj: Mapping[str, Any], name: str, what: str) -> bool:
    """False when absent or null."""
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ParseError(f"{what}: {name} is {type_name(value)}, expected a boolean")
    return value


def req_datetime(obj: Mapping[str, Any], name: str, what: str) -> datetime:
    value = opt_datetime(obj, name, what)
    if value is None:
        raise ParseError(f"{what}: {name} is missing")
    return value


def opt_datetime(obj: Mapping[str, Any], name: str, what: str) -> datetime | None:
    value = opt_str(obj, name, what)
    if value is None:
        return None
    parsed = iso_time(value)
    if parsed is None:
        raise ParseError(f"{what}: {name} is not an ISO-8601 time: {value[:40]!r}")
    return parsed


def iso_time(value: str) -> datetime | None:
    """An ISO 8601 time in UTC (a naive one is taken as UTC), or None."""
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is UTC:  # "…Z", as most platforms write it: nothing to convert
            return parsed
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def any_str(obj: Mapping[str, Any], name: str, what: str) -> str:
    """A string, possibly empty."""
    value = obj.get(name)
    if not isinstance(value, str):
        raise ParseError(f"{what}: {name} is not a string: {value!r:.40}")
    return value


def opt_count(value: Any) -> int | None:
    """A non-negative integer, or None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def check_text(what: str, *texts: object) -> None:
    """Raise ParseError if a text cannot be stored as UTF-8."""
    # A lone surrogate (a "\ud83d" escape without its pair) cannot be stored as UTF-8.
    for text in texts:
        try:
            str(text).encode("utf-8")
        except UnicodeEncodeError as e:
            raise ParseError(f"{what}: invalid text: {e.reason}") from e


def http_link(value: Any) -> str | None:
    """``value`` stripped if it is an http(s) URL, else None.

    Only http(s) URLs leave a parser: templates put them in ``href``.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


__all__ = [
    "any_str",
    "check_text",
    "http_link",
    "iso_time",
    "opt_bool",
    "opt_count",
    "opt_datetime",
    "opt_int",
    "opt_str",
    "req_datetime",
    "req_dict",
    "req_int",
    "req_str",
    "type_name",
]
