"""``public-api.wordpress.com`` on loopback: sites hosted on WordPress.com, their posts and
threaded comments, in the REST API v1.1 shapes (Automattic/jetpack ``json-endpoints/``).

    sim = WpcomSim()
    blog = sim.add_site("fliegerblog.wordpress.com", utc_offset=timedelta(hours=1))
    post = blog.add_post("uber-den-wolken", "Über den Wolken", "<p>…</p>", date=...)
    first = blog.add_comment(post.id, "Sky Fan", "Toller Bericht", date=...)
    blog.add_comment(post.id, "Jürgen", "Danke!", date=..., parent=first.id)
    with LoopbackServer(sim) as server:
        api = server.base_url        # the source's ``api`` option

Served, ``{site}`` being a host name (or a custom domain given as ``domains``) or the
numeric site ID::

    GET /rest/v1.1/sites/{site}/posts/slug:{slug}   the post (post_object_format subset)
    GET /rest/v1.1/sites/{site}/posts/{ID}
    GET /rest/v1.1/sites/{site}/posts/{ID}/replies/ number (1..100, else 400
                invalid_number; <1 means 20), page (precedence over offset), offset,
                order (ASC|DESC by date), after/before (ISO 8601, inclusive, on the GMT
                date), type (any|comment|pingback|trackback|pings), status (approved
                only: anything else is 403 as for an anonymous caller)
    GET /rest/v1.1/sites/{site}/comments/{ID}       403 if not approved, 404 if deleted

Faithful on purpose: every comment of the post is listed, replies included (as the
endpoint's code reads, its ``ends_with('/replies')`` test never matches its own
``/replies/`` path, so no ``parent=0`` filter applies); ``found`` is
the approved count of every type and ``-1`` when ``after``/``before`` or a ``type``
filter is used; dates carry the site's offset; names are stored HTML-escaped and
content is rendered through make_clickable/wptexturize/wpautop; JSON escapes like PHP.
Errors are ``{"error": code, "message": …}`` with the endpoint's status.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import unquote

from aggregator.demo.httpserver import Request, Response
from aggregator.demo.wordpress_text import comment_text, kses, specialchars, wptexturize

CommentStatus = Literal["approved", "unapproved", "spam", "trash"]
CommentType = Literal["comment", "pingback", "trackback"]
_ROUTE = re.compile(
    r"^/rest/v1\.1/sites/(?P<site>[^/]+)/"
    r"(?:posts/(?P<post>slug:[^/]+|\d+)(?P<replies>/replies)?|comments/(?P<comment>\d+))/?$"
)
_TYPES = {
    "comment": {"comment"},
    "pingback": {"pingback"},
    "trackback": {"trackback"},
    "pings": {"pingback", "trackback"},
}


@dataclass(slots=True)
class SimPost:
    id: int
    slug: str
    title: str
    content: str
    date_gmt: datetime
    modified_gmt: datetime
    author: str
    password: str = ""
    like_count: int = 0


@dataclass(slots=True)
class SimComment:
    id: int
    post: int
    parent: int
    author_name: str
    """As stored: HTML-escaped (``_wp_specialchars``)."""
    author_url: str
    content: str
    date_gmt: datetime
    status: CommentStatus = "approved"
    type: CommentType = "comment"
    like_count: int = 0


class WpcomSite:
    """One site hosted on WordPress.com. Safe to change while a server thread reads it."""

    def __init__(
        self, host: str, site_id: int, *, utc_offset: timedelta, domains: tuple[str, ...] = ()
    ) -> None:
        self.host = host
        self.site_id = site_id
        self.domains = domains
        self.tz = timezone(utc_offset)
        self.private = False
        self.posts: dict[int, SimPost] = {}
        self.comments: dict[int, SimComment] = {}
        self._next_post = 300
        self._next_comment = 1
        self.lock = threading.RLock()

    @property
    def url(self) -> str:
        """Where readers open the site: its custom domain when it has one."""
        return f"https://{(self.domains or (self.host,))[0]}"

    def add_post(
        self,
        slug: str,
        title: str,
        content: str = "",
        *,
        date: datetime,
        author: str = "admin",
        modified: datetime | None = None,
        password: str = "",
    ) -> SimPost:
        with self.lock:
            self._next_post += 1
            post = SimPost(
                self._next_post,
                slug,
                title,
                content,
                _utc(date),
                _utc(modified or date),
                specialchars(author),
                password,
            )
            self.posts[post.id] = post
            return post

    def add_comment(
        self,
        post_id: int,
        author_name: str,
        content: str,
        *,
        date: datetime,
        parent: int = 0,
        author_url: str = "",
        status: CommentStatus = "approved",
        type: CommentType = "comment",
    ) -> SimComment:
        with self.lock:
            if post_id not in self.posts or (parent and parent not in self.comments):
                raise KeyError("no such post or parent comment")
            comment = SimComment(
                self._next_comment,
                post_id,
                parent,
                specialchars(" ".join(author_name.split())),
                author_url,
                kses(content),
                _utc(date),
                status,
                type,
            )
            self._next_comment += 1
            self.comments[comment.id] = comment
            return comment

    def edit_comment(self, comment_id: int, content: str) -> None:
        with self.lock:
            self.comments[comment_id].content = kses(content)

    def set_status(self, comment_id: int, status: CommentStatus) -> None:
        with self.lock:
            self.comments[comment_id].status = status

    def delete_comment(self, comment_id: int) -> None:
        with self.lock:
            del self.comments[comment_id]

    def post_url(self, post: SimPost) -> str:
        return post.date_gmt.astimezone(self.tz).strftime(f"{self.url}/%Y/%m/%d/{post.slug}/")

    def _date(self, when: datetime) -> str:
        return when.astimezone(self.tz).isoformat(timespec="seconds")

    def _api(self, path: str) -> str:
        return f"https://public-api.wordpress.com/rest/v1.1/sites/{self.site_id}/{path}"

    def post_json(self, post: SimPost) -> dict[str, Any]:
        approved = [c for c in self.comments.values() if c.post == post.id]
        content = "This post is password protected." if post.password else post.content
        return {
            "ID": post.id,
            "site_ID": self.site_id,
            "author": self._author(post.author, "", registered=True),
            "date": self._date(post.date_gmt),
            "modified": self._date(post.modified_gmt),
            "title": wptexturize(post.title),
            "URL": self.post_url(post),
            "short_URL": f"https://wp.me/p{self.site_id}-{post.id}",
            "content": content,
            "excerpt": "",
            "slug": post.slug,
            "guid": f"{self.url}/?p={post.id}",
            "status": "publish",
            "sticky": False,
            "password": post.password,
            "parent": False,
            "type": "post",
            "discussion": {
                "comments_open": True,
                "comment_status": "open",
                "pings_open": True,
                "ping_status": "open",
                "comment_count": sum(c.status == "approved" for c in approved),
            },
            "likes_enabled": True,
            "sharing_enabled": True,
            "like_count": post.like_count,
            "i_like": False,
            "is_reblogged": False,
            "is_following": False,
            "global_ID": f"{self.site_id:x}{post.id:x}",
            "featured_image": "",
            "format": "standard",
            "geo": False,
            "menu_order": 0,
            "tags": {},
            "categories": {},
            "meta": {"links": {"self": self._api(f"posts/{post.id}")}},
        }

    def comment_json(self, c: SimComment) -> dict[str, Any]:
        post = self.posts[c.post]
        parent = self.comments.get(c.parent)
        return {
            "ID": c.id,
            "post": {
                "ID": post.id,
                "title": wptexturize(post.title),
                "type": "post",
                "link": self._api(f"posts/{post.id}"),
            },
            "author": self._author(c.author_name, c.author_url, registered=False),
            "date": self._date(c.date_gmt),
            "URL": f"{self.post_url(post)}#comment-{c.id}",
            "short_URL": f"https://wp.me/p{self.site_id}-{post.id}%23comment-{c.id}",
            "content": comment_text(c.content),
            "raw_content": c.content,
            "status": c.status,
            "parent": False
            if parent is None
            else {"ID": parent.id, "type": parent.type, "link": self._api(f"comments/{parent.id}")},
            "type": c.type,
            "like_count": c.like_count,
            "i_like": False,
            "meta": {"links": {"self": self._api(f"comments/{c.id}")}},
            "can_moderate": False,
            "i_replied": False,
        }

    def _author(self, name: str, url: str, *, registered: bool) -> dict[str, Any]:
        digest = hashlib.sha256(name.encode()).hexdigest()
        return {
            "ID": int(digest[:7], 16) if registered else 0,
            "login": "",
            "email": False,
            "name": name,
            "first_name": "",
            "last_name": "",
            "nice_name": "",
            "URL": url,
            "avatar_URL": f"https://0.gravatar.com/avatar/{digest}?s=96&d=identicon&r=G",
            "profile_URL": f"https://gravatar.com/{digest}",
            "ip_address": False,
        }


class WpcomSim:
    """The API for every site added. Call it with a :class:`Request`."""

    def __init__(self) -> None:
        self.sites: list[WpcomSite] = []

    def add_site(
        self,
        host: str,
        *,
        utc_offset: timedelta = timedelta(0),
        domains: tuple[str, ...] = (),
        site_id: int | None = None,
    ) -> WpcomSite:
        site = WpcomSite(
            host, site_id or 123456789 + len(self.sites), utc_offset=utc_offset, domains=domains
        )
        self.sites.append(site)
        return site

    def _site(self, name: str) -> WpcomSite | None:
        name = name.lower()
        for site in self.sites:
            if name in (site.host, str(site.site_id), *site.domains):
                return site
        return None

    def __call__(self, r: Request) -> Response:
        m = _ROUTE.match(r.path)
        if m is None or r.method not in ("GET", "HEAD"):
            return _error(404, "unknown_endpoint", "Unknown endpoint")
        site = self._site(unquote(m["site"]))
        if site is None:
            return _error(404, "unknown_blog", "Unknown blog")
        if site.private:
            return _error(403, "unauthorized", "API calls to this blog have been disabled.")
        with site.lock:
            if m["comment"]:
                return self._comment(site, int(m["comment"]))
            post_ref = unquote(m["post"])
            if post_ref.startswith("slug:"):
                post = next((p for p in site.posts.values() if p.slug == post_ref[5:]), None)
            else:
                post = site.posts.get(int(post_ref))
            if post is None:
                return _error(404, "unknown_post", "Unknown post")
            if m["replies"]:
                return self._replies(site, post, r)
            return _json(200, site.post_json(post))

    def _comment(self, site: WpcomSite, comment_id: int) -> Response:
        comment = site.comments.get(comment_id)
        if comment is None:
            return _error(404, "unknown_comment", "Unknown comment")
        if comment.status != "approved":
            return _error(403, "unauthorized", "User cannot read unapproved comment")
        return _json(200, site.comment_json(comment))

    def _replies(self, site: WpcomSite, post: SimPost, r: Request) -> Response:
        number = _int(r.arg("number"), 20)
        if number < 1:
            number = 20
        elif number > 100:
            return _error(400, "invalid_number", "The NUMBER parameter must be <= 100.")
        if (r.arg("status") or "approved") != "approved":
            return _error(403, "unauthorized", "User cannot read non-approved comments")
        kind = r.arg("type") or "any"
        after, before = _when(r.arg("after")), _when(r.arg("before"))
        page = r.arg("page")
        offset = (max(1, _int(page, 1)) - 1) * number if page else max(0, _int(r.arg("offset"), 0))
        listed = sorted(
            (
                c
                for c in site.comments.values()
                if c.post == post.id
                and c.status == "approved"
                and (kind == "any" or c.type in _TYPES.get(kind, set()))
                and (after is None or c.date_gmt >= after)
                and (before is None or c.date_gmt <= before)
            ),
            key=lambda c: (c.date_gmt, c.id),
            reverse=(r.arg("order") or "DESC").upper() != "ASC",
        )
        counted = kind == "any" and after is None and before is None
        found = sum(c.post == post.id and c.status == "approved" for c in site.comments.values())
        return _json(
            200,
            {
                "found": found if counted else -1,
                "site_ID": site.site_id,
                "comments": [site.comment_json(c) for c in listed[offset : offset + number]],
            },
        )


def _json(status: int, body: Any) -> Response:
    # PHP's json_encode: \uXXXX for non-ASCII, "\/" for slashes.
    data = json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")
    return Response(status, {"Content-Type": "application/json"}, data.encode())


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("give an aware datetime")
    return when.astimezone(UTC).replace(microsecond=0)


__all__ = ["SimComment", "SimPost", "WpcomSim", "WpcomSite"]
