"""RSS 2.0 / Atom feeds: comment feeds (WordPress, Blogger, any Atom/RSS) and post feeds.

The fetch is one conditional GET. Feeds are a window of the latest N entries
(WordPress: ``posts_per_rss``, 10 by default), so an entry's absence means nothing
and the result has no ``listing``. The parse lives in :mod:`.feeds_parse`.

State (opaque to everything else)::

    {"etag": str | None, "last_modified": str | None, "body_hash": str | None}

``body_hash`` exists because many servers send no validators, and WordPress's are
site-global (any new post or comment anywhere changes them): an unchanged body is
recognised without paying for feedparser, the costliest step of a feed update.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aggregator import http
from aggregator.exceptions import PermanentError
from aggregator.models import DiscoveredSource, FetchResult, SourceSpec, SourceState
from aggregator.sources import FetchContext, discovery
from aggregator.sources.feeds_parse import FeedKind, ParsedFeed, parse_feed
from aggregator.sources.options import is_loopback

ACCEPT = (
    "application/atom+xml, application/rss+xml;q=0.9, application/xml;q=0.8, "
    "text/xml;q=0.7, */*;q=0.1"
)


class FeedOptions(BaseModel):
    """The keys of a ``platform = "feed"`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        description=(
            "The feed's address. A post's comment feed (WordPress `<permalink>/feed/` or "
            "`<permalink>/feed/atom/`, Blogger `/feeds/<postId>/comments/default`), a "
            "site's comment feed (WordPress `/comments/feed/atom/`) or a posts feed "
            "(`/feed/`). Prefer Atom for WordPress: only it says which comment answers "
            "which. Must be https (plain http only for this machine: localhost, 127.0.0.1)."
        )
    )
    kind: Literal["auto", "comments", "posts"] = Field(
        default="auto",
        description=(
            "What the feed's entries are. `auto` recognises WordPress and Blogger comments "
            "and Atom threading (RFC 4685); set `comments` for another engine's comment "
            "feed, `posts` to take every entry as an article."
        ),
    )

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        url = value.strip()
        try:
            parts = urlsplit(url)
            _ = parts.port
        except ValueError as e:
            raise ValueError(f"not a URL: {e}") from e
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute https:// URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must be https:// (plain http is allowed only for localhost)")
        return url


class FeedParser(Protocol):
    def __call__(
        self,
        body: bytes,
        *,
        feed_url: str,
        content_type: str | None = None,
        kind: FeedKind = "auto",
        now: datetime | None = None,
    ) -> ParsedFeed: ...


class FeedSource:
    """Follows one feed. ``parse`` is injectable so tests can count parses."""

    platform: ClassVar[str] = "feed"
    Options: ClassVar[type[BaseModel]] = FeedOptions

    def __init__(self, parse: FeedParser = parse_feed) -> None:
        self._parse = parse

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, FeedOptions):
            raise TypeError(f"expected FeedOptions, got {type(options).__name__}")
        return options.url

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        options = _spec_options(source.spec)
        state = source.state
        headers = {"Accept": ACCEPT}
        # Conditional GET (RFC 9110 §13.1): validators exactly as the server sent them.
        if etag := _str(state.get("etag")):
            headers["If-None-Match"] = etag
        if last_modified := _str(state.get("last_modified")):
            headers["If-Modified-Since"] = last_modified
        response = await http.get(
            ctx.client, options.url, now=ctx.now, headers=headers, allow=frozenset({304})
        )
        if response.status_code == 304:
            return FetchResult(items=(), state=dict(state), not_modified=True, requests=1)

        body = response.content
        new_state: dict[str, Any] = {
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "body_hash": hashlib.blake2b(body, digest_size=16).hexdigest(),
        }
        if new_state["body_hash"] == state.get("body_hash"):
            return FetchResult(items=(), state=new_state, not_modified=True, requests=1)

        parse = functools.partial(
            self._parse,
            body,
            feed_url=str(response.url),
            content_type=response.headers.get("content-type"),
            kind=options.kind,
            now=ctx.now,
        )
        parsed = await ctx.offload(parse, size=len(body))
        # Like the other sources, entries older than the horizon are dropped, not
        # counted: ``excluded`` tells people what was left out by choice (consent).
        items = parsed.items
        if ctx.horizon is not None:
            items = tuple(i for i in items if i.created_at >= ctx.horizon)
        discovered: tuple[DiscoveredSource, ...] = ()
        if parsed.kind == "posts":
            # A post feed carries the whole blog: keep the posts about the event, and
            # follow their comments from now on.
            items = tuple(
                i
                for i in items
                if discovery.about_event(i, feed_url=options.url, hashtags=source.spec.hashtags)
            )
            discovered = discovery.comment_sources(items)
        return FetchResult(
            items=items, state=new_state, listing=None, requests=1, discovered=discovered
        )


SOURCE = FeedSource()


def _spec_options(spec: SourceSpec) -> FeedOptions:
    values = dict(spec.options)
    values.setdefault("url", spec.target)
    try:
        if all(isinstance(v, str) for v in values.values()):
            # Every poll of every feed reads its options: validated once per value.
            return _validated(tuple(sorted(values.items())))
        return FeedOptions.model_validate(values)
    except ValidationError as e:
        # Configuration is validated on load; this only happens to a stale stored spec.
        raise PermanentError(f"source {spec.id}: invalid feed options: {e}") from e


@functools.lru_cache(maxsize=4096)
def _validated(values: tuple[tuple[str, str], ...]) -> FeedOptions:
    return FeedOptions.model_validate(dict(values))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
