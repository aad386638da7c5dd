"""A Mastodon server's hashtag timelines, simulated for :class:`LoopbackServer`.

``MastodonSim`` is an ``App``: ``LoopbackServer(MastodonSim(...))``. It serves

* ``GET /api/v1/timelines/tag/<tag>``: public statuses carrying the tag, newest
  first, with ``limit`` (default 20, max 40), ``max_id``, ``since_id``, ``min_id``,
  ``local``/``remote``/``only_media``, and a ``Link`` header (``rel="next"`` →
  ``max_id=<last id>``, ``rel="prev"`` → ``min_id=<first id>``, absolute, only the
  parameters Mastodon keeps, none on an empty page), as in
  ``mastodon/documentation`` ``methods/timelines.md`` and ``api/guidelines.md``;
* ``GET /api/v1/statuses/<id>``: a public or unlisted status, else 404;
* ``X-RateLimit-Limit/-Remaining/-Reset`` (ISO-8601 reset, windows aligned like
  rack-attack's) on every API response, and 429 once the budget is spent;
* 401 when a token is required and missing or wrong.

Statuses are real Mastodon Status JSON (``make_status`` builds one); a status is on a
tag's timeline when its ``tags[].name`` has the tag, so edits that change tags move
it. The sim is thread-safe: tests add, edit and delete statuses while it serves.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, unquote, urlencode

from aggregator.demo.httpserver import Request, Response

Status = dict[str, Any]

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
# The tag controller copies only these into Link URLs (tag_controller.rb PERMITTED_PARAMS).
LINK_PARAMS = ("local", "limit", "only_media")
_TAG_PATH = re.compile(r"^/api/v1/timelines/tag/([^/]+)$")
_STATUS_PATH = re.compile(r"^/api/v1/statuses/([^/]+)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snowflake_id(at: datetime, sequence: int = 0) -> str:
    """A Mastodon id for a status created at ``at``: milliseconds << 16 | sequence.

    Backfilled statuses get ids from their publication time too, which is how a
    status can appear *below* a client's ``min_id`` cursor.
    """
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    return str((ms << 16) | (sequence & 0xFFFF))


def id_order(status_id: str) -> tuple[int, str]:
    return (len(status_id), status_id)


def iso(at: datetime) -> str:
    """Mastodon's timestamp format: ``2026-08-01T13:55:55.867Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def make_account(
    username: str,
    *,
    domain: str = "mastodon.example",
    home: str | None = None,
    display_name: str = "",
    note: str = "",
    noindex: bool = False,
    bot: bool = False,
) -> dict[str, Any]:
    """An Account as ``domain`` serves it; ``home`` is the account's own server."""
    home = home or domain
    number = int(hashlib.sha256(f"{username}@{home}".encode()).hexdigest()[:15], 16)
    avatar = f"https://{domain}/avatars/original/missing.png"
    return {
        "id": str(number),
        "username": username,
        "acct": username if home == domain else f"{username}@{home}",
        "display_name": display_name,
        "locked": False,
        "bot": bot,
        "discoverable": True,
        "indexable": not noindex,
        "group": False,
        "created_at": "2024-01-01T00:00:00.000Z",
        "note": note,
        "url": f"https://{home}/@{username}",
        "uri": f"https://{home}/users/{username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": f"https://{domain}/headers/original/missing.png",
        "header_static": f"https://{domain}/headers/original/missing.png",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 1,
        "last_status_at": None,
        "noindex": noindex,
        "emojis": [],
        "fields": [],
    }


def make_status(
    status_id: str,
    *,
    created_at: datetime,
    content: str,
    account: Mapping[str, Any],
    tags: Sequence[str] = (),
    domain: str = "mastodon.example",
    visibility: str = "public",
    spoiler_text: str = "",
    language: str | None = "en",
    in_reply_to_id: str | None = None,
    replies: int = 0,
    reblogs: int = 0,
    favourites: int = 0,
) -> Status:
    """A Status as ``domain`` serves it; ``content`` is the (already HTML) body.

    ``uri``/``url`` live on the author's server, as they do for federated statuses.
    """
    acct = str(account["acct"])
    home = acct.split("@", 1)[1] if "@" in acct else domain
    username = str(account["username"])
    return {
        "id": status_id,
        "created_at": iso(created_at),
        "in_reply_to_id": in_reply_to_id,
        "in_reply_to_account_id": None,
        "sensitive": bool(spoiler_text),
        "spoiler_text": spoiler_text,
        "visibility": visibility,
        "language": language,
        "uri": f"https://{home}/users/{username}/statuses/{status_id}",
        "url": f"https://{home}/@{username}/{status_id}",
        "replies_count": replies,
        "reblogs_count": reblogs,
        "favourites_count": favourites,
        "quotes_count": 0,
        "edited_at": None,
        "content": content,
        "reblog": None,
        "application": None,
        "account": dict(account),
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": t.lower(), "url": f"https://{domain}/tags/{t.lower()}"} for t in tags],
        "emojis": [],
        "card": None,
        "poll": None,
        "quote": None,
    }


class MastodonSim:
    """One simulated Mastodon server. Call it with a :class:`Request`.

    ``token``: when set, every API request needs ``Authorization: Bearer <token>``.
    ``rate_limit`` requests per ``rate_window`` (Mastodon: 300 per 5 minutes), then
    429 (with ``Retry-After`` unless ``retry_after_header`` is false; real Mastodon
    sends only the ``X-RateLimit-*`` headers). ``unknown_tag``: ``"404"`` answers
    ``{"error":"Record not found"}`` as the API docs say; ``"empty"`` answers ``[]``
    as current Mastodon code does. ``clock`` gives the sim's time (UTC).
    """

    def __init__(
        self,
        statuses: Iterable[Mapping[str, Any]] = (),
        *,
        domain: str = "mastodon.example",
        token: str | None = None,
        rate_limit: int = 300,
        rate_window: timedelta = timedelta(minutes=5),
        retry_after_header: bool = True,
        unknown_tag: Literal["404", "empty"] = "404",
        known_tags: Iterable[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_lookup: bool = True,
    ) -> None:
        self.domain = domain
        self.token = token
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.retry_after_header = retry_after_header
        self.unknown_tag = unknown_tag
        self.clock = clock
        self.batch_lookup = batch_lookup
        """``GET /api/v1/statuses?id[]=`` exists (Mastodon 4.3+); False answers 404."""
        self._lock = threading.Lock()
        self._statuses: dict[str, Status] = {}
        self._known_tags = {_normalize_tag(t) for t in known_tags}
        self._window = -1
        self._used = 0
        self._sequence = 0
        for status in statuses:
            self.add(status)

    # -- content -------------------------------------------------------------------

    def add(self, status: Mapping[str, Any]) -> Status:
        """Store a copy of ``status`` (it needs an ``id``); its tags become known."""
        stored = copy.deepcopy(dict(status))
        with self._lock:
            if stored["id"] in self._statuses:
                raise ValueError(f"status {stored['id']} already exists")
            self._statuses[stored["id"]] = stored
            self._known_tags.update(_tag_names(stored))
        return copy.deepcopy(stored)

    def post(
        self,
        content: str,
        *,
        account: Mapping[str, Any],
        tags: Sequence[str],
        at: datetime | None = None,
        **fields: Any,
    ) -> Status:
        """A status arriving now (or at ``at``), with a fresh snowflake id for that time."""
        at = at or self.clock()
        with self._lock:
            self._sequence += 1
            status_id = snowflake_id(at, self._sequence)
        status = make_status(
            status_id,
            created_at=at,
            content=content,
            account=account,
            tags=tags,
            domain=self.domain,
            **fields,
        )
        return self.add(status)

    def edit(
        self,
        status_id: str,
        *,
        content: str | None = None,
        spoiler_text: str | None = None,
        tags: Sequence[str] | None = None,
        at: datetime | None = None,
    ) -> Status:
        """Edit in place, as Mastodon does: same id and uri, new ``edited_at``."""
        with self._lock:
            status = self._statuses[status_id]
            if content is not None:
                status["content"] = content
            if spoiler_text is not None:
                status["spoiler_text"] = spoiler_text
                status["sensitive"] = bool(spoiler_text)
            if tags is not None:
                status["tags"] = [
                    {"name": t.lower(), "url": f"https://{self.domain}/tags/{t.lower()}"}
                    for t in tags
                ]
                self._known_tags.update(_tag_names(status))
            status["edited_at"] = iso(at or self.clock())
            return copy.deepcopy(status)

    def delete(self, status_id: str) -> Status:
        with self._lock:
            return self._statuses.pop(status_id)

    def get(self, status_id: str) -> Status | None:
        with self._lock:
            status = self._statuses.get(status_id)
            return copy.deepcopy(status) if status is not None else None

    def timeline(self, tag: str) -> list[Status]:
        """What the tag timeline holds: public statuses with the tag, newest first."""
        name = _normalize_tag(tag)
        with self._lock:
            found = [
                s
                for s in self._statuses.values()
                if s.get("visibility") == "public" and name in _tag_names(s)
            ]
        return sorted(found, key=lambda s: id_order(s["id"]), reverse=True)

    # -- rate limit ----------------------------------------------------------------

    def set_remaining(self, remaining: int) -> None:
        """Pretend other clients spent the budget: ``remaining`` requests are left."""
        with self._lock:
            self._roll_window(self.clock())
            self._used = max(0, self.rate_limit - remaining)

    # -- HTTP ------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        now = self.clock()
        if not request.path.startswith("/api/"):
            return _json(404, {"error": "Not Found"})
        with self._lock:
            reset = self._roll_window(now)
            self._used += 1
            remaining = self.rate_limit - self._used
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": iso(reset),
        }
        if remaining < 0:
            if self.retry_after_header:
                headers["Retry-After"] = str(max(1, math.ceil((reset - now).total_seconds())))
            return _json(429, {"error": "Too many requests"}, headers)
        denied = self._check_token(request)
        if denied is not None:
            return _json(401, {"error": denied}, headers)
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"error": "Method not allowed"}, headers)
        if m := _TAG_PATH.match(request.path):
            return self._tag_timeline(request, unquote(m.group(1)), headers)
        if request.path == "/api/v1/statuses" and self.batch_lookup:
            # Mastodon 4.3+: several statuses at once; only the visible ones come back,
            # and more than 20 ids is refused.
            ids = request.query.get("id[]", [])
            if len(ids) > 20:
                return _json(422, {"error": "Too many ids"}, headers)
            found = [s for s in (self.get(i) for i in ids) if s is not None]
            visible = [s for s in found if s.get("visibility") in ("public", "unlisted")]
            return _json(200, visible, headers)
        if m := _STATUS_PATH.match(request.path):
            status = self.get(unquote(m.group(1)))
            if status is None or status.get("visibility") not in ("public", "unlisted"):
                return _json(404, {"error": "Record not found"}, headers)
            return _json(200, status, headers)
        return _json(404, {"error": "Not Found"}, headers)

    def _roll_window(self, now: datetime) -> datetime:
        # Windows aligned to multiples of the period, like rack-attack's throttles.
        period = self.rate_window.total_seconds()
        window = math.floor((now - _EPOCH).total_seconds() / period)
        if window != self._window:
            self._window, self._used = window, 0
        return _EPOCH + timedelta(seconds=(window + 1) * period)

    def _check_token(self, request: Request) -> str | None:
        if self.token is None:
            return None
        given = request.headers.get("authorization", "")
        if not given:
            return "This method requires an authenticated user"
        if given != f"Bearer {self.token}":
            return "The access token is invalid"
        return None

    def _tag_timeline(self, request: Request, tag: str, headers: dict[str, str]) -> Response:
        name = _normalize_tag(tag)
        with self._lock:
            known = name in self._known_tags
        if not known and self.unknown_tag == "404":
            return _json(404, {"error": "Record not found"}, headers)
        statuses = self.timeline(name)
        if _truthy(request.arg("local")):
            statuses = [s for s in statuses if "@" not in s["account"]["acct"]]
        elif _truthy(request.arg("remote")):
            statuses = [s for s in statuses if "@" in s["account"]["acct"]]
        if _truthy(request.arg("only_media")):
            statuses = [s for s in statuses if s.get("media_attachments")]
        page = _paginate(
            statuses,
            limit=_limit(request.arg("limit")),
            max_id=request.arg("max_id") or None,
            since_id=request.arg("since_id") or None,
            min_id=request.arg("min_id") or None,
        )
        if page:
            kept = {k: v for k in LINK_PARAMS if (v := request.arg(k)) is not None}
            url = f"{request.base_url}/api/v1/timelines/tag/{quote(tag, safe='')}"
            older = urlencode({**kept, "max_id": page[-1]["id"]})
            newer = urlencode({**kept, "min_id": page[0]["id"]})
            headers["Link"] = f'<{url}?{older}>; rel="next", <{url}?{newer}>; rel="prev"'
        return _json(200, page, headers)


def _paginate(
    statuses: list[Status],
    *,
    limit: int,
    max_id: str | None,
    since_id: str | None,
    min_id: str | None,
) -> list[Status]:
    """Mastodon's ``paginate_by_id``: ``min_id`` takes the chunk just above it."""
    if max_id is not None:
        statuses = [s for s in statuses if id_order(s["id"]) < id_order(max_id)]
    if min_id is not None:
        above = [s for s in statuses if id_order(s["id"]) > id_order(min_id)]
        return above[len(above) - limit :] if limit else []
    if since_id is not None:
        statuses = [s for s in statuses if id_order(s["id"]) > id_order(since_id)]
    return statuses[:limit]


def _limit(value: str | None) -> int:
    # Rails: [params[:limit].to_i.abs, DEFAULT * 2].min; to_i reads leading digits.
    if value is None:
        return DEFAULT_LIMIT
    m = re.match(r"\s*[-+]?(\d+)", value)
    return min(int(m.group(1)) if m else 0, MAX_LIMIT)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "t", "on", "yes")


def _normalize_tag(tag: str) -> str:
    return unicodedata.normalize("NFKC", tag).lower().lstrip("#")


def _tag_names(status: Mapping[str, Any]) -> set[str]:
    return {_normalize_tag(str(t["name"])) for t in status.get("tags") or ()}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status,
        {**(headers or {}), "Content-Type": "application/json; charset=utf-8"},
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
    )
