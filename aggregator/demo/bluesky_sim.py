"""Bluesky, simulated for :class:`LoopbackServer`: entryway, PDS and search in one.

``BlueskySim`` is an ``App``. Serve ``sim`` on one server and it is everything; or serve
``sim.entryway`` on one server and ``sim`` on another, and set ``sim.pds_url`` to the
second's address: the session's DID document then names it as the account's PDS
(``#atproto_pds``) and the entryway answers only session calls, as bsky.social does
for an account hosted elsewhere (bsky-docs ``entryway.md``). Under ``/xrpc/``:

* ``POST com.atproto.server.createSession`` ``{identifier, password}``: a session with
  ``didDoc``; 401 ``AuthenticationRequired`` for wrong credentials; 429 past 30 per
  5 minutes or 300 a day per account (bsky-docs ``rate-limits.md``). Counted in
  ``logins``.
* ``POST com.atproto.server.refreshSession`` (``Bearer <refreshJwt>``): new tokens; the
  old refresh token is spent. Counted in ``refreshes``.
* ``GET app.bsky.feed.searchPosts``: ``q`` (required; ``#tag`` tokens filter by tag,
  ``lang:xx`` by language, other words must be in the text), ``tag`` (repeatable, all
  must match), ``sort``, ``since`` (inclusive), ``until`` (exclusive), both on
  ``sortAt = min(createdAt, indexedAt)``, ``lang``, ``limit`` (1-100, default 25) and
  ``cursor``: an offset, sent only when a page is full, refused past ``max_offset``
  (10 000) as the search service does (indigo ``search/handlers.go``).
* ``GET app.bsky.feed.getPosts``: ``uris`` (1-25); missing posts are left out.

Data calls need ``Authorization: Bearer <accessJwt>``: none is 401 ``AuthMissing``, an
unknown or revoked token 401 ``InvalidToken``, an expired one 400 ``ExpiredToken``
(after ``access_ttl`` on the sim's clock, or at once after :meth:`expire_access_tokens`).
They carry ``RateLimit-Limit/-Remaining/-Reset`` (Unix seconds) ``/-Policy`` and answer
429 once the budget is spent.

:class:`LoopbackServer` does not hand request bodies to apps; without one,
createSession takes the caller for the configured account, and ``refuse_logins``
plays a wrong password. :meth:`respond` takes the body for callers that have it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.demo.httpserver import Request, Response

Post = dict[str, Any]
FACET = "app.bsky.richtext.facet"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_RICH = re.compile(
    r"(?P<link>https?://[^\s]+)|(?<![\w@])@(?P<mention>[a-z0-9.-]+\.[a-z]+)|(?<!\w)#(?P<tag>\w+)"
)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def did_for(handle: str) -> str:
    digest = hashlib.sha256(handle.encode()).digest()
    return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


def tid(at: datetime, clock_id: int = 0) -> str:
    """A record key from a time, as atproto TIDs are (sortable base32)."""
    value = ((at - _EPOCH) // timedelta(microseconds=1)) << 10 | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def make_profile(
    handle: str, *, display_name: str = "", labels: Sequence[str] = (), **extra: Any
) -> dict[str, Any]:
    """A profileViewBasic; ``labels`` are self-labels (``!no-unauthenticated``)."""
    did = did_for(handle)
    profile: dict[str, Any] = {
        "did": did,
        "handle": handle,
        "displayName": display_name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei@jpeg",
        "labels": [self_label(did, val) for val in labels],
        "createdAt": "2024-01-01T00:00:00.000Z",
    }
    return {**profile, **extra}


def self_label(did: str, val: str) -> dict[str, Any]:
    return {
        "src": did,
        "uri": f"at://{did}/app.bsky.actor.profile/self",
        "val": val,
        "cts": "2024-01-01T00:00:00.000Z",
    }


def rich_text(text: str) -> list[dict[str, Any]]:
    """Facets for the links, ``@handle`` mentions and ``#tags`` in ``text``, with UTF-8
    byte offsets as the app computes them."""
    facets = []
    for m in _RICH.finditer(text):
        if m.group("link"):
            feature = {"$type": f"{FACET}#link", "uri": m.group("link")}
        elif m.group("mention"):
            feature = {"$type": f"{FACET}#mention", "did": did_for(m.group("mention"))}
        else:
            feature = {"$type": f"{FACET}#tag", "tag": m.group("tag")}
        start = len(text[: m.start()].encode())
        end = start + len(m.group(0).encode())
        facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
    return facets


def make_post(
    author: Mapping[str, Any],
    text: str,
    *,
    created_at: datetime,
    indexed_at: datetime | None = None,
    rkey: str | None = None,
    tags: Sequence[str] = (),
    langs: Sequence[str] = ("en",),
    reply_to: str | None = None,
    external: str | None = None,
    labels: Sequence[str] = (),
    counts: Mapping[str, int] | None = None,
) -> Post:
    """A PostView as the AppView hydrates it; facets come from :func:`rich_text`."""
    did = str(author["did"])
    uri = f"at://{did}/app.bsky.feed.post/{rkey or tid(created_at)}"
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso(created_at),
        "text": text,
        "facets": rich_text(text),
        "langs": list(langs),
    }
    if tags:
        record["tags"] = list(tags)
    if reply_to:
        ref = {"uri": reply_to, "cid": _cid(reply_to)}
        record["reply"] = {"root": ref, "parent": ref}
    post: Post = {"uri": uri, "cid": "", "author": dict(author), "record": record}
    if external:
        card = {"uri": external, "title": external, "description": ""}
        record["embed"] = {"$type": "app.bsky.embed.external", "external": card}
        post["embed"] = {"$type": "app.bsky.embed.external#view", "external": card}
    counts = counts or {}
    for name in ("replyCount", "repostCount", "likeCount", "quoteCount", "bookmarkCount"):
        post[name] = counts.get(name, 0)
    post["indexedAt"] = iso(indexed_at or created_at)
    post["labels"] = [self_label(did, val) for val in labels]
    post["cid"] = _cid(json.dumps(record, sort_keys=True))
    return post


class BlueskySim:
    """One simulated Bluesky network with one account that can sign in.

    ``rate_limit`` data calls per ``rate_window`` (a PDS allows 3000 per 5 minutes).
    ``clock`` gives the sim's time (UTC). Thread-safe: tests add, edit and delete posts
    while it serves.
    """

    def __init__(
        self,
        *,
        handle: str = "collector.example.com",
        password: str = "abcd-efgh-ijkl-mnop",
        pds_url: str | None = None,
        access_ttl: timedelta = timedelta(minutes=120),
        rate_limit: int = 3000,
        rate_window: timedelta = timedelta(minutes=5),
        max_offset: int = 10_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.handle, self.password, self.pds_url = handle, password, pds_url
        self.did = did_for(handle)
        self.access_ttl, self.max_offset, self.clock = access_ttl, max_offset, clock
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.refuse_logins = False
        self.logins = 0
        self.refreshes = 0
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._posts: dict[str, Post] = {}
        self._access: dict[str, datetime | None] = {}
        """Token → issue time; None once expired by hand."""
        self._refresh: set[str] = set()
        self._login_times: list[datetime] = []
        self._tokens = 0
        self._window, self._used = -1, 0

    # -- content -------------------------------------------------------------------

    def add(self, post: Mapping[str, Any]) -> Post:
        with self._lock:
            self._posts[str(post["uri"])] = copy.deepcopy(dict(post))
        return copy.deepcopy(dict(post))

    def post(
        self, author: Mapping[str, Any], text: str, *, at: datetime | None = None, **kw: Any
    ) -> Post:
        """A post created (and indexed) now or at ``at``."""
        at = at or self.clock()
        with self._lock:
            self._tokens += 1
            rkey = tid(at, self._tokens)
        return self.add(make_post(author, text, created_at=at, rkey=rkey, **kw))

    def edit(self, uri: str, text: str) -> Post:
        """Rewrite a post's text: a new cid and ``indexedAt`` (timestamps.md)."""
        with self._lock:
            post = self._posts[uri]
            post["record"].update(text=text, facets=rich_text(text))
            post["cid"] = _cid(json.dumps(post["record"], sort_keys=True))
            post["indexedAt"] = iso(self.clock())
            return copy.deepcopy(post)

    def update(self, uri: str, **fields: Any) -> None:
        """Set PostView fields as they are (counts, labels, author)."""
        with self._lock:
            self._posts[uri].update(copy.deepcopy(fields))

    def label_account(self, did: str, val: str) -> None:
        """A self-label on an account shows on all its posts from now on."""
        with self._lock:
            for post in self._posts.values():
                if post["author"]["did"] == did:
                    post["author"].setdefault("labels", []).append(self_label(did, val))

    def delete(self, uri: str) -> None:
        with self._lock:
            del self._posts[uri]

    # -- sessions and budget ----------------------------------------------------------

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = dict.fromkeys(self._access)

    def expire_refresh_tokens(self) -> None:
        """Refresh tokens live 90 days; past that a refresh is refused."""
        with self._lock:
            self._refresh.clear()

    def revoke_sessions(self) -> None:
        """As revoking the app password does: every token stops working."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def set_remaining(self, remaining: int) -> None:
        with self._lock:
            self._roll_window(self.clock())
            self._used = max(0, self.rate_limit - remaining)

    # -- HTTP ------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        return self.respond(request, request.body or None)

    def entryway(self, request: Request) -> Response:
        """The entryway when the account's PDS is elsewhere: session calls only."""
        if request.path.startswith("/xrpc/com.atproto.server."):
            return self(request)
        return _error(501, "MethodNotImplemented", "Method Not Implemented")

    def respond(self, request: Request, body: bytes | None) -> Response:
        nsid = request.path.removeprefix("/xrpc/")
        now = self.clock()
        with self._lock:
            self.calls[nsid] += 1
        if nsid == "com.atproto.server.createSession" and request.method == "POST":
            return self._create_session(body, now)
        if nsid == "com.atproto.server.refreshSession" and request.method == "POST":
            return self._refresh_session(request)
        if nsid not in ("app.bsky.feed.searchPosts", "app.bsky.feed.getPosts"):
            return _error(501, "MethodNotImplemented", "Method Not Implemented")
        with self._lock:
            reset = self._roll_window(now)
            self._used += 1
            remaining = self.rate_limit - self._used
        headers = {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(int(reset.timestamp())),
            "RateLimit-Policy": f"{self.rate_limit};w={int(self.rate_window.total_seconds())}",
        }
        if remaining < 0:
            return _error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        denied = self._check_access(request, now)
        if denied is not None:
            denied.headers.update(headers)
            return denied
        if nsid == "app.bsky.feed.getPosts":
            return self._get_posts(request, headers)
        return self._search(request, headers)

    def _create_session(self, body: bytes | None, now: datetime) -> Response:
        with self._lock:
            self.logins += 1
            self._login_times = [t for t in self._login_times if now - t < timedelta(days=1)]
            recent = [t for t in self._login_times if now - t < timedelta(minutes=5)]
            if len(recent) >= 30 or len(self._login_times) >= 300:
                first, span = (recent[0], 5) if len(recent) >= 30 else (self._login_times[0], 1440)
                window = first + timedelta(minutes=span)
                headers = {
                    "RateLimit-Limit": "30",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(math.ceil(window.timestamp())),
                }
                return _error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
            self._login_times.append(now)
        try:
            sent = json.loads(body) if body is not None else {}
        except ValueError:
            return _error(400, "InvalidRequest", "Request body is not JSON")
        if self.refuse_logins or (
            body is not None
            and (
                sent.get("identifier") not in (self.handle, self.did)
                or sent.get("password") != self.password
            )
        ):
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        return _json(200, self._new_session(now, did_doc=True))

    def _refresh_session(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.refreshes += 1
            if token not in self._refresh:
                return _error(400, "ExpiredToken", "Token has been revoked")
            self._refresh.discard(token)
        return _json(200, self._new_session(self.clock(), did_doc=False))

    def _new_session(self, now: datetime, *, did_doc: bool) -> dict[str, Any]:
        with self._lock:
            self._tokens += 1
            secret = hashlib.sha256(f"{self._tokens}:{now}".encode()).hexdigest()[:16]
            access, refresh = f"sim-access-{secret}", f"sim-refresh-{secret}"
            self._access[access] = now
            self._refresh.add(refresh)
        session: dict[str, Any] = {
            "did": self.did,
            "handle": self.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }
        if did_doc:
            service = (
                [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.pds_url,
                    }
                ]
                if self.pds_url
                else []
            )
            session["didDoc"] = {
                "id": self.did,
                "alsoKnownAs": [f"at://{self.handle}"],
                "service": service,
            }
        return session

    def _check_access(self, request: Request, now: datetime) -> Response | None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            return _error(401, "AuthMissing", "Authentication Required")
        token = given.removeprefix("Bearer ")
        with self._lock:
            if token not in self._access:
                return _error(401, "InvalidToken", "Token could not be verified")
            issued = self._access[token]
        if issued is None or now - issued >= self.access_ttl:
            return _error(400, "ExpiredToken", "Token has expired")
        return None

    def _get_posts(self, request: Request, headers: dict[str, str]) -> Response:
        uris = request.query.get("uris", [])
        if not 1 <= len(uris) <= 25:
            return _error(400, "InvalidRequest", "uris must list 1 to 25 at-uris", headers)
        with self._lock:
            found = [copy.deepcopy(self._posts[u]) for u in uris if u in self._posts]
        return _json(200, {"posts": found}, headers)

    def _search(self, request: Request, headers: dict[str, str]) -> Response:
        q = request.arg("q")
        if not q:
            return _error(
                400, "InvalidRequest", 'Error: Params must have the property "q"', headers
            )
        try:
            limit = int(request.arg("limit") or 25)
            offset = int(request.arg("cursor") or 0)
            since, until = _when(request.arg("since")), _when(request.arg("until"))
        except ValueError as e:
            return _error(400, "InvalidRequest", f"Error: {e}", headers)
        if not 1 <= limit <= 100:
            return _error(400, "InvalidRequest", "Error: limit must be 1-100", headers)
        if offset > self.max_offset:
            message = "invalid value for 'cursor' (can't paginate so deep)"
            return _error(400, "InvalidRequest", message, headers)
        tags = {t.casefold() for t in request.query.get("tag", [])}
        words, langs = [], {request.arg("lang")} - {None}
        for token in q.split():
            if token.startswith("#"):
                tags.add(token[1:].casefold())
            elif token.startswith("lang:"):
                langs.add(token[5:])
            else:
                words.append(token.casefold())
        with self._lock:
            hits = [
                p
                for p in self._posts.values()
                if tags <= _tags(p)
                and all(w in p["record"]["text"].casefold() for w in words)
                and (not langs or langs & set(p["record"].get("langs", [])))
                and (since is None or _sort_at(p) >= since)
                and (until is None or _sort_at(p) < until)
            ]
            hits.sort(key=lambda p: (_sort_at(p), p["uri"]), reverse=True)
            page = copy.deepcopy(hits[offset : offset + limit])
        body: dict[str, Any] = {"posts": page}
        if len(page) == limit:
            body["cursor"] = str(offset + limit)
        return _json(200, body, headers)

    def _roll_window(self, now: datetime) -> datetime:
        period = self.rate_window.total_seconds()
        window = math.floor((now - _EPOCH).total_seconds() / period)
        if window != self._window:
            self._window, self._used = window, 0
        return _EPOCH + timedelta(seconds=(window + 1) * period)


def _tags(post: Mapping[str, Any]) -> set[str]:
    record = post["record"]
    found = {str(t).casefold() for t in record.get("tags", [])}
    for facet in record.get("facets", []):
        for feature in facet["features"]:
            if feature.get("$type") == f"{FACET}#tag":
                found.add(str(feature["tag"]).casefold())
    return found


def _sort_at(post: Mapping[str, Any]) -> datetime:
    indexed = _when(post["indexedAt"]) or _EPOCH
    try:
        return min(indexed, _when(post["record"]["createdAt"]) or indexed)
    except (ValueError, TypeError, OverflowError):
        return indexed


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def _error(
    status: int, error: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return _json(status, {"error": error, "message": message}, headers)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status,
        {**(headers or {}), "Content-Type": "application/json; charset=utf-8"},
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
    )
