"""Mastodon hashtag timelines: the fetcher (I/O) over :mod:`.mastodon_parse` (pure).

One ``GET {instance}/api/v1/timelines/tag/{tag}`` timeline per configured hashtag
(``shared/docs/source-apis.md`` §1). Per tag and per fetch, within ``ctx.max_pages``
pages:

1. **First run** (no cursor): walk back from the newest status (``max_id`` paging)
   until a page reaches ``ctx.horizon``, the timeline ends, or the page cap. If the cap
   stops the walk, the lowest id reached is kept (``backfill_max_id``) and later runs
   carry on from there, so the cap never leaves a hole between horizon and cursor.
2. **Later runs**: ``min_id=<highest id seen>`` returns the chunk immediately above the
   cursor; follow ``rel="prev"`` until an empty page. The cursor only moves to what was
   actually fetched, so a capped run leaves no gap.
3. **Overlap re-scan**, every :attr:`MastodonSource.rescan_every`: re-read the newest
   statuses back to ``now - overlap``. Ids of statuses fetched late (backfill, resolve)
   derive from their publication time and can land *below* the cursor (mastodon PRs
   #5260, #7336; issue #33747); edits keep their id. The store dedupes by key and sees
   edits through ``content_hash``.

Only ids are taken from ``Link`` headers, never URLs: the tag controller drops
parameters from them, and a link to another host must not receive our token.

When ``X-RateLimit-Remaining`` runs low (≤ 5 % of the limit, or ≤ 2) paging stops and
``next_check_hint`` is the reset time; a 429 raises ``RateLimited``.

A 404 on any tag fails the whole source with ``PermanentError``: current Mastodon
answers an unknown tag with an empty list (``tag_controller.rb``: ``@tag.nil? ? []``),
so a 404 means the instance URL or API path is wrong, which no other tag will fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import quote, urlencode, urlsplit

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
from aggregator.sources.mastodon_parse import (
    ParsedPage,
    id_order,
    link_param,
    parse_rate_limit,
    parse_timeline,
)
from aggregator.sources.mastodon_recheck import recheck_statuses
from aggregator.sources.options import env_name, load_options, server_url

PAGE_LIMIT = 40
"""The API's maximum ``limit`` for timelines."""
STATE_VERSION = 1


class MastodonOptions(BaseModel):
    """The Mastodon keys of an ``[[events.sources]]`` table."""

    # A token pasted into token_env by mistake must not be echoed in the error.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    instance: str = Field(
        description=(
            "Base URL of the Mastodon (or Mastodon-compatible) server whose hashtag "
            "timelines are read, e.g. https://mastodon.social. Each server only knows the "
            "posts that reached it, so list several servers to cover more of the fediverse; "
            "posts are de-duplicated across them. Plain http:// is only allowed for "
            "loopback addresses."
        )
    )
    token_env: str | None = Field(
        default=None,
        description=(
            "Name of the environment variable holding an access token for this server "
            "(needed when the server only serves hashtag timelines to signed-in users). "
            "The name, never the token itself: configuration files get shared. A token "
            "applies the account's mutes and blocks, so use a dedicated account."
        ),
    )
    local_only: bool = Field(
        default=False,
        description="Only collect posts written by accounts on this server itself.",
    )

    @field_validator("instance")
    @classmethod
    def _check_instance(cls, value: str) -> str:
        return server_url(value, field="instance", example="e.g. https://mastodon.social")

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str | None) -> str | None:
        return None if value is None else env_name(value, field="token_env", secret="token")


@dataclass(frozen=True, slots=True)
class _TagState:
    min_id: str | None = None
    """Highest status id fetched; every status at or below it back to the horizon
    (or to ``backfill_max_id``) has been read once."""
    backfill_max_id: str | None = None
    """While the first walk back to the horizon is unfinished: where to resume it."""
    rescanned_at: datetime | None = None

    @classmethod
    def load(cls, value: JSONValue) -> _TagState:
        """Tolerant: an entry we cannot read starts the tag afresh (the store dedupes)."""
        if not isinstance(value, dict):
            return cls()
        min_id, backfill, at = (
            value.get("min_id"),
            value.get("backfill_max_id"),
            value.get("rescanned_at"),
        )
        try:
            rescanned = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            rescanned = None
        if rescanned is not None and rescanned.tzinfo is None:
            rescanned = None
        return cls(
            min_id=min_id if isinstance(min_id, str) and min_id else None,
            backfill_max_id=backfill if isinstance(backfill, str) and backfill else None,
            rescanned_at=rescanned,
        )

    def dump(self) -> dict[str, JSONValue]:
        return {
            "min_id": self.min_id,
            "backfill_max_id": self.backfill_max_id,
            "rescanned_at": self.rescanned_at.isoformat() if self.rescanned_at else None,
        }


@dataclass(frozen=True, slots=True)
class _Walk:
    top: str | None
    """The highest id reached (for a forward walk: the new cursor)."""
    resume: str | None
    """Where an unfinished backward walk continues."""
    pages: int
    finished: bool
    """False when the page budget or the rate-limit headroom ran out first."""


@dataclass(slots=True)
class _Run:
    """One fetch of one source: the shared budget, counters and collected items."""

    ctx: FetchContext
    instance: str
    headers: dict[str, str]
    params: dict[str, str]
    items: dict[str, ItemData] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    excluded_at: dict[str, datetime] = field(default_factory=dict)
    requests: int = 0
    rate_limit: RateLimit | None = None
    stopped: bool = False
    """Set when the rate-limit headroom runs low: no more requests this fetch."""
    next_check_hint: datetime | None = None

    async def page(self, tag: str, cursor: Mapping[str, str]) -> tuple[ParsedPage, httpx.Response]:
        url = f"{self.instance}/api/v1/timelines/tag/{quote(tag, safe='')}"
        self.requests += 1
        # The query written out here: httpx merging ``params`` into the URL costs as
        # much as the rest of building the request.
        response = await http.get(
            self.ctx.client,
            f"{url}?{urlencode({**self.params, **cursor})}",
            now=self.ctx.now,
            headers=self.headers,
            allow=frozenset({429}),
        )
        self.rate_limit = parse_rate_limit(response.headers) or self.rate_limit
        if response.status_code == 429:
            raise RateLimited(f"HTTP 429 from {url}", self._retry_after(response))
        try:
            page = parse_timeline(
                http.json_body(response),
                self.instance,
                since=self.ctx.horizon,
                consent=self.ctx.consent,
            )
        except ParseError as e:
            raise ParseError(f"#{tag} on {self.instance}: {e}") from e
        for item in page.items:
            # A later read of the same status is the fresher one (an edit mid-fetch).
            self.items[item.key] = item
        self.excluded.update(page.excluded_keys)
        self.excluded_at.update(page.excluded_at)
        self._watch_headroom()
        return page, response

    def _retry_after(self, response: httpx.Response) -> timedelta | None:
        retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
        if retry is None and self.rate_limit and self.rate_limit.reset_at:
            retry = max(self.rate_limit.reset_at - self.ctx.now, timedelta(0))
        return retry

    def _watch_headroom(self) -> None:
        rl = self.rate_limit
        if rl is not None and rl.nearly_spent:
            self.stopped = True
            self.next_check_hint = rl.reset_at

    async def walk_back(
        self, tag: str, max_id: str | None, floor: datetime | None, budget: int
    ) -> _Walk:
        """Newest first from ``max_id`` (exclusive) until a page reaches ``floor``."""
        top: str | None = None
        pages = 0
        while pages < budget and not self.stopped:
            page, response = await self.page(tag, {"max_id": max_id} if max_id else {})
            pages += 1
            if page.max_id is None or page.min_id is None:
                return _Walk(top, None, pages, finished=True)
            top = _newest(top, page.max_id)
            if floor is not None and page.oldest_at is not None and page.oldest_at < floor:
                return _Walk(top, None, pages, finished=True)
            nxt = _link_id(response, "next", "max_id") or page.min_id
            # A server that does not move us on must not spin the budget away.
            if max_id is not None and id_order(nxt) >= id_order(max_id):
                return _Walk(top, None, pages, finished=True)
            max_id = nxt
        return _Walk(top, max_id, pages, finished=False)

    async def walk_forward(self, tag: str, min_id: str, budget: int) -> _Walk:
        """Chunks immediately above ``min_id``, oldest chunk first, until an empty page."""
        pages = 0
        while pages < budget and not self.stopped:
            page, response = await self.page(tag, {"min_id": min_id})
            pages += 1
            if page.max_id is None:
                return _Walk(min_id, None, pages, finished=True)
            nxt = _link_id(response, "prev", "min_id") or page.max_id
            if id_order(nxt) <= id_order(min_id):
                return _Walk(min_id, None, pages, finished=True)
            min_id = nxt
        return _Walk(min_id, None, pages, finished=False)


class MastodonSource:
    """The ``mastodon`` platform. Stateless: everything a fetch needs is its arguments.

    State, per source (opaque to everything else)::

        {"version": 1, "instance": "https://mastodon.social",
         "tags": {"<tag>": {"min_id": "<id>" | null,
                            "backfill_max_id": "<id>" | null,
                            "rescanned_at": "<ISO-8601 UTC>" | null}}}
    """

    platform: ClassVar[str] = "mastodon"
    Options: ClassVar[type[BaseModel]] = MastodonOptions

    def __init__(
        self,
        *,
        rescan_every: timedelta = timedelta(hours=1),
        overlap: timedelta = timedelta(hours=2),
    ) -> None:
        self.rescan_every = rescan_every
        self.overlap = overlap

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, MastodonOptions):
            raise TypeError(f"expected MastodonOptions, got {type(options).__name__}")
        return urlsplit(options.instance).netloc

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Edits, deletions and withdrawn consent of statuses this server served."""
        options = _options(source)
        return await recheck_statuses(options.instance, _auth_headers(options, ctx.env), refs, ctx)

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        """Fetch what is new on each hashtag. Raises only ``SourceError``."""
        options = _options(source)
        tags = source.spec.hashtags
        if not tags:
            raise PermanentError("a mastodon source needs at least one hashtag")
        run = _Run(
            ctx=ctx,
            instance=options.instance,
            headers=_auth_headers(options, ctx.env),
            params={"limit": str(PAGE_LIMIT), **({"local": "true"} if options.local_only else {})},
        )
        old = _load_state(source.state, options.instance)
        new: dict[str, _TagState] = {}
        for tag in tags:
            before = old.get(tag, _TagState())
            new[tag] = before if run.stopped else await self._fetch_tag(run, tag, before)
        return FetchResult(
            items=tuple(run.items.values()),
            state={
                "version": STATE_VERSION,
                "instance": options.instance,
                "tags": {tag: st.dump() for tag, st in new.items()},
            },
            excluded=dict(Counter(run.excluded.values())),
            excluded_items=tuple(
                ExcludedItem(key, reason, run.excluded_at.get(key))
                for key, reason in run.excluded.items()
            ),
            rate_limit=run.rate_limit,
            requests=run.requests,
            next_check_hint=run.next_check_hint,
            cursor_before=_describe({tag: old.get(tag, _TagState()) for tag in tags}),
            cursor_after=_describe(new),
        )

    async def _fetch_tag(self, run: _Run, tag: str, st: _TagState) -> _TagState:
        ctx = run.ctx
        budget = ctx.max_pages
        if st.min_id is None:
            walk = await run.walk_back(tag, None, ctx.horizon, budget)
            if walk.top is None:
                return st  # nothing there yet: start afresh next time
            resume = None if walk.finished else walk.resume
            return _TagState(min_id=walk.top, backfill_max_id=resume, rescanned_at=ctx.now)

        fwd = await run.walk_forward(tag, st.min_id, budget)
        st = replace(st, min_id=fwd.top)
        budget -= fwd.pages
        if st.backfill_max_id is not None and budget > 0:
            back = await run.walk_back(tag, st.backfill_max_id, ctx.horizon, budget)
            st = replace(st, backfill_max_id=None if back.finished else back.resume)
            budget -= back.pages
        if self._rescan_due(st, ctx.now) and budget > 0:
            floor = ctx.now - self.overlap
            if ctx.horizon is not None:
                floor = max(floor, ctx.horizon)
            scan = await run.walk_back(tag, None, floor, budget)
            if scan.finished:
                st = replace(st, rescanned_at=ctx.now)
        return st

    def _rescan_due(self, st: _TagState, now: datetime) -> bool:
        # A stamp in the future (a clock stepped back) must not postpone re-scans forever.
        last = st.rescanned_at
        return last is None or not (now - self.rescan_every < last <= now)


SOURCE = MastodonSource()


def _options(source: SourceState) -> MastodonOptions:
    return load_options(MastodonOptions, source.spec.options, "mastodon")


def _auth_headers(options: MastodonOptions, env: Mapping[str, str]) -> dict[str, str]:
    if options.token_env is None:
        return {}
    token = env.get(options.token_env, "").strip()
    if not token:
        raise PermanentError(
            f"environment variable {options.token_env} (token_env) is not set or empty"
        )
    return {"Authorization": f"Bearer {token}"}


def _load_state(state: Mapping[str, JSONValue], instance: str) -> dict[str, _TagState]:
    # Status ids are instance-local: a cursor from another server means nothing here.
    if state.get("version") != STATE_VERSION or state.get("instance") != instance:
        return {}
    tags = state.get("tags")
    if not isinstance(tags, dict):
        return {}
    return {str(tag): _TagState.load(value) for tag, value in tags.items()}


def _link_id(response: httpx.Response, rel: str, param: str) -> str | None:
    try:
        links = response.links
    except (ValueError, KeyError):  # an unparseable Link header is as good as none
        return None
    return link_param(links, rel, param)


def _newest(a: str | None, b: str) -> str:
    return b if a is None or id_order(b) > id_order(a) else a


def _describe(tags: Mapping[str, _TagState]) -> str | None:
    parts = []
    for tag, st in tags.items():
        text = f"#{tag}>{st.min_id}" if st.min_id else f"#{tag} (new)"
        if st.backfill_max_id:
            text += f" backfilling<{st.backfill_max_id}"
        parts.append(text)
    return ", ".join(parts) or None


__all__ = ["SOURCE", "MastodonOptions", "MastodonSource"]
