"""X (Twitter) recent search: the fetcher (I/O) over :mod:`.x_parse` (pure).

One ``GET {api}/2/tweets/search/recent`` query per source, ``(#tag1 OR #tag2) <extra>``,
polled the way the API documents it (``shared/docs/source-apis.md`` §3, paginate.mdx):

1. A **cycle** starts with ``since_id`` = the newest id of the previous completed
   cycle (the first cycle uses ``start_time`` = the event's horizon instead, when
   that is within the 7-day window) and follows ``next_token`` until it is absent.
2. The cycle's ``since_id`` is **held** on every page of the cycle; only when the cycle
   finishes does ``since_id`` advance, to the ``newest_id`` of the cycle's *first*
   page. Paging newest-first below a moving ``since_id`` would skip posts.
3. When ``ctx.max_pages`` (or the rate-limit headroom) runs out mid-cycle, the cycle
   (its ``since_id``, ``next_token`` and first ``newest_id``) is saved and the next
   fetch resumes it; posts that arrive meanwhile are read by the following cycle.

A ``since_id`` or ``start_time`` older than the recent-search window (7 days) is
refused by the API (HTTP 400); after a long pause the fetch starts a fresh window
instead of failing forever (posts older than 7 days are out of reach anyway).

Every post read is billed (pay-per-use, $0.005 a post): ``max_results`` defaults to
100 and nothing is re-read on purpose; edits arrive as new ids and update their item.

Errors: 429 → ``RateLimited`` until ``x-rate-limit-reset``; 400/401/402/403/404 →
``PermanentError`` with the API's problem ``title: detail`` (credits exhausted,
client not enrolled, invalid query). The bearer token is only ever sent in the
``Authorization`` header and scrubbed from any message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import ParseError, PermanentError, RateLimited
from aggregator.models import (
    ExcludedItem,
    FetchResult,
    ItemData,
    JSONValue,
    RateLimit,
    RecheckResult,
    SourceState,
    StoredRef,
)
from aggregator.sources import FetchContext
from aggregator.sources.options import env_name, load_options, server_url
from aggregator.sources.x_parse import (
    ParsedPage,
    id_order,
    parse_page,
    parse_rate_limit,
    problem_message,
    snowflake_time,
)

STATE_VERSION = 1
MAX_QUERY = 512
"""Recent search accepts queries of at most 512 characters (introduction.mdx)."""
WINDOW = timedelta(days=7)
WINDOW_MARGIN = timedelta(minutes=10)
"""Stay this far inside the 7-day window: the request takes time to arrive."""
LOOKUP_BATCH = 100
TWEET_FIELDS = (
    "author_id,conversation_id,created_at,edit_history_tweet_ids,entities,"
    "in_reply_to_user_id,lang,note_tweet,public_metrics,referenced_tweets"
)
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id"
# description and protected: what consent needs; the rest is what items show.
USER_FIELDS = "description,name,profile_image_url,protected,username"
_FIELDS = {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, "user.fields": USER_FIELDS}
_ERROR_STATUSES = frozenset({400, 401, 402, 403, 404, 429})


class XOptions(BaseModel):
    """The X keys of an ``[[events.sources]]`` table."""

    # A token pasted into bearer_token_env by mistake must not be echoed in the error.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    bearer_token_env: str = Field(
        description=(
            "Name of the environment variable holding the app's bearer token (X developer "
            "portal, an app attached to a project). The name, never the token itself: "
            "configuration files get shared."
        )
    )
    api: str = Field(
        default="https://api.x.com",
        description=(
            "Base URL of the X API. Change it only for a proxy or a test server; plain "
            "http:// is only allowed for loopback addresses."
        ),
    )
    query_extra: str | None = Field(
        default=None,
        description=(
            "Search operators added after the hashtags, e.g. '-is:retweet lang:en'. "
            "Every post read is billed, so narrowing the query here saves credits."
        ),
    )
    max_results: int = Field(
        default=100,
        ge=10,
        le=100,
        description="Posts per page (10-100); fewer requests at 100 for the same posts.",
    )

    @field_validator("bearer_token_env")
    @classmethod
    def _check_env(cls, value: str) -> str:
        return env_name(value, field="bearer_token_env", secret="token")

    @field_validator("api")
    @classmethod
    def _check_api(cls, value: str) -> str:
        return server_url(value, field="api", example="e.g. https://api.x.com")

    @field_validator("query_extra")
    @classmethod
    def _check_extra(cls, value: str | None) -> str | None:
        value = " ".join((value or "").split())
        if len(value) > MAX_QUERY // 2:
            raise ValueError(f"query_extra must be at most {MAX_QUERY // 2} characters")
        return value or None


def build_query(hashtags: Sequence[str], extra: str | None) -> str:
    tags = " OR ".join(f"#{t}" for t in hashtags)
    query = f"({tags})" if len(hashtags) > 1 else tags
    return f"{query} {extra}" if extra else query


@dataclass(frozen=True, slots=True)
class _Cycle:
    """A polling cycle: pages below ``since_id`` (or after ``start_time``), newest first."""

    since_id: str | None = None
    start_time: datetime | None = None
    next_token: str | None = None
    """Set once the first page is read: where the cycle continues."""
    newest_id: str | None = None
    """The first page's newest id: the next cycle's ``since_id``."""

    @classmethod
    def load(cls, value: Any) -> _Cycle | None:
        if not isinstance(value, dict) or not _is_id(value.get("next_token"), token=True):
            return None
        start = value.get("start_time")
        try:
            start_time = datetime.fromisoformat(start) if isinstance(start, str) else None
        except ValueError:
            start_time = None
        return cls(
            since_id=value["since_id"] if _is_id(value.get("since_id")) else None,
            start_time=start_time if start_time and start_time.tzinfo else None,
            next_token=value["next_token"],
            newest_id=value["newest_id"] if _is_id(value.get("newest_id")) else None,
        )

    def dump(self) -> dict[str, JSONValue]:
        return {
            "since_id": self.since_id,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "next_token": self.next_token,
            "newest_id": self.newest_id,
        }


@dataclass(slots=True)
class _Run:
    """One fetch or re-check of one source: budget, counters, collected items."""

    ctx: FetchContext
    api: str
    token: str
    items: dict[str, ItemData] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    excluded_at: dict[str, datetime] = field(default_factory=dict)
    requests: int = 0
    rate_limit: RateLimit | None = None
    stopped: bool = False
    next_check_hint: datetime | None = None

    async def get(
        self, path: str, params: Mapping[str, str], *, since: datetime | None = None
    ) -> ParsedPage:
        url = f"{self.api}{path}"
        self.requests += 1
        try:
            response = await http.get(
                self.ctx.client,
                url,
                now=self.ctx.now,
                params={**params, **_FIELDS},
                headers={"Authorization": f"Bearer {self.token}"},
                allow=_ERROR_STATUSES,
            )
        except ParseError as e:  # the message may quote the body, and a body the request
            raise ParseError(self._scrub(str(e))) from None
        self.rate_limit = parse_rate_limit(response.headers) or self.rate_limit
        if response.status_code in _ERROR_STATUSES:
            self._fail(response, url)
        try:
            page = parse_page(
                http.json_body(response),
                since=since,
                optout_tags=self.ctx.consent.optout_tags,
            )
        except ParseError as e:
            raise ParseError(self._scrub(f"{url}: {e}")) from e
        for item in page.items:
            old = self.items.get(item.key)
            # Pages run newest first: an older version of an edited post comes later.
            if old is None or id_order(str(item.raw["id"])) > id_order(str(old.raw["id"])):
                self.items[item.key] = item
        self.excluded.update(page.excluded_keys)
        self.excluded_at.update(page.excluded_at)
        self._watch_headroom()
        return page

    def _fail(self, response: httpx.Response, url: str) -> NoReturn:
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        what = self._scrub(
            f"HTTP {status} from {url}: {problem_message(body, response.reason_phrase)}"
        )
        if status == 429:
            retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
            if retry is None and self.rate_limit and self.rate_limit.reset_at:
                retry = max(self.rate_limit.reset_at - self.ctx.now, timedelta(0))
            raise RateLimited(what, retry)
        raise PermanentError(what)

    def _scrub(self, message: str) -> str:
        return message.replace(self.token, "[token]") if self.token else message

    def _watch_headroom(self) -> None:
        # The app's budget is shared by every X source (and re-check) using the token:
        # stop paging while some is left, and come back after the reset.
        rl = self.rate_limit
        if rl is not None and rl.nearly_spent:
            self.stopped = True
            self.next_check_hint = rl.reset_at


class XSource:
    """The ``x`` platform. Stateless: everything a fetch needs is its arguments.

    State, per source (opaque to everything else)::

        {"version": 1, "query": "(#a OR #b) -is:retweet",
         "since_id": "<newest id of the last completed cycle>" | null,
         "cycle": null | {"since_id": "<id>" | null, "start_time": "<ISO>" | null,
                          "next_token": "<token>", "newest_id": "<id>" | null}}

    A changed query (hashtags, ``query_extra``) starts afresh; the store dedupes.
    """

    platform: ClassVar[str] = "x"
    Options: ClassVar[type[BaseModel]] = XOptions

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, XOptions):
            raise TypeError(f"expected XOptions, got {type(options).__name__}")
        host = urlsplit(options.api).netloc
        # Two X sources of one event differ by their extra operators: keep ids apart.
        return f"{host} {options.query_extra}" if options.query_extra else host

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        """Read the next pages of the current cycle. Raises only ``SourceError``."""
        options = _options(source)
        if not source.spec.hashtags:
            raise PermanentError("an x source needs at least one hashtag")
        query = build_query(source.spec.hashtags, options.query_extra)
        if len(query) > MAX_QUERY:
            raise PermanentError(
                f"the search query is {len(query)} characters, recent search allows "
                f"{MAX_QUERY}: follow fewer hashtags or shorten query_extra"
            )
        run = _Run(ctx=ctx, api=options.api, token=_token(options, ctx.env))
        same = source.state.get("version") == STATE_VERSION and source.state.get("query") == query
        since_id = source.state.get("since_id") if same else None
        since_id = since_id if _is_id(since_id) else None
        cycle = (_Cycle.load(source.state.get("cycle")) if same else None) or _Cycle(
            since_id=since_id
        )
        before = _describe(since_id, cycle)
        cycle = _in_window(cycle, ctx)
        params = {"query": query, "max_results": str(options.max_results), "sort_order": "recency"}
        pages, finished = 0, False
        while pages < ctx.max_pages and not run.stopped:
            page = await run.get(
                "/2/tweets/search/recent", {**params, **_cursor(cycle)}, since=ctx.horizon
            )
            pages += 1
            if cycle.next_token is None:
                cycle = replace(cycle, newest_id=page.newest_id or cycle.since_id)
            if page.next_token is None or page.next_token == cycle.next_token:
                finished = True  # (a repeated token would spin the budget away)
                break
            cycle = replace(cycle, next_token=page.next_token)
        if finished:
            since_id = cycle.newest_id or since_id
        state: dict[str, JSONValue] = {
            "version": STATE_VERSION,
            "query": query,
            "since_id": since_id,
            "cycle": None if finished or cycle.next_token is None else cycle.dump(),
        }
        return FetchResult(
            items=tuple(run.items.values()),
            state=state,
            excluded=dict(Counter(run.excluded.values())),
            excluded_items=_consent_exclusions(run),
            rate_limit=run.rate_limit,
            requests=run.requests,
            next_check_hint=run.next_check_hint,
            cursor_before=before,
            cursor_after=_describe(since_id, None if finished else cycle),
        )

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Look the stored posts up again (``GET /2/tweets?ids=``, 100 a request, at
        most ``ctx.max_pages`` requests): present ones come back as items (edits, new
        counts), ones the API calls not found or not authorized are gone."""
        options = _options(source)
        run = _Run(ctx=ctx, api=options.api, token=_token(options, ctx.env))
        names: dict[str, str] = {}  # every key and alias → the stored key
        lookup: dict[str, str] = {}  # id asked for → the stored key
        for ref in refs:
            for name in (ref.key, *ref.aliases):
                names[name] = ref.key
            tid = ref.platform_id or ref.key.removeprefix("x:")
            if _is_id(tid):
                lookup[tid] = ref.key
        gone: set[str] = set()
        checked: set[str] = set()
        ids = list(lookup)
        for start in range(0, len(ids), LOOKUP_BATCH):
            if start // LOOKUP_BATCH >= ctx.max_pages or run.stopped:
                break
            batch = ids[start : start + LOOKUP_BATCH]
            page = await run.get("/2/tweets", {"ids": ",".join(batch)})
            seen = {
                names[k] for item in page.items for k in (item.key, *item.aliases) if k in names
            }
            seen |= {names[k] for k in page.excluded_keys if k in names}
            checked.update(lookup[t] for t in batch)
            gone.update(
                lookup[t] for t in batch if lookup[t] not in seen and t not in page.error_ids
            )
        items = []
        for item in run.items.values():
            key = next((names[k] for k in (item.key, *item.aliases) if k in names), None)
            # Asked for by an old id, the API may answer with that old version (edit-
            # posts.mdx): it must not overwrite a newer one; search brings edits anyway.
            history = item.raw.get("edit_history_tweet_ids")
            if isinstance(history, list) and history and history[-1] != item.raw["id"]:
                continue
            if key is not None and key in checked:
                items.append(item if item.key == key else replace(item, key=key))
        # A missing author ("unavailable") says nothing about consent: not gone.
        left_out = {
            names[k]: r for k, r in run.excluded.items() if k in names and r != "unavailable"
        }
        return RecheckResult(
            items=tuple(items),
            gone=frozenset(gone | set(left_out)),
            excluded=dict(Counter(left_out.values())),
            excluded_keys=left_out,
            requests=run.requests,
        )


SOURCE = XSource()


def _options(source: SourceState) -> XOptions:
    return load_options(XOptions, source.spec.options, "x")


def _consent_exclusions(run: _Run) -> tuple[ExcludedItem, ...]:
    # "unavailable" (an original or author the response did not include) is counted
    # in ``excluded`` for the run's record, but it is no one's choice: not recorded.
    return tuple(
        ExcludedItem(key, reason, run.excluded_at.get(key))
        for key, reason in run.excluded.items()
        if reason != "unavailable"
    )


def _token(options: XOptions, env: Mapping[str, str]) -> str:
    token = env.get(options.bearer_token_env, "").strip()
    if not token:
        raise PermanentError(
            f"environment variable {options.bearer_token_env} (bearer_token_env) "
            "is not set or empty"
        )
    return token


def _in_window(cycle: _Cycle, ctx: FetchContext) -> _Cycle:
    """Keep the cycle's lower bound inside the 7-day window the API accepts."""
    floor = ctx.now - WINDOW + WINDOW_MARGIN
    since = cycle.since_id
    if since is not None and (snowflake_time(since) or floor) < floor:
        since = None
    start = cycle.start_time
    if since is None and cycle.next_token is None and start is None:
        start = ctx.horizon  # a fresh cycle reads back to the event's horizon only
    if start is not None and (start < floor or since is not None):
        start = None  # omitted, the window is the whole 7 days
    return replace(cycle, since_id=since, start_time=start)


def _cursor(cycle: _Cycle) -> dict[str, str]:
    cursor = {}
    if cycle.since_id:
        cursor["since_id"] = cycle.since_id
    elif cycle.start_time:
        cursor["start_time"] = cycle.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    if cycle.next_token:
        cursor["next_token"] = cycle.next_token
    return cursor


def _describe(since_id: str | None, cycle: _Cycle | None) -> str:
    text = f">{since_id}" if since_id else "(new)"
    if cycle is not None and cycle.next_token:
        text += f" paging below {cycle.newest_id or '?'}"
    return text


def _is_id(value: object, *, token: bool = False) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return token or (value.isascii() and value.isdigit() and len(value) <= 19)


__all__ = ["SOURCE", "XOptions", "XSource", "build_query"]
