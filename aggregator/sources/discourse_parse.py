"""Discourse API payloads in, domain types out: pure functions, no I/O.

* :func:`parse_topic_list` reads ``GET /tag/{tag}.json`` (``topic_list``);
* :func:`parse_topic` reads ``GET /t/{id}.json`` (the topic, its first chunk of posts
  and ``post_stream.stream``, every visible post id in order);
* :func:`parse_posts` reads ``GET /t/{id}/posts.json?post_ids[]=…``;
* :func:`parse_post` turns one post into an item: the topic's first post is the
  ``article`` (titled by the topic), the others ``comment`` items under it.

Keys: ``discourse:{host}:post:{id}`` (post ids are forum-wide). A reply names its
parent by ``reply_to_post_number``, a number within the topic, so every post also
carries the alias ``discourse:{host}:topic:{topic id}:{post number}`` and replies point
at that (the store resolves aliases); a reply to the first post, or to none, is a
top-level comment under the article, as a blog comment is under its post.

Field semantics: ``shared/docs/source-apis.md`` §7, discourse/discourse_api fixtures.
Every public function returns or raises :class:`~aggregator.exceptions.ParseError`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, Engagement, ItemData
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import any_str, check_text, opt_count
from aggregator.urls import canonical_url

PLATFORM = "discourse"
REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4
"""``Post.types``: small actions ("closed this topic") and staff whispers are not talk."""
LIKE = 2
"""``PostActionType.types[:like]`` in ``actions_summary``."""
_DAWN = datetime.min.replace(tzinfo=UTC)
# Cooked HTML links within the forum by path ("/u/ana", "/t/slug/12/3") or
# protocol-relative URL; a digest shown elsewhere needs them absolute.
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
# The file name and size Discourse prints under a lightboxed image are not text.
_LIGHTBOX_META = re.compile(r'<div class="meta">.*?</div>', re.DOTALL)
# Forum-internal links that are navigation, not something shared: tag and category
# pages (cooked #hashtags), user pages (@mentions), uploads behind lightbox images.
_NAVIGATION = ("/tag/", "/tags/", "/c/", "/u/", "/uploads/", "/user_avatar/")


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """A row of a topic list: enough to tell whether the topic has news."""

    id: int
    slug: str
    posts_count: int
    highest_post_number: int
    last_posted_at: datetime | None
    bumped_at: datetime | None
    pinned: bool


@dataclass(frozen=True, slots=True)
class TopicList:
    topics: tuple[TopicSummary, ...]
    more_url: str | None
    """``more_topics_url`` (a path without ``.json``), when there is a next page."""


@dataclass(frozen=True, slots=True)
class TopicRef:
    """What a post needs of its topic to become an item."""

    id: int
    slug: str
    title: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topic:
    ref: TopicRef
    posts: tuple[Mapping[str, Any], ...]
    """The first chunk of posts (``post_stream.posts``), unparsed."""
    stream: tuple[int, ...]
    """Every post id a reader can see, in order."""


def parse_topic_list(payload: Any) -> TopicList:
    if not isinstance(payload, dict) or not isinstance(payload.get("topic_list"), dict):
        raise ParseError("expected an object with a topic_list")
    topic_list = payload["topic_list"]
    topics = topic_list.get("topics", [])
    if not isinstance(topics, list):
        raise ParseError("topic_list.topics is not an array")
    more = topic_list.get("more_topics_url")
    if more is not None and not isinstance(more, str):
        raise ParseError("topic_list.more_topics_url is not a string")
    return TopicList(tuple(_summary(t) for t in topics), more or None)


def _summary(t: Any) -> TopicSummary:
    if not isinstance(t, dict):
        raise ParseError("a topic is not an object")
    what = f"topic {t.get('id')!r:.20}"
    return TopicSummary(
        id=_int(t, "id", what),
        slug=any_str(t, "slug", what),
        posts_count=_int(t, "posts_count", what, minimum=0),
        highest_post_number=_int(t, "highest_post_number", what, minimum=0),
        last_posted_at=_time_or_none(t.get("last_posted_at")),
        bumped_at=_time_or_none(t.get("bumped_at")),
        pinned=t.get("pinned") is True,
    )


def activity(t: TopicSummary) -> datetime | None:
    """When the topic last had a post (``bumped_at``, ``last_posted_at``)."""
    return max((w for w in (t.bumped_at, t.last_posted_at) if w is not None), default=None)


def has_news(t: TopicSummary, entry: Any) -> bool:
    """Whether a listed topic differs from its state entry (see :func:`topic_entry`).
    Edits move none of these counts, so they are left to re-checks."""
    if not isinstance(entry, dict):
        return True
    last = t.last_posted_at.isoformat() if t.last_posted_at else None
    seen = (entry.get("posts"), entry.get("highest"), entry.get("last"))
    return seen != (t.posts_count, t.highest_post_number, last)


def topic_entry(t: TopicSummary, max_id: int) -> dict[str, Any]:
    """What the state keeps of a topic read whole: its counts and its highest post id."""
    last = t.last_posted_at.isoformat() if t.last_posted_at else None
    return {
        "posts": t.posts_count,
        "highest": t.highest_post_number,
        "last": last,
        "max_id": max_id,
    }


def with_news(listed: Iterable[TopicSummary], entries: Mapping[str, Any]) -> list[TopicSummary]:
    """Listed topics with news, once each, most recently active first."""
    found = {t.id: t for t in listed}
    news = [t for t in found.values() if has_news(t, entries.get(str(t.id)))]
    return sorted(news, key=lambda t: activity(t) or _DAWN, reverse=True)


def parse_topic(payload: Any) -> Topic:
    if not isinstance(payload, dict):
        raise ParseError("expected a topic object")
    what = f"topic {payload.get('id')!r:.20}"
    stream_obj = payload.get("post_stream")
    if not isinstance(stream_obj, dict):
        raise ParseError(f"{what}: post_stream is not an object")
    stream = stream_obj.get("stream", [])
    if not isinstance(stream, list) or not all(_is_id(i) for i in stream):
        raise ParseError(f"{what}: post_stream.stream is not a list of ids")
    ref = TopicRef(
        id=_int(payload, "id", what),
        slug=any_str(payload, "slug", what),
        title=" ".join(any_str(payload, "title", what).split()),
        tags=_tags(payload.get("tags")),
    )
    return Topic(ref, _post_objects(stream_obj, what), tuple(stream))


def parse_posts(payload: Any) -> tuple[Mapping[str, Any], ...]:
    """``/t/{id}/posts.json``: ``{"post_stream": {"posts": [...]}, "id": …}``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("post_stream"), dict):
        raise ParseError("expected an object with a post_stream")
    return _post_objects(payload["post_stream"], "posts")


def _post_objects(stream: Mapping[str, Any], what: str) -> tuple[Mapping[str, Any], ...]:
    posts = stream.get("posts", [])
    if not isinstance(posts, list) or not all(isinstance(p, dict) for p in posts):
        raise ParseError(f"{what}: post_stream.posts is not a list of objects")
    return tuple(posts)


def removal(post: Mapping[str, Any]) -> str | None:
    """``deleted`` (by staff, or by its author: ``user_deleted``, whose text is replaced
    by "(post deleted by author)"), ``hidden`` (flagged by the community), else None."""
    if post.get("deleted_at") is not None or post.get("user_deleted") is True:
        return "deleted"
    if post.get("hidden") is True:
        return "hidden"
    return None


def is_conversation(post: Mapping[str, Any]) -> bool:
    """Regular and moderator posts; not small actions ("pinned this") or whispers."""
    kind = post.get("post_type", REGULAR)
    return kind in (REGULAR, MODERATOR_ACTION)


def parse_post(post: Mapping[str, Any], *, forum: str, topic: TopicRef) -> ItemData:
    """One post as an item (the caller has left out :func:`removal` and non-conversation
    posts). ``forum`` is the base URL posts' relative links and avatars resolve against."""
    if not isinstance(post, dict):
        raise ParseError("a post is not an object")
    post_id = _int(post, "id", "post")
    what = f"post {post_id}"
    number = _int(post, "post_number", what)
    username = any_str(post, "username", what)
    cooked = any_str(post, "cooked", what)
    name = post.get("name")
    display = name.strip() if isinstance(name, str) and name.strip() else username
    reply_to = post.get("reply_to_post_number")
    if reply_to is not None and not _is_id(reply_to):
        raise ParseError(f"{what}: reply_to_post_number is not a post number")
    base = forum.rstrip("/") + "/"
    topic_url = f"{base}t/{quote(topic.slug, safe='')}/{topic.id}"
    url = topic_url if number == 1 else f"{topic_url}/{number}"
    check_text(what, cooked, username, display, topic.title)
    cleaned = clean(_absolute_links(cooked, base), base_url=base)
    created = _time(post.get("created_at"), f"{what}: created_at")
    updated = _time_or_none(post.get("updated_at"))
    version = post.get("version")
    edited = isinstance(version, int) and version > 1 and updated is not None and updated > created
    return ItemData(
        key=keys.discourse_post(forum, post_id),
        platform=PLATFORM,
        kind="article" if number == 1 else "comment",
        url=url,
        author=AuthorData(
            key=keys.discourse_account(forum, username),
            platform=PLATFORM,
            name=" ".join(display.split()),
            handle=f"@{username}",
            url=f"{base}u/{quote(username, safe='')}",
            avatar_url=_avatar(post.get("avatar_template"), base),
        ),
        html=cleaned.html,
        text=cleaned.text,
        created_at=created,
        edited_at=updated if edited else None,
        in_reply_to=keys.discourse_post_alias(forum, topic.id, reply_to)
        if reply_to is not None and reply_to > 1 and number > 1
        else None,
        context_url=None if number == 1 else topic_url,
        title=topic.title or None if number == 1 else None,
        engagement=Engagement(replies=opt_count(post.get("reply_count")), likes=_likes(post)),
        hashtags=topic.tags,
        links=tuple(u for u in cleaned.links if not _navigation(u, base)),
        raw=post,
        aliases=(keys.discourse_post_alias(forum, topic.id, number),),
    )


def _absolute_links(cooked: str, base: str) -> str:
    def absolute(m: re.Match[str]) -> str:
        try:
            href = urljoin(base, html.unescape(m.group(2)))
        except ValueError:  # "http://[oops" is left for the sanitizer to drop
            return m.group(0)
        return m.group(1) + html.escape(href) + m.group(3)

    return _HREF.sub(absolute, _LIGHTBOX_META.sub("", cooked))


def _navigation(url: str, base: str) -> bool:
    forum = canonical_url(base)
    if forum is None or not url.startswith(forum.rstrip("/")):
        return False
    path = url[len(forum.rstrip("/")) :]
    return path.startswith(_NAVIGATION)


def _avatar(template: Any, base: str) -> str | None:
    """``avatar_template`` is a path, a protocol-relative URL or a URL, with ``{size}``."""
    if not isinstance(template, str) or not template:
        return None
    url = urljoin(base, template.replace("{size}", "96"))
    return url if urlsplit(url).scheme in ("http", "https") else None


def _likes(post: Mapping[str, Any]) -> int | None:
    count = opt_count(post.get("like_count"))
    if count is not None:
        return count
    actions = post.get("actions_summary")
    if isinstance(actions, list):
        for action in actions:
            if isinstance(action, dict) and action.get("id") == LIKE:
                return opt_count(action.get("count"))
    return None


def _tags(value: Any) -> tuple[str, ...]:
    # Plain names, or objects with a name on forums that describe their tags.
    names = []
    for tag in value if isinstance(value, list) else []:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name.strip():
            names.append(name.strip().lower())
    return tuple(dict.fromkeys(names))


def _time(value: Any, what: str) -> datetime:
    when = _time_or_none(value)
    if when is None:
        raise ParseError(f"{what} is not an ISO 8601 time: {value!r:.40}")
    return when


def _time_or_none(value: Any) -> datetime | None:
    """``2020-01-25T02:10:07.971Z``; old forums send offsets (``-05:00``)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int(obj: Mapping[str, Any], name: str, what: str, *, minimum: int = 1) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ParseError(f"{what}: {name} is not an integer ≥ {minimum}: {value!r:.40}")
    return value
