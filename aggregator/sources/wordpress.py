"""Comments on one self-hosted WordPress post, through the REST API.

Fetch strategy
==============

Discovery (first fetch only; the result is kept in the state)
    GET the post page and read ``Link: <…/wp-json/wp/v2/posts/1234>; rel="alternate";
    type="application/json"`` and ``Link: <…/wp-json/>; rel="https://api.w.org/"``
    (``rest_output_link_header()``, WordPress ≥ 5.5), or their ``<link>`` twins in the
    page head. ``?p=1234`` URLs name the post themselves. Failing that,
    ``GET {root}/wp/v2/posts?slug=<last path segment>`` (then ``pages``) and keep the
    element whose ``link`` is the post. The site the natural keys hang off is the
    post URL's ``scheme://host`` after redirects, so a comment reached through the
    post's comment feed gets the same key.

Listing
    ``GET {root}/wp/v2/comments?post=ID&per_page=100&orderby=id&order=asc&page=N``,
    paged until ``page >= X-WP-TotalPages`` or an empty array (the comments
    controller answers ``[]`` past the end instead of an error). Ordering by id
    keeps pages stable while comments arrive: new ones land on the last page.

Small threads (at most ``full_relist_pages`` pages)
    are listed whole on every fetch, and the result carries ``listing``: every key
    the site lists now. The pipeline tombstones what it stored and no longer sees
    (trashed, spammed, unapproved), picks up late-approved comments whatever their
    date, and notices edits by content hash. WordPress has no ``modified`` date for
    comments, so re-listing is the only way to see any of that.

Big threads
    are polled with ``after=<site-local time of the newest comment seen, minus a day>``
    and no ``listing``. ``after`` compares with ``comment_date``, the site's wall
    clock, exclusively, so the offset is derived from ``date`` − ``date_gmt`` of the
    newest comment (per comment, as DST moves it); the day of overlap covers
    an offset change and comments that arrive with a slightly older date. Every
    ``full_relist_every_hours`` (counted on ``ctx.now``) a full relist runs instead,
    which catches late approvals and deletions on big threads.

The post itself
    After the comments, ``GET {root}/wp/v2/posts/ID?_embed=author`` gives the
    ``article`` item the comments hang off: the post's real title, author and text
    (``parse_post``). When the posts route answers ``rest_post_invalid_id`` the URL is
    a page, so ``wp/v2/pages/ID`` is asked instead, and which one answered is kept.
    The article is best effort: the comments are what is followed, so a failure of
    this request alone never fails the fetch and never costs the comments. A passing
    failure (timeout, 5xx, 429, an unreadable answer) leaves the article out of
    ``items`` but keeps its key in ``listing``, so what was stored stands (a 429's
    ``Retry-After`` becomes ``next_check_hint``); a refusal (404, 401, 403, 410: the
    post is gone or no longer public) also leaves it out of ``listing``, so a stored
    article is tombstoned like a deleted comment. Either is logged as a warning.

Page cap
    At most ``ctx.max_pages`` comment pages per fetch. A walk the cap cuts short is
    resumed by the next fetch, one page back (a deletion shifts later comments one
    place down), and never yields a ``listing``; nor does a full walk during which
    ``X-WP-Total`` moved or disagreed with the comments seen, since a listing that is
    not complete would tombstone live comments.

State (JSON)::

    {"v": 1,
     "configured": "<post URL as configured>", "post_url": "<post URL after redirects>",
     "site": "https://blog.example", "api_root": "https://blog.example/wp-json/",
     "post_id": 1234, "post_type": "posts" | "pages",   # the REST route of the post
     "offset_minutes": 60 | null,          # site UTC offset at the newest comment
     "newest_gmt": "<ISO 8601 UTC>" | null, # newest comment seen
     "total_pages": 3 | null,               # of the last full listing
     "last_full_at": "<ISO 8601 UTC>" | null,
     "walk": {"page": 7, "after": "<site-local>" | null} | null}  # a capped walk
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import PermanentError, RateLimited, SourceError
from aggregator.models import FetchResult, ItemData, SourceState
from aggregator.sources import FetchContext, keys
from aggregator.sources.options import load_options
from aggregator.sources.state_codec import iso
from aggregator.sources.wordpress_paging import (
    POST_TYPES,
    Walk,
    WalkResult,
    WordPressState,
    advance,
    complete_listing,
    plan,
)
from aggregator.sources.wordpress_parse import (
    discover,
    html_links,
    id_from_query,
    parse_comments,
    parse_link_header,
    parse_post,
    pick_post,
    route_url,
)
from aggregator.urls import site_of

PER_PAGE = 100
"""The controller's maximum; more is ``400 rest_invalid_param``."""
_PAGE_BYTES = 512 * 1024
"""Enough of a post page to hold its ``<head>``."""
_REFUSED = frozenset({401, 403, 404})

log = logging.getLogger(__name__)


class WordPressOptions(BaseModel):
    """The ``wordpress`` keys of an ``[[events.sources]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    post: str = Field(
        description=(
            "The public URL of the blog post whose comments are followed, as readers open "
            "it (http or https), e.g. https://blog.example.org/2026/02/our-launch/ or "
            "https://blog.example.org/?p=1234."
        )
    )
    api_root: str | None = Field(
        default=None,
        description=(
            "The site's REST API root, only needed when the post page does not advertise "
            'it (no rel="https://api.w.org/" link): https://blog.example.org/wp-json/ '
            "or, without pretty permalinks, https://blog.example.org/?rest_route=/."
        ),
    )
    full_relist_pages: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Threads of at most this many pages of 100 comments are listed whole on every "
            "fetch, so trashed, unapproved, late-approved and edited comments show at once. "
            "Bigger threads are polled for recent comments only, and listed whole every "
            "full_relist_every_hours."
        ),
    )
    full_relist_every_hours: float = Field(
        default=6,
        gt=0,
        description=(
            "How often a thread bigger than full_relist_pages is listed whole, to catch "
            "deleted, unapproved, late-approved and edited comments."
        ),
    )

    @field_validator("post", "api_root")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        try:
            parts = urlsplit(value)
        except ValueError as e:
            raise ValueError(f"not a URL: {e}") from e
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host name")
        # A pasted "#comments" or "#comment-12" names the same post.
        return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))


class WordPressSource:
    platform: ClassVar[str] = "wordpress"
    Options: ClassVar[type[BaseModel]] = WordPressOptions

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, WordPressOptions):
            raise TypeError(f"expected WordPressOptions, got {type(options).__name__}")
        return options.post

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        # The spec's target is the post URL, should the options table leave it out.
        raw = {"post": source.spec.target, **source.spec.options}
        options = load_options(WordPressOptions, raw, "wordpress")
        now = ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=UTC)
        session = _Session(ctx.client, now)
        state = WordPressState.load(source.state, options) or await _discover(session, options)
        walk = plan(state, options, now)
        max_pages = max(1, ctx.max_pages)
        result = await _walk(session, state, walk, max_pages)
        post = await _fetch_post(session, state)
        new_state = replace(advance(state, walk, result, now, max_pages), post_type=post.post_type)
        listing = complete_listing(walk, result)
        if listing is not None and post.listed:
            listing |= {keys.wordpress_post(state.site, state.post_id)}
        articles = () if post.item is None else (post.item,)
        return FetchResult(
            items=(*result.items.values(), *articles),
            state=new_state.dump(),
            listing=listing,
            requests=session.requests,
            next_check_hint=None if post.retry_after is None else now + post.retry_after,
            cursor_before=iso(state.newest_gmt),
            cursor_after=iso(new_state.newest_gmt),
        )


SOURCE = WordPressSource()


class _Session:
    """GETs with the request count and the REST API's refusals made explicit."""

    def __init__(self, client: httpx.AsyncClient, now: datetime) -> None:
        self.client = client
        self.now = now
        self.requests = 0

    async def page(self, url: str) -> httpx.Response:
        self.requests += 1
        try:
            return await http.get(self.client, url, now=self.now)
        except PermanentError as e:
            raise PermanentError(f"cannot open the post page: {e}") from e

    async def api(
        self, url: str, params: dict[str, str | int], *, quiet: bool = False
    ) -> httpx.Response:
        """A 401, 403 or 404 raises a ``PermanentError`` that says why, or with ``quiet``
        is returned for the caller to read."""
        self.requests += 1
        # httpx replaces a URL's query with params=; a ?rest_route= root needs both.
        full = str(httpx.URL(url).copy_merge_params(params))
        response = await http.get(self.client, full, now=self.now, allow=_REFUSED)
        if response.status_code in _REFUSED and not quiet:
            code = _error_code(response)
            why = (
                "the site has no REST API route for it"
                if response.status_code == 404
                else "the site refuses anonymous REST API access"
            )
            raise PermanentError(
                f"HTTP {response.status_code} {code} from {url.split('?', 1)[0]}: {why}; "
                "follow the post's comment feed with the feed source instead"
            )
        return response


async def _discover(session: _Session, options: WordPressOptions) -> WordPressState:
    post_url = options.post
    post_id = id_from_query(post_url)
    root = options.api_root
    if post_id is None or root is None:
        response = await session.page(post_url)
        post_url = str(response.url.copy_with(fragment=None))
        links = parse_link_header(", ".join(response.headers.get_list("link")))
        found_id, found_root = discover(links, post_url)
        if found_id is None and "html" in response.headers.get("content-type", "html"):
            found_id, head_root = discover(html_links(response.text[:_PAGE_BYTES]), post_url)
            found_root = found_root or head_root
        post_id = post_id or found_id
        root = root or found_root
    site = site_of(post_url)
    root = root or f"{site}/wp-json/"
    if post_id is None:
        post_id = await _find_by_slug(session, root, (post_url, options.post))
    return WordPressState(
        configured=options.post, post_url=post_url, site=site, api_root=root, post_id=post_id
    )


async def _find_by_slug(session: _Session, root: str, urls: tuple[str, ...]) -> int:
    slug = unquote(urlsplit(urls[0]).path.rstrip("/").rsplit("/", 1)[-1])
    if not slug:
        raise PermanentError(f"{urls[0]} names no post: give the post's own URL")
    for route in ("wp/v2/posts", "wp/v2/pages"):
        response = await session.api(route_url(root, route), {"slug": slug, "_fields": "id,link"})
        payload = http.json_body(response)
        for url in urls:
            found = pick_post(payload, url)
            if found is not None:
                return found
    raise PermanentError(f"no post or page with slug {slug!r} at {root}: check the post URL")


async def _walk(session: _Session, state: WordPressState, walk: Walk, max_pages: int) -> WalkResult:
    url = route_url(state.api_root, "wp/v2/comments")
    params: dict[str, str | int] = {
        "post": state.post_id,
        "per_page": PER_PAGE,
        "orderby": "id",
        "order": "asc",
    }
    if walk.after is not None:
        params["after"] = walk.after
    items: dict[str, ItemData] = {}
    totals: set[int] = set()
    total_pages: int | None = None
    page, pages, done = walk.page, 0, False
    while pages < max_pages:
        response = await session.api(url, {**params, "page": page})
        pages += 1
        batch = parse_comments(http.json_body(response), site=state.site, post_url=state.post_url)
        items.update((item.key, item) for item in batch)
        total = _header_int(response, "x-wp-total")
        if total is not None:
            totals.add(total)
        seen_pages = _header_int(response, "x-wp-totalpages")
        total_pages = seen_pages if seen_pages is not None else total_pages
        if (
            not batch
            or (seen_pages is not None and page >= seen_pages)
            or (seen_pages is None and len(batch) < PER_PAGE)
        ):
            done = True
            break
        page += 1
    return WalkResult(items, done, page, frozenset(totals), total_pages, pages)


@dataclass(frozen=True, slots=True)
class PostFetch:
    """What the request for the post itself gave (best effort: see the module docstring)."""

    item: ItemData | None
    post_type: str
    """The REST route that answered, or the one to try next time."""
    listed: bool
    """Whether the post's key belongs in a listing: it was fetched, or it failed for a
    passing reason; not when the site refused it."""
    retry_after: timedelta | None = None


async def _fetch_post(session: _Session, state: WordPressState) -> PostFetch:
    try:
        response, post_type = await _post_response(session, state)
        if response.status_code in _REFUSED:
            where = str(response.url).split("?", 1)[0]
            code = _error_code(response)
            raise PermanentError(f"HTTP {response.status_code} {code} from {where}")
        item = parse_post(http.json_body(response), site=state.site, post_url=state.post_url)
    except RateLimited as e:
        log.warning("%s: the post itself is not fetched this time: %s", state.post_url, e)
        return PostFetch(None, state.post_type, listed=True, retry_after=e.retry_after)
    except PermanentError as e:
        log.warning("%s: the post itself is gone or not public: %s", state.post_url, e)
        return PostFetch(None, state.post_type, listed=False)
    except SourceError as e:
        log.warning("%s: the post itself is not fetched this time: %s", state.post_url, e)
        return PostFetch(None, state.post_type, listed=True)
    return PostFetch(item, post_type, listed=True)


async def _post_response(session: _Session, state: WordPressState) -> tuple[httpx.Response, str]:
    """The answer of the route the post is known under, or of the other one when that
    says the id is none of its own (``rest_post_invalid_id``: a page, not a post)."""
    first, *others = [state.post_type, *(t for t in POST_TYPES if t != state.post_type)]
    response, post_type = await _post_request(session, state, first), first
    for other in others:
        if response.status_code != 404 or _error_code(response) != "rest_post_invalid_id":
            break
        response, post_type = await _post_request(session, state, other), other
    return response, post_type


async def _post_request(session: _Session, state: WordPressState, post_type: str) -> httpx.Response:
    url = route_url(state.api_root, f"wp/v2/{post_type}/{state.post_id}")
    # _embed=author (WordPress >= 5.4; older sites embed every link, which costs bytes only).
    return await session.api(url, {"_embed": "author"}, quiet=True)


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _error_code(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return response.reason_phrase
    code = body.get("code") if isinstance(body, dict) else None
    return code[:80] if isinstance(code, str) else response.reason_phrase
