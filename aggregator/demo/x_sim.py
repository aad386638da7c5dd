"""The X API v2, simulated for :class:`LoopbackServer`: recent search and post lookup.

``XSim`` is an ``App``: ``LoopbackServer(XSim(...))``. It serves

* ``GET /2/tweets/search/recent``: ``query`` (the subset of the grammar a hashtag
  source sends: ``#tag``, ``(#a OR #b)``, ``-is:retweet``, ``lang:xx``),
  ``max_results`` (10-100, default 10), ``since_id``, ``start_time``, ``next_token`` /
  ``pagination_token``; newest first; the real envelope ``{data, includes: {users,
  tweets}, meta: {newest_id, oldest_id, result_count, next_token}}``, and
  ``{"meta": {"result_count": 0}}`` when nothing matches;
* ``GET /2/tweets?ids=``: up to 100 ids; found posts (their latest version) in
  ``data``, the others in ``errors`` (``resource-not-found``, or
  ``not-authorized-for-resource`` for a protected author);
* ``x-rate-limit-limit/-remaining/-reset`` (epoch seconds, 15-minute windows) on
  every answer, and a 429 problem once the window's budget is spent;
* problem JSON errors: 401 for a missing or wrong bearer token, 403 / 402 when
  ``refuse`` is ``"client-not-enrolled"`` / ``"credits"``, 400 for what the API
  refuses (``max_results`` out of range, ``since_id`` or ``start_time`` older than 7
  days, both at once, an unknown ``next_token``).

Posts look as X sends them: ``&``, ``<``, ``>`` escaped, every URL replaced by a
``t.co`` link with its ``urls`` entity, hashtag and mention entities with code-point
offsets into the escaped text, snowflake ids, ``edit_history_tweet_ids``. An edit is
a new id (the old version leaves search); a retweet's text is ``RT @user: …`` cut to
140 characters. Field selection (``tweet.fields``, ``expansions``) is not honoured:
everything is sent. Thread-safe: tests post, edit and delete while it serves.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aggregator.demo.httpserver import Request, Response

Tweet = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SNOWFLAKE_EPOCH_MS = 1288834974657
WINDOW = timedelta(days=7)
PROBLEMS = "https://api.twitter.com/2/problems"
# A URL does not end with the punctuation around it ("(see https://a.example/x).").
_URL = re.compile(r"https?://[^\s<>\"]*[^\s<>\".,;:!?)\]'…]")
_TCO = re.compile(r"https://t\.co/[0-9a-f]{10}")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_MENTION = re.compile(r"(?<!\w)@(\w{1,15})")


def snowflake_id(at: datetime, sequence: int = 0) -> str:
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    return str(((ms - SNOWFLAKE_EPOCH_MS) << 22) | (sequence & 0x3FFFFF))


def snowflake_time(tweet_id: str) -> datetime:
    return _EPOCH + timedelta(milliseconds=(int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS)


def iso(at: datetime) -> str:
    """X's timestamp format: ``2021-04-16T13:49:05.000Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def make_user(
    username: str, *, name: str = "", description: str = "", protected: bool = False
) -> dict[str, Any]:
    number = int(hashlib.sha256(username.encode()).hexdigest()[:15], 16)
    return {
        "id": str(number),
        "username": username,
        "name": name or username,
        "description": description,
        "protected": protected,
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{number}/a_normal.jpg",
        "created_at": "2015-11-14T13:35:31.000Z",
    }


def x_text(raw: str, urls: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """``raw`` as X serves it, with its entities. ``urls`` (``t.co`` → long URL) is for
    text that already went through this once (a retweet's)."""
    links = dict(urls or {})
    if urls is None:
        parts, pos = [], 0
        for m in _URL.finditer(raw):
            short = "https://t.co/" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10]
            links[short] = m.group(0)
            parts += [_escape(raw[pos : m.start()]), short]
            pos = m.end()
        text = "".join([*parts, _escape(raw[pos:])])
    else:
        text = raw
    entities: dict[str, Any] = {}
    found = [
        {"start": m.start(), "end": m.end(), "url": m.group(0), "expanded_url": links[m.group(0)],
         "display_url": _display(links[m.group(0)])}
        for m in _TCO.finditer(text)
        if m.group(0) in links
    ]  # fmt: skip
    tags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _HASHTAG.finditer(text)
    ]
    people = [
        {"start": m.start(), "end": m.end(), "username": m.group(1)}
        for m in _MENTION.finditer(text)
    ]
    for name, value in (("urls", found), ("hashtags", tags), ("mentions", people)):
        if value:
            entities[name] = value
    return text, entities


class XSim:
    """One simulated X API. Call it with a :class:`Request`.

    ``token``: the bearer token every request needs. ``rate_limit`` requests per
    ``rate_window`` (recent search: 450 per 15 minutes), then 429. ``clock`` gives the
    sim's time (UTC).
    """

    def __init__(
        self,
        *,
        token: str = "sim-bearer-token",
        rate_limit: int = 450,
        rate_window: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.clock = clock
        self.refuse: Literal["client-not-enrolled", "credits"] | None = None
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._tweets: dict[str, Tweet] = {}  # every version of every post
        self._latest: dict[str, str] = {}  # any version's id -> the chain's latest id
        self._urls: dict[str, dict[str, str]] = {}
        self._window, self._used, self._sequence = -1, 0, 0

    # -- content -------------------------------------------------------------------

    def post(
        self,
        text: str,
        *,
        user: Mapping[str, Any],
        at: datetime | None = None,
        reply_to: str | None = None,
        quote: str | None = None,
        lang: str = "en",
        likes: int = 0,
    ) -> Tweet:
        body, entities = x_text(text)
        refs = [{"type": "replied_to", "id": reply_to}] if reply_to else []
        refs += [{"type": "quoted", "id": quote}] if quote else []
        return self._add(body, entities, user, at, refs, lang, likes)

    def retweet(
        self, tweet_id: str, *, user: Mapping[str, Any], at: datetime | None = None
    ) -> Tweet:
        with self._lock:
            original = copy.deepcopy(self._tweets[self._latest[tweet_id]])
            author = self._users[original["author_id"]]["username"]
            urls = self._urls.get(original["id"], {})
        text = f"RT @{author}: {original['text']}"
        text = text if len(text) <= 140 else text[:139] + "…"
        body, entities = x_text(text, urls)
        refs = [{"type": "retweeted", "id": original["id"]}]
        return self._add(body, entities, user, at, refs, original.get("lang", "en"), 0)

    def edit(self, tweet_id: str, text: str, *, at: datetime | None = None) -> Tweet:
        """A new version with a new id; every version's history names the whole chain."""
        at = at or self.clock()
        body, entities = x_text(text)
        with self._lock:
            old = self._tweets[self._latest[tweet_id]]
            new = copy.deepcopy(old) | {"text": body, "entities": entities, "created_at": iso(at)}
            new["id"] = self._new_id(at)
            history = [*old["edit_history_tweet_ids"], new["id"]]
            for tid in history[:-1]:
                self._tweets[tid]["edit_history_tweet_ids"] = list(history)
                self._latest[tid] = new["id"]
            new["edit_history_tweet_ids"] = history
            self._tweets[new["id"]] = new
            self._latest[new["id"]] = new["id"]
            self._urls[new["id"]] = {e["url"]: e["expanded_url"] for e in entities.get("urls", [])}
            return copy.deepcopy(new)

    def delete(self, tweet_id: str) -> None:
        """Deleting any version deletes the chain, and the retweets of it (as X does)."""
        with self._lock:
            chain = set(self._tweets[self._latest[tweet_id]]["edit_history_tweet_ids"])
            for tid, t in list(self._tweets.items()):
                if tid in chain or any(r["id"] in chain for r in _retweeted(t)):
                    del self._tweets[tid]
                    self._latest.pop(tid, None)

    def update_user(self, user: Mapping[str, Any], **fields: Any) -> None:
        """Change a known account (``protected=True``, a new ``description``)."""
        with self._lock:
            self._users[user["id"]].update(fields)

    def set_remaining(self, remaining: int) -> None:
        """Pretend other clients spent the budget: ``remaining`` requests are left."""
        with self._lock:
            self._roll_window(self.clock())
            self._used = max(0, self.rate_limit - remaining)

    def _add(
        self,
        text: str,
        entities: dict[str, Any],
        user: Mapping[str, Any],
        at: datetime | None,
        refs: list[dict[str, str]],
        lang: str,
        likes: int,
    ) -> Tweet:
        at = at or self.clock()
        with self._lock:
            self._users.setdefault(user["id"], copy.deepcopy(dict(user)))
            tid = self._new_id(at)
            tweet: Tweet = {
                "id": tid,
                "text": text,
                "created_at": iso(at),
                "author_id": user["id"],
                "conversation_id": tid,
                "edit_history_tweet_ids": [tid],
                "entities": entities,
                "lang": lang,
                "public_metrics": {
                    "retweet_count": 0, "reply_count": 0, "like_count": likes, "quote_count": 0
                },
                "possibly_sensitive": False,
            }  # fmt: skip
            for ref in refs:
                parent = self._tweets[self._latest[ref["id"]]]
                if ref["type"] == "replied_to":
                    tweet["conversation_id"] = parent["conversation_id"]
                    tweet["in_reply_to_user_id"] = parent["author_id"]
            if refs:
                tweet["referenced_tweets"] = refs
            self._tweets[tid] = tweet
            self._latest[tid] = tid
            self._urls[tid] = {e["url"]: e["expanded_url"] for e in entities.get("urls", [])}
            return copy.deepcopy(tweet)

    def _new_id(self, at: datetime) -> str:
        self._sequence += 1
        return snowflake_id(at, self._sequence)

    # -- HTTP ------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        now = self.clock()
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _problem(401, "Unauthorized", "Unauthorized", "about:blank")
        if self.refuse == "client-not-enrolled":
            return _problem(
                403,
                "Client Forbidden",
                "When authenticating requests to the Twitter API v2 endpoints, you must use "
                "keys and tokens from a Twitter developer App that is attached to a Project.",
                f"{PROBLEMS}/client-forbidden",
            )
        if self.refuse == "credits":
            detail = "Your enrolled account does not have any credits to fulfill this request."
            return _problem(402, "CreditsDepleted", detail, f"{PROBLEMS}/credits")
        with self._lock:
            reset = self._roll_window(now)
            self._used += 1
            remaining = self.rate_limit - self._used
        headers = {
            "x-rate-limit-limit": str(self.rate_limit),
            "x-rate-limit-remaining": str(max(0, remaining)),
            "x-rate-limit-reset": str(math.ceil((reset - _EPOCH).total_seconds())),
        }
        if remaining < 0:
            return _problem(429, "Too Many Requests", "Too Many Requests", "about:blank", headers)
        with self._lock:
            if request.path == "/2/tweets/search/recent":
                return self._search(request, now, headers)
            if request.path == "/2/tweets":
                return self._lookup(request, headers)
        return _problem(404, "Not Found Error", "Not found", f"{PROBLEMS}/resource-not-found")

    def _roll_window(self, now: datetime) -> datetime:
        period = self.rate_window.total_seconds()
        window = math.floor((now - _EPOCH).total_seconds() / period)
        if window != self._window:
            self._window, self._used = window, 0
        return _EPOCH + timedelta(seconds=(window + 1) * period)

    def _search(self, request: Request, now: datetime, headers: dict[str, str]) -> Response:
        query = request.arg("query") or ""
        size = request.arg("max_results") or "10"
        since_id, start = request.arg("since_id"), request.arg("start_time")
        token = request.arg("next_token") or request.arg("pagination_token")
        if not query or len(query) > 512:
            return _invalid("query", query[:40], "must be 1-512 characters", headers)
        if not size.isdigit() or not 10 <= int(size) <= 100:
            return _invalid("max_results", size, "is not between 10 and 100", headers)
        if since_id and start:
            return _invalid("since_id", since_id, "cannot be used with start_time", headers)
        if since_id and (not since_id.isdigit() or snowflake_time(since_id) < now - WINDOW):
            return _invalid("since_id", since_id, "must be a post id from the last 7 days", headers)
        try:
            floor = datetime.fromisoformat(start) if start else None
        except ValueError:
            return _invalid("start_time", start or "", "is not an RFC 3339 time", headers)
        if floor is not None and floor < now - WINDOW:
            return _invalid("start_time", start or "", "must be within the last 7 days", headers)
        below = _decode(token) if token else None
        if token and below is None:
            return _invalid("next_token", token, "is not a valid token", headers)
        tags = {t.casefold() for t in re.findall(r"#(\w+)", query)}
        lang = re.search(r"(?<![-\w])lang:(\w+)", query)
        found = [
            t
            for tid, t in self._tweets.items()
            if self._latest.get(tid) == tid
            and self._matches(t, tags, lang.group(1) if lang else None, "-is:retweet" in query)
            and (since_id is None or _order(tid) > _order(since_id))
            and (below is None or _order(tid) < _order(below))
            and (floor is None or datetime.fromisoformat(t["created_at"]) >= floor)
        ]
        found.sort(key=lambda t: _order(t["id"]), reverse=True)
        page = found[: int(size)]
        if not page:
            return _json(200, {"meta": {"result_count": 0}}, headers)
        meta: dict[str, Any] = {
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
            "result_count": len(page),
        }
        if len(found) > len(page):
            meta["next_token"] = _encode(page[-1]["id"])
        return _json(200, self._envelope(page) | {"meta": meta}, headers)

    def _matches(self, t: Tweet, tags: set[str], lang: str | None, no_rt: bool) -> bool:
        if self._users[t["author_id"]].get("protected"):
            return False
        retweeted = _retweeted(t)
        if retweeted and no_rt:
            return False
        # X matches a retweet on its original's text.
        source = self._tweets.get(self._latest.get(retweeted[0]["id"], ""), t) if retweeted else t
        own = {h["tag"].casefold() for h in source.get("entities", {}).get("hashtags", [])}
        return bool(own & tags) and (lang is None or t.get("lang") == lang)

    def _lookup(self, request: Request, headers: dict[str, str]) -> Response:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return _invalid("ids", str(len(ids)), "must name 1-100 posts", headers)
        found, errors = [], []
        for tid in ids:
            tweet = self._tweets.get(self._latest.get(tid, ""))
            if tweet is None:
                errors.append(_resource_error(tid, "Not Found Error", "resource-not-found"))
            elif self._users[tweet["author_id"]].get("protected"):
                errors.append(
                    _resource_error(tid, "Authorization Error", "not-authorized-for-resource")
                )
            else:
                found.append(tweet)
        body: dict[str, Any] = self._envelope(found) if found else {}
        if errors:
            body["errors"] = errors
        return _json(200, body, headers)

    def _envelope(self, tweets: list[Tweet]) -> dict[str, Any]:
        users: dict[str, Any] = {}
        included: dict[str, Tweet] = {}
        for t in tweets:
            users[t["author_id"]] = self._users[t["author_id"]]
            for ref in t.get("referenced_tweets", []):
                other = self._tweets.get(self._latest.get(ref["id"], ""))
                if other is not None:
                    included[other["id"]] = other
                    users[other["author_id"]] = self._users[other["author_id"]]
        includes: dict[str, Any] = {"users": list(users.values())}
        if included:
            includes["tweets"] = list(included.values())
        return copy.deepcopy({"data": tweets, "includes": includes})


def _retweeted(t: Tweet) -> list[dict[str, str]]:
    return [r for r in t.get("referenced_tweets", []) if r["type"] == "retweeted"]


def _order(tweet_id: str) -> tuple[int, str]:
    return (len(tweet_id), tweet_id)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _display(url: str) -> str:
    bare = url.split("://", 1)[-1]
    return bare if len(bare) <= 26 else bare[:25] + "…"


def _encode(tweet_id: str) -> str:
    # "base32hex-encoded", like the real tokens; opaque to clients.
    return base64.b32hexencode(f"below:{tweet_id}".encode()).decode().rstrip("=").lower()


def _decode(token: str) -> str | None:
    try:
        raw = base64.b32hexdecode(token.upper() + "=" * (-len(token) % 8)).decode()
    except ValueError:
        return None
    tid = raw.removeprefix("below:")
    return tid if raw.startswith("below:") and tid.isdigit() else None


def _resource_error(tid: str, title: str, kind: str) -> dict[str, Any]:
    return {
        "value": tid,
        "detail": f"Could not find tweet with ids: [{tid}].",
        "title": title,
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": tid,
        "type": f"{PROBLEMS}/{kind}",
    }


def _invalid(name: str, value: str, problem: str, headers: dict[str, str]) -> Response:
    body = {
        "errors": [{"parameters": {name: [value]}, "message": f"The `{name}` {problem}"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }
    return _json(400, body, headers)


def _problem(
    status: int, title: str, detail: str, kind: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"title": title, "detail": detail, "type": kind, "status": status}
    return _json(status, body, headers or {}, "application/problem+json")


def _json(
    status: int, body: Any, headers: Mapping[str, str], kind: str = "application/json"
) -> Response:
    return Response(
        status,
        {**headers, "Content-Type": f"{kind}; charset=utf-8"},
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
    )
