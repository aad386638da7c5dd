"""Checks shared by the platforms' option models (pure; no I/O).

Every platform takes a server address that must be https (plain http only for this
machine, so a token never crosses the network in clear), and names its secrets by the
environment variable that holds them, never the secret itself: configuration files get
shared. Stored options are re-validated at fetch time; a stale spec that no longer
validates fails the source with :class:`~aggregator.exceptions.PermanentError`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from aggregator.exceptions import PermanentError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""What an environment variable's name may be (POSIX portable names)."""

_DEFAULT_PORTS = (("http", 80), ("https", 443))

Options = TypeVar("Options", bound=BaseModel)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.1``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url(value: str, *, field: str, example: str) -> str:
    """A server's address, normalised to ``scheme://host[:port]``.

    Lower-cases scheme and host, drops a default port and a trailing slash; rejects
    paths, queries, credentials and plain http to anything but loopback. Raises
    ValueError whose message starts with ``field``.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{field} must be a URL, {example}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"{field} must be an http(s) URL, {example}")
    if parts.username or parts.password:
        raise ValueError(f"{field} must be an http(s) URL without credentials")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"{field} must be the server's address only, {example}")
    if scheme == "http" and not is_loopback(host):
        raise ValueError(f"{field} must use https:// (http:// only for loopback)")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and (scheme, port) not in _DEFAULT_PORTS:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def endpoint_url(value: str, *, example: str, fragment: bool = False) -> str:
    """An https base URL that may have a path, without its trailing slash.

    Rejects queries, credentials and plain http to anything but loopback; a fragment
    is rejected too unless ``fragment`` (then it is dropped). The host is lower-cased
    (as httpx does on every request); a port is kept as written.
    """
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError as e:
        raise ValueError(f"not a URL: {e}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"must be an http(s) URL, {example}")
    if parts.query or parts.username or (parts.fragment and not fragment):
        raise ValueError("must be a base URL without query, fragment or credentials")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError("must use https:// (http:// only for loopback)")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def env_name(value: str, *, secret: str, field: str = "") -> str:
    """``value`` itself if it is a variable's NAME; the message never echoes it."""
    if not ENV_NAME.match(value):
        raise ValueError(
            f"{field} must be the NAME of an environment variable (letters, digits, "
            f"underscores), not the {secret} itself".lstrip()
        )
    return value


def load_options(model: type[Options], values: Mapping[str, object], platform: str) -> Options:
    """Validate stored options, or raise PermanentError naming each bad key.

    The message lists keys and pydantic's messages only, never the input values (a
    secret pasted into the wrong key must not reach logs).
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in e.errors()
        )
        raise PermanentError(f"invalid {platform} options: {problems}") from None


__all__ = ["ENV_NAME", "endpoint_url", "env_name", "is_loopback", "load_options", "server_url"]
