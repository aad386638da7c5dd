"""A Discourse forum on loopback: tagged topics, threaded posts, the JSON API readers use.

    forum = DiscourseSim(clock=clock)
    topic = forum.topic("Who is going?", "<p>Tell us</p>", tags=["coproweek"], author="ana")
    forum.reply(topic.id, "<p>Me!</p>", author="ben")
    with LoopbackServer(forum) as server:
        ...  # options: forum = server.base_url

Served (``.json`` or ``Accept: application/json``; anything else gets an HTML page)::

    GET /tag/{tag}.json[?page=N]       topic_list of the tag's visible topics, pinned first,
                                       then by bumped_at; ``per_page`` a page, and
                                       ``more_topics_url`` (``/tag/{tag}?page=N+1``, no
                                       .json) while there are more
    GET /t/{id}.json, /t/{slug}/{id}.json   the topic: ``post_stream.posts`` (the first
                                       ``chunk_size`` visible posts) and ``stream`` (every
                                       visible post id)
    GET /t/{id}/posts.json?post_ids[]=…     those posts, if visible

Visible means what an anonymous reader sees: staff-deleted posts and topics are gone;
posts deleted by their author stay, marked ``user_deleted`` with their text replaced;
hidden (flagged) posts stay, marked ``hidden``. A new regular post bumps its topic; an
edit bumps ``version`` and ``updated_at`` but not the topic. With ``api_key`` set,
every request needs it (``Api-Key``; ``403`` with ``error_type: not_logged_in``
otherwise), as a ``login_required`` forum. ``max_per_10s`` requests per 10 seconds of
the sim's clock, then ``429`` with ``Retry-After`` and ``Discourse-Rate-Limit-Error-Code``
(``lib/middleware/request_tracker.rb``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aggregator.demo.httpserver import Request, Response

REGULAR, SMALL_ACTION = 1, 3
_TAG = re.compile(r"^/tag/([^/]+?)(\.json)?/?$")
_TOPIC = re.compile(r"^/t/(?:[^/]+/)?(\d+)(\.json)?/?$")
_POSTS = re.compile(r"^/t/(\d+)/posts(\.json)?/?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class SimPost:
    id: int
    topic_id: int
    post_number: int
    username: str
    cooked: str
    created_at: datetime
    updated_at: datetime
    reply_to: int | None = None
    post_type: int = REGULAR
    version: int = 1
    deleted_at: datetime | None = None
    user_deleted: bool = False
    hidden: bool = False
    likes: int = 0


@dataclass(slots=True)
class SimTopic:
    id: int
    title: str
    slug: str
    tags: list[str]
    created_at: datetime
    bumped_at: datetime
    pinned: bool = False
    deleted: bool = False
    posts: list[SimPost] = field(default_factory=list)

    def visible(self) -> list[SimPost]:
        return [p for p in self.posts if p.deleted_at is None]


class DiscourseSim:
    """One forum. Thread-safe: tests post, edit and delete while it serves."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        per_page: int = 30,
        chunk_size: int = 20,
        api_key: str | None = None,
        max_per_10s: int | None = None,
    ) -> None:
        self.clock = clock
        self.per_page = per_page
        self.chunk_size = chunk_size
        self.api_key = api_key
        self.max_per_10s = max_per_10s
        self.topics: dict[int, SimTopic] = {}
        self.posts: dict[int, SimPost] = {}
        self._lock = threading.RLock()
        self._next_topic = 100
        self._next_post = 5000
        self._window = (-1, 0)

    # --- content -------------------------------------------------------------------

    def topic(
        self,
        title: str,
        cooked: str,
        *,
        tags: Iterable[str],
        author: str = "system",
        at: datetime | None = None,
        pinned: bool = False,
    ) -> SimTopic:
        at = (at or self.clock()).astimezone(UTC)
        with self._lock:
            self._next_topic += 1
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "topic"
            topic = SimTopic(self._next_topic, title, slug, [t.lower() for t in tags], at, at)
            topic.pinned = pinned
            self.topics[topic.id] = topic
            self._add(topic, author, cooked, at, None, REGULAR)
            return topic

    def reply(
        self,
        topic_id: int,
        cooked: str,
        *,
        author: str = "someone",
        at: datetime | None = None,
        reply_to: int | None = None,
        post_type: int = REGULAR,
    ) -> SimPost:
        at = (at or self.clock()).astimezone(UTC)
        with self._lock:
            return self._add(self.topics[topic_id], author, cooked, at, reply_to, post_type)

    def _add(
        self,
        topic: SimTopic,
        author: str,
        cooked: str,
        at: datetime,
        reply_to: int | None,
        post_type: int,
    ) -> SimPost:
        self._next_post += 1
        number = len(topic.posts) + 1
        post = SimPost(self._next_post, topic.id, number, author, cooked, at, at, reply_to)
        post.post_type = post_type
        topic.posts.append(post)
        self.posts[post.id] = post
        if post_type == REGULAR:
            topic.bumped_at = max(topic.bumped_at, at)
        return post

    def edit(self, post_id: int, cooked: str, *, at: datetime | None = None) -> None:
        with self._lock:
            post = self.posts[post_id]
            post.cooked, post.version = cooked, post.version + 1
            post.updated_at = (at or self.clock()).astimezone(UTC)

    def delete(self, post_id: int) -> None:
        """Deleted by staff: gone for readers."""
        with self._lock:
            self.posts[post_id].deleted_at = self.clock()

    def delete_by_author(self, post_id: int) -> None:
        with self._lock:
            post = self.posts[post_id]
            post.user_deleted, post.cooked = True, "<p>(post deleted by author)</p>"

    def hide(self, post_id: int) -> None:
        with self._lock:
            self.posts[post_id].hidden = True

    def delete_topic(self, topic_id: int) -> None:
        with self._lock:
            self.topics[topic_id].deleted = True

    # --- HTTP ----------------------------------------------------------------------

    def __call__(self, r: Request) -> Response:
        now = self.clock()
        if self.max_per_10s is not None and self._over_limit(now):
            wait = 10 - math.floor((now - _EPOCH).total_seconds()) % 10
            body = {
                "errors": [f"You’ve performed this action too many times. Wait {wait} seconds."],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": wait, "time_left": f"{wait} seconds"},
            }
            headers = {
                "Retry-After": str(wait),
                "Discourse-Rate-Limit-Error-Code": "ip_10_secs_limit",
            }
            return _json(429, body, headers)
        if self.api_key is not None and r.headers.get("api-key") != self.api_key:
            body = {
                "errors": ["You need to be logged in to do that."],
                "error_type": "not_logged_in",
            }
            return _json(403, body)
        wants_json = "application/json" in r.headers.get("accept", "")
        with self._lock:
            for pattern, handler in (
                (_TAG, self._tag),
                (_POSTS, self._posts),
                (_TOPIC, self._topic),
            ):
                m = pattern.match(r.path)
                if m is not None:
                    if not (m.group(2) or wants_json):
                        page = b"<!DOCTYPE html><html><body>Discourse</body></html>"
                        return Response(200, {"Content-Type": "text/html"}, page)
                    return handler(m.group(1), r)
        return _json(404, {"errors": ["The requested URL or resource could not be found."]})

    def _over_limit(self, now: datetime) -> bool:
        with self._lock:
            window = math.floor((now - _EPOCH).total_seconds() / 10)
            count = self._window[1] + 1 if self._window[0] == window else 1
            self._window = (window, count)
            return count > (self.max_per_10s or 0)

    def _tag(self, tag: str, r: Request) -> Response:
        name = unquote(tag).lower()
        topics = [t for t in self.topics.values() if name in t.tags and not t.deleted]
        if not topics and not any(name in t.tags for t in self.topics.values()):
            return _json(404, {"errors": ["The requested URL or resource could not be found."]})
        topics.sort(key=lambda t: (t.pinned, t.bumped_at, t.id), reverse=True)
        page = max(0, int(r.arg("page") or 0))
        shown = topics[page * self.per_page : (page + 1) * self.per_page]
        topic_list: dict[str, Any] = {
            "can_create_topic": False,
            "per_page": self.per_page,
            "top_tags": [],
            "tags": [{"id": 1, "name": name, "topic_count": len(topics), "staff": False}],
            "topics": [self._summary(t) for t in shown],
        }
        if (page + 1) * self.per_page < len(topics):
            topic_list["more_topics_url"] = f"/tag/{quote(name, safe='')}?page={page + 1}"
        users = {p.username for t in shown for p in t.visible()}
        return _json(200, {"users": [_user(u) for u in sorted(users)], "topic_list": topic_list})

    def _summary(self, t: SimTopic) -> dict[str, Any]:
        visible = t.visible()
        last = max((p.created_at for p in visible), default=t.created_at)
        return {
            "id": t.id,
            "title": t.title,
            "fancy_title": t.title.replace("&", "&amp;").replace("<", "&lt;"),
            "slug": t.slug,
            "posts_count": len(visible),
            "reply_count": max(0, len(visible) - 1),
            "highest_post_number": len(t.posts),
            "image_url": None,
            "created_at": _iso(t.created_at),
            "last_posted_at": _iso(last),
            "bumped": True,
            "bumped_at": _iso(t.bumped_at),
            "archetype": "regular",
            "unseen": False,
            "pinned": t.pinned,
            "unpinned": None,
            "visible": True,
            "closed": False,
            "archived": False,
            "bookmarked": None,
            "liked": None,
            "tags": list(t.tags),
            "views": 10,
            "like_count": sum(p.likes for p in visible),
            "has_summary": False,
            "last_poster_username": visible[-1].username if visible else None,
            "category_id": 1,
            "pinned_globally": False,
            "featured_link": None,
            "posters": [],
        }

    def _topic(self, topic_id: str, r: Request) -> Response:
        topic = self.topics.get(int(topic_id))
        if topic is None or topic.deleted:
            return _json(404, {"errors": ["The requested URL or resource could not be found."]})
        visible = topic.visible()
        body = {
            "post_stream": {
                "posts": [self._post(p, topic) for p in visible[: self.chunk_size]],
                "stream": [p.id for p in visible],
            },
            "timeline_lookup": [],
            "tags": list(topic.tags),
            "id": topic.id,
            "title": topic.title,
            "fancy_title": topic.title.replace("&", "&amp;").replace("<", "&lt;"),
            "posts_count": len(visible),
            "created_at": _iso(topic.created_at),
            "archetype": "regular",
            "slug": topic.slug,
            "category_id": 1,
            "highest_post_number": len(topic.posts),
            "chunk_size": self.chunk_size,
            "deleted_at": None,
        }
        return _json(200, body)

    def _posts(self, topic_id: str, r: Request) -> Response:
        topic = self.topics.get(int(topic_id))
        if topic is None or topic.deleted:
            return _json(404, {"errors": ["The requested URL or resource could not be found."]})
        wanted = {int(i) for i in r.query.get("post_ids[]", []) if i.isdigit()}
        posts = [self._post(p, topic) for p in topic.visible() if p.id in wanted]
        return _json(200, {"post_stream": {"posts": posts}, "id": topic.id})

    def _post(self, p: SimPost, topic: SimTopic) -> dict[str, Any]:
        replies = sum(q.reply_to == p.post_number for q in topic.visible())
        avatar = hashlib.sha256(p.username.encode()).hexdigest()[:6]
        letter = f"/letter_avatar_proxy/v4/letter/{p.username[0]}/{avatar}"
        return {
            "id": p.id,
            "name": p.username.title(),
            "username": p.username,
            "avatar_template": letter + "/{size}.png",
            "created_at": _iso(p.created_at),
            "cooked": p.cooked,
            "post_number": p.post_number,
            "post_type": p.post_type,
            "updated_at": _iso(p.updated_at),
            "reply_count": replies,
            "reply_to_post_number": p.reply_to,
            "quote_count": 0,
            "incoming_link_count": 0,
            "reads": 1,
            "readers_count": 0,
            "score": 0.2,
            "yours": False,
            "topic_id": topic.id,
            "topic_slug": topic.slug,
            "display_username": p.username.title(),
            "version": p.version,
            "can_edit": False,
            "actions_summary": [{"id": 2, "count": p.likes}] if p.likes else [],
            "moderator": False,
            "admin": False,
            "staff": False,
            "user_id": int(avatar, 16),
            "hidden": p.hidden,
            "trust_level": 1,
            "deleted_at": None,
            "user_deleted": p.user_deleted,
            "edit_reason": None,
            "can_view_edit_history": True,
            "wiki": False,
        }


def _user(username: str) -> dict[str, Any]:
    return {"id": int(hashlib.sha256(username.encode()).hexdigest()[:6], 16), "username": username}


def _iso(when: datetime) -> str:
    """Rails' JSON time: ``2026-11-20T12:00:00.000Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Response(
        status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, data
    )


__all__ = ["DiscourseSim", "SimPost", "SimTopic"]
