"""A fast path for the common feed: well-formed UTF-8 RSS 2.0 of the shape WordPress
writes (core's ``feed-rss2-comments.php`` and ``feed-rss2.php``).

feedparser handles every feed ever written, and pays for it: about 350 µs per entry,
most of it in its per-element Python bookkeeping, not in XML parsing. For the feeds
we poll all the time, :func:`parse` builds with lxml what feedparser would (the same
entry dictionaries, down to ``title_detail`` and the URL and character fix-ups it
applies, and the feed-level values parse_feed reads), about 8 times faster. On
anything it has not been taught it returns ``None`` and the caller runs feedparser:
another format (Atom, RSS 1.0), a DOCTYPE, ``xml:base``/``xml:lang``, an element or
attribute outside the lists below, markup inside an element, a comment, a repeated
element, a charset other than UTF-8, or a body that is not well-formed XML
(feedparser's tolerant parser reads those). ``tests/test_feeds_fast.py`` holds it to
feedparser's output.

feedparser's own helpers (date parsing, URL joining, the cp1252 table, its HTML
guess) are reused rather than rewritten, so the two paths cannot drift apart on them.

The feed polled most, a WordPress comment feed, has items of the plainest kind (title,
link, guid, dc:creator, pubDate, description, content:encoded). :func:`parse_plain`
reads those straight into :class:`Entry` values, with the same values, skipping the
dictionaries: together with the dates read without a round trip through struct_time,
it takes about a third off a comment feed's parse (benchmarks/collect.py).
"""

from __future__ import annotations

import calendar
import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.datetimes.rfc822 import _parse_date_rfc822
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urifixer, _urljoin, make_safe_absolute_uri
from lxml import etree

from aggregator.urls import joins_to_itself

_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_URI_FIXER: re.Pattern[str] = _urifixer
_looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html
# Namespace URI (lower-cased, as feedparser matches them) -> feedparser's prefix.
_PREFIXES: dict[str, str] = {
    uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()
}
# What feedparser does to a <link> inside an entry: undo "&amp;" and "&b;" mangling.
_AMP_REF = re.compile("&([A-Za-z0-9_]+);")
_XML_TYPES = frozenset(
    {"application/rss+xml", "application/xml", "application/rdf+xml", "application/atom+xml"}
)
_C1 = re.compile("[\x80-\x9f]")
# The date every WordPress feed writes (``date('D, d M Y H:i:s +0000')``): feedparser's
# W3C-DTF handler, tried first, cannot read it, so its RFC 822 handler decides alone.
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)

# Channel elements that cannot change what parse_feed reads (feed title, link,
# language, dates; every entry field): skipped, if they hold only text.
_CHANNEL_IGNORED = frozenset(
    {
        "description",
        "generator",
        "ttl",
        "docs",
        "copyright",
        "category",
        "sy_updateperiod",
        "sy_updatefrequency",
        "sy_updatebase",
    }
)
_ENTRY_SINGLE = frozenset(
    {
        "title",
        "link",
        "dc_creator",
        "pubdate",
        "guid",
        "description",
        "content_encoded",
        "comments",
        "wfw_commentrss",
        "slash_comments",
    }
)
# feedparser resolves these against the base URL (its ``can_be_relative_uri``).
_RELATIVE = frozenset({"link", "comments", "wfw_commentrss"})


class _Unusual(Exception):
    """Something feedparser should read."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads. No entity resolution, DTD
    # loading or network: a document that needs any of them is not the common case.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        _local.parser = parser
    return parser


def parse(body: bytes, *, feed_url: str, content_type: str | None = None) -> dict[str, Any] | None:
    """feedparser's result (``feed``, ``entries``, ``version``, ``bozo``) for ``body``,
    or ``None`` when the body is not the common case and feedparser must read it."""
    root = read(body, content_type)
    return None if root is None else entries(root, feed_url=feed_url)


def entries(root: etree._Element, *, feed_url: str) -> dict[str, Any] | None:
    """:func:`parse` of a document :func:`read` has read."""
    return _entries(root, feed_url, _entry)


@dataclass(frozen=True, slots=True)
class Entry:
    """An RSS item of the plainest kind, read as feedparser reads it, without the
    dictionaries nobody but :func:`parse`'s callers look at.

    Only a comment feed's entries are read this way (:func:`parse_plain`); their
    ``raw`` is what the feed said, element by element."""

    id: str
    """The guid (resolved against the feed when it is a permalink), else ``""``."""
    link: str
    """The ``<link>``, else a permalink guid, else ``""``."""
    title: str
    title_is_html: bool
    content: str
    """``content:encoded``, else ``""``."""
    description: str
    author: str
    published: datetime | None
    raw: dict[str, str]


def parse_plain(
    body: bytes, *, feed_url: str, content_type: str | None = None
) -> dict[str, Any] | None:
    """Like :func:`parse`, with :class:`Entry` values for entries, for a feed whose
    items hold nothing but title, link, guid, dc:creator, pubDate, description and
    content:encoded, each once (a WordPress comment feed); ``None`` for any other."""
    root = read(body, content_type)
    return None if root is None else plain_entries(root, feed_url=feed_url)


def plain_entries(root: etree._Element, *, feed_url: str) -> dict[str, Any] | None:
    """:func:`parse_plain` of a document :func:`read` has read."""
    return _entries(root, feed_url, _plain_entry)


def read(body: bytes, content_type: str | None) -> etree._Element | None:
    """The document, when it is well-formed UTF-8 XML that feedparser would decode as
    such; ``None`` when feedparser must read it."""
    # A DOCTYPE may declare entities: feedparser's business (the search costs microseconds).
    if not _utf8_xml(content_type) or b"<!DOCTYPE" in body:
        return None
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    info = root.getroottree().docinfo
    if info.xml_version != "1.0" or (info.encoding or "").upper() != "UTF-8":
        return None
    return root


def _entries(
    root: etree._Element, feed_url: str, entry: Callable[[etree._Element, str], Any]
) -> dict[str, Any] | None:
    try:
        return _rss(root, _base(feed_url), entry)
    except _Unusual:
        return None


def _utf8_xml(content_type: str | None) -> bool:
    """Whether feedparser would decode the body as the UTF-8 its declaration names.

    ``text/xml`` without a charset is us-ascii (RFC 3023), and a non-XML type makes
    feedparser flag the feed: both are left to it."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    charset = _CHARSET.search(content_type)
    if charset is not None:
        return media in _XML_TYPES | {"text/xml"} and charset.group(1).lower() in ("utf-8", "utf8")
    return media in _XML_TYPES


def _base(feed_url: str) -> str:
    # feedparser's base is the Content-Location, re-made "safe" at every element it
    # enters; four levels down (rss, channel, item, element) it is what entries see.
    base = make_safe_absolute_uri("", feed_url) or ""
    for _ in range(4):
        if base:
            base = make_safe_absolute_uri(base, base) or base
    return str(base)


# Element names already worked out: a feed repeats the same few tags in every entry.
_NAMES: dict[str, str] = {}


def _name(el: etree._Element) -> str:
    """feedparser's name for an element: ``prefix_local``, lower-cased."""
    tag = el.tag
    name = _NAMES.get(tag) if isinstance(tag, str) else None
    if name is None:
        name = _new_name(tag)
        if len(_NAMES) < 512:  # tags come from the feed: keep the memo bounded
            _NAMES[tag] = name
    return name


def _new_name(tag: object) -> str:
    if not isinstance(tag, str):  # a comment or processing instruction
        raise _Unusual
    if tag[0] == "{":
        uri, local = tag[1:].split("}", 1)
        prefix = _PREFIXES.get(uri.lower())
        if prefix is None:
            raise _Unusual
        return f"{prefix}_{local.lower()}" if prefix else local.lower()
    return tag.lower()


_NO_ATTRS: dict[str, str] = {}


def _attrs(el: etree._Element) -> dict[str, str]:
    items = el.items()
    # Most elements have none: the shared empty dict is only ever read.
    return {str(k): str(v) for k, v in items} if items else _NO_ATTRS


def _text(el: etree._Element) -> str:
    """The element's text, which must be all it holds."""
    if len(el):
        raise _Unusual
    return el.text or ""


def _fix(output: str) -> str:
    """feedparser's last touches to every value: mojibake from UTF-8 read as Latin-1
    is undone, then C1 controls are read as cp1252. ASCII has neither."""
    if output.isascii():
        return output
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    # translate() looks every character up in the table: test for the rare C1 range first.
    return output.translate(_cp1252) if _C1.search(output) else output


def _value(el: etree._Element, *, base: str, relative: bool = False) -> str:
    output = _text(el).strip()
    if relative and output:
        output = _join(base, output)
    return _fix(output)


def _date(value: str) -> Any:
    """feedparser's ``_parse_date``, straight to the handler that will answer."""
    if _RFC822.fullmatch(value):
        with contextlib.suppress(ValueError, OverflowError):
            if (parsed := _parse_date_rfc822(value)) is not None:
                return parsed
    return _parse_date(value)


def _datetime(value: str) -> datetime | None:
    """The UTC datetime of feedparser's reading of a date, as parse_feed takes it."""
    if m := _RFC822.fullmatch(value):
        # What the RFC 822 handler computes, minus the struct_time round trip.
        day, month, year, hour, minute, second, sign, tz_hours, tz_minutes = m.groups()
        offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
        with contextlib.suppress(ValueError, OverflowError):
            when = datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
            return when - offset if sign == "+" else when + offset
    parsed = _date(value)
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _join(base: str, uri: str) -> str:
    """feedparser's ``_urljoin``, without urljoin's cost for a link that has its own
    host (the common case, where the join changes nothing)."""
    fixed = _URI_FIXER.sub(r"\1\3", uri)
    try:
        if joins_to_itself(fixed):
            return fixed
    except ValueError:
        return ""
    return str(_urljoin(base, uri))


def _content(el: etree._Element, default_type: str, base: str) -> dict[str, Any]:
    """A title, description or content:encoded, with feedparser's ``*_detail``."""
    output = _text(el).strip()
    kind = default_type
    if kind == "text/plain" and _looks_like_html(output):
        kind = "text/html"
    return {"type": kind, "language": None, "base": base, "value": _fix(output)}


def _rss(
    root: etree._Element, base: str, entry: Callable[[etree._Element, str], Any]
) -> dict[str, Any]:
    attrs = _attrs(root)
    if _name(root) != "rss" or set(attrs) != {"version"} or not attrs["version"].startswith("2."):
        raise _Unusual
    # No need to look for xml:base, xml:lang or comments anywhere: every element read
    # below refuses attributes it does not know, and children where it expects text.
    if len(root) != 1 or _name(root[0]) != "channel" or root[0].attrib:
        raise _Unusual
    feed: dict[str, Any] = {}
    entries: list[Any] = []
    seen: set[str] = set()
    for el in root[0]:
        name = _name(el)
        if name == "item":
            entries.append(entry(el, base))
            continue
        if name in _CHANNEL_IGNORED:
            if el.attrib:
                raise _Unusual
            _text(el)
            continue
        if name == "link" and el.attrib:
            _channel_link(el, feed, base)
            continue
        if el.attrib or name in seen:
            raise _Unusual
        seen.add(name)
        if name == "title":
            detail = _content(el, "text/plain", base)
            feed["title"], feed["title_detail"] = detail["value"], detail
        elif name == "link":
            feed["link"] = _AMP_REF.sub(r"&\g<1>", _value(el, base=base, relative=True))
        elif name == "language":
            feed["language"] = _value(el, base=base)
        elif name in ("lastbuilddate", "pubdate"):
            key = "updated" if name == "lastbuilddate" else "published"
            feed[key] = _value(el, base=base)
            feed[f"{key}_parsed"] = _date(feed[key])
        else:
            raise _Unusual
    return {"feed": feed, "entries": entries, "version": "rss20", "bozo": False}


def _channel_link(el: etree._Element, feed: dict[str, Any], base: str) -> None:
    """atom:link in a channel (feedparser reads the Atom namespace as its own): only an
    alternate HTML link names the feed's page; a self link says nothing parse_feed reads."""
    attrs = _attrs(el)
    if not set(attrs) <= {"href", "rel", "type"} or "href" not in attrs or len(el):
        raise _Unusual
    rel = attrs.get("rel", "alternate").lower()
    kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    if rel == "alternate" and _FeedParserMixin.map_content_type(kind) in _HTML_TYPES:
        feed["link"] = _join(base, attrs["href"])


def _entry(item: etree._Element, base: str) -> dict[str, Any]:
    if item.attrib:
        raise _Unusual
    e: dict[str, Any] = {}
    seen: set[str] = set()
    for el in item:
        name = _name(el)
        if name in seen and name != "category":
            raise _Unusual
        seen.add(name)
        attrs = _attrs(el)
        if name == "guid":
            if not set(attrs) <= {"isPermaLink"}:
                raise _Unusual
            permalink = attrs.get("isPermaLink", "true") == "true"
            value = _value(el, base=base, relative=permalink)
            e["id"] = value
            e.setdefault("guidislink", permalink and "link" not in e)
            if permalink:
                e.setdefault("link", value)
            continue
        if attrs or (name not in _ENTRY_SINGLE and name != "category"):
            raise _Unusual
        if name == "title":
            detail = _content(el, "text/plain", base)
            e["title"], e["title_detail"] = detail["value"], detail
        elif name == "description":
            if "summary" in e and "content" not in e:
                raise _Unusual  # feedparser would take it as content
            detail = _content(el, "text/html", base)
            e["summary"], e["summary_detail"] = detail["value"], detail
        elif name == "content_encoded":
            detail = _content(el, "text/html", base)
            e.setdefault("content", []).append(detail)
            e.setdefault("summary", detail["value"])
        elif name == "link":
            link: dict[str, Any] = {"rel": "alternate", "type": "text/html"}
            e.setdefault("links", []).append(link)
            value = _value(el, base=base, relative=True).replace("&amp;", "&")
            value = _AMP_REF.sub(r"&\g<1>", value)
            e["link"] = value
            if value:
                link["href"] = value
        elif name == "dc_creator":
            author: dict[str, Any] = {}
            e["authors"] = [author]
            value = _value(el, base=base)
            if "@" in value:
                raise _Unusual  # feedparser splits out what looks like an e-mail address
            e["author"] = value
            if value:
                e["author_detail"] = author
                author["name"] = value
        elif name == "pubdate":
            e["published"] = value = _value(el, base=base)
            e["published_parsed"] = _date(value)
        elif name == "category":
            tags: list[dict[str, Any]] = e.setdefault("tags", [])
            value = _value(el, base=base)
            tag = {"term": value, "scheme": None, "label": None}
            if value and tag not in tags:
                tags.append(tag)
        else:
            e[name] = _value(el, base=base, relative=name in _RELATIVE)
    return e


# What a plain item may hold, under feedparser's names, and the element each one is.
_PLAIN = {
    "title": "title",
    "link": "link",
    "guid": "guid",
    "dc_creator": "dc:creator",
    "pubdate": "pubDate",
    "description": "description",
    "content_encoded": "content:encoded",
}


def _plain_entry(item: etree._Element, base: str) -> Entry:
    """What :func:`_entry` reads of a plain item, the same way, straight to an Entry."""
    if item.attrib:
        raise _Unusual
    values: dict[str, str] = {}
    raw: dict[str, str] = {}
    permalink = False
    for el in item:
        name = _name(el)
        if name not in _PLAIN or name in values:
            raise _Unusual
        if el.items():
            if name != "guid" or el.keys() != ["isPermaLink"]:
                raise _Unusual
            permalink = el.get("isPermaLink") == "true"
        elif name == "guid":
            permalink = True  # RSS 2.0's default
        text = _text(el)
        raw[_PLAIN[name]] = text
        values[name] = text.strip()
    link = values.get("link")
    if link is not None:
        link = _AMP_REF.sub(
            r"&\g<1>", _fix(_join(base, link) if link else "").replace("&amp;", "&")
        )
    guid = values.get("guid", "")
    if guid and permalink:
        guid = _join(base, guid)
    guid = _fix(guid)
    if link is None:
        link = guid if permalink else ""
    title = values.get("title", "")
    author = _fix(values.get("dc_creator", ""))
    if "@" in author:
        raise _Unusual  # feedparser splits out what looks like an e-mail address
    published = values.get("pubdate")
    return Entry(
        id=guid,
        link=link,
        title=_fix(title),
        title_is_html=_looks_like_html(title),
        content=_fix(values.get("content_encoded", "")),
        description=_fix(values.get("description", "")),
        author=author,
        published=_datetime(_fix(published)) if published else None,
        raw=raw,
    )
