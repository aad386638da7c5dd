"""Pure parsing for WordPress.com's own REST API (v1.1): no I/O, no clock.

* :func:`post_ref` reads what a post URL names (site, slug or ``?p=`` id);
* :func:`parse_post` turns ``GET /rest/v1.1/sites/{site}/posts/{ID}`` (or
  ``posts/slug:{slug}``) into the ``article`` item its comments hang off;
* :func:`parse_replies` turns a ``GET …/posts/{ID}/replies/`` page into comment items;
* :func:`parse_comment` reads one comment object (``GET …/comments/{ID}``).

Shapes: Automattic/jetpack ``json-endpoints/class.wpcom-json-api-post-v1-1-endpoint.php``
(``post_object_format``), ``class.wpcom-json-api-comment-endpoint.php``
(``comment_object_format``) and ``class.wpcom-json-api-list-comments-endpoint.php``
(``{found, site_ID, comments}``). Dates are ISO 8601 with the site's offset.

Items are the WordPress items the self-hosted source and the comment feeds make: same
platform (``wordpress``), same keys (``keys.wordpress_comment(site, ID)`` with the site
taken from the post's permalink), so a comment seen here and through the post's feed is
stored once. Anything malformed raises :class:`~aggregator.exceptions.ParseError`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, Engagement, ItemData
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import any_str, check_text, http_link, opt_count
from aggregator.urls import site_of

PLATFORM = "wordpress"
"""Items are WordPress items, whichever WordPress API or feed reached them."""

COMMENT_TYPES = frozenset({"comment", ""})
"""Pingbacks and trackbacks are left out, as the self-hosted REST source leaves them out
(anonymous ``/wp/v2/comments`` lists ``type=comment`` only): they are links, not talk."""

_BR_NEWLINE = re.compile(r"<br\s*/?>[ \t]*\r?\n", re.IGNORECASE)
# Segments a permalink can carry after the slug: comment paging and AMP views.
_NOT_SLUG = re.compile(r"^(?:comment-page-\d+|amp|embed|feed)$")


@dataclass(frozen=True, slots=True)
class PostRef:
    """What a followed URL names: the API's site identifier and the post."""

    site: str
    """The host, which the API accepts as the site (``example.wordpress.com`` or a
    custom domain hosted there)."""
    slug: str | None
    post_id: int | None


def post_ref(url: str) -> PostRef:
    """``https://x.wordpress.com/2026/11/20/slug/`` → site + slug; ``?p=12`` → site + id."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ParseError(f"{url!r} has no host")
    query = dict(parse_qsl(parts.query))
    value = query.get("p", "")
    if value.isascii() and value.isdigit() and int(value) > 0:
        return PostRef(host, None, int(value))
    segments = [unquote(s) for s in parts.path.split("/") if s]
    while segments and _NOT_SLUG.match(segments[-1]):
        segments.pop()
    return PostRef(host, segments[-1] if segments else None, None)


def post_site(payload: Any, fallback: str) -> str:
    """``https://host`` of the post's permalink: the site its comment links carry, so keys
    match the comment feed's even when the URL followed was another domain of the site."""
    url = http_link(payload.get("URL")) if isinstance(payload, dict) else None
    return site_of(url) if url else fallback


def parse_post(payload: Any, *, site: str) -> ItemData:
    """The post as an ``article``.

    A password-protected post (``password`` not empty) keeps its title only, and the
    password (which the endpoint documents as "the plaintext password") never reaches
    ``raw``.
    """
    if not isinstance(payload, dict):
        raise ParseError(f"expected a post object, got {type(payload).__name__}")
    post_id = _int(payload, "ID")
    what = f"post {post_id}"
    url = http_link(any_str(payload, "URL", what))
    title = any_str(payload, "title", what)
    content = any_str(payload, "content", what)
    protected = bool(payload.get("password"))
    author = _author(payload.get("author"), site, what)
    check_text(what, title, content, url or "")
    cleaned = clean("" if protected else _BR_NEWLINE.sub("<br />", content), base_url=url or site)
    created = _date(payload.get("date"), what)
    modified = _date_or_none(payload.get("modified"))
    discussion = payload.get("discussion")
    replies = discussion.get("comment_count") if isinstance(discussion, dict) else None
    return ItemData(
        key=keys.wordpress_post(site, post_id),
        platform=PLATFORM,
        kind="article",
        url=url,
        author=author,
        html=cleaned.html,
        text=cleaned.text,
        created_at=created,
        edited_at=modified if modified is not None and modified > created else None,
        title=" ".join(clean(title).text.split()) or None,
        engagement=Engagement(
            replies=opt_count(replies), likes=opt_count(payload.get("like_count"))
        ),
        links=cleaned.links,
        raw={k: v for k, v in payload.items() if k != "password"},
    )


@dataclass(frozen=True, slots=True)
class RepliesPage:
    items: tuple[ItemData, ...]
    """Approved comments of type ``comment``, in the page's order."""
    found: int | None
    """The total the API reports; ``None`` when it did not count (``-1``: with
    ``after``/``before`` or a ``type`` filter, ``wp_count_comments`` is not run)."""
    listed: int
    """Comment objects on the page, pingbacks included: what ``found`` counts."""


def parse_replies(payload: Any, *, site: str, post_url: str) -> RepliesPage:
    """One page of ``/posts/{ID}/replies/``."""
    if not isinstance(payload, dict):
        raise ParseError(f"expected a replies object, got {type(payload).__name__}")
    comments = payload.get("comments")
    if not isinstance(comments, list):
        raise ParseError("replies: comments is not an array")
    found = payload.get("found")
    if not isinstance(found, int) or isinstance(found, bool):
        raise ParseError(f"replies: found is not an integer: {found!r:.40}")
    items = [parse_comment(c, site=site, post_url=post_url) for c in comments]
    return RepliesPage(
        items=tuple(i for i in items if i is not None),
        found=found if found >= 0 else None,
        listed=len(comments),
    )


def parse_comment(c: Any, *, site: str, post_url: str) -> ItemData | None:
    """A comment object; ``None`` for pingbacks, trackbacks and unapproved comments."""
    if not isinstance(c, dict):
        raise ParseError(f"expected a comment object, got {type(c).__name__}")
    comment_id = _int(c, "ID")
    what = f"comment {comment_id}"
    kind = c.get("type", "comment")
    status = c.get("status", "approved")
    if not isinstance(kind, str) or not isinstance(status, str):
        raise ParseError(f"{what}: type or status is not a string")
    if kind not in COMMENT_TYPES or status != "approved":
        return None
    parent = c.get("parent")
    if parent is False or parent is None:
        parent_id = None
    elif isinstance(parent, dict):
        parent_id = _int(parent, "ID")
    else:
        raise ParseError(f"{what}: parent is neither false nor an object")
    url = http_link(any_str(c, "URL", what))
    content = any_str(c, "content", what)
    author = _author(c.get("author"), site, what)
    check_text(what, content, url or "")
    # comment_text runs wpautop, which writes "<br />\n": one line break, not two.
    cleaned = clean(_BR_NEWLINE.sub("<br />", content), base_url=url or post_url)
    return ItemData(
        key=keys.wordpress_comment(site, comment_id),
        platform=PLATFORM,
        kind="comment",
        url=url,
        author=author,
        html=cleaned.html,
        text=cleaned.text,
        created_at=_date(c.get("date"), what),
        in_reply_to=keys.wordpress_comment(site, parent_id) if parent_id else None,
        context_url=post_url,
        engagement=Engagement(likes=opt_count(c.get("like_count"))),
        links=cleaned.links,
        raw=c,
    )


def _author(obj: Any, site: str, what: str) -> AuthorData:
    if not isinstance(obj, dict):
        raise ParseError(f"{what}: author is not an object")
    raw_name = obj.get("name")
    if not isinstance(raw_name, str):
        raise ParseError(f"{what}: author.name is not a string")
    # Commenters' names are stored through _wp_specialchars, as on any WordPress; unescape
    # once so "Zoë &amp; Max" meets the same author key as the feed and self-hosted source.
    name = " ".join(html.unescape(raw_name).split())
    if not name:
        name = urlsplit(site).hostname or site
    link = obj.get("URL")
    avatar = obj.get("avatar_URL")
    author = AuthorData(
        key=keys.wordpress_author(site, name),
        platform=PLATFORM,
        name=name,
        url=http_link(link) if isinstance(link, str) else None,
        avatar_url=http_link(avatar) if isinstance(avatar, str) else None,
    )
    check_text(what, name, author.url or "", author.avatar_url or "")
    return author


def _date(value: Any, what: str) -> datetime:
    when = _date_or_none(value)
    if when is None:
        raise ParseError(f"{what}: date is not an ISO 8601 date with an offset: {value!r:.40}")
    return when


def _date_or_none(value: Any) -> datetime | None:
    """``format_date`` writes the site-local time with its offset (``+01:00``)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            return None
        when = when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    # A zero date ("0000-00-00 00:00:00", imported content) is no date.
    return when if when.year > 1970 else None


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ParseError(f"{name} is not a positive integer: {value!r:.40}")
    return value
