"""Reddit: submissions in one subreddit that carry the event's hashtags.

``GET {api}/r/{sub}/search?q=#a OR #b&restrict_sr=1&sort=new&limit=100&raw_json=1``
(``shared/docs/source-apis.md`` §6), paged with ``after=<fullname>``. Reddit requires
OAuth: an app's credentials (client-credentials grant, ``POST {auth_url}`` with HTTP
Basic) give a bearer token, kept in this process until it expires and never written
anywhere; a 401 drops it and asks for a new one once. Every request sends the
descriptive User-Agent Reddit requires.

Per fetch, within ``ctx.max_pages`` pages:

1. walk down from the newest submission until a page reaches the cursor minus
   :data:`OVERLAP` (search results arrive late and the cursor is a time, so a deleted
   cursor submission cannot strand the walk), the horizon, or the listing's end
   (Reddit stops listings after about 1000 items);
2. if the cap or the rate limit cut that walk short, remember where (``backfill``) and
   continue down from there on the next fetches, with at least half of their pages,
   so no gap is left.

``X-Ratelimit-Remaining`` (a float string) and ``-Reset`` (seconds) are honoured: paging
stops when 5 % or less of the window's budget is left and ``next_check_hint`` asks to
wait for the reset. A 429 fails the fetch (``RateLimited``) unless pages were read
already, in which case those are kept and the hint asks to wait.

Deleted and removed submissions are left out (counted as ``deleted``/``removed``); a
stored one that is deleted later is found by :meth:`RedditSource.recheck`
(``GET /api/info?id=…``, 100 fullnames a request).

State (JSON)::

    {"v": 1, "subreddit": "AskUK", "query": "#a OR #b",
     "newest": "<ISO 8601 UTC>" | null,           # newest submission seen
     "backfill": {"after": "t3_…", "floor": "<ISO 8601 UTC>" | null} | null}
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import PermanentError, RateLimited, TemporaryError
from aggregator.models import (
    FetchResult,
    ItemData,
    JSONValue,
    RateLimit,
    RecheckResult,
    SourceState,
    StoredRef,
)
from aggregator.sources import FetchContext, keys
from aggregator.sources.options import endpoint_url, env_name, load_options
from aggregator.sources.reddit_parse import (
    parse_listing,
    parse_rate_limit,
    parse_token,
    search_query,
)
from aggregator.sources.state_codec import iso

PAGE_LIMIT = 100
INFO_BATCH = 100
OVERLAP = timedelta(hours=2)
TOKEN_MARGIN = timedelta(minutes=1)
_STATE_VERSION = 1
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}(?:\+[A-Za-z0-9][A-Za-z0-9_]{1,20})*$")
_USER_AGENT = re.compile(r"^\S+:\S+:\S+ \(by /u/[A-Za-z0-9_-]{3,20}\)$")


class RedditOptions(BaseModel):
    """The ``reddit`` keys of an ``[[events.sources]]`` table."""

    # A secret pasted where an env var name belongs must not be echoed in the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    subreddit: str = Field(
        description=(
            "The subreddit searched, without r/ (AskUK); several joined with + (a+b) are "
            "searched as one."
        )
    )
    client_id_env: str = Field(
        description=(
            "Name of the environment variable holding the Reddit app's client id. Reddit "
            "requires OAuth, and new apps need Reddit's approval."
        )
    )
    client_secret_env: str = Field(
        description="Name of the environment variable holding the Reddit app's secret."
    )
    user_agent: str = Field(
        description=(
            "The descriptive User-Agent Reddit requires: <platform>:<app ID>:<version> "
            "(by /u/<reddit username>), e.g. 'server:org.example.digest:1.0 (by /u/alice)'."
        )
    )
    api: str = Field(
        default="https://oauth.reddit.com",
        description="Base URL of the OAuth API; change it only to test against a simulator.",
    )
    auth_url: str = Field(
        default="https://www.reddit.com/api/v1/access_token",
        description="Where access tokens are granted; change it only to test.",
    )

    @field_validator("subreddit")
    @classmethod
    def _subreddit(cls, value: str) -> str:
        value = re.sub(r"^/?r/", "", value.strip()).strip("/")
        if not _SUBREDDIT.match(value):
            raise ValueError("must be a subreddit name like AskUK (letters, digits, _)")
        return value

    @field_validator("client_id_env", "client_secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return env_name(value, secret="secret")

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        if not _USER_AGENT.match(value.strip()):
            raise ValueError("must read <platform>:<app ID>:<version> (by /u/<username>)")
        return value.strip()

    @field_validator("api", "auth_url")
    @classmethod
    def _url(cls, value: str) -> str:
        # A fragment was always dropped here, never refused.
        return endpoint_url(value, example="e.g. https://oauth.reddit.com", fragment=True)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Backfill:
    after: str
    floor: datetime | None


@dataclass(frozen=True, slots=True)
class _Walk:
    after: str | None
    """Where an unfinished walk continues."""
    pages: int
    finished: bool


@dataclass(slots=True)
class _Run:
    """One fetch or re-check: credentials, counters and what was collected."""

    ctx: FetchContext
    options: RedditOptions
    tokens: dict[tuple[str, str, str], _Token]
    items: dict[str, ItemData] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    pages: int = 0
    newest: datetime | None = None
    rate_limit: RateLimit | None = None
    stopped: bool = False
    hint: datetime | None = None

    def credentials(self) -> tuple[str, str]:
        env = self.ctx.env
        found = []
        for name in (self.options.client_id_env, self.options.client_secret_env):
            value = env.get(name, "").strip()
            if not value:
                raise PermanentError(f"environment variable {name} is not set or empty")
            found.append(value)
        return found[0], found[1]

    async def token(self, *, renew: bool) -> str:
        client_id, secret = self.credentials()
        digest = hashlib.sha256(secret.encode()).hexdigest()
        key = (self.options.auth_url, client_id, digest)
        cached = self.tokens.get(key)
        if cached is not None and not renew and cached.expires_at > self.ctx.now:
            return cached.value
        self.tokens.pop(key, None)
        self.requests += 1
        what = f"the access token request to {self.options.auth_url}"
        response = await http.send(
            self.ctx.client,
            "POST",
            self.options.auth_url,
            what=what,
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            headers={"User-Agent": self.options.user_agent},
        )
        status = response.status_code
        if status == 429:
            raise RateLimited(f"HTTP 429 on {what}", self._retry_after(response))
        if status >= 500:
            raise TemporaryError(f"HTTP {status} on {what}")
        if status != 200:
            raise PermanentError(
                f"HTTP {status} on {what}: Reddit refused the app credentials named by "
                f"{self.options.client_id_env}/{self.options.client_secret_env}"
            )
        value, lifetime = parse_token(http.json_body(response))
        self.tokens[key] = _Token(value, self.ctx.now + lifetime - TOKEN_MARGIN)
        return value

    async def get(self, path: str, params: Mapping[str, str]) -> Any:
        url = self.options.api + path
        for attempt in (1, 2):
            token = await self.token(renew=attempt == 2)
            self.requests += 1
            response = await http.get(
                self.ctx.client,
                url,
                now=self.ctx.now,
                params=params,
                headers={"Authorization": f"bearer {token}", "User-Agent": self.options.user_agent},
                allow=frozenset({401, 429}),
            )
            self.rate_limit = parse_rate_limit(response.headers, self.ctx.now) or self.rate_limit
            if response.status_code == 429:
                raise RateLimited(f"HTTP 429 from {url}", self._retry_after(response))
            if response.status_code != 401:
                self._watch_headroom()
                return http.json_body(response)
        raise PermanentError(f"HTTP 401 from {url} with a fresh token: check the app's access")

    def _retry_after(self, response: httpx.Response) -> timedelta | None:
        retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
        reset = parse_rate_limit(response.headers, self.ctx.now)
        if retry is None and reset is not None and reset.reset_at is not None:
            retry = max(reset.reset_at - self.ctx.now, timedelta(0))
        return retry

    def _watch_headroom(self) -> None:
        rl = self.rate_limit
        if rl is not None and rl.nearly_spent:
            self.stopped = True
            self.hint = rl.reset_at

    async def walk(
        self, query: str, after: str | None, floor: datetime | None, budget: int
    ) -> _Walk:
        """Newest first from ``after`` until a page reaches ``floor`` or the end."""
        pages = 0
        horizon = self.ctx.horizon
        floor = horizon if floor is None else max(floor, horizon or floor)
        while pages < budget and not self.stopped:
            params = {
                "q": query,
                "restrict_sr": "1",
                "sort": "new",
                "limit": str(PAGE_LIMIT),
                "raw_json": "1",
                **({"after": after} if after else {}),
            }
            try:
                payload = await self.get(f"/r/{self.options.subreddit}/search", params)
            except RateLimited as e:
                if self.pages == 0:
                    raise  # nothing read: fail like any 429, with its Retry-After
                self.stopped = True
                self.hint = self.ctx.now + (e.retry_after or timedelta(minutes=1))
                break
            page = parse_listing(payload, since=horizon)
            pages += 1
            self.pages += 1
            self.items.update((item.key, item) for item in page.items)
            self.removed.update(page.removed)
            if page.newest_at is not None and (self.newest is None or page.newest_at > self.newest):
                self.newest = page.newest_at
            reached = floor is not None and page.oldest_at is not None and page.oldest_at <= floor
            if page.after is None or page.count == 0 or reached or page.after == after:
                return _Walk(None, pages, finished=True)
            after = page.after
        return _Walk(after, pages, finished=False)


class RedditSource:
    """The ``reddit`` platform. Holds only the in-process token cache."""

    platform: ClassVar[str] = "reddit"
    Options: ClassVar[type[BaseModel]] = RedditOptions

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, RedditOptions):
            raise TypeError(f"expected RedditOptions, got {type(options).__name__}")
        return f"r/{options.subreddit}"

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        options = _options(source)
        if not source.spec.hashtags:
            raise PermanentError("a reddit source needs at least one hashtag")
        query = search_query(source.spec.hashtags)
        newest, backfill = _load(source.state, options.subreddit, query)
        run = _Run(ctx, options, self._tokens)
        budget = max(1, ctx.max_pages)
        # A pending gap gets half the pages (at least one), or new posts could take every
        # page on every fetch and the gap would never close.
        spent = 0
        floor = newest - OVERLAP if newest is not None else None
        top_budget = budget - (max(1, budget // 2) if backfill is not None else 0)
        if top_budget > 0:
            top = await run.walk(query, None, floor, top_budget)
            spent = top.pages
            if not top.finished and top.after is not None:
                # The walk stopped above the cursor: what lies between is read later,
                # down to the lower of this floor and any older gap's.
                older = backfill.floor if backfill is not None else floor
                lowest = None if older is None or floor is None else min(older, floor)
                backfill = _Backfill(top.after, lowest)
        if backfill is not None and budget > spent and not run.stopped:
            rest = await run.walk(query, backfill.after, backfill.floor, budget - spent)
            if rest.finished:
                backfill = None
            elif rest.after is not None:
                backfill = _Backfill(rest.after, backfill.floor)
        seen = max((t for t in (newest, run.newest) if t is not None), default=None)
        return FetchResult(
            items=tuple(run.items.values()),
            state=_dump(options.subreddit, query, seen, backfill),
            excluded=dict(Counter(run.removed.values())),
            rate_limit=run.rate_limit,
            requests=run.requests,
            next_check_hint=run.hint,
            cursor_before=iso(newest),
            cursor_after=iso(seen),
            query=f"r/{options.subreddit} search: {query}",
        )

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """``GET /api/info?id=t3_a,t3_b,…``: a submission missing, deleted or removed is gone."""
        options = _options(source)
        run = _Run(ctx, options, self._tokens)
        names = list(
            dict.fromkeys(r.key[len(keys.reddit_post("")) :] for r in refs if _is_ours(r.key))
        )
        gone: set[str] = set()
        for start in range(0, len(names), INFO_BATCH):
            if run.stopped:
                break  # the window's budget is nearly spent: the rest waits for its turn
            chunk = names[start : start + INFO_BATCH]
            payload = await run.get("/api/info", {"id": ",".join(chunk), "raw_json": "1"})
            page = parse_listing(payload)
            run.items.update((item.key, item) for item in page.items)
            gone |= {keys.reddit_post(n) for n in chunk} - {item.key for item in page.items}
        return RecheckResult(
            items=tuple(run.items.values()), gone=frozenset(gone), requests=run.requests
        )


SOURCE = RedditSource()


def _is_ours(key: str) -> bool:
    return key.startswith(keys.reddit_post("t3_"))


def _options(source: SourceState) -> RedditOptions:
    return load_options(RedditOptions, source.spec.options, "reddit")


def _load(
    state: Mapping[str, JSONValue], subreddit: str, query: str
) -> tuple[datetime | None, _Backfill | None]:
    """Tolerant: a state for another subreddit or query, or unreadable, starts afresh."""
    if state.get("v") != _STATE_VERSION or state.get("subreddit") != subreddit:
        return None, None
    if state.get("query") != query:
        return None, None
    newest = _when(state.get("newest"))
    backfill = state.get("backfill")
    if isinstance(backfill, dict) and isinstance(backfill.get("after"), str):
        return newest, _Backfill(backfill["after"], _when(backfill.get("floor")))
    return newest, None


def _dump(
    subreddit: str, query: str, newest: datetime | None, backfill: _Backfill | None
) -> dict[str, JSONValue]:
    return {
        "v": _STATE_VERSION,
        "subreddit": subreddit,
        "query": query,
        "newest": iso(newest),
        "backfill": None
        if backfill is None
        else {"after": backfill.after, "floor": iso(backfill.floor)},
    }


def _when(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


__all__ = ["SOURCE", "RedditOptions", "RedditSource"]
