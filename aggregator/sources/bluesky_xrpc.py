"""Signed-in XRPC calls to Bluesky: sessions, requests, and what failures mean.

Signing in (``shared/docs/source-apis.md`` §2, "Auth status")
    Bluesky no longer serves post search to logged-out clients, so the source signs in
    with an app password: ``com.atproto.server.createSession`` on the configured
    service (the entryway, bsky.social); data calls then go to the account's own PDS,
    read from the session's DID document (``#atproto_pds``; bsky-docs
    ``entryway.md``). Session calls stay on the entryway, as @atproto/api's
    ``CredentialSession`` does. An ``ExpiredToken`` answer refreshes the session once
    (``refreshSession``); ``InvalidToken``/``AuthenticationRequired`` (a revoked app
    password) signs in again once.

Where sessions live
    In this process only, in a :class:`SessionCache` the source object owns: one
    session per (service, account), shared by every event and fetch, with a lock per
    account so concurrent fetches sign in once. Never in the source state, which is
    stored in the database: a refresh token is a 90-day credential. After a restart
    the first fetch signs in again. createSession allows 30 per 5 minutes and 300 a day
    per account (100 a day seen on the entryway): a long-running process signs in once
    and then only refreshes (every ~2 h), a cron job running ``aggregator fetch`` signs
    in once per run. A changed app password (compared by keyed hash) drops the session.

Secrets
    No token or password reaches an error message (server messages are scrubbed of
    them) or an exception chain: httpx errors hold the request, with its
    ``Authorization`` header or the createSession body, so they are never chained.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx

from aggregator import http
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.models import RateLimit
from aggregator.sources import FetchContext
from aggregator.sources.bluesky_parse import parse_rate_limit
from aggregator.sources.options import server_url

Key = tuple[str, str]
"""(service, account as configured)."""


@dataclass(frozen=True, slots=True)
class SessionData:
    """A signed-in session. The tokens are secrets: they never reach ``repr``."""

    did: str
    handle: str
    pds: str | None
    """Where the account's data calls go (``#atproto_pds`` in its DID document)."""
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """Who signs in where. ``password_env`` names the variable, for messages."""

    service: str
    identifier: str
    password_env: str
    password: str = field(repr=False)

    @property
    def key(self) -> Key:
        return (self.service, self.identifier)


@dataclass(slots=True)
class SessionCache:
    """Signed-in sessions of this process, by :data:`Key`."""

    sessions: dict[Key, tuple[SessionData, bytes]] = field(default_factory=dict, repr=False)
    salt: bytes = field(default_factory=lambda: os.urandom(16), repr=False)
    # asyncio locks belong to one event loop, and a process may run several in turn.
    locks: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, asyncio.Lock]] = field(
        default_factory=WeakKeyDictionary, repr=False
    )

    def lock(self, key: Key) -> asyncio.Lock:
        per_loop = self.locks.setdefault(asyncio.get_running_loop(), {})
        return per_loop.setdefault(key, asyncio.Lock())

    def get(self, account: Account) -> SessionData | None:
        cached = self.sessions.get(account.key)
        if cached is None or not hmac.compare_digest(cached[1], self._digest(account)):
            return None
        return cached[0]

    def put(self, account: Account, session: SessionData) -> None:
        self.sessions[account.key] = (session, self._digest(account))

    def _digest(self, account: Account) -> bytes:
        return hmac.new(self.salt, account.password.encode(), hashlib.sha256).digest()


@dataclass(slots=True)
class Xrpc:
    """The calls of one fetch or recheck, with its request count and rate-limit budget."""

    cache: SessionCache
    account: Account
    # FetchContext's repr shows env, which holds the app password.
    ctx: FetchContext = field(repr=False)
    requests: int = 0
    rate_limit: RateLimit | None = None
    stopped: bool = False
    """Set when the rate-limit headroom runs low: no more requests this fetch."""
    next_check_hint: datetime | None = None
    secrets: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.secrets.add(self.account.password)

    async def call(self, nsid: str, params: Mapping[str, Any]) -> httpx.Response:
        """An authenticated GET on the account's PDS, renewing the session once.

        Returns whatever status the PDS answered; :meth:`fail` maps the failures."""
        session = await self.session()
        response = await self._get(session, nsid, params)
        problem = _auth_problem(response)
        if problem is not None:
            session = await self._renew(session, expired=problem == "expired")
            response = await self._get(session, nsid, params)
        self.rate_limit = parse_rate_limit(response.headers) or self.rate_limit
        self._watch_headroom()
        return response

    async def session(self) -> SessionData:
        async with self.cache.lock(self.account.key):
            session = self.cache.get(self.account)
            return self._keep(session or await self._login())

    def fail(self, response: httpx.Response, nsid: str) -> NoReturn:
        """Raise the SourceError a non-2xx answer means."""
        status = response.status_code
        what = f"HTTP {status} from {nsid} on {_host(str(response.url))}"
        if status == 429:
            raise RateLimited(what, self._retry_after(response))
        if status >= 500 or status in (408, 425):
            retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
            if retry is not None:
                raise RateLimited(what, retry)
            raise TemporaryError(f"{what}: {self.detail(response)}")
        if status == 403 and "html" in response.headers.get("content-type", ""):
            # The public AppView's edge answers search with an HTML 403 (atproto#3423).
            raise PermanentError(f"{what}: a web page, not the API; set service to the entryway")
        raise PermanentError(f"{what}: {self.detail(response)}")

    def detail(self, response: httpx.Response) -> str:
        """The XRPC ``error: message`` of a failure, scrubbed of every secret we hold."""
        error, message = xrpc_error(json_or_none(response))
        text = ": ".join(p for p in (error, message) if p) or response.reason_phrase
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    # -- sessions ------------------------------------------------------------------------

    async def _renew(self, stale: SessionData, *, expired: bool) -> SessionData:
        async with self.cache.lock(self.account.key):
            current = self.cache.get(self.account)
            if current is not None and current.access_jwt != stale.access_jwt:
                return self._keep(current)  # a concurrent fetch renewed it already
            renewed = await self._refresh(stale) if expired else None
            return self._keep(renewed or await self._login())

    def _keep(self, session: SessionData) -> SessionData:
        self.cache.put(self.account, session)
        self.secrets |= {session.access_jwt, session.refresh_jwt}
        return session

    async def _login(self) -> SessionData:
        account = self.account
        body = {"identifier": account.identifier, "password": account.password}
        response = await self._send("POST", "com.atproto.server.createSession", body=body)
        if response.status_code in (400, 401):
            error, _ = xrpc_error(json_or_none(response))
            why = (
                "the account asks for an email code: sign in with an app password"
                if error == "AuthFactorTokenRequired"
                else self.detail(response)
            )
            raise PermanentError(
                f"Bluesky refused the sign-in as {account.identifier} on "
                f"{_host(account.service)} (app password from {account.password_env}): {why}"
            )
        if response.status_code != 200:
            self.fail(response, "com.atproto.server.createSession")
        return parse_session(http.json_body(response))

    async def _refresh(self, stale: SessionData) -> SessionData | None:
        """A renewed session, or ``None`` when the refresh token is no longer good."""
        auth = {"Authorization": f"Bearer {stale.refresh_jwt}"}
        response = await self._send("POST", "com.atproto.server.refreshSession", headers=auth)
        if _auth_problem(response) is not None:
            return None
        if response.status_code != 200:
            self.fail(response, "com.atproto.server.refreshSession")
        fresh = parse_session(http.json_body(response))
        return fresh if fresh.pds else replace(fresh, pds=stale.pds)

    # -- requests ------------------------------------------------------------------------

    async def _get(
        self, session: SessionData, nsid: str, params: Mapping[str, Any]
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {session.access_jwt}"}
        return await self._send("GET", nsid, host=session.pds, params=params, headers=auth)

    async def _send(
        self,
        method: str,
        nsid: str,
        *,
        host: str | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        url = f"{host or self.account.service}/xrpc/{nsid}"
        where = f"{nsid} on {_host(url)}"
        self.requests += 1
        # `from None`: see "Secrets" in the module docstring.
        return await http.send(
            self.ctx.client, method, url, what=where, params=params, json=body, headers=headers
        )

    def _retry_after(self, response: httpx.Response) -> timedelta | None:
        retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
        limit = parse_rate_limit(response.headers)
        if retry is None and limit is not None and limit.reset_at is not None:
            retry = max(limit.reset_at - self.ctx.now, timedelta(0))
        return retry

    def _watch_headroom(self) -> None:
        rl = self.rate_limit
        if rl is not None and rl.nearly_spent:
            self.stopped = True
            self.next_check_hint = rl.reset_at


def parse_session(payload: Any) -> SessionData:
    """A createSession/refreshSession body. The PDS is read from ``didDoc`` when the
    document is the account's own and names a usable ``#atproto_pds`` endpoint."""
    if not isinstance(payload, dict):
        raise ParseError(f"session is {_type(payload)}, expected an object")
    values = {}
    for name in ("did", "handle", "accessJwt", "refreshJwt"):
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            # Never quote the value: it may be a token.
            raise ParseError(f"session: {name} is missing or not a string")
        values[name] = value
    return SessionData(
        did=values["did"],
        handle=values["handle"],
        pds=pds_endpoint(payload.get("didDoc"), values["did"]),
        access_jwt=values["accessJwt"],
        refresh_jwt=values["refreshJwt"],
    )


def pds_endpoint(did_doc: Any, did: str) -> str | None:
    """``service[#atproto_pds].serviceEndpoint`` (as ``getPdsEndpoint`` in @atproto/api
    reads it), normalized; ``None`` if absent, not this DID's, or not a safe URL: the
    access token is sent there."""
    if not isinstance(did_doc, dict) or did_doc.get("id") != did:
        return None
    services = did_doc.get("service")
    for service in services if isinstance(services, list) else ():
        if (
            isinstance(service, dict)
            and service.get("id") in ("#atproto_pds", f"{did}#atproto_pds")
            and service.get("type") == "AtprotoPersonalDataServer"
            and isinstance(endpoint := service.get("serviceEndpoint"), str)
        ):
            return base_url(endpoint)
    return None


def base_url(value: str) -> str | None:
    """``scheme://host[:port]`` of an https URL (http only for loopback), else None."""
    try:
        return server_url(value, field="service", example="e.g. https://bsky.social")
    except ValueError:
        return None


def xrpc_error(body: Any) -> tuple[str, str]:
    """``(error, message)`` of an XRPC error body (``{"error", "message"}``), or blanks."""
    if not isinstance(body, dict):
        return "", ""
    error, message = body.get("error"), body.get("message")
    return (
        error[:80] if isinstance(error, str) else "",
        message[:200] if isinstance(message, str) else "",
    )


def json_or_none(response: httpx.Response) -> Any:
    try:
        return http.json_body(response)
    except ParseError:
        return None


def _auth_problem(response: httpx.Response) -> Literal["expired", "invalid"] | None:
    """What an auth failure means: refresh (``expired``) or sign in again (``invalid``).

    The PDS answers an expired access token with 400 ``ExpiredToken`` (the client in
    @atproto/api checks exactly that) and a bad one with 401 ``InvalidToken``."""
    if response.status_code not in (400, 401):
        return None
    error, _ = xrpc_error(json_or_none(response))
    if error == "ExpiredToken":
        return "expired"
    if error in ("InvalidToken", "AuthenticationRequired", "AuthMissing"):
        return "invalid"
    return None


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__
