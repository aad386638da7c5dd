"""Reddit's OAuth API on loopback: app-only tokens, subreddit search and ``/api/info``.

    sim = RedditSim(clock=clock, client_id="abc", client_secret="s3cret")
    sim.submit("AskUK", "Anyone going? #CoproWeek", "Details inside", author="alice")
    with LoopbackServer(sim) as server:
        # options: api = server.base_url, auth_url = server.base_url + "/api/v1/access_token"

Served::

    POST /api/v1/access_token        grant_type=client_credentials, HTTP Basic
                                     client_id:client_secret → {"access_token", "token_type":
                                     "bearer", "expires_in", "scope": "*"}; 401 otherwise
    GET  /r/{sub}/search             q (terms joined by OR; a term matches a word of the
                                     title or body, with or without "#"), restrict_sr,
                                     sort=new, limit (≤100, default 25), after/before
                                     (fullnames), raw_json
    GET  /api/info                   id=t3_a,t3_b,… (≤100): those that exist, deleted and
                                     removed ones included, in the order asked

Every API request needs ``Authorization: bearer <token>`` (401 when missing, unknown
or expired) and counts against a budget of ``rate_limit`` requests per ``window``
reported as ``X-Ratelimit-Used/-Remaining/-Reset`` (remaining as a float string, reset
in seconds); past it, 429. Without ``raw_json=1`` strings are HTML-escaped
(``&amp;``) as Reddit does. Deleted submissions leave search and come back from
``/api/info`` with ``author: "[deleted]"``; removed ones with ``removed_by_category``
and ``selftext: "[removed]"``. Listings stop after ``max_listing`` items, as Reddit's do.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aggregator.demo.httpserver import Request, Response

Thing = dict[str, Any]
_SEARCH = re.compile(r"^/r/([A-Za-z0-9_+]+)/search(?:\.json)?/?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class RedditSim:
    """One Reddit. Thread-safe: tests submit, delete and remove while it serves."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        token_lifetime: timedelta = timedelta(hours=24),
        rate_limit: int = 1000,
        window: timedelta = timedelta(minutes=10),
        max_listing: int = 1000,
    ) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.rate_limit = rate_limit
        self.window = window
        self.max_listing = max_listing
        self.tokens: dict[str, datetime] = {}
        self.token_requests = 0
        self._things: dict[str, Thing] = {}
        self._lock = threading.Lock()
        self._next_id = 36**6  # ids of 2026 are seven base-36 digits
        self._window_no = -1
        self._used = 0

    # --- content -------------------------------------------------------------------

    def submit(
        self,
        subreddit: str,
        title: str,
        selftext: str = "",
        *,
        author: str = "someone",
        at: datetime | None = None,
        url: str | None = None,
        score: int = 1,
        num_comments: int = 0,
    ) -> Thing:
        """A self post (or a link post when ``url`` is given), created now or ``at``."""
        created = (at or self.clock()).astimezone(UTC)
        with self._lock:
            self._next_id += 1
            ident = _base36(self._next_id)
        permalink = f"/r/{subreddit}/comments/{ident}/{_slug(title)}/"
        is_self = url is None
        thing: Thing = {
            "subreddit": subreddit,
            "selftext": selftext,
            "author_fullname": "t2_" + hashlib.sha256(author.encode()).hexdigest()[:8],
            "title": title,
            "subreddit_name_prefixed": f"r/{subreddit}",
            "name": f"t3_{ident}",
            "score": score,
            "ups": score,
            "edited": False,
            "is_self": is_self,
            "created": created.timestamp(),
            "removed_by_category": None,
            "domain": urlsplit(url).netloc if url is not None else f"self.{subreddit}",
            "selftext_html": _markdown(selftext) if selftext else None,
            "over_18": False,
            "id": ident,
            "author": author,
            "num_comments": num_comments,
            "permalink": permalink,
            "url": f"https://www.reddit.com{permalink}" if is_self else url,
            "created_utc": created.timestamp(),
            "num_crossposts": 0,
        }
        if not is_self:
            thing["url_overridden_by_dest"] = url
        with self._lock:
            self._things[thing["name"]] = thing
        return dict(thing)

    def edit(self, fullname: str, selftext: str) -> None:
        with self._lock:
            thing = self._things[fullname]
            thing.update(selftext=selftext, selftext_html=_markdown(selftext))
            thing["edited"] = self.clock().timestamp()

    def delete(self, fullname: str) -> None:
        """The author deleted it: it leaves search; /api/info shows the husk."""
        with self._lock:
            self._things[fullname].update(
                author="[deleted]", selftext="[deleted]", selftext_html=None,
                removed_by_category="deleted",
            )  # fmt: skip

    def remove(self, fullname: str) -> None:
        with self._lock:
            self._things[fullname].update(
                selftext="[removed]", selftext_html=None, removed_by_category="moderator"
            )

    def purge(self, fullname: str) -> None:
        """Gone entirely (a banned subreddit, say): /api/info no longer returns it."""
        with self._lock:
            del self._things[fullname]

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def set_remaining(self, remaining: int) -> None:
        with self._lock:
            self._roll(self.clock())
            self._used = self.rate_limit - remaining

    # --- HTTP ----------------------------------------------------------------------

    def __call__(self, r: Request) -> Response:
        now = self.clock()
        if r.path == "/api/v1/access_token":
            return self._token(r, now)
        with self._lock:
            expires = self.tokens.get(r.headers.get("authorization", "")[len("bearer ") :])
        if expires is None or expires <= now:
            return _json(401, {"message": "Unauthorized", "error": 401})
        with self._lock:
            reset = self._roll(now)
            self._used += 1
            used = self._used
        headers = {
            "x-ratelimit-used": str(used),
            "x-ratelimit-remaining": f"{max(0, self.rate_limit - used):.1f}",
            "x-ratelimit-reset": str(max(0, math.ceil((reset - now).total_seconds()))),
        }
        if used > self.rate_limit:
            return _json(429, {"message": "Too Many Requests", "error": 429}, headers)
        raw = r.arg("raw_json") == "1"
        if m := _SEARCH.match(r.path):
            return _json(200, self._search(m.group(1), r, raw), headers)
        if r.path in ("/api/info", "/api/info.json"):
            names = [n for n in (r.arg("id") or "").split(",") if n][:100]
            with self._lock:
                found = [self._things[n] for n in names if n in self._things]
            return _json(200, _listing(found, None, raw), headers)
        return _json(404, {"message": "Not Found", "error": 404}, headers)

    def _token(self, r: Request, now: datetime) -> Response:
        auth = r.headers.get("authorization", "")
        expected = f"{self.client_id}:{self.client_secret}".encode()
        if r.method != "POST" or auth != "Basic " + base64.b64encode(expected).decode():
            return _json(401, {"message": "Unauthorized", "error": 401})
        form = parse_qs(r.body.decode("ascii", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return _json(200, {"error": "unsupported_grant_type"})  # Reddit answers 200
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.token_requests += 1
            self.tokens[token] = now + self.token_lifetime
        lifetime = int(self.token_lifetime.total_seconds())
        body = {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        return _json(200, {**body, "scope": "*"})

    def _search(self, subreddits: str, r: Request, raw: bool) -> Thing:
        subs = {s.lower() for s in subreddits.split("+")}
        terms = [t.strip().lstrip("#").lower() for t in (r.arg("q") or "").split(" OR ")]
        limit = min(100, max(1, int(r.arg("limit") or 25)))
        with self._lock:
            found = sorted(
                (
                    t
                    for t in self._things.values()
                    if t["subreddit"].lower() in subs
                    and t["removed_by_category"] is None
                    and _matches(t, terms)
                ),
                key=lambda t: (t["created_utc"], t["name"]),
                reverse=True,
            )[: self.max_listing]
        names = [t["name"] for t in found]
        start = 0
        if after := r.arg("after"):
            start = names.index(after) + 1 if after in names else len(names)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return _listing(page, page[-1]["name"] if page and more else None, raw)

    def _roll(self, now: datetime) -> datetime:
        period = self.window.total_seconds()
        number = math.floor((now - _EPOCH).total_seconds() / period)
        if number != self._window_no:
            self._window_no, self._used = number, 0
        return _EPOCH + timedelta(seconds=(number + 1) * period)


def _matches(thing: Thing, terms: list[str]) -> bool:
    words = set(re.findall(r"\w+", f"{thing['title']} {thing['selftext']}".lower()))
    return any(term in words for term in terms if term)


def _listing(things: list[Thing], after: str | None, raw: bool) -> Thing:
    children = [{"kind": "t3", "data": t if raw else _escaped(t)} for t in things]
    data = {"after": after, "dist": len(children), "modhash": None, "geo_filter": None}
    return {"kind": "Listing", "data": {**data, "children": children, "before": None}}


def _escaped(value: Any) -> Any:
    """Without ``raw_json=1`` Reddit escapes &, < and > in every string, HTML or not."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _markdown(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>\n\n" for p in text.split("\n\n"))
    return f'<!-- SC_OFF --><div class="md">{paragraphs.rstrip()}\n</div><!-- SC_ON -->'


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:50]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Response(
        status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, data
    )


__all__ = ["RedditSim", "Thing"]
