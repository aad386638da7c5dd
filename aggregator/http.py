"""HTTP helpers shared by fetchers: one client, one mapping of failures to SourceError.

Every status and transport failure a platform can produce becomes one of the
expected errors in :mod:`aggregator.exceptions`, so fetchers never let an httpx
exception escape.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from aggregator import __version__
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError

USER_AGENT = f"aggregator/{__version__} (conversation digests; +https://github.com/aggregator-dev/aggregator)"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


def make_client(
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """The one client a process uses; tests inject a transport or point it at loopback."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        verify=_tls_context(),
        # Never fewer connections than sources fetched at once (fetch.concurrency is at
        # most 256; the per-host cap is the Updater's). Few idle ones: httpcore looks
        # at every pooled connection, with a syscall for each idle one, on every
        # request and response: with 256 idle ones that was a quarter of the CPU of a
        # 1,000-timeline pass (benchmarks/collect.py), and an idle connection to another
        # host is rarely reused within a pass anyway.
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds: once per process, not per client.
    return httpx.create_ssl_context()


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, what: str | None = None, **kwargs: Any
) -> httpx.Response:
    """``client.request`` with every transport failure mapped to a SourceError.

    ``from None``: an httpx exception holds the request, headers (tokens) included, and
    must not travel on in a traceback."""
    what = what or _safe(url)
    try:
        return await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise TemporaryError(f"timeout fetching {what}") from None
    except httpx.DecodingError as e:
        raise ParseError(f"undecodable response from {what}: {e}") from None
    except httpx.HTTPError as e:  # resets, refused connections, redirect loops
        raise TemporaryError(f"{type(e).__name__} fetching {what}") from None


async def get(
    client: httpx.AsyncClient,
    url: str,
    *,
    now: datetime,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    allow: frozenset[int] = frozenset(),
) -> httpx.Response:
    """GET ``url``; return 2xx (and any status in ``allow``), raise SourceError otherwise."""
    response = await send(client, "GET", url, params=params, headers=headers)
    status = response.status_code
    if status in allow or 200 <= status < 300:
        return response
    what = f"HTTP {status} from {_safe(str(response.url))}"
    if status == 429:
        raise RateLimited(what, parse_retry_after(response.headers.get("retry-after"), now))
    if status >= 500 or status in (408, 425):
        retry = parse_retry_after(response.headers.get("retry-after"), now)
        if retry is not None:
            raise RateLimited(what, retry)
        raise TemporaryError(what)
    raise PermanentError(f"{what}: {_error_detail(response)}")


def json_body(response: httpx.Response) -> Any:
    try:
        # orjson: decoding is a visible share of ingest time (benchmarks/ingest.py)
        return orjson.loads(response.content)
    except (ValueError, UnicodeDecodeError) as e:
        raise ParseError(f"malformed JSON from {_safe(str(response.url))}: {e}") from e


def _error_detail(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "message", "code"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return response.reason_phrase


def _safe(url: str) -> str:
    """URLs in error messages lose their query (tokens have been seen there)."""
    return url.split("?", 1)[0]
