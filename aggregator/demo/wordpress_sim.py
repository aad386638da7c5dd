"""A self-hosted WordPress site on loopback: posts, threaded comments, the REST API and
the comment feeds, shaped like core's output so fetchers meet what they meet in the wild.

    site = WordPressSite(utc_offset=timedelta(hours=1))
    post = site.add_post("velo-cargo-hiver", "Vélo-cargo en hiver", date=...)
    first = site.add_comment(post.id, "Zoë & Max", "Super article !", date=...)
    site.add_comment(post.id, "Élodie", "Merci !", date=..., parent=first.id)
    with LoopbackServer(site) as server:
        url = server.base_url + site.post_path(post.id)

Served (``base`` is the server's own URL)::

    GET /<yyyy>/<mm>/<dd>/<slug>/          post page; Link: api root, alternate JSON, shortlink
    GET /?p=ID                              301 to the pretty permalink (the page itself
                                            when pretty_permalinks=False)
    GET /<post path>/feed/                  RSS2 comments feed (feed-rss2-comments.php)
    GET /<post path>/feed/atom/             Atom comments feed with thr:in-reply-to
    GET /comments/feed/[atom/]              site-wide comment feeds
    GET /?p=ID&feed=rss2|atom, /?feed=comments-rss2|comments-atom
    GET /wp-json/ (or /?rest_route=/, /index.php?rest_route=/)   API index
    GET /wp-json/wp/v2/comments             post, per_page (1..100), page, offset, order,
                                            orderby (id|date|date_gmt|post|parent),
                                            after/before (site-local, exclusive), parent,
                                            _fields; approved comments only
    GET /wp-json/wp/v2/comments/ID, /wp-json/wp/v2/posts[?slug=]
    GET /wp-json/wp/v2/posts/ID             _embed (every embeddable link) or
                                            _embed=author,replies: ``_embedded`` as core
    GET /wp-json/wp/v2/users/ID             post authors (see ``users_api``)

Faithful on purpose, traps included: ``author_name`` and authors' display names are
stored HTML-escaped, content is rendered through make_clickable / wptexturize / wpautop
at read time, ``after`` compares with the site-local ``comment_date``, pages past the end
are ``[]``, JSON escapes ``/`` and non-ASCII like PHP, and the feeds' ETag/Last-Modified
are site-global and built from the newest post or approved comment *date*, so an edit or
a late approval of an old comment does not change them. Not simulated: smilies,
pingbacks, comment paging, pages, password posts.

This module holds the site model, its URLs and pages; the REST API is in
:mod:`aggregator.demo.wordpress_rest`, WordPress's text filters in
:mod:`aggregator.demo.wordpress_text`, the comment feeds in
:mod:`aggregator.demo.wordpress_feeds`.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal
from urllib.parse import urlencode

from aggregator.demo import wordpress_feeds as feeds
from aggregator.demo import wordpress_rest as rest
from aggregator.demo.httpserver import Request, Response
from aggregator.demo.wordpress_rest import int_or_none, wp_date
from aggregator.demo.wordpress_text import comment_text, kses, specialchars, wptexturize

CommentStatus = Literal["approved", "hold", "spam", "trash"]


@dataclass(slots=True)
class SimPost:
    id: int
    slug: str
    title: str
    content: str
    """HTML as the editor saved it."""
    date_gmt: datetime
    modified_gmt: datetime
    author: str = "admin"
    """The author's display name as stored: HTML-escaped like a commenter's name
    (``pre_user_display_name`` runs ``_wp_specialchars``)."""


@dataclass(frozen=True, slots=True)
class SimUser:
    id: int
    name: str
    """The display name as stored (HTML-escaped)."""
    slug: str
    """``user_nicename``: the author archive's path segment."""


@dataclass(slots=True)
class SimComment:
    id: int
    post: int
    parent: int
    author_name: str
    """As stored: HTML-escaped by ``_wp_specialchars`` (``Zoë &amp; Max``)."""
    author_url: str
    author_email: str
    user_id: int
    content: str
    """As stored (after kses and ``wp_rel_ugc``), before the display filters."""
    date_gmt: datetime
    status: CommentStatus


class WordPressSite:
    """A WordPress site to serve with :class:`~aggregator.demo.httpserver.LoopbackServer`.

    ``utc_offset`` is the site's time zone (a fixed offset or a ``ZoneInfo``);
    ``show_avatars=False`` drops ``author_avatar_urls`` as core does;
    ``pretty_permalinks=False`` makes ``?p=ID`` the permalink and ``?rest_route=`` the
    API root; ``link_headers=False`` / ``head_links=False`` hide the discovery links
    from the post page's ``Link`` header / ``<head>`` (both off forces a slug search);
    ``rest_api="login_required"`` answers every API request 401 like a locked-down
    site; ``users_api`` shows post authors as core does (``"open"``), as sites that hide
    their users do (``"unlinked"``: posts carry no author link, so ``_embed`` embeds no
    author, and the users route is gone) or as a site that refuses anonymous user
    look-ups (``"refused"``: the embedded author is a 401 error object);
    ``utf8mb4=False`` stores emoji as numeric entities (``wp_encode_emoji``).
    Safe to change from a test while a server thread reads it.
    """

    def __init__(
        self,
        *,
        name: str = "Carnet à vélo",
        description: str = "Carnet de bord d'une famille à vélo",
        utc_offset: timedelta | tzinfo = timedelta(hours=1),
        show_avatars: bool = True,
        pretty_permalinks: bool = True,
        link_headers: bool = True,
        head_links: bool = True,
        rest_api: Literal["open", "login_required"] = "open",
        users_api: Literal["open", "unlinked", "refused"] = "open",
        posts_per_rss: int = 10,
        utf8mb4: bool = True,
    ) -> None:
        self.name = name
        self.description = description
        self.tz = timezone(utc_offset) if isinstance(utc_offset, timedelta) else utc_offset
        self.show_avatars = show_avatars
        self.pretty_permalinks = pretty_permalinks
        self.link_headers = link_headers
        self.head_links = head_links
        self.rest_api = rest_api
        self.users_api = users_api
        self.posts_per_rss = posts_per_rss
        self.utf8mb4 = utf8mb4
        self.posts: dict[int, SimPost] = {}
        self.comments: dict[int, SimComment] = {}
        self.users: dict[int, SimUser] = {}
        self._lock = threading.RLock()
        self._next_post = 1
        self._next_comment = 1

    # --- content ---------------------------------------------------------------------

    def add_post(
        self,
        slug: str,
        title: str,
        content: str = "",
        *,
        date: datetime,
        modified: datetime | None = None,
        author: str = "admin",
        post_id: int | None = None,
    ) -> SimPost:
        """A published post by ``author`` (a display name; the user is made on first use)."""
        with self._lock:
            pid = post_id if post_id is not None else self._next_post
            self._next_post = max(self._next_post, pid + 1)
            name = specialchars(" ".join(author.split()))
            self.user_named(name)
            modified_gmt = _utc(modified) if modified is not None else _utc(date)
            post = SimPost(pid, slug, title, content, _utc(date), modified_gmt, name)
            self.posts[pid] = post
            return post

    def user_named(self, name: str) -> SimUser:
        found = next((u for u in self.users.values() if u.name == name), None)
        if found is None:
            uid = len(self.users) + 1
            # user_nicename: sanitize_title of the login, accents removed (remove_accents)
            ascii_name = unicodedata.normalize("NFKD", html.unescape(name)).encode(
                "ascii", "ignore"
            )
            slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.decode().lower()).strip("-")
            found = SimUser(uid, name, slug or str(uid))
            self.users[uid] = found
        return found

    def add_comment(
        self,
        post_id: int,
        author_name: str,
        content: str,
        *,
        date: datetime,
        parent: int = 0,
        author_url: str = "",
        author_email: str = "",
        user_id: int = 0,
        status: CommentStatus = "approved",
        comment_id: int | None = None,
    ) -> SimComment:
        """Store a comment as ``wp_new_comment`` would: name escaped, content filtered."""
        with self._lock:
            if post_id not in self.posts:
                raise KeyError(f"no post {post_id}")
            if parent and parent not in self.comments:
                raise KeyError(f"no comment {parent}")
            cid = comment_id if comment_id is not None else self._next_comment
            self._next_comment = max(self._next_comment, cid + 1)
            comment = SimComment(
                id=cid,
                post=post_id,
                parent=parent,
                author_name=specialchars(" ".join(author_name.split())),
                author_url=author_url.strip(),
                author_email=author_email.strip(),
                user_id=user_id,
                content=self._save_content(content),
                date_gmt=_utc(date),
                status=status,
            )
            self.comments[cid] = comment
            return comment

    def edit_comment(self, comment_id: int, content: str) -> None:
        """An edit keeps the comment's date: WordPress records no modification time."""
        with self._lock:
            self.comments[comment_id].content = self._save_content(content)

    def set_status(self, comment_id: int, status: CommentStatus) -> None:
        """Moderation; a comment approved late keeps the date it was written."""
        with self._lock:
            self.comments[comment_id].status = status

    def approve(self, comment_id: int) -> None:
        self.set_status(comment_id, "approved")

    def hold(self, comment_id: int) -> None:
        self.set_status(comment_id, "hold")

    def trash(self, comment_id: int) -> None:
        self.set_status(comment_id, "trash")

    def spam(self, comment_id: int) -> None:
        self.set_status(comment_id, "spam")

    def delete_comment(self, comment_id: int) -> None:
        with self._lock:
            del self.comments[comment_id]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], **options: Any) -> WordPressSite:
        """A site from JSON-shaped data (the demo's bundled blog post)::

        {"name": …, "description": …, "utc_offset_minutes": 60,
         "posts": [{"id", "slug", "title", "content", "date": ISO 8601 with zone,
                    "modified"?, "author"? (display name, default "admin")}],
         "comments": [{"id", "post", "parent"?, "author_name" (as typed), "author_url"?,
                       "content" (as typed), "date", "status"?}]}
        """
        site = cls(
            name=data.get("name", "Carnet à vélo"),
            description=data.get("description", ""),
            utc_offset=timedelta(minutes=data.get("utc_offset_minutes", 0)),
            **options,
        )
        for p in data.get("posts", []):
            site.add_post(
                p["slug"],
                p["title"],
                p.get("content", ""),
                date=_iso(p["date"]),
                modified=_iso(p["modified"]) if p.get("modified") else None,
                author=p.get("author", "admin"),
                post_id=p["id"],
            )
        for c in sorted(data.get("comments", []), key=lambda c: int(c["id"])):
            site.add_comment(
                c["post"],
                c["author_name"],
                c["content"],
                date=_iso(c["date"]),
                parent=c.get("parent", 0),
                author_url=c.get("author_url", ""),
                author_email=c.get("author_email", ""),
                status=c.get("status", "approved"),
                comment_id=c["id"],
            )
        return site

    def _save_content(self, content: str) -> str:
        # pre_comment_content: wp_filter_kses, then wp_rel_ugc; wp_encode_emoji on a
        # database that cannot store 4-byte characters.
        saved = kses(content)
        if not self.utf8mb4:
            saved = "".join(f"&#x{ord(ch):x};" if ord(ch) > 0xFFFF else ch for ch in saved)
        return saved

    # --- URLs --------------------------------------------------------------------------

    def post_path(self, post_id: int) -> str:
        post = self.posts[post_id]
        if not self.pretty_permalinks:
            return f"/?p={post.id}"
        return post.date_gmt.astimezone(self.tz).strftime(f"/%Y/%m/%d/{post.slug}/")

    def post_url(self, base: str, post_id: int) -> str:
        return base + self.post_path(post_id)

    def api_root(self, base: str) -> str:
        return f"{base}/wp-json/" if self.pretty_permalinks else f"{base}/index.php?rest_route=/"

    def route(self, base: str, route: str, query: Mapping[str, Any] | None = None) -> str:
        if self.pretty_permalinks:
            url = f"{base}/wp-json/{route.strip('/')}"
            return url + ("?" + urlencode(query) if query else "")
        q = {"rest_route": "/" + route.strip("/"), **(query or {})}
        return f"{base}/index.php?" + urlencode(q)

    def local(self, when: datetime) -> datetime:
        """``when`` on the site's wall clock, as WordPress stores ``comment_date``."""
        return when.astimezone(self.tz).replace(tzinfo=None, microsecond=0)

    def feed_url(self, base: str, post_id: int | None, kind: str) -> str:
        """Where the comment feed of a post (or, for ``None``, the site) is served."""
        if post_id is None:
            if self.pretty_permalinks:
                return f"{base}/comments/feed/" + ("atom/" if kind == "atom" else "")
            return f"{base}/?feed=comments-{'atom' if kind == 'atom' else 'rss2'}"
        if self.pretty_permalinks:
            return self.post_url(base, post_id) + "feed/" + ("atom/" if kind == "atom" else "")
        return f"{base}/?p={post_id}&feed={kind}"

    def comment_link(self, base: str, c: SimComment) -> str:
        return f"{self.post_url(base, c.post)}#comment-{c.id}"

    # --- HTTP --------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        with self._lock:
            return self._dispatch(request)

    def _dispatch(self, r: Request) -> Response:
        base = r.base_url
        rest_route = r.arg("rest_route")
        if r.path.startswith("/wp-json") or (
            rest_route is not None and r.path in ("/", "/index.php")
        ):
            route = rest_route if rest_route is not None else r.path[len("/wp-json") :]
            return rest.reply(self, r, "/" + route.strip("/"))
        feed = r.arg("feed")
        if r.path == "/" and feed:
            pid = int_or_none(r.arg("p"))
            if feed in ("comments-rss2", "comments-atom"):
                return feeds.feed(self, r, None, "atom" if feed == "comments-atom" else "rss2")
            if pid in self.posts and feed in ("rss2", "atom"):
                return feeds.feed(self, r, pid, feed)
            return _html_page(404, "Not found")
        if r.path == "/" and r.arg("p"):
            pid = int_or_none(r.arg("p"))
            if pid not in self.posts:
                return _html_page(404, "Not found")
            if self.pretty_permalinks:
                return Response(301, {"Location": self.post_url(base, pid)})
            return self._post_page(base, pid)
        if r.path in ("/comments/feed/", "/comments/feed/atom/"):
            return feeds.feed(self, r, None, "atom" if r.path.endswith("atom/") else "rss2")
        if r.path == "/":
            return self._home(base)
        for post in self.posts.values():
            path = self.post_path(post.id)
            if r.path == path:
                return self._post_page(base, post.id)
            if r.path in (path + "feed/", path + "feed/rss2/"):
                return feeds.feed(self, r, post.id, "rss2")
            if r.path == path + "feed/atom/":
                return feeds.feed(self, r, post.id, "atom")
        return _html_page(404, "Not found")

    # --- pages -------------------------------------------------------------------------

    def _discovery_links(self, base: str, post_id: int) -> list[tuple[str, dict[str, str]]]:
        return [
            (self.api_root(base), {"rel": "https://api.w.org/"}),
            (
                self.route(base, f"wp/v2/posts/{post_id}"),
                {"rel": "alternate", "title": "JSON", "type": "application/json"},
            ),
            (f"{base}/?p={post_id}", {"rel": "shortlink"}),
        ]

    def _post_page(self, base: str, post_id: int) -> Response:
        post = self.posts[post_id]
        e = html.escape
        head = [
            f'<link rel="alternate" type="application/rss+xml" title="{e(self.name)} &raquo; '
            f'{e(post.title)} Comments Feed" href="{e(self.feed_url(base, post_id, "rss2"))}" />'
        ]
        headers = {"Content-Type": "text/html; charset=UTF-8"}
        links = self._discovery_links(base, post_id)
        if self.link_headers:
            headers["Link"] = ", ".join(
                f"<{url}>; " + "; ".join(f'{k}="{v}"' for k, v in params.items())
                for url, params in links
            )
        if self.head_links:
            head += [
                f"<link {' '.join(f'{k}={chr(34)}{e(v)}{chr(34)}' for k, v in params.items())}"
                f' href="{e(url)}" />'
                for url, params in links
            ]
        approved = [
            c for c in self.comments.values() if c.post == post_id and c.status == "approved"
        ]
        body = (
            f"<article><h1>{wptexturize(e(post.title, quote=False))}</h1>\n"
            f"{post.content}\n</article>\n"
            f'<section id="comments"><h2>{len(approved)} comments</h2>\n'
            f"{self._thread(base, approved, 0)}</section>"
        )
        return _html_page(200, f"{post.title} – {self.name}", body, "\n".join(head), headers)

    def _thread(self, base: str, comments: list[SimComment], parent: int) -> str:
        children = sorted((c for c in comments if c.parent == parent), key=lambda c: c.date_gmt)
        if not children:
            return ""
        items = "".join(
            f'<li id="comment-{c.id}" class="comment"><article><footer><b class="fn">'
            f'{c.author_name}</b> <time datetime="{c.date_gmt.isoformat()}">'
            f"{wp_date(self.local(c.date_gmt))}</time></footer>"
            f'<div class="comment-content">{comment_text(c.content)}</div></article>'
            f"{self._thread(base, comments, c.id)}</li>\n"
            for c in children
        )
        cls = "comment-list" if parent == 0 else "children"
        return f'<ol class="{cls}">\n{items}</ol>\n'

    def _home(self, base: str) -> Response:
        e = html.escape
        items = "".join(
            f'<li><a href="{e(self.post_url(base, p.id))}">{e(p.title)}</a></li>'
            for p in sorted(self.posts.values(), key=lambda p: p.date_gmt, reverse=True)
        )
        head = f'<link rel="https://api.w.org/" href="{html.escape(self.api_root(base))}" />'
        return _html_page(
            200, self.name, f"<h1>{html.escape(self.name)}</h1><ul>{items}</ul>", head
        )


def _html_page(
    status: int,
    title: str,
    body: str = "",
    head: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    page = (
        f'<!DOCTYPE html>\n<html lang="fr-FR">\n<head>\n<meta charset="UTF-8" />\n'
        f"<title>{html.escape(title)}</title>\n{head}\n</head>\n"
        f"<body>\n{body or html.escape(title)}\n</body>\n</html>\n"
    )
    return Response(status, headers or {"Content-Type": "text/html; charset=UTF-8"}, page.encode())


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("give an aware datetime: a comment's moment is not site-local")
    return when.astimezone(UTC).replace(microsecond=0)


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


__all__ = ["CommentStatus", "SimComment", "SimPost", "SimUser", "WordPressSite"]
