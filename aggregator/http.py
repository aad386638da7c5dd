"""HTTP helpers shared by fetchers: one client, one mapping of failures to SourceError.

Every status and transport failure a platform can produce becomes one of the
expected errors in :mod:`aggregator.exceptions`, so fetchers never let an httpx
exception escape.
"""

from __future__ import annotations

import functools
import http.cookiejar
import json
import ssl
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.request import getproxies

import aiohttp
import httpx
import orjson
import yarl

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
    return _Client(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        verify=_tls_context(),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
    )


class _Client(httpx.AsyncClient):
    """httpx's client, keeping no cookies.

    No fetcher needs them, and httpx copies its whole jar into every request it builds
    (measured: 0.1 ms per request with an empty jar, 9 ms with 300 sites' cookies in
    it); even empty, reading each response's Set-Cookie costs about 60 µs."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise AttributeError("aggregator's HTTP client keeps no cookies")


class _EmptyJar(http.cookiejar.CookieJar):
    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        pass

    def extract_cookies(self, response: Any, request: urllib.request.Request) -> None:
        pass


class _NoCookies(httpx.Cookies):
    def __init__(self) -> None:
        super().__init__(_EmptyJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


_NO_COOKIES = _NoCookies()


class HostPools(httpx.AsyncBaseTransport):
    """Connection pools per origin behind one client, on aiohttp's connector and C parser.

    httpx still builds each request, follows redirects and decodes the body; aiohttp
    only moves bytes (it neither follows redirects, decompresses, nor keeps cookies).
    httpcore's pools, h11 parsing and streams cost about twice the CPU per request
    (benchmarks/collect.py is CPU-bound on the client). A connection is kept per
    origin (scheme, host, port) up to ``per_origin`` at once (the Updater's per-host
    cap is lower) and ``max_connections`` in all; idle ones close after
    ``keepalive_expiry`` seconds. The session is made on the first request, in the
    loop that sends it, so a client may be made outside one.

    Every aiohttp failure arrives as the httpx exception httpcore would raise:
    timeouts as :class:`httpx.TimeoutException`, refused and reset connections and
    malformed responses as other :class:`httpx.TransportError`.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | None = None,
        per_origin: int = 16,
        max_connections: int = 256,
        keepalive_expiry: float = 15.0,
    ) -> None:
        self._verify = verify or _tls_context()
        self._per_origin = per_origin
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._verify,
            limit=self._max_connections,
            limit_per_host=self._per_origin,
            keepalive_timeout=self._keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes, as it does for httpcore
            # Send exactly the headers httpx built (it always sets these itself).
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            # h11 takes a header block up to 16 KiB with no per-line limit; aiohttp's
            # default stops at 8 KiB a line (long CSP and Link headers exist).
            max_line_size=_MAX_HEADER_BYTES,
            max_field_size=_MAX_HEADER_BYTES,
            max_headers=256,
        )
        # aiohttp sends a GET again once after a reset or a disconnect; httpcore does not,
        # and a reset is the source's error to record (aiohttp's own test client turns
        # this off the same way: there is no constructor argument).
        self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                # httpx has normalised and percent-encoded the URL: no second pass.
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    # aiohttp's connect includes the wait for a free connection.
                    connect=None if connect is None or pool is None else connect + pool,
                    sock_connect=connect,
                    sock_read=timeout.get("read"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            ) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise _httpx_error(e, request) from e
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


_MAX_HEADER_BYTES = 64 * 1024

# Most specific first: the first match wins.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (TimeoutError, httpx.ReadTimeout),  # aiohttp.SocketTimeoutError among them
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # malformed status/headers
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # body cut short or malformed
    (aiohttp.ClientOSError, httpx.ReadError),  # reset
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
)


def _httpx_error(e: BaseException, request: httpx.Request) -> httpx.TransportError:
    httpx_type = next((h for a, h in _ERRORS if isinstance(e, a)), httpx.TransportError)
    # A ClientResponseError's str() holds the URL, query (tokens) included.
    detail = e.message if isinstance(e, aiohttp.ClientResponseError) else str(e)
    return httpx_type(f"{type(e).__name__}: {detail}", request=request)


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
    params = kwargs.pop("params", None)
    if params and "?" not in url and "#" not in url:
        # The same URL httpx would build from params=, at half its cost per request
        # (params= parses the URL three times: given, merged and re-encoded).
        url = f"{url}?{httpx.QueryParams(params)}"
    elif params:
        kwargs["params"] = params
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
