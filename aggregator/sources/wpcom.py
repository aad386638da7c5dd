"""Comments on one post of a site hosted on WordPress.com, through its own REST API (v1.1).

Sites on WordPress.com (``*.wordpress.com`` and custom domains hosted there) answer
``public-api.wordpress.com`` rather than ``/wp-json/`` on their own host
(``shared/docs/source-apis.md`` §4, "WordPress.com").

Resolution (first fetch; kept in the state)
    ``GET {api}/rest/v1.1/sites/{host}/posts/slug:{slug}`` (or ``posts/{ID}`` for a
    ``?p=ID`` URL). Later fetches ask ``posts/{ID}``, which a changed slug cannot break.
    Either way the answer is the ``article`` item, and a failure fails the fetch: the
    replies route refuses exactly what the post route refuses.

Keys
    The site in every key is ``scheme://host`` of the post's permalink (``URL``), which
    is the host the comment links and the comment feed carry, so a comment is one item
    whether it came through here or through ``<permalink>/feed/atom/``.

Listing
    ``GET …/posts/{ID}/replies/?number=100&page=N&order=ASC`` (100 is the endpoint's
    maximum; more is ``400 invalid_number``). ``order=ASC`` by date puts new comments on
    the last page. ``found`` counts every approved comment (pingbacks too); paging stops
    at ``ceil(found / 100)`` pages or a short page. Threads of at most
    ``full_relist_pages`` pages are listed whole on every fetch and the result carries
    ``listing`` (comments trashed, spammed or unapproved on the blog disappear from it);
    bigger ones are polled with ``after=<newest comment − 1 day>`` (inclusive, on
    ``comment_date_gmt``; ``found`` is then ``-1``) and listed whole every
    ``full_relist_every_hours``. A walk the page cap cuts short resumes one page back
    next time and never yields a listing; nor does a walk during which ``found`` moved
    or disagreed with what was seen.

State (JSON)::

    {"v": 1, "configured": "<post URL>", "api": "<api base>",
     "host": "example.wordpress.com", "post_id": 305,
     "newest_gmt": "<ISO 8601 UTC>" | null, "total_pages": 3 | null,
     "last_full_at": "<ISO 8601 UTC>" | null,
     "walk": {"page": 7, "after": "<ISO 8601 UTC>" | null} | null}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import PermanentError
from aggregator.models import (
    FetchResult,
    ItemData,
    JSONValue,
    RecheckResult,
    SourceState,
    StoredRef,
)
from aggregator.sources import FetchContext, keys
from aggregator.sources.options import endpoint_url, load_options
from aggregator.sources.state_codec import from_iso, iso, typed
from aggregator.sources.wordpress_paging import Walk
from aggregator.sources.wpcom_parse import (
    parse_post,
    parse_replies,
    post_ref,
    post_site,
)

PER_PAGE = 100
OVERLAP = timedelta(days=1)
_STATE_VERSION = 1
_GONE = frozenset({403, 404, 410})
"""A post the API no longer shows anonymously: deleted or made private."""


class WpcomOptions(BaseModel):
    """The ``wpcom`` keys of an ``[[events.sources]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    post: str = Field(
        description=(
            "The public URL of the post whose comments are followed, on a site hosted on "
            "WordPress.com: https://example.wordpress.com/2026/11/20/our-launch/, or the "
            "same post under the site's own domain."
        )
    )
    api: str = Field(
        default="https://public-api.wordpress.com",
        description=(
            "Base URL of the WordPress.com REST API. Change it only to test against a "
            "simulator; plain http:// is only allowed for loopback addresses."
        ),
    )
    full_relist_pages: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Threads of at most this many pages of 100 comments are listed whole on every "
            "fetch, so comments removed on the blog disappear at once. Bigger threads are "
            "polled for recent comments and listed whole every full_relist_every_hours."
        ),
    )
    full_relist_every_hours: float = Field(
        default=6,
        gt=0,
        description="How often a thread bigger than full_relist_pages is listed whole.",
    )

    @field_validator("post")
    @classmethod
    def _post_url(cls, value: str) -> str:
        parts = _split(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host name")
        # A pasted "#comments" or "#comment-12" names the same post.
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))

    @field_validator("api")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return endpoint_url(value, example="e.g. https://public-api.wordpress.com")


@dataclass(frozen=True, slots=True)
class WpcomState:
    configured: str
    api: str
    host: str
    post_id: int
    newest_gmt: datetime | None = None
    total_pages: int | None = None
    last_full_at: datetime | None = None
    walk: Walk | None = None

    def dump(self) -> dict[str, JSONValue]:
        walk = self.walk
        return {
            "v": _STATE_VERSION,
            "configured": self.configured,
            "api": self.api,
            "host": self.host,
            "post_id": self.post_id,
            "newest_gmt": iso(self.newest_gmt),
            "total_pages": self.total_pages,
            "last_full_at": iso(self.last_full_at),
            "walk": None if walk is None else {"page": walk.page, "after": walk.after},
        }

    @classmethod
    def load(cls, data: Any, options: WpcomOptions) -> WpcomState | None:
        """The stored state, or ``None`` (resolve again) if unusable or for another post."""
        try:
            if data.get("v") != _STATE_VERSION or data["configured"] != options.post:
                return None
            if data["api"] != options.api:
                return None
            walk = data.get("walk")
            return cls(
                configured=options.post,
                api=options.api,
                host=typed(data["host"], str),
                post_id=typed(data["post_id"], int),
                newest_gmt=from_iso(data.get("newest_gmt")),
                total_pages=typed(data.get("total_pages"), int, None),
                last_full_at=from_iso(data.get("last_full_at")),
                walk=None
                if walk is None
                else Walk(typed(walk["page"], int), typed(walk.get("after"), str, None)),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


def plan(state: WpcomState, options: WpcomOptions, now: datetime) -> Walk:
    """Which walk this fetch makes (pure; see the module docstring)."""
    if state.walk is not None:
        return state.walk
    small = state.total_pages is None or state.total_pages <= options.full_relist_pages
    every = timedelta(hours=options.full_relist_every_hours)
    due = state.last_full_at is None or not (now - every < state.last_full_at <= now)
    if small or due or state.newest_gmt is None:
        return Walk()
    return Walk(after=iso(state.newest_gmt - OVERLAP))


@dataclass(frozen=True, slots=True)
class WalkResult:
    items: dict[str, ItemData]
    done: bool
    next_page: int
    founds: frozenset[int]
    """Every ``found`` reported during the walk (none when ``after`` was used)."""
    listed: int
    """Comment objects seen, pingbacks included: what ``found`` counts."""


def complete_listing(walk: Walk, result: WalkResult) -> frozenset[str] | None:
    """The comment keys, if and only if this walk saw the whole thread in one go."""
    if walk != Walk() or not result.done or len(result.founds) != 1:
        return None
    if result.founds != {result.listed}:
        return None
    return frozenset(result.items)


def advance(
    state: WpcomState, walk: Walk, result: WalkResult, now: datetime, max_pages: int
) -> WpcomState:
    """The state after ``result`` (pure)."""
    newest = state.newest_gmt
    for item in result.items.values():
        if newest is None or item.created_at > newest:
            newest = item.created_at
    full = walk.after is None
    if result.done:
        following = None
    else:
        # Step back one page (a deletion moves a comment onto a page already read),
        # unless that would make no progress at all.
        back = 1 if max_pages > 1 else 0
        following = Walk(page=max(walk.page + 1, result.next_page - back), after=walk.after)
    total = max(result.founds) if full and result.founds else None
    return replace(
        state,
        newest_gmt=newest,
        total_pages=math.ceil(total / PER_PAGE) if total is not None else state.total_pages,
        last_full_at=now if full and result.done else state.last_full_at,
        walk=following,
    )


class WpcomSource:
    platform: ClassVar[str] = "wpcom"
    Options: ClassVar[type[BaseModel]] = WpcomOptions

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, WpcomOptions):
            raise TypeError(f"expected WpcomOptions, got {type(options).__name__}")
        return options.post

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        options = _options(source)
        now = _aware(ctx.now)
        session = _Session(ctx.client, now)
        state = WpcomState.load(source.state, options)
        if state is None:
            ref = post_ref(options.post)
            if ref.slug is None and ref.post_id is None:
                raise PermanentError(f"{options.post} names no post: give the post's own URL")
            which = f"slug:{quote(ref.slug, safe='')}" if ref.slug else str(ref.post_id)
            payload = await session.json(_site_url(options.api, ref.site, f"posts/{which}"))
            host = ref.site
        else:
            payload = await session.json(_site_url(state.api, state.host, f"posts/{state.post_id}"))
            host = state.host
        site = post_site(payload, f"https://{host}")
        article = parse_post(payload, site=site)
        if state is None:
            state = WpcomState(options.post, options.api, host, int(article.raw["ID"]))
        post_url = article.url or options.post
        walk = plan(state, options, now)
        max_pages = max(1, ctx.max_pages)
        result = await _walk(session, state, walk, max_pages, site=site, post_url=post_url)
        new_state = advance(state, walk, result, now, max_pages)
        listing = complete_listing(walk, result)
        return FetchResult(
            items=(article, *result.items.values()),
            state=new_state.dump(),
            listing=None if listing is None else listing | {article.key},
            requests=session.requests,
            cursor_before=iso(state.newest_gmt),
            cursor_after=iso(new_state.newest_gmt),
        )

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Re-list the thread (a page per 100 comments) rather than ask for each comment:
        a ref listed comes back as it is now (edits show); one missing from a complete
        listing is gone (deleted, unapproved); with the post gone or private, every ref
        is. Refs of another site are left alone."""
        options = _options(source)
        state = WpcomState.load(source.state, options)
        if state is None:
            return RecheckResult()
        session = _Session(ctx.client, _aware(ctx.now))
        url = _site_url(state.api, state.host, f"posts/{state.post_id}")
        response = await session.get(url, allow=_GONE)
        if response.status_code in _GONE:
            return RecheckResult(gone=frozenset(r.key for r in refs), requests=session.requests)
        payload = http.json_body(response)
        site = post_site(payload, f"https://{state.host}")
        article = parse_post(payload, site=site)
        post_url = article.url or options.post
        walk = Walk()
        result = await _walk(
            session, state, walk, max(1, ctx.max_pages), site=site, post_url=post_url
        )
        listing = complete_listing(walk, result)
        wanted = {r.key for r in refs}
        found = {article.key: article, **result.items}
        ours = keys.wordpress_comment(site, "")
        gone = set() if listing is None else {k for k in wanted - listing if k.startswith(ours)}
        return RecheckResult(
            items=tuple(item for key, item in found.items() if key in wanted),
            gone=frozenset(gone),
            requests=session.requests,
        )


SOURCE = WpcomSource()


class _Session:
    """GETs with the request count."""

    def __init__(self, client: httpx.AsyncClient, now: datetime) -> None:
        self.client = client
        self.now = now
        self.requests = 0

    async def get(
        self,
        url: str,
        params: dict[str, str | int] | None = None,
        allow: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        self.requests += 1
        return await http.get(self.client, url, now=self.now, params=params, allow=allow)

    async def json(self, url: str, params: dict[str, str | int] | None = None) -> Any:
        return http.json_body(await self.get(url, params))


async def _walk(
    session: _Session, state: WpcomState, walk: Walk, max_pages: int, *, site: str, post_url: str
) -> WalkResult:
    url = _site_url(state.api, state.host, f"posts/{state.post_id}/replies/")
    params: dict[str, str | int] = {"number": PER_PAGE, "order": "ASC"}
    if walk.after is not None:
        params["after"] = walk.after
    items: dict[str, ItemData] = {}
    founds: set[int] = set()
    page, pages, listed, done = walk.page, 0, 0, False
    while pages < max_pages:
        payload = await session.json(url, {**params, "page": page})
        pages += 1
        batch = parse_replies(payload, site=site, post_url=post_url)
        items.update((item.key, item) for item in batch.items)
        listed += batch.listed
        if batch.found is not None:
            founds.add(batch.found)
        last_page = batch.found is not None and page >= math.ceil(batch.found / PER_PAGE)
        if batch.listed < PER_PAGE or last_page:
            done = True
            break
        page += 1
    return WalkResult(items, done, page, frozenset(founds), listed)


def _site_url(api: str, host: str, route: str) -> str:
    return f"{api}/rest/v1.1/sites/{quote(host, safe='')}/{route}"


def _options(source: SourceState) -> WpcomOptions:
    # The spec's target is the post URL, should the options table leave it out.
    return load_options(WpcomOptions, {"post": source.spec.target, **source.spec.options}, "wpcom")


def _split(value: str) -> SplitResult:
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError as e:
        raise ValueError(f"not a URL: {e}") from e
    return parts._replace(scheme=parts.scheme.lower())


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


__all__ = ["SOURCE", "WpcomOptions", "WpcomSource"]
