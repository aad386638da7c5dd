"""Discourse: the topics of a forum tagged with the event's hashtags, post by post.

A hashtag is a Discourse tag (``shared/docs/source-apis.md`` §7). Per fetch, within
``ctx.max_pages`` requests in all:

1. ``GET {forum}/tag/{tag}.json``, then its ``more_topics_url`` pages (paths without
   ``.json``, so every request sends ``Accept: application/json``). The list is ordered
   by last activity (``bumped_at``), pinned topics first; paging stops once a page
   reaches what the last complete walk saw minus :data:`OVERLAP`, or the horizon.
2. For each listed topic whose ``posts_count``, ``highest_post_number`` or
   ``last_posted_at`` differ from what the state remembers: ``GET /t/{id}.json`` (the
   first chunk of posts and ``post_stream.stream``, every visible post id), then
   ``GET /t/{id}/posts.json?post_ids[]=…`` (20 at a time, as Discourse's own client
   asks) for the ids above the highest one seen before. A topic's entry in the state
   moves only once all of it was read; a tag's only once every changed topic of its walk
   was. Edits do not move a topic, so edits of older posts (and their deletion) are
   found by :meth:`DiscourseSource.recheck`.

The first post is the ``article`` (titled by the topic), the others are ``comment`` items
under it; deleted posts (also by their authors: ``user_deleted``) and hidden ones
(flagged) are left out and counted, small actions and whispers skipped. Replies older
than the horizon are left out; the first post never is (it titles the thread).

A 429 carries ``Retry-After`` and ``Discourse-Rate-Limit-Error-Code``: it fails the fetch
when nothing was read yet, else what was read is kept and ``next_check_hint`` asks to
wait. An API key (``Api-Key``/``Api-Username``) is optional, read from the environment,
and never follows a redirect off the forum: redirects are followed by hand, same origin
only.

State (JSON)::

    {"v": 1, "forum": "https://forum.example",
     "tags": {"<tag>": "<ISO 8601 UTC: newest activity of the last complete walk>"},
     "topics": {"<id>": {"posts": 12, "highest": 14, "last": "<ISO 8601>" | null,
                         "max_id": 5170}}}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregator import http
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.models import (
    FetchResult,
    ItemData,
    JSONValue,
    RecheckResult,
    SourceState,
    StoredRef,
)
from aggregator.sources import FetchContext, keys
from aggregator.sources.discourse_parse import (
    TopicRef,
    TopicSummary,
    activity,
    has_news,
    is_conversation,
    parse_post,
    parse_posts,
    parse_topic,
    parse_topic_list,
    removal,
    topic_entry,
    with_news,
)
from aggregator.sources.options import endpoint_url, env_name, load_options

OVERLAP = timedelta(hours=1)
CHUNK = 20
_STATE_VERSION = 1
_GONE = frozenset({403, 404, 410})
# A topic without either time (a list from a plugin) counts as active.
_FOREVER = datetime.max.replace(tzinfo=UTC)
_TOPIC_URL = re.compile(r"/t/[^/]*/(\d+)(?:/\d+)?/?$")


class DiscourseOptions(BaseModel):
    """The ``discourse`` keys of an ``[[events.sources]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    forum: str = Field(
        description=(
            "Base URL of the Discourse forum (https://forum.example.org, or with its "
            "subfolder). Plain http:// is only allowed for loopback addresses."
        )
    )
    tag: str | None = Field(
        default=None,
        description=(
            "The forum tag followed, when it is not one of the event's hashtags; by default "
            "every hashtag of the event is followed as a tag."
        ),
    )
    api_key_env: str | None = Field(
        default=None,
        description=(
            "Name of the environment variable holding an API key, for forums that need a "
            "login to read. Use a key scoped to reading."
        ),
    )
    api_username: str | None = Field(
        default=None,
        description="The user an all-users API key acts as (sent as Api-Username).",
    )

    @field_validator("forum")
    @classmethod
    def _forum(cls, value: str) -> str:
        return endpoint_url(value, example="e.g. https://forum.example.org")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lstrip("#")
        if not value or re.search(r"[\s/?#&]", value):
            raise ValueError("must be a tag name (no spaces, /, ?, # or &)")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return None if value is None else env_name(value, secret="key")


class _Stopped(Exception):
    """Unwinds a fetch that a 429 cut short after something was read; never escapes."""


@dataclass(slots=True)
class _Run:
    ctx: FetchContext
    forum: str
    headers: dict[str, str]
    budget: int
    partial: bool = True
    """Whether a 429 after the first request keeps what was read (a fetch) or fails."""
    requests: int = 0
    items: dict[str, ItemData] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    hint: datetime | None = None

    @property
    def exhausted(self) -> bool:
        return self.requests >= self.budget

    async def get(
        self, url: str, params: Any = None, *, allow: frozenset[int] = frozenset()
    ) -> tuple[int, Any]:
        """GET JSON; ``(status, None)`` for a status in ``allow``. Only SourceError escapes."""
        self.requests += 1
        path = urlsplit(url).path
        for _ in range(5):
            response = await http.send(
                self.ctx.client,
                "GET",
                url,
                what=path,
                params=params,
                headers=self.headers,
                follow_redirects=False,
            )
            if not response.is_redirect:
                break
            url, params = urljoin(str(response.url), response.headers["location"]), None
            if not _same_origin(url, self.forum):
                raise PermanentError(f"{path} redirects off the forum ({urlsplit(url).netloc})")
        else:
            raise TemporaryError(f"too many redirects from {path}")
        status = response.status_code
        if status == 429:
            self._rate_limited(response, path)
        if status in allow:
            return status, None
        if status >= 500 or status == 408:
            retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
            if retry is not None:
                raise RateLimited(f"HTTP {status} from {path}", retry)
            raise TemporaryError(f"HTTP {status} from {path}")
        if not 200 <= status < 300:
            raise PermanentError(f"HTTP {status} from {path}{_why(status, self.headers)}")
        return status, http.json_body(response)

    def _rate_limited(self, response: httpx.Response, path: str) -> None:
        retry = http.parse_retry_after(response.headers.get("retry-after"), self.ctx.now)
        if retry is None:
            try:  # {"extras": {"wait_seconds": 10}} when a proxy ate the header
                wait = http.json_body(response)["extras"]["wait_seconds"]
                retry = timedelta(seconds=float(wait))
            except (ParseError, KeyError, TypeError, ValueError, OverflowError):
                retry = None
        code = response.headers.get("discourse-rate-limit-error-code", "")[:40]
        if self.requests == 1 or not self.partial:
            raise RateLimited(f"HTTP 429 {code} from {path}".replace("  ", " "), retry)
        self.hint = self.ctx.now + (retry or timedelta(minutes=1))
        raise _Stopped

    def take(self, post: Mapping[str, Any], topic: TopicRef) -> None:
        if not is_conversation(post):
            return
        reason = removal(post)
        if reason is not None:
            self.removed[str(post.get("id"))] = reason
            return
        item = parse_post(post, forum=self.forum, topic=topic)
        horizon = self.ctx.horizon
        if item.kind == "article" or horizon is None or item.created_at >= horizon:
            self.items[item.key] = item

    async def topic_list(self, tag: str, floor: datetime | None) -> tuple[bool, list[TopicSummary]]:
        """Topics active since ``floor``; whether the walk got there."""
        url: str | None = f"{self.forum}/tag/{quote(tag, safe='')}.json"
        found: list[TopicSummary] = []
        while url is not None:
            if self.exhausted:
                return False, found
            status, payload = await self.get(url, allow=frozenset({404}))
            if status == 404:
                raise PermanentError(f"the forum has no tag {tag!r} (or tags are off)")
            page = parse_topic_list(payload)
            times = [activity(t) or _FOREVER for t in page.topics]
            found += [t for t, a in zip(page.topics, times, strict=True) if not floor or a >= floor]
            stale = floor is not None and any(
                not t.pinned and a < floor for t, a in zip(page.topics, times, strict=True)
            )
            if stale or not page.topics or page.more_url is None:
                return True, found
            url = urljoin(self.forum + "/", page.more_url)
            if not _same_origin(url, self.forum):
                return True, found  # a next page elsewhere is not this forum's
        return True, found

    async def topic(self, summary: TopicSummary, max_seen: int) -> int | None:
        """Read a topic's new posts; the highest visible post id once all were read."""
        status, payload = await self.get(f"{self.forum}/t/{summary.id}.json", allow=_GONE)
        if status in _GONE:
            return max_seen  # deleted or made private since it was listed
        topic = parse_topic(payload)
        posts = list(topic.posts)
        have = {p.get("id") for p in posts}
        wanted = [i for i in topic.stream if i > max_seen and i not in have]
        try:
            for start in range(0, len(wanted), CHUNK):
                if self.exhausted:
                    return None
                more = await self.posts(topic.ref.id, wanted[start : start + CHUNK])
                if more is None:
                    return max_seen  # the topic went away between the two requests
                posts += more
            return max(topic.stream, default=max_seen)
        finally:
            # Whatever was read is kept, even when a 429 cut the topic short.
            for post in posts:
                self.take(post, topic.ref)

    async def posts(self, topic_id: int, ids: Sequence[int]) -> list[Mapping[str, Any]] | None:
        params = [("post_ids[]", str(i)) for i in ids]
        url = f"{self.forum}/t/{topic_id}/posts.json"
        status, payload = await self.get(url, params, allow=_GONE)
        return None if status in _GONE else list(parse_posts(payload))


class DiscourseSource:
    platform: ClassVar[str] = "discourse"
    Options: ClassVar[type[BaseModel]] = DiscourseOptions

    def target(self, options: BaseModel) -> str:
        if not isinstance(options, DiscourseOptions):
            raise TypeError(f"expected DiscourseOptions, got {type(options).__name__}")
        where = options.forum.split("://", 1)[1]
        return f"{where}/tag/{options.tag}" if options.tag else where

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        options = _options(source)
        tags = [options.tag] if options.tag else list(dict.fromkeys(source.spec.hashtags))
        if not tags:
            raise PermanentError("a discourse source needs a tag or the event's hashtags")
        marks, topics = _load(source.state, options.forum)
        run = _Run(ctx, options.forum, _headers(options, ctx.env), max(1, ctx.max_pages))
        walks: dict[str, tuple[bool, list[TopicSummary]]] = {}
        try:
            for tag in tags:
                until = marks.get(tag)
                floor = _latest(until - OVERLAP if until else None, ctx.horizon)
                walks[tag] = await run.topic_list(tag, floor)
            for summary in with_news([t for _, listed in walks.values() for t in listed], topics):
                if run.exhausted:
                    break
                before = topics.get(str(summary.id), {})
                max_seen = before.get("max_id", 0) if isinstance(before, dict) else 0
                reached = await run.topic(summary, max_seen if isinstance(max_seen, int) else 0)
                if reached is not None:
                    topics[str(summary.id)] = topic_entry(summary, reached)
        except _Stopped:
            pass
        new_marks = dict(marks)
        for tag, (complete, listed) in walks.items():
            pending = [t for t in listed if has_news(t, topics.get(str(t.id)))]
            times = [a for a in map(activity, listed) if a is not None]
            if complete and not pending and times:
                new_marks[tag] = max(max(times), marks.get(tag) or max(times))
        return FetchResult(
            items=tuple(run.items.values()),
            state=_dump(options.forum, new_marks, topics),
            excluded=dict(Counter(run.removed.values())),
            requests=run.requests,
            next_check_hint=run.hint,
            cursor_before=_describe(marks),
            cursor_after=_describe(new_marks),
            query="tags: " + ", ".join(tags),
        )

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Per topic: ``/t/{id}.json`` (its stream says which posts a reader still sees),
        then ``posts.json`` for the refs outside its first chunk, within ``ctx.max_pages``
        topics. A post no longer in the stream, deleted, hidden, or in a topic gone or
        made private is gone."""
        options = _options(source)
        # No horizon: a stored reply older than it is still there, not gone.
        ctx = replace(ctx, horizon=None)
        budget = max(1, ctx.max_pages)
        run = _Run(ctx, options.forum, _headers(options, ctx.env), budget, partial=False)
        # Refs name their topic only through the URL the parser gave them.
        prefix = keys.discourse_post(options.forum, 0)[:-1]
        by_topic: dict[int, dict[int, str]] = {}
        for ref in refs:
            m = _TOPIC_URL.search(ref.url or "")
            number = ref.key[len(prefix) :] if ref.key.startswith(prefix) else ""
            if m and number.isascii() and number.isdigit():
                by_topic.setdefault(int(m.group(1)), {})[int(number)] = ref.key
        gone: set[str] = set()
        for topic_id, wanted in by_topic.items():
            if run.exhausted:
                break  # the rest is neither kept nor gone: looked at another time
            status, payload = await run.get(f"{options.forum}/t/{topic_id}.json", allow=_GONE)
            if status in _GONE:
                gone |= set(wanted.values())
                continue
            topic = parse_topic(payload)
            posts = {p.get("id"): p for p in topic.posts}
            missing = [i for i in wanted if i in topic.stream and i not in posts]
            for start in range(0, len(missing), CHUNK):
                more = await run.posts(topic_id, missing[start : start + CHUNK]) or []
                posts.update((p.get("id"), p) for p in more)
            for post_id, key in wanted.items():
                post = posts.get(post_id)
                if post is None or post_id not in topic.stream:
                    gone.add(key)
                else:
                    run.take(post, topic.ref)
                    if key not in run.items:
                        gone.add(key)
        items = tuple(i for i in run.items.values() if i.key not in gone)
        return RecheckResult(items=items, gone=frozenset(gone), requests=run.requests)


SOURCE = DiscourseSource()


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _options(source: SourceState) -> DiscourseOptions:
    return load_options(DiscourseOptions, source.spec.options, "discourse")


def _headers(options: DiscourseOptions, env: Mapping[str, str]) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if options.api_key_env is not None:
        key = env.get(options.api_key_env, "").strip()
        if not key:
            raise PermanentError(f"environment variable {options.api_key_env} is not set or empty")
        headers["Api-Key"] = key
        if options.api_username:
            headers["Api-Username"] = options.api_username
    return headers


def _why(status: int, headers: Mapping[str, str]) -> str:
    if status in (401, 403) and "Api-Key" not in headers:
        return ": the forum needs a login to read; set api_key_env"
    if status in (401, 403):
        return ": the API key was refused"
    return ""


def _load(
    state: Mapping[str, JSONValue], forum: str
) -> tuple[dict[str, datetime], dict[str, JSONValue]]:
    """Tolerant: another forum's or an unreadable state starts afresh."""
    if state.get("v") != _STATE_VERSION or state.get("forum") != forum:
        return {}, {}
    tags, topics = state.get("tags"), state.get("topics")
    marks = {}
    for tag, value in (tags if isinstance(tags, dict) else {}).items():
        try:
            when = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            marks[str(tag)] = when
    return marks, dict(topics) if isinstance(topics, dict) else {}


def _dump(
    forum: str, marks: Mapping[str, datetime], topics: Mapping[str, JSONValue]
) -> dict[str, JSONValue]:
    return {
        "v": _STATE_VERSION,
        "forum": forum,
        "tags": {tag: when.astimezone(UTC).isoformat() for tag, when in marks.items()},
        "topics": dict(topics),
    }


def _describe(marks: Mapping[str, datetime]) -> str | None:
    return ", ".join(f"{tag}>{when.isoformat()}" for tag, when in marks.items()) or None


def _same_origin(url: str, forum: str) -> bool:
    a, b = urlsplit(url), urlsplit(forum)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


__all__ = ["SOURCE", "DiscourseOptions", "DiscourseSource"]
