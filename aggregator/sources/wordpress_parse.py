"""Pure parsing for the WordPress REST API source: no I/O, no clock.

* :func:`parse_comments` turns a ``GET /wp/v2/comments`` array (``view`` context) into
  :class:`~aggregator.models.ItemData`;
* :func:`parse_post` turns a ``GET /wp/v2/posts/ID?_embed=author`` object into the
  ``article`` item the comments hang off;
* :func:`site_offset` and :func:`site_local` deal with the site-local clock that the
  ``after`` parameter compares with;
* the discovery helpers read a post page's ``Link`` headers and ``<link>`` elements
  (``rest_output_link_header()`` / ``rest_output_link_wp_head()`` in core), and build
  route URLs for both ``/wp-json/`` and ``?rest_route=`` sites.

Anything malformed raises :class:`~aggregator.exceptions.ParseError`, nothing else.
Field semantics: ``class-wp-rest-comments-controller.php`` and
``class-wp-rest-posts-controller.php``, ``prepare_item_for_response``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, ItemData
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import check_text, http_link
from aggregator.urls import canonical_url

PLATFORM = "wordpress"
API_REL = "https://api.w.org/"
"""The ``rel`` of the link to the REST API root (WordPress ≥ 4.4)."""

# Real offsets lie within UTC-12..UTC+14; anything else means date/date_gmt disagree
# for another reason (a plugin rewriting one of them) and must not steer ``after``.
_MAX_OFFSET = timedelta(hours=14)
_BR_NEWLINE = re.compile(r"<br\s*/?>[ \t]*\r?\n", re.IGNORECASE)
_REST_ITEM = re.compile(r"/wp/v2/([a-z0-9_-]+)/(\d+)/?$")


def parse_comments(payload: Any, *, site: str, post_url: str) -> tuple[ItemData, ...]:
    """Items for one page of ``/wp/v2/comments``; ``site`` scopes the natural keys."""
    if not isinstance(payload, list):
        raise ParseError(f"expected a JSON array of comments, got {type(payload).__name__}")
    return tuple(_comment(c, site=site, post_url=post_url) for c in payload)


def _comment(c: Any, *, site: str, post_url: str) -> ItemData:
    if not isinstance(c, dict):
        raise ParseError(f"expected a comment object, got {type(c).__name__}")
    comment_id = _int(c, "id")
    parent = _int(c, "parent")
    link = http_link(_str(c, "link"))
    content = c.get("content")
    if not isinstance(content, dict):
        raise ParseError(f"comment {comment_id}: content is not an object")
    rendered = _str(content, "rendered")
    # core stores author_name through _wp_specialchars (pre_comment_author_name), so
    # "Zoë & Max" arrives as "Zoë &amp; Max"; collapse whitespace as the key does.
    name = " ".join(html.unescape(_str(c, "author_name")).split())
    author = AuthorData(
        key=keys.wordpress_author(site, name),
        platform=PLATFORM,
        name=name,
        url=http_link(_opt_str(c, "author_url")),
        avatar_url=_avatar(c.get("author_avatar_urls")),
    )
    check_text(
        f"comment {comment_id}",
        rendered,
        name,
        link or "",
        author.url or "",
        author.avatar_url or "",
    )
    # wpautop writes "<br />\n"; the newline is markup layout, not a second line break.
    cleaned = clean(_BR_NEWLINE.sub("<br />", rendered), base_url=link or post_url)
    return ItemData(
        key=keys.wordpress_comment(site, comment_id),
        platform=PLATFORM,
        kind="comment",
        url=link,
        author=author,
        html=cleaned.html,
        text=cleaned.text,
        created_at=_created_at(c, f"comment {comment_id}"),
        in_reply_to=keys.wordpress_comment(site, parent) if parent else None,
        context_url=post_url,
        links=cleaned.links,
        raw=c,
    )


def parse_post(payload: Any, *, site: str, post_url: str | None = None) -> ItemData:
    """The post itself (``GET /wp/v2/posts/ID?_embed=author``) as an ``article`` item.

    ``site`` scopes the natural keys. ``post_url`` is the URL the post is followed by,
    which its comments carry as their ``context_url``: when given it is the item's
    ``url``, so the post and its comments meet whatever ``link`` says (a ``?p=`` URL,
    another scheme or host name); the post's own ``link`` stays in ``raw``.

    The author is ``_embedded.author[0]``. Many sites hide their users: the author link
    is removed (no ``_embedded``) or the embedded author is an error object
    (``rest_user_cannot_view``); the author is then the site, named by its host. A
    password-protected post keeps its title (core renders it "Protected: …") and has no
    content: core sends ``content.rendered`` empty while ``content.protected`` is true.
    """
    if not isinstance(payload, dict):
        raise ParseError(f"expected a post object, got {type(payload).__name__}")
    post_id = _int(payload, "id")
    what = f"post {post_id}"
    link = http_link(_str(payload, "link"))
    title = _rendered(payload, "title", what)
    content = payload.get("content")
    rendered = _rendered(payload, "content", what)
    if isinstance(content, dict) and content.get("protected") is True:
        rendered = ""
    url = post_url if post_url is not None else link
    author = _post_author(payload.get("_embedded"), site)
    check_text(what, title, author.name, author.url or "", author.avatar_url or "")
    # wpautop writes "<br />\n"; the newline is markup layout, not a second line break.
    cleaned = clean(_BR_NEWLINE.sub("<br />", rendered), base_url=link or url or site)
    created_at = _created_at(payload, what)
    # modified_gmt moves on every save, so it says when, not whether, the text changed
    # (the content hash says that); a missing or zero one is no edit.
    modified = _gmt_or_none(payload.get("modified_gmt"))
    return ItemData(
        key=keys.wordpress_post(site, post_id),
        platform=PLATFORM,
        kind="article",
        url=url,
        author=author,
        html=cleaned.html,
        text=cleaned.text,
        created_at=created_at,
        edited_at=modified if modified is not None and modified > created_at else None,
        title=" ".join(clean(title).text.split()) or None,
        links=cleaned.links,
        raw=payload,
    )


def _rendered(obj: Mapping[str, Any], name: str, what: str) -> str:
    """``obj[name]["rendered"]``, which core always sends (``""`` when there is none)."""
    field = obj.get(name)
    if not isinstance(field, dict):
        raise ParseError(f"{what}: {name} is not an object")
    value = field.get("rendered")
    if not isinstance(value, str):
        raise ParseError(f"{what}: {name}.rendered is not a string: {value!r:.40}")
    return value


def _post_author(embedded: Any, site: str) -> AuthorData:
    users = embedded.get("author") if isinstance(embedded, dict) else None
    user = users[0] if isinstance(users, list) and users else None
    name = user.get("name") if isinstance(user, dict) else None
    if isinstance(user, dict) and isinstance(name, str) and name.strip():
        # display_name is stored through _wp_specialchars, like a commenter's name.
        name = " ".join(html.unescape(name).split())
        link = user.get("link")
        return AuthorData(
            key=keys.wordpress_author(site, name),
            platform=PLATFORM,
            name=name,
            url=http_link(link) if isinstance(link, str) else None,
            avatar_url=_avatar(user.get("avatar_urls")),
        )
    host = urlsplit(site).hostname or site
    return AuthorData(
        key=keys.wordpress_author(site, host), platform=PLATFORM, name=host, url=http_link(site)
    )


def parse_gmt(value: str) -> datetime:
    """``date_gmt`` carries no suffix (``mysql_to_rfc3339``); it is UTC."""
    when = _naive(value)
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError as e:
        raise ParseError(f"bad date {value[:40]!r}") from e


def _created_at(obj: Mapping[str, Any], what: str) -> datetime:
    # Comments and posts imported from other platforms can carry a zero *_date_gmt,
    # which core renders as "-0001-11-30T00:00:00"; their site-local date is the best
    # left, hours off at worst, rather than a fetch that fails on every run.
    for name in ("date_gmt", "date"):
        when = _gmt_or_none(obj.get(name))
        if when is not None:
            return when
    raise ParseError(f"{what}: neither date_gmt nor date is a date")


def _gmt_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = parse_gmt(value)
    except ParseError:
        return None
    return when if when.year > 1970 else None


def site_offset(comment: Mapping[str, Any]) -> timedelta | None:
    """The site's UTC offset when the comment was written: ``date`` minus ``date_gmt``.

    Per comment, because a site on a named time zone moves its offset with DST.
    ``None`` when the two do not make a plausible offset.
    """
    local, gmt = comment.get("date"), comment.get("date_gmt")
    if not isinstance(local, str) or not isinstance(gmt, str):
        return None
    try:
        a, b = _naive(local), _naive(gmt)
    except ParseError:
        return None
    if a.tzinfo is not None or b.tzinfo is not None:
        return None
    offset = a - b
    if abs(offset) > _MAX_OFFSET or offset.total_seconds() % 60:
        return None
    return offset


def site_local(when: datetime, offset: timedelta) -> str:
    """``when`` on the site's wall clock, as the ``after``/``before`` parameters want it.

    ``after`` becomes a ``date_query`` on ``comment_date`` (site-local), not
    ``comment_date_gmt`` (``class-wp-comment-query.php``); WordPress before 5.3 also
    ignored any zone suffix, so send none.
    """
    local = when.astimezone(UTC).replace(tzinfo=None) + offset
    return local.isoformat(timespec="seconds")


# --- discovery -------------------------------------------------------------------------


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """RFC 8288 ``Link`` values as ``(target, params)``; every ``rel`` is kept.

    ``httpx.Response.links`` keys links by ``rel`` and so keeps one ``alternate`` only.
    """
    found: list[tuple[str, dict[str, str]]] = []
    for m in re.finditer(r"<([^>]*)>((?:\s*;\s*[^;,<]+(?:=\s*(?:\"[^\"]*\"|[^;,]*))?)*)", value):
        params: dict[str, str] = {}
        for p in re.finditer(r";\s*([^=;,\s]+)\s*(?:=\s*(\"[^\"]*\"|[^;,]*))?", m.group(2)):
            params[p.group(1).lower()] = (p.group(2) or "").strip().strip('"')
        found.append((m.group(1).strip(), params))
    return found


class _LinkTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link":
            self.links.append({k.lower(): v or "" for k, v in attrs})


def html_links(document: str) -> list[tuple[str, dict[str, str]]]:
    """``<link>`` elements of a page, in the same shape as :func:`parse_link_header`."""
    end = document.lower().find("</head>")
    parser = _LinkTags()
    try:
        parser.feed(document if end < 0 else document[:end])
        parser.close()
    except (AssertionError, ValueError):  # old html.parser bugs on broken markup
        pass
    return [(a.pop("href", ""), a) for a in parser.links if a.get("href")]


def _rels(params: Mapping[str, str]) -> set[str]:
    return {r.lower() for r in params.get("rel", "").split()}


def discover(links: list[tuple[str, dict[str, str]]], base: str) -> tuple[int | None, str | None]:
    """The post id and API root a page advertises: ``(id, root)``, either may be ``None``."""
    post_id: int | None = None
    root: str | None = None
    for target, params in links:
        rels = _rels(params)
        try:
            url = urljoin(base, target)
            if API_REL in rels and root is None:
                root = url
            elif (
                "alternate" in rels
                and params.get("type", "").lower() == "application/json"
                and post_id is None
            ):
                post_id = rest_item_id(url)
                if post_id is not None and root is None:
                    root = _root_of(url)
        except ValueError:  # urlsplit on a broken href ("http://[oops/")
            continue
    return post_id, root


def rest_item_id(url: str) -> int | None:
    """``…/wp-json/wp/v2/posts/1234`` or ``…?rest_route=/wp/v2/pages/7`` → the id."""
    parts = urlsplit(url)
    route = dict(parse_qsl(parts.query)).get("rest_route") or parts.path
    m = _REST_ITEM.search(route)
    return int(m.group(2)) if m else None


def _root_of(url: str) -> str | None:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "rest_route" in query:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "rest_route=/", ""))
    cut = parts.path.find("/wp/v2/")
    if cut < 0:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path[: cut + 1], "", ""))


def id_from_query(url: str) -> int | None:
    """``?p=1234`` (and ``?page_id=``) permalinks name the post directly."""
    query = dict(parse_qsl(urlsplit(url).query))
    for name in ("p", "page_id"):
        value = query.get(name, "")
        if value.isascii() and value.isdigit() and int(value) > 0:
            return int(value)
    return None


def route_url(root: str, route: str) -> str:
    """``route`` (``wp/v2/comments``) under an API root of either style."""
    parts = urlsplit(root)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "rest_route" for k, _ in query):
        query = [(k, v) for k, v in query if k != "rest_route"]
        query.insert(0, ("rest_route", "/" + route.strip("/")))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path + route.strip("/"), parts.query, ""))


def same_page(a: str, b: str) -> bool:
    """Two URLs of one page, whatever the scheme, trailing slash or fragment."""
    ca, cb = canonical_url(a), canonical_url(b)
    if ca is None or cb is None:
        return False
    pa, pb = urlsplit(ca), urlsplit(cb)
    return (pa.netloc, pa.path.rstrip("/"), pa.query) == (pb.netloc, pb.path.rstrip("/"), pb.query)


def pick_post(payload: Any, post_url: str) -> int | None:
    """The id in a ``/wp/v2/posts?slug=`` answer whose ``link`` is ``post_url``."""
    if not isinstance(payload, list):
        raise ParseError(f"expected a JSON array of posts, got {type(payload).__name__}")
    candidates: list[int] = []
    for post in payload:
        if not isinstance(post, dict):
            raise ParseError("expected post objects")
        post_id = _int(post, "id")
        link = post.get("link")
        if isinstance(link, str) and same_page(link, post_url):
            return post_id
        candidates.append(post_id)
    # A slug is unique per post type; a lone answer whose link differs is the same
    # post behind another host name or a changed permalink structure.
    return candidates[0] if len(candidates) == 1 else None


# --- field helpers ---------------------------------------------------------------------


def _naive(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise ParseError(f"bad date {value[:40]!r}") from e


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ParseError(f"{name} is not a non-negative integer: {value!r:.40}")
    return value


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ParseError(f"{name} is not a string: {value!r:.40}")
    return value


def _opt_str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{name} is not a string: {value!r:.40}")
    return value


def _avatar(urls: Any) -> str | None:
    # author_avatar_urls is absent when the site turned avatars off (show_avatars).
    if not isinstance(urls, dict):
        return None
    sizes = sorted(_sizes(urls), reverse=True)
    preferred = [u for s, u in sizes if s == 96] + [u for _, u in sizes]
    return next((u for u in map(http_link, preferred) if u), None)


def _sizes(urls: Mapping[Any, Any]) -> Iterator[tuple[int, str]]:
    for size, url in urls.items():
        if isinstance(size, str) and size.isascii() and size.isdigit() and isinstance(url, str):
            yield int(size), url
