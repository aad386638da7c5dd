"""Bluesky hashtag search: the fetcher over :mod:`.bluesky_xrpc` (signed-in calls) and
:mod:`.bluesky_parse` (pure).

Collecting (per hashtag, at most ``ctx.max_pages`` pages)
    ``app.bsky.feed.searchPosts?q=#tag&tag=tag&sort=latest&limit=100&since=…`` on the
    account's PDS, following ``cursor``. ``since`` is the newest ``indexedAt`` seen (the
    high-water mark) minus ``overlap``, because results sort by ``sortAt =
    min(createdAt, indexedAt)`` and a post indexed late sorts below the mark; on the
    first fetch it is the event's horizon. A walk ends when the cursor does, or on a
    page with nothing new to the walk (a server that does not move on). Posts seen by
    an *earlier* fetch do not end it: a late arrival can sort anywhere in the overlap,
    so the overlap is read whole (``shared/docs/source-apis.md`` §2).

Gaps
    A walk cut short (page cap, rate-limit headroom) leaves ``[since, oldest seen)``
    unread. That window is kept as a gap and read by later fetches with ``until``,
    newest gap first, after the new posts. The search service refuses offsets past
    10 000 (indigo ``parseCursorLimit``), so a walk that deep starts again with
    ``until`` at the oldest post seen: a big window is split, never lost. Gap bounds
    get ``GAP_MARGIN`` of slack: results are "not always perfectly sorted" (minet).

Rate limits: ``RateLimit-*`` headers (reset in Unix seconds). When the remaining budget
is at most 5 % of the limit (or 2) paging stops and ``next_check_hint`` is the reset; a
429 raises ``RateLimited`` with ``Retry-After`` or the reset.

Re-checks use ``app.bsky.feed.getPosts`` (25 uris a call): a post it leaves out was
deleted or hidden, one whose author now opts out is excluded; both are gone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import ParseError, PermanentError
from aggregator.models import (
    FetchResult,
    ItemData,
    JSONValue,
    RecheckResult,
    SourceState,
    StoredRef,
)
from aggregator.sources import FetchContext
from aggregator.sources.bluesky_parse import (
    ParsedPosts,
    format_time,
    parse_posts,
    parse_time,
    split_post_uri,
)
from aggregator.sources.bluesky_xrpc import (
    Account,
    SessionCache,
    Xrpc,
    base_url,
    json_or_none,
    xrpc_error,
)
from aggregator.sources.options import env_name, load_options

PAGE_LIMIT = 100
"""``limit`` maximum of ``searchPosts``."""
GET_POSTS_MAX = 25
"""``uris`` maximum of ``getPosts``."""
MAX_OFFSET = 10_000
"""Deepest offset the search service pages to (indigo ``parseCursorLimit``)."""
GAP_MARGIN = timedelta(minutes=1)
MAX_GAPS = 8
STATE_VERSION = 1
_HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


class BlueskyOptions(BaseModel):
    """The Bluesky keys of an ``[[events.sources]]`` table."""

    # A password pasted into the wrong key must not be echoed in the error.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    handle: str = Field(
        description=(
            "The Bluesky account the collector signs in as (its handle, e.g. "
            "collector.bsky.social, its DID or its sign-in email). Search needs a "
            "signed-in account; use a dedicated one, as its mutes and blocks apply."
        )
    )
    app_password_env: str = Field(
        description=(
            "Name of the environment variable holding an app password of that account "
            "(Settings → Privacy and security → App passwords). The name, never the "
            "password itself: configuration files get shared."
        )
    )
    service: str = Field(
        default="https://bsky.social",
        description=(
            "Where the account signs in (its entryway or PDS). Searches then go to the "
            "account's own PDS, as its DID document names it. Plain http:// only for "
            "loopback addresses."
        ),
    )
    lang: str | None = Field(
        default=None,
        description="Only collect posts marked with this language (e.g. fr, pt-BR).",
    )

    @field_validator("handle")
    @classmethod
    def _check_handle(cls, value: str) -> str:
        value = value.strip().removeprefix("@")
        if _DID.match(value):
            return value
        value = value.lower()
        if _HANDLE.match(value) or _EMAIL.match(value):
            return value
        raise ValueError("handle must be a Bluesky handle (name.bsky.social), DID or email")

    @field_validator("app_password_env")
    @classmethod
    def _check_env(cls, value: str) -> str:
        return env_name(value, field="app_password_env", secret="password")

    @field_validator("service")
    @classmethod
    def _check_service(cls, value: str) -> str:
        normalized = base_url(value)
        if normalized is None:
            raise ValueError(
                "service must be an https:// address without a path, e.g. https://bsky.social "
                "(http:// only for loopback)"
            )
        return normalized

    @field_validator("lang")
    @classmethod
    def _check_lang(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _LANG.match(value.strip().lower()):
            raise ValueError("lang must be a language code such as fr or pt-BR")
        return value.strip()


@dataclass(frozen=True, slots=True)
class _Gap:
    """``[since, until)`` in ``sortAt`` time, not yet read; ``since=None``: no floor."""

    since: datetime | None
    until: datetime


@dataclass(frozen=True, slots=True)
class _TagState:
    high_water: datetime | None = None
    gaps: tuple[_Gap, ...] = ()
    """Newest first."""

    @classmethod
    def load(cls, value: JSONValue) -> _TagState:
        """Tolerant: what cannot be read starts the tag afresh (the store dedupes)."""
        if not isinstance(value, dict):
            return cls()
        listed = value.get("gaps")
        gaps = []
        for gap in listed if isinstance(listed, list) else ():
            until = _time(gap.get("until")) if isinstance(gap, dict) else None
            if until is not None:
                gaps.append(_Gap(_time(gap.get("since")), until))
        return cls(_time(value.get("high_water")), tuple(gaps))

    def dump(self) -> dict[str, JSONValue]:
        return {
            "high_water": format_time(self.high_water) if self.high_water else None,
            "gaps": [
                {"since": format_time(g.since) if g.since else None, "until": format_time(g.until)}
                for g in self.gaps
            ],
        }


@dataclass(frozen=True, slots=True)
class _Walk:
    newest: datetime | None
    """The newest ``indexedAt`` seen."""
    gap: _Gap | None
    """What a walk cut short left unread."""
    pages: int


@dataclass(slots=True)
class _Run:
    """One fetch: the calls, the options and the collected items."""

    xrpc: Xrpc
    options: BlueskyOptions
    max_offset: int = MAX_OFFSET
    items: dict[str, ItemData] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    def take(self, page: ParsedPosts) -> None:
        # A later read of the same post is the fresher one.
        self.items.update((item.key, item) for item in page.items)
        self.excluded.update(page.excluded_keys)

    # -- search ----------------------------------------------------------------------

    async def search(
        self, tag: str, since: datetime | None, until: datetime | None, cursor: str | None
    ) -> ParsedPosts | None:
        """One page, or ``None`` when the service refuses to page this deep."""
        params = {"q": f"#{tag}", "tag": tag, "sort": "latest", "limit": str(PAGE_LIMIT)}
        optional = {"since": since, "until": until, "cursor": cursor, "lang": self.options.lang}
        for name, value in optional.items():
            if value is not None:
                params[name] = format_time(value) if isinstance(value, datetime) else value
        response = await self.xrpc.call("app.bsky.feed.searchPosts", params)
        if cursor is not None and _too_deep(response):
            return None
        if not response.is_success:
            self.xrpc.fail(response, f"app.bsky.feed.searchPosts (#{tag})")
        try:
            ctx = self.xrpc.ctx
            page = parse_posts(http.json_body(response), ctx.consent, now=ctx.now)
        except ParseError as e:
            raise ParseError(f"#{tag} search on {_host(str(response.url))}: {e}") from None
        self.take(page)
        return page

    async def walk(
        self, tag: str, since: datetime | None, until: datetime | None, budget: int
    ) -> _Walk:
        """Newest first over ``[since, until)`` until the results end or the budget does."""
        newest: datetime | None = None
        oldest: datetime | None = None
        cursor: str | None = None
        offset = pages = 0
        seen: set[str] = set()
        while pages < budget and not self.xrpc.stopped:
            page = None
            if cursor is None or offset + PAGE_LIMIT <= self.max_offset:
                page = await self.search(tag, since, until, cursor)
                pages += 1
            if page is None:  # too deep: carry on below the oldest post seen
                lower = _below(oldest, until)
                if lower is None:
                    return _Walk(newest, None, pages)
                until, cursor, offset, seen = lower, None, 0, set()
                continue
            newest = _latest(newest, page.newest_indexed_at)
            if page.oldest_sort_at is not None:
                oldest = min(oldest or page.oldest_sort_at, page.oldest_sort_at)
            fresh = set(page.uris) - seen
            seen |= fresh
            if page.cursor is None or not fresh:
                return _Walk(newest, None, pages)
            cursor, offset = page.cursor, offset + len(page.uris)
        if oldest is None:  # nothing read: a gap stays whole, a new window is re-read
            return _Walk(newest, _Gap(since, until) if until else None, pages)
        upper = min(oldest + GAP_MARGIN, until) if until else oldest + GAP_MARGIN
        return _Walk(newest, _Gap(since, upper) if since is None or upper > since else None, pages)


class BlueskySource:
    """The ``bluesky`` platform. Holds only the sessions of this process.

    State, per source (opaque to everything else; never a token)::

        {"version": 1, "service": "https://bsky.social",
         "tags": {"<tag>": {"high_water": "<indexedAt, ISO-8601 UTC>" | null,
                            "gaps": [{"since": "<ISO>" | null, "until": "<ISO>"}]}}}
    """

    platform: ClassVar[str] = "bluesky"
    Options: ClassVar[type[BaseModel]] = BlueskyOptions

    def __init__(
        self, *, overlap: timedelta = timedelta(hours=1), max_offset: int = MAX_OFFSET
    ) -> None:
        self.overlap = overlap
        self.max_offset = max_offset
        self.sessions = SessionCache()

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, BlueskyOptions):
            raise TypeError(f"expected BlueskyOptions, got {type(options).__name__}")
        host = _host(options.service)
        return f"{host}/lang:{options.lang}" if options.lang else host

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        """Fetch what is new on each hashtag. Raises only ``SourceError``."""
        run = self._run(source, ctx)
        tags = [tag.lstrip("#") for tag in source.spec.hashtags if tag.lstrip("#")]
        if not tags:
            raise PermanentError("a bluesky source needs at least one hashtag")
        old = _load_state(source.state, run.options.service)
        new: dict[str, _TagState] = {}
        for tag in tags:
            before = old.get(tag, _TagState())
            new[tag] = before if run.xrpc.stopped else await self._fetch_tag(run, tag, before)
        return FetchResult(
            items=tuple(run.items.values()),
            state={
                "version": STATE_VERSION,
                "service": run.options.service,
                "tags": {tag: st.dump() for tag, st in new.items()},
            },
            excluded=dict(Counter(run.excluded.values())),
            rate_limit=run.xrpc.rate_limit,
            requests=run.xrpc.requests,
            next_check_hint=run.xrpc.next_check_hint,
            cursor_before=_describe({tag: old.get(tag, _TagState()) for tag in tags}),
            cursor_after=_describe(new),
        )

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Look stored posts up again (``getPosts``): missing ones and those consent now
        excludes are gone. Stops early, leaving the rest as they are, when the
        rate-limit headroom runs low. Raises only ``SourceError``."""
        run = self._run(source, ctx)
        uris = list(dict.fromkeys(ref.key for ref in refs if _is_post_uri(ref.key)))
        wanted = set(uris)
        gone: set[str] = set()
        for start in range(0, len(uris), GET_POSTS_MAX):
            if run.xrpc.stopped:
                break
            asked = uris[start : start + GET_POSTS_MAX]
            response = await run.xrpc.call("app.bsky.feed.getPosts", {"uris": asked})
            if not response.is_success:
                run.xrpc.fail(response, "app.bsky.feed.getPosts")
            page = parse_posts(http.json_body(response), ctx.consent, now=ctx.now, paged=False)
            run.take(page)
            # getPosts leaves out what is deleted or hidden from this account.
            gone |= {uri for uri in asked if uri not in page.uris or uri in run.excluded}
        return RecheckResult(
            items=tuple(item for key, item in run.items.items() if key in wanted),
            gone=frozenset(gone),
            excluded=dict(Counter(run.excluded[uri] for uri in gone if uri in run.excluded)),
            requests=run.xrpc.requests,
        )

    async def _fetch_tag(self, run: _Run, tag: str, st: _TagState) -> _TagState:
        ctx = run.xrpc.ctx
        since = ctx.horizon
        if st.high_water is not None:
            floor = st.high_water - self.overlap
            since = floor if since is None else max(since, floor)
        top = await run.walk(tag, since, None, ctx.max_pages)
        # Clamped to our clock: one bogus future indexedAt must not blind later fetches.
        newest = min(top.newest, ctx.now) if top.newest else None
        high_water = _latest(st.high_water, newest)
        budget = ctx.max_pages - top.pages
        left: list[_Gap] = []
        for gap in ([top.gap] if top.gap else []) + list(st.gaps):
            if ctx.horizon is not None and (gap.since is None or gap.since < ctx.horizon):
                if gap.until <= ctx.horizon:
                    continue  # the horizon moved: nothing this old is wanted
                gap = _Gap(ctx.horizon, gap.until)
            if budget <= 0 or run.xrpc.stopped:
                left.append(gap)
                continue
            walk = await run.walk(tag, gap.since, gap.until, budget)
            budget -= walk.pages
            left += [walk.gap] if walk.gap else []
        while len(left) > MAX_GAPS:  # merge the oldest two: re-reads, never skips
            a, b = left.pop(), left.pop()
            low = None if a.since is None or b.since is None else min(a.since, b.since)
            left.append(_Gap(low, max(a.until, b.until)))
        return _TagState(high_water, tuple(left))

    def _run(self, source: SourceState, ctx: FetchContext) -> _Run:
        options = load_options(BlueskyOptions, source.spec.options, "bluesky")
        password = ctx.env.get(options.app_password_env, "").strip()
        if not password:
            raise PermanentError(
                f"environment variable {options.app_password_env} (app_password_env) "
                "is not set or empty"
            )
        account = Account(options.service, options.handle, options.app_password_env, password)
        return _Run(Xrpc(self.sessions, account, ctx), options, self.max_offset)


SOURCE = BlueskySource()


def _too_deep(response: httpx.Response) -> bool:
    """The V1 search service's refusal of offsets past 10 000."""
    if response.status_code != 400:
        return False
    _, message = xrpc_error(json_or_none(response))
    return "paginate" in message.lower() or "cursor" in message.lower()


def _below(oldest: datetime | None, until: datetime | None) -> datetime | None:
    """A new ``until`` under a window paged too deep, or ``None`` if it cannot shrink."""
    if oldest is None:
        return None
    for slack in (GAP_MARGIN, timedelta(milliseconds=1)):
        if until is None or oldest + slack < until:
            return oldest + slack
    return None


def _load_state(state: Mapping[str, JSONValue], service: str) -> dict[str, _TagState]:
    if state.get("version") != STATE_VERSION or state.get("service") != service:
        return {}
    tags = state.get("tags")
    if not isinstance(tags, dict):
        return {}
    return {str(tag): _TagState.load(value) for tag, value in tags.items()}


def _describe(tags: Mapping[str, _TagState]) -> str | None:
    parts = []
    for tag, st in tags.items():
        text = f"#{tag}>{format_time(st.high_water)}" if st.high_water else f"#{tag} (new)"
        parts.append(text + (f" +{len(st.gaps)} gap(s)" if st.gaps else ""))
    return ", ".join(parts) or None


def _time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _is_post_uri(value: str) -> bool:
    try:
        split_post_uri(value)
    except ParseError:
        return False
    return True


def _host(url: str) -> str:
    return urlsplit(url).netloc


__all__ = ["SOURCE", "BlueskyOptions", "BlueskySource"]
