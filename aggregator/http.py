"""HTTP helpers shared by fetchers: one client, one mapping of failures to SourceError.

Every status and transport failure a platform can produce becomes one of the
expected errors in :mod:`aggregator.exceptions`, so fetchers never let an httpx
exception escape.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.request import getproxies

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
    if transport is None and not getproxies():
        transport = HostPools()
    # Behind a proxy (HTTPS_PROXY and the like), httpx's own transports: every
    # connection goes to the proxy anyway.
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        verify=_tls_context(),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
    )


class HostPools(httpx.AsyncBaseTransport):
    """One small connection pool per origin (scheme, host, port), behind one client.

    httpcore looks at every connection of its pool, with a syscall for each idle one,
    on every request and response: one pool shared by hundreds of hosts spent a
    quarter of the CPU of a 1,000-timeline pass (benchmarks/collect.py) scanning, and
    a cap on idle connections small enough to make that bearable closed the
    connections that the next request to the same host wanted. Per origin, a pool
    holds at most ``per_origin`` connections (the Updater's per-host cap is lower);
    at most ``idle_origins`` pools with no request under way are kept, the least
    recently used beyond that are closed.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | None = None,
        per_origin: int = 16,
        idle_origins: int = 256,
    ) -> None:
        self._verify = verify or _tls_context()
        self._limits = httpx.Limits(
            max_connections=per_origin, max_keepalive_connections=per_origin
        )
        self._idle_origins = idle_origins
        self._pools: OrderedDict[tuple[bytes, bytes, int | None], httpx.AsyncHTTPTransport] = (
            OrderedDict()
        )
        self._busy: Counter[tuple[bytes, bytes, int | None]] = Counter()
        self._closing: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
            self._pools[key] = pool
            self._trim()
        else:
            self._pools.move_to_end(key)
        self._busy[key] += 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._done(key)
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _Counted(stream, lambda: self._done(key))
        return response

    def _done(self, key: tuple[bytes, bytes, int | None]) -> None:
        self._busy[key] -= 1
        if self._busy[key] <= 0:
            del self._busy[key]

    def _trim(self) -> None:
        extra = len(self._pools) - self._idle_origins
        if extra <= 0:
            return
        for key in [k for k in self._pools if k not in self._busy][:extra]:
            task = asyncio.get_running_loop().create_task(self._pools.pop(key).aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class _Counted(httpx.AsyncByteStream):
    """A response body that says when it is closed (its connection is free again)."""

    def __init__(self, stream: httpx.AsyncByteStream, closed: Callable[[], None]) -> None:
        self._stream = stream
        self._closed: Callable[[], None] | None = closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._closed is not None:
                closed, self._closed = self._closed, None
                closed()


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
