"""RSS 2.0 / Atom comment feeds and post feeds → items. Pure: no I/O, no clock.

Which entry is what (see docs/source-apis.md §5):

* **WordPress comment**: its link or guid/id ends in ``#comment-N``. Keyed with
  :func:`keys.wordpress_comment_from_url` and :func:`keys.wordpress_author`, exactly as
  the REST API source keys it, so a comment seen both ways is one item. RSS comment
  feeds carry no threading; the Atom template adds RFC 4685 ``thr:in-reply-to``,
  which points at the parent comment (a reply) or at the post (top level).
* **Blogger comment**: Atom id ``tag:blogger.com,1999:blog-<blogId>.post-<commentId>``
  with a ``thr:in-reply-to`` (which always names the *post*); the parent comment of a
  reply is the ``link rel="related"``.
* **WordPress post** in a posts feed: guid ``https://site/?p=N``; keyed with
  :func:`keys.wordpress_post`, and ``wfw:commentRss`` / ``slash:comments`` (the
  post's comment feed and count) stay in ``raw``.
* Anything else is a **generic entry** keyed by its id (else link) with
  :func:`keys.feed_entry`: a comment when the feed is a comment feed, else an article.

Comments carry no title: WordPress and Blogger comment titles are boilerplate ("By:
%s") or a truncation of the text, and a title the REST API never sends would make the
same comment look edited whenever the other source saw it. The feed's title stays in
``raw``. For the same reason comments carry no language: a feed's ``xml:lang`` is the
site's language, not the commenter's.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import feedparser

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, Engagement, ItemData, ItemKind
from aggregator.sanitize import Cleaned, clean, text_to_html
from aggregator.sources import feeds_fast, keys
from aggregator.urls import canonical_url, joins_to_itself, site_of

FeedKind = Literal["auto", "comments", "posts"]
DetectedKind = Literal["comments", "posts"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""``created_at`` of an undated entry in an undated feed when the caller gives no clock."""

_BLOGGER_ID = re.compile(r"^tag:blogger\.com,1999:blog-([^.\s]+)\.post-([^.\s]+)$")
# https://www.blogger.com/feeds/<blogId>/<postId>/comments/default/<commentId>
_BLOGGER_COMMENT_URL = re.compile(r"/feeds/([^/]+)/[^/]+/comments/default/([^/?#]+)")
_BLOGGER_PROFILE = re.compile(r"/profile/(\d+)")
# Blogger's stand-in avatars for people without a photo: no better than none.
_BLOGGER_PLACEHOLDER_HOST = "img1.blogblog.com"
_WP_COMMENT_ANCHOR = re.compile(r"#comment-\d+$")
_WORDPRESS_POST_GUID = re.compile(r"^https?://[^?#\s]+\?p=(\d+)$")
# A complete document closes its root element; a body cut off mid-way does not.
_CLOSING_ROOT = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF)\s*>", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_HREF = re.compile(r"""(<a\s[^>]*?\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s>"']+)""", re.IGNORECASE)
# Quick pre-check: most bodies only hold absolute links, and skip the rewrite.
_RELATIVE_HREF = re.compile(r"""\bhref\s*=\s*["']?(?![a-zA-Z][\w+.-]*:)""", re.IGNORECASE)
_SCHEME = re.compile(r"^\s*[a-zA-Z][\w+.-]*:")
_BAD_URL_CHAR = re.compile(r"[\s\x00-\x1f]")
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed body held."""

    items: tuple[ItemData, ...]
    kind: DetectedKind
    """``comments`` when the entries are comments on posts, else ``posts``."""
    title: str | None = None
    link: str | None = None
    """The page the feed belongs to: the post (per-post comment feeds) or the site."""
    skipped: int = 0
    """Entries left out: empty ones and repeats of a key already in this feed."""


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    content_type: str | None = None,
    kind: FeedKind = "auto",
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed body fetched from ``feed_url``. Raises only :class:`ParseError`.

    ``kind`` forces generic entries to be comments or articles; ``auto`` decides from
    the entries (WordPress/Blogger comment ids, ``thr:in-reply-to``) and the URL.

    An entry's ``created_at`` is its published date, else its updated date, else the
    feed's own date (the entry was in the feed when it was built), else ``now``,
    else :data:`EPOCH`. ``edited_at`` is the updated date when it is later.
    """
    # A comment feed of plain items (WordPress's) is read straight into entries; other
    # common feeds by the fast path; anything unusual by feedparser. The result is the
    # same either way (tests/test_feeds_fast.py), but for ``raw``.
    root = feeds_fast.read(body, content_type)
    if root is not None:
        plain = feeds_fast.plain_entries(root, feed_url=feed_url)
        if plain is not None and (parsed := _plain_feed(plain, feed_url, kind, now)) is not None:
            return parsed
    return _parse_entries(body, root, feed_url, content_type, kind, now)


def parse_entries(
    body: bytes,
    *,
    feed_url: str,
    content_type: str | None = None,
    kind: FeedKind = "auto",
    now: datetime | None = None,
) -> ParsedFeed:
    """:func:`parse_feed` through feedparser's entries (read by the fast path where it
    can), for every feed; ``raw`` then holds feedparser's entry."""
    root = feeds_fast.read(body, content_type)
    return _parse_entries(body, root, feed_url, content_type, kind, now)


def _parse_entries(
    body: bytes,
    root: Any,
    feed_url: str,
    content_type: str | None,
    kind: FeedKind,
    now: datetime | None,
) -> ParsedFeed:
    """``root``: :func:`feeds_fast.read`'s document of ``body`` (``None``: unusual)."""
    doc = None if root is None else feeds_fast.entries(root, feed_url=feed_url)
    if doc is None:
        doc = _run_feedparser(body, feed_url, content_type)
    feed = _mapping(doc.get("feed"))
    entries = [_mapping(e) for e in doc.get("entries") or () if isinstance(e, dict)]
    _check_is_feed(body, doc, entries, feed_url)

    detected: DetectedKind
    if kind == "auto":
        detected = "comments" if _looks_like_comments(feed, entries, feed_url) else "posts"
    else:
        detected = kind
    ids = frozenset(i for e in entries if (i := _text(e.get("id"))))
    meta = _meta(feed, feed_url, detected, ids, now)
    return _parsed(
        feed, meta, len(entries), (_item(_read_entry(e, meta), meta, e) for e in entries)
    )


def _plain_feed(
    doc: dict[str, Any], feed_url: str, kind: FeedKind, now: datetime | None
) -> ParsedFeed | None:
    """A comment feed of plain entries; ``None`` for a post feed, whose entries must
    keep feedparser's form in ``raw`` (discovery reads their tags and comment feeds)."""
    feed: dict[str, Any] = doc["feed"]
    entries: list[feeds_fast.Entry] = doc["entries"]
    if kind == "auto":
        comments = _looks_like_comments(
            feed, [{"link": e.link, "id": e.id} for e in entries], feed_url
        )
        if not comments:
            return None
    elif kind == "posts":
        return None
    meta = _meta(feed, feed_url, "comments", frozenset(e.id for e in entries if e.id), now)
    return _parsed(
        feed, meta, len(entries), (_item(_plain_entry(e, meta), meta, {}) for e in entries)
    )


def _meta(
    feed: dict[str, Any],
    feed_url: str,
    kind: DetectedKind,
    entry_ids: frozenset[str],
    now: datetime | None,
) -> _FeedMeta:
    base = _http_url(feed_url) or None
    return _FeedMeta(
        url=feed_url,
        base=base,
        link=_http_url(feed.get("link"), base=base),
        kind=kind,
        entry_ids=entry_ids,
        author=_name(_mapping(feed.get("author_detail")).get("name") or feed.get("author")),
        language=_text(feed.get("language")).strip() or None,
        date=_date(feed, "updated") or _date(feed, "published") or now or EPOCH,
    )


def _parsed(
    feed: dict[str, Any], meta: _FeedMeta, entries: int, items: Iterable[ItemData | None]
) -> ParsedFeed:
    kept: list[ItemData] = []
    seen: set[str] = set()
    for item in items:
        if item is None or item.key in seen:
            continue
        seen.add(item.key)
        kept.append(item)
    return ParsedFeed(
        items=tuple(kept),
        kind=meta.kind,
        title=_title(feed) or None,
        link=meta.link,
        skipped=entries - len(kept),
    )


def _run_feedparser(body: bytes, feed_url: str, content_type: str | None) -> Any:
    # content-location is feedparser's base for relative links in content.
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    try:
        # A BytesIO, never the bytes: feedparser opens a bytes value that names a file.
        # Its HTML passes are off: every body goes through sanitize.clean (nh3) anyway,
        # and only <a href> survives that, which _absolute_links resolves. Together
        # they cost over a third of feedparser's time.
        return feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # a tolerant parser with many paths: any failure means unreadable
        raise ParseError(f"unreadable feed from {_short(feed_url)}: {e!r}") from e


def _check_is_feed(body: bytes, doc: Any, entries: list[dict[str, Any]], feed_url: str) -> None:
    where = _short(feed_url)
    if not body.strip():
        raise ParseError(f"empty body from {where}")
    if not doc.get("version"):
        raise ParseError(f"not a feed (an HTML page or other document) from {where}")
    # Sloppy but complete feeds (undeclared entities, a PHP warning before the XML
    # declaration, junk after the root) are the norm and are read leniently; a body
    # that stops before its root element closes may end inside an entry, whose
    # half-text must not be stored as if the author had written it.
    malformed = isinstance(doc.get("bozo_exception"), xml.sax.SAXException)
    if malformed and not entries:
        raise ParseError(f"malformed feed without entries from {where}")
    if malformed and not _CLOSING_ROOT.search(body):
        raise ParseError(f"truncated feed from {where}")


@dataclass(frozen=True, slots=True)
class _FeedMeta:
    url: str
    base: str | None
    link: str | None
    kind: DetectedKind
    entry_ids: frozenset[str]
    author: str
    language: str | None
    date: datetime


@dataclass(frozen=True, slots=True)
class _Entry:
    """What every kind of entry needs, read once."""

    id: str
    link: str | None
    title: str
    body: Cleaned
    created_at: datetime
    edited_at: datetime | None
    author_name: str
    author_url: str | None
    language: str | None
    reply_ref: str
    """RFC 4685 ``thr:in-reply-to`` ``ref``: the parent's id."""
    reply_href: str | None
    """RFC 4685 ``thr:in-reply-to`` ``href``: the parent's page."""
    replies: int | None
    raw: dict[str, Any]


def _item(entry: _Entry, meta: _FeedMeta, e: dict[str, Any]) -> ItemData | None:
    """``e`` is the feedparser entry ``entry`` was read from (``{}`` for a plain one)."""
    if not (entry.id or entry.link or entry.title or entry.body.html):
        return None
    # The link before the guid: a guid keeps the domain the post was first published
    # on after a site moves, the link (like the REST API) names the site as it is now.
    if entry.link and (key := keys.wordpress_comment_from_url(entry.link)):
        return _wordpress_comment(entry, key, entry.link)
    guid = _http_url(entry.id)  # read only when needed: most links name the comment
    if guid and (key := keys.wordpress_comment_from_url(guid)):
        return _wordpress_comment(entry, key, guid)
    blogger = _BLOGGER_ID.match(entry.id)
    if blogger is not None and (entry.reply_ref or entry.reply_href or meta.kind == "comments"):
        return _blogger_comment(e, entry, blogger.group(1), blogger.group(2))
    wp_post = _WORDPRESS_POST_GUID.match(entry.id)
    if wp_post is not None and _http_url(entry.id):
        return _wordpress_post(entry, wp_post.group(1))
    return _generic(entry, meta)


def _read_entry(e: dict[str, Any], meta: _FeedMeta) -> _Entry:
    link = _http_url(e.get("link"), base=meta.base)
    published = _date(e, "published")
    updated = _date(e, "updated")
    created = published or updated or _date(e, "created") or meta.date
    detail = _mapping(e.get("author_detail"))
    thread = _mapping(e.get("thr_in-reply-to"))
    return _Entry(
        id=_text(e.get("id")).strip(),
        link=link,
        title=_title(e),
        body=_body(e, base=link or meta.base),
        created_at=created,
        edited_at=updated if published and updated and updated > published else None,
        author_name=_name(detail.get("name") or e.get("author")) or meta.author,
        author_url=_http_url(detail.get("href")),
        language=_language(e) or meta.language,
        reply_ref=_text(thread.get("ref")).strip(),
        reply_href=_http_url(thread.get("href"), base=meta.base),
        replies=_first(_count(e.get("slash_comments")), _count(e.get("thr_total"))),
        raw=_jsonable(e),
    )


def _plain_entry(e: feeds_fast.Entry, meta: _FeedMeta) -> _Entry:
    """What :func:`_read_entry` reads of the same item through feedparser."""
    link = _http_url(e.link, base=meta.base)
    return _Entry(
        id=e.id.strip(),
        link=link,
        title=_line(clean(e.title).text if e.title_is_html else e.title),
        body=_plain_body(e, base=link or meta.base),
        created_at=e.published or meta.date,
        edited_at=None,
        author_name=_name(e.author) or meta.author,
        author_url=None,
        language=meta.language,
        reply_ref="",
        reply_href=None,
        replies=None,
        raw=e.raw,
    )


def _plain_body(e: feeds_fast.Entry, *, base: str | None) -> Cleaned:
    for value in (e.content, e.description):
        if value.strip():
            return clean(_absolute_links(value, base), base_url=base)
    return Cleaned(html="", text="", links=())


def _wordpress_comment(entry: _Entry, key: str, url: str) -> ItemData:
    parent = None
    for ref in (_http_url(entry.reply_ref), entry.reply_href):
        if ref and (parent := keys.wordpress_comment_from_url(ref)):
            break
    name = entry.author_name or "Anonymous"
    return ItemData(
        key=key,
        platform="wordpress",
        kind="comment",
        url=entry.link or url,
        author=AuthorData(
            key=keys.wordpress_author(url, name),
            platform="wordpress",
            name=name,
            url=entry.author_url,
        ),
        html=entry.body.html,
        text=entry.body.text,
        created_at=entry.created_at,
        edited_at=entry.edited_at,
        in_reply_to=parent,
        # The link is the post's permalink plus #comment-N (the guid's ?p=N is the
        # post's shortlink, which still names the post when a feed gives no link).
        context_url=canonical_url(entry.link or url),
        links=entry.body.links,
        raw=entry.raw,
    )


def blogger_comment_key(blog_id: str, comment_id: str) -> str:
    return keys.blogger_comment(blog_id, comment_id)


def _blogger_comment(e: dict[str, Any], entry: _Entry, blog_id: str, comment_id: str) -> ItemData:
    parent = None
    for link in e.get("links") or ():
        href = _text(_mapping(link).get("href"))
        if _mapping(link).get("rel") == "related" and (m := _BLOGGER_COMMENT_URL.search(href)):
            parent = blogger_comment_key(m.group(1), m.group(2))
            break
    name = entry.author_name or "Anonymous"
    profile = _BLOGGER_PROFILE.search(entry.author_url or "")
    author_key = keys.blogger_author(blog_id, name, profile.group(1) if profile else None)
    avatar = _http_url(_mapping(e.get("gd_image")).get("src"), base="https:")
    if avatar and urlsplit(avatar).hostname == _BLOGGER_PLACEHOLDER_HOST:
        avatar = None
    return ItemData(
        key=blogger_comment_key(blog_id, comment_id),
        platform="blogger",
        kind="comment",
        url=entry.link,
        author=AuthorData(
            key=author_key, platform="blogger", name=name, url=entry.author_url, avatar_url=avatar
        ),
        html=entry.body.html,
        text=entry.body.text,
        created_at=entry.created_at,
        edited_at=entry.edited_at,
        in_reply_to=parent,
        # thr:in-reply-to names the post; the comment's own link carries ?showComment=.
        context_url=canonical_url(entry.reply_href) if entry.reply_href else None,
        links=entry.body.links,
        raw=entry.raw,
    )


def _wordpress_post(entry: _Entry, post_id: str) -> ItemData:
    name = entry.author_name or "Anonymous"
    return ItemData(
        key=keys.wordpress_post(entry.id, post_id),
        platform="wordpress",
        kind="article",
        url=entry.link or entry.id,
        author=AuthorData(
            key=keys.wordpress_author(entry.id, name), platform="wordpress", name=name
        ),
        html=entry.body.html,
        text=entry.body.text,
        created_at=entry.created_at,
        edited_at=entry.edited_at,
        title=entry.title or None,
        language=entry.language,
        engagement=Engagement(replies=entry.replies),
        links=entry.body.links,
        raw=entry.raw,
    )


def _generic(entry: _Entry, meta: _FeedMeta) -> ItemData:
    entry_id = entry.id or entry.link or _synthetic_id(entry, meta.url)
    site_url = _http_url(meta.link) or _http_url(meta.url)
    site = site_of(site_url) if site_url else meta.url
    name = entry.author_name or (urlsplit(site_url).hostname if site_url else None) or site
    author_key = (
        f"feed:author:{entry.author_url}"
        if entry.author_url
        else f"feed:author:{site}:{' '.join(name.split()).casefold()}"
    )
    kind: ItemKind = "comment" if meta.kind == "comments" else "article"
    html_, text, parent, context = entry.body.html, entry.body.text, None, None
    if kind == "comment":
        # A ref to another entry of this feed, or an href into a page (#anchor), is a
        # parent comment; an href to a whole page is the post the thread hangs off.
        ref = entry.reply_ref or entry.reply_href or ""
        into_page = bool(entry.reply_href and urlsplit(entry.reply_href).fragment)
        if ref and (ref in meta.entry_ids or into_page):
            parent = keys.feed_entry(meta.url, ref)
        in_page = entry.link if entry.link and urlsplit(entry.link).fragment else None
        context = canonical_url(entry.reply_href or in_page or meta.link or "")
        if not html_ and entry.title:
            html_, text = text_to_html(entry.title), entry.title
    return ItemData(
        key=keys.feed_entry(meta.url, entry_id),
        platform="feed",
        kind=kind,
        url=entry.link,
        author=AuthorData(key=author_key, platform="feed", name=name, url=entry.author_url),
        html=html_,
        text=text,
        created_at=entry.created_at,
        edited_at=entry.edited_at,
        in_reply_to=parent,
        context_url=context,
        title=(entry.title or None) if kind == "article" else None,
        language=entry.language if kind == "article" else None,
        engagement=Engagement(replies=entry.replies),
        links=entry.body.links,
        raw=entry.raw,
    )


def _synthetic_id(entry: _Entry, feed_url: str) -> str:
    """An entry with neither id nor link is known only by what it says."""
    h = hashlib.blake2b(digest_size=12)
    for part in (feed_url, entry.title, entry.body.html, entry.created_at.isoformat()):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return f"{feed_url}#entry-{h.hexdigest()}"


def _looks_like_comments(feed: dict[str, Any], entries: list[dict[str, Any]], url: str) -> bool:
    # /comments/ in the URL: WordPress /comments/feed/, Blogger /feeds/<id>/comments/default.
    if "/comments/" in url or _text(feed.get("id")).endswith("comments"):
        return True
    for e in entries:
        if e.get("thr_in-reply-to"):
            return True
        if any(_WP_COMMENT_ANCHOR.search(_text(e.get(k)).strip()) for k in ("link", "id")):
            return True
    return False


def _body(e: dict[str, Any], *, base: str | None) -> Cleaned:
    """content:encoded / Atom content before description / summary, which WordPress
    fills with HTML-escaped text and other engines with a truncated excerpt."""
    candidates = [_mapping(c) for c in e.get("content") or ()]
    candidates.sort(key=lambda c: c.get("type") not in _HTML_TYPES)
    candidates.append(_mapping(e.get("summary_detail")) or {"value": e.get("summary")})
    for c in candidates:
        value = _text(c.get("value"))
        if not value.strip():
            continue
        if c.get("type") == "text/plain":
            value = text_to_html(value)
        return clean(_absolute_links(value, base), base_url=base)
    return Cleaned(html="", text="", links=())


def _absolute_links(fragment: str, base: str | None) -> str:
    """Relative ``<a href>`` made absolute, so the stored HTML works on any page.

    A regular expression is enough: the result is sanitized right after, so a
    mismatch can only leave a link relative, never let markup through.
    """
    if not base or not _RELATIVE_HREF.search(fragment):
        return fragment

    def absolute(m: re.Match[str]) -> str:
        value = html.unescape(m.group(2).strip("\"'"))
        if _SCHEME.match(value):
            return m.group(0)
        try:
            url = urljoin(base, value.strip())
        except ValueError:
            return m.group(0)
        return f'{m.group(1)}"{html.escape(url)}"'

    return _HREF.sub(absolute, fragment)


def _title(m: dict[str, Any]) -> str:
    title = _text(m.get("title"))
    if _mapping(m.get("title_detail")).get("type") in _HTML_TYPES:
        title = clean(title).text
    return _line(title)


def _language(e: dict[str, Any]) -> str | None:
    for c in [*(e.get("content") or ()), e.get("summary_detail"), e.get("title_detail")]:
        # dict.get, not a copy: "language" is not one of the keys FeedParserDict remaps.
        if isinstance(c, dict) and (lang := _text(dict.get(c, "language")).strip()):
            return lang
    return None


def _date(m: Mapping[str, Any], name: str) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    value = m.get(f"{name}_parsed")
    return _utc(value) if isinstance(value, time.struct_time) else None


def _utc(value: time.struct_time) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _name(value: object) -> str:
    """WordPress stores names HTML-escaped and feeds wrap them in CDATA, so the entity
    survives XML parsing (``Zoë &#38; Max``). Only complete entities are decoded: a
    bare ``&`` in a name stays as written."""
    text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), _text(value))
    return _line(text)


def _line(value: object) -> str:
    # Real WordPress feeds pad titles with tabs and newlines; a no-break space is kept
    # (French typography puts one before ':').
    return _SPACES.sub(" ", _text(value)).strip()


def _count(value: object) -> int | None:
    text = _text(value).strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _http_url(value: object, *, base: str | None = None) -> str | None:
    """``value`` as an absolute http(s) URL, or ``None`` (never raises)."""
    url = _text(value).strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        if base and not joins_to_itself(url, parts):
            url = urljoin(base, url)
            parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if _BAD_URL_CHAR.search(url):
        return None
    return url


def _short(url: str) -> str:
    return url.split("?", 1)[0]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> dict[str, Any]:
    """A plain copy of one of feedparser's dicts (``{}`` for anything else).

    Plain, because a FeedParserDict's ``get("updated")`` quietly answers with the
    published date (and a DeprecationWarning), which would invent edits.
    """
    return dict(dict.items(value)) if isinstance(value, dict) else {}


def _jsonable(value: Any) -> Any:
    # Ordered by how often each type occurs in an entry: this runs on every value.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        # Most values are plain strings: kept without a call each.
        return {
            k if type(k) is str else str(k): v if type(v) is str else _jsonable(v)
            for k, v in dict.items(value)
        }
    if isinstance(value, time.struct_time):
        when = _utc(value)
        return when.isoformat() if when else str(tuple(value))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float):
        return value
    return str(value)
