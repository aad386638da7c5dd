"""The fast feed path: what it reads, it reads exactly as feedparser does; anything
else it leaves to feedparser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from feedparser.datetimes import _parse_date
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.sources import feeds_fast
from aggregator.sources.feeds_parse import (
    FeedKind,
    ParsedFeed,
    _jsonable,
    _mapping,
    _run_feedparser,
    _utc,
    parse_entries,
    parse_feed,
)
from tests.golden import DATA

FEEDS = DATA / "feeds"
URL = "https://blog.example.fr/2026/02/velo-cargo-hiver/feed/"
RSS_CT = "application/rss+xml; charset=UTF-8"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
# Everything parse_feed reads of the feed itself; entries it reads (and stores) whole.
FEED_KEYS = (
    "link",
    "author",
    "author_detail",
    "language",
    "updated_parsed",
    "published_parsed",
    "title",
    "title_detail",
    "id",
)


def as_read(doc: Any) -> dict[str, Any]:
    feed = _mapping(doc.get("feed"))
    return {
        "version": doc.get("version"),
        "feed": _jsonable({k: feed[k] for k in FEED_KEYS if k in feed}),
        "entries": [_jsonable(_mapping(e)) for e in doc.get("entries") or ()],
    }


def assert_same_as_feedparser(body: bytes, content_type: str | None = RSS_CT) -> bool:
    """True when the fast path read ``body``; it must then match feedparser."""
    fast = feeds_fast.parse(body, feed_url=URL, content_type=content_type)
    if fast is None:
        return False
    assert as_read(fast) == as_read(_run_feedparser(body, URL, content_type))
    return True


@pytest.mark.parametrize(
    "name", ["wp_post_comments_feed.rss.xml", "wp_site_posts_feed_wfw_slash.rss.xml"]
)
def test_wordpress_rss_takes_the_fast_path_with_feedparsers_result(name: str) -> None:
    assert assert_same_as_feedparser((FEEDS / name).read_bytes())


def test_a_generated_comment_feed_of_fifty_is_read_alike() -> None:
    from datetime import UTC, datetime

    from benchmarks._collect_data import wordpress_feeds

    (doc,) = wordpress_feeds(1, 1, 50, datetime(2026, 11, 20, tzinfo=UTC))
    assert assert_same_as_feedparser(doc.body)
    assert len(parse_feed(doc.body, feed_url=URL, content_type=RSS_CT).items) == 50


def rss(items: str, channel: str = "<title>T</title><link>https://ex.example/</link>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/" '
        'xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


ITEM = "<item><guid>https://ex.example/?p=1#comment-2</guid><title>By: A</title></item>"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ((FEEDS / "wp_site_comments_feed.atom.xml").read_bytes(), "application/atom+xml"),
        (rss(ITEM), "text/html"),
        (rss(ITEM), "text/xml"),
        (rss(ITEM), "application/rss+xml; charset=ISO-8859-1"),
        (rss(ITEM).replace(b"UTF-8", b"ISO-8859-1"), None),
        (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "x">]>' + rss(ITEM)[38:], None),
        (rss(ITEM.replace("<title>", '<title xml:lang="fr">')), None),
        (rss(ITEM.replace("<title>", '<title xml:base="https://x.example/">')), None),
        (rss(ITEM.replace("</item>", "<media:content url='x'/></item>")), None),
        (rss(ITEM.replace("</item>", "<!-- cached --></item>")), None),
        (rss(ITEM.replace("</item>", "<title>again</title></item>")), None),
        (rss(ITEM.replace("By: A", "By: <b>A</b>")), None),
        (rss(ITEM.replace("</item>", "<dc:creator>a@b.example</dc:creator></item>")), None),
        (rss(ITEM, channel="<title>T</title><managingEditor>x</managingEditor>"), None),
        (rss(ITEM, channel="<title>T</title><image><url>x</url></image>"), None),
        (rss(ITEM).replace(b'version="2.0"', b'version="0.91"'), None),
        (rss(ITEM)[:-30], None),
        (b"<b>Warning</b>: PHP\n" + rss(ITEM), None),
        (rss(ITEM.replace("By: A", "caf&eacute;")), None),
    ],
    ids=[
        "atom",
        "html-type",
        "text-xml-ascii",
        "latin1-charset",
        "latin1-declared",
        "doctype",
        "xml-lang",
        "xml-base",
        "unknown-element",
        "comment",
        "repeated-element",
        "markup-in-title",
        "email-author",
        "channel-author",
        "channel-image",
        "rss-091",
        "truncated",
        "junk-before-xml",
        "undeclared-entity",
    ],
)
def test_anything_unusual_is_left_to_feedparser(body: bytes, content_type: str | None) -> None:
    assert feeds_fast.parse(body, feed_url=URL, content_type=content_type) is None


# Values feedparser treats specially: whitespace it strips, entities, markup that makes
# a title HTML, relative and odd URLs, Latin-1 mojibake and C1 controls it repairs,
# dates in several shapes and none.
TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "  padded\t\n",
            "Zoë &#38; Max",
            "a &amp; b",
            "&lt;b&gt;bold&lt;/b&gt; &amp;eacute;",
            "<![CDATA[<p>caf&eacute; <a href='/rel'>x</a></p>]]>",
            "<![CDATA[Zoë &#38; Max]]>",
            "x &#160; y &#x1f44d;",
            "CafÃ© crÃ¨me",
            "smart \x93quotes\x94 \x80",
            "/2026/relative/#comment-5",
            "?p=7#comment-9",
            "https://ex.example/a?b=1&amp;c=2",
            "https://ex.example/a?b=1&amp;amp;c=2",
            "http://x.example//double//slash#",
            "javascript:alert(1)",
            "mailto:someone",
            "Tue, 10 Feb 2026 07:30:00 +0000",
            "2026-02-10T07:30:00Z",
            "10 Feb 2026",
            "not a date",
            "7",
            "\u00a0nbsp\u00a0",
        ]
    ),
    st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="<&]"
        ),
        max_size=20,
    ),
)
ENTRY_TAGS = [
    "title",
    "link",
    "dc:creator",
    "pubDate",
    "guid",
    'guid isPermaLink="false"',
    'guid isPermaLink="true"',
    "description",
    "content:encoded",
    "comments",
    "wfw:commentRss",
    "slash:comments",
    "category",
]
CHANNEL_TAGS = ["title", "link", "description", "lastBuildDate", "pubDate", "language"]


def element(tag: str, text: str) -> str:
    return f"<{tag}>{text}</{tag.split(' ')[0]}>"


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    channel = "".join(
        element(tag, draw(TEXT))
        for tag in draw(st.lists(st.sampled_from(CHANNEL_TAGS), unique=True, max_size=6))
    )
    if draw(st.booleans()):
        rel = draw(st.sampled_from(["self", "alternate", "hub"]))
        href = draw(st.sampled_from(["/x", "https://y.example/"]))
        channel += f'<atom:link href="{href}" rel="{rel}" />'
    items = []
    for _ in range(draw(st.integers(0, 3))):
        tags = draw(st.lists(st.sampled_from(ENTRY_TAGS), max_size=9))
        items.append("<item>" + "".join(element(t, draw(TEXT)) for t in tags) + "</item>")
    return rss("".join(items), channel=channel)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=feeds(),
    content_type=st.sampled_from(
        [None, RSS_CT, "application/rss+xml", "application/xml", "text/xml; charset=utf-8"]
    ),
)
def test_whatever_the_fast_path_reads_matches_feedparser(
    body: bytes, content_type: str | None
) -> None:
    assert_same_as_feedparser(body, content_type)


@pytest.mark.parametrize("tag", ENTRY_TAGS)
def test_each_element_it_knows_takes_the_fast_path(tag: str) -> None:
    # Guards the property above against passing vacuously.
    for text in ("plain", "  https://ex.example/a#comment-1 ", "Tue, 10 Feb 2026 07:30:00 GMT"):
        assert assert_same_as_feedparser(rss(f"<item>{element(tag, text)}</item>"))


def test_parse_feed_is_the_same_through_either_path() -> None:
    """The whole parse, not just the dictionaries: a feed the fast path reads gives the
    items feedparser's reading gives (here: the same feed made unusual by a comment
    after its last item, which only sends it down the other path)."""
    body = (FEEDS / "wp_post_comments_feed.rss.xml").read_bytes()
    detour = body.replace(b"\t</channel>", b"<!-- cached -->\t</channel>")
    assert feeds_fast.parse(detour, feed_url=URL, content_type=RSS_CT) is None
    fast = parse_feed(body, feed_url=URL, content_type=RSS_CT)
    slow = parse_feed(detour, feed_url=URL, content_type=RSS_CT)
    assert fast == slow


def parse_both(body: bytes, content_type: str | None, kind: FeedKind = "auto") -> ParsedFeed:
    """parse_feed's result, held to the same feed read through feedparser's entries."""
    try:
        expected = parse_entries(body, feed_url=URL, content_type=content_type, kind=kind, now=NOW)
    except ParseError:
        with pytest.raises(ParseError):
            parse_feed(body, feed_url=URL, content_type=content_type, kind=kind, now=NOW)
        return ParsedFeed(items=(), kind="posts")
    got = parse_feed(body, feed_url=URL, content_type=content_type, kind=kind, now=NOW)
    assert got == expected  # raw aside: it is not compared
    return got


PLAIN_TAGS = [t for t in ENTRY_TAGS if t not in ("comments", "wfw:commentRss", "slash:comments")]


@st.composite
def plain_feeds(draw: st.DrawFn) -> bytes:
    """Comment feeds whose items take the plain path, more often than feeds() makes them."""
    channel = "".join(
        element(tag, draw(TEXT))
        for tag in draw(st.lists(st.sampled_from(CHANNEL_TAGS), unique=True, max_size=6))
    )
    items = []
    for n in range(draw(st.integers(1, 3))):
        link = draw(
            st.sampled_from(
                [
                    f"https://ex.example/post/#comment-{n}",
                    f" https://ex.example/?p=3#comment-{n} ",
                    f"/post/#comment-{n}",
                    "https://ex.example/post/",
                    "",
                ]
            )
        )
        tags = draw(st.lists(st.sampled_from(PLAIN_TAGS[1:]), unique=True, max_size=7))
        body = "".join(element(t, draw(TEXT)) for t in tags if not t.startswith("guid"))
        guid = next((t for t in tags if t.startswith("guid")), None)
        if guid is not None:
            body += element(guid, draw(st.one_of(st.just(link), TEXT)))
        items.append(f"<item>{element('link', link)}{body}</item>")
    return rss("".join(items), channel=channel)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(plain_feeds(), feeds()),
    content_type=st.sampled_from([None, RSS_CT, "text/xml; charset=utf-8"]),
    kind=st.sampled_from(["auto", "auto", "comments", "posts"]),
)
def test_a_feed_read_straight_into_entries_gives_the_same_items(
    body: bytes, content_type: str | None, kind: FeedKind
) -> None:
    parse_both(body, content_type, kind)


def test_a_wordpress_comment_feed_is_read_straight_with_the_elements_as_raw() -> None:
    body = (FEEDS / "wp_post_comments_feed.rss.xml").read_bytes()
    assert feeds_fast.parse_plain(body, feed_url=URL, content_type=RSS_CT) is not None
    parsed = parse_both(body, RSS_CT)
    assert parsed.kind == "comments"
    assert len(parsed.items) == 3
    raw = parsed.items[0].raw
    assert set(raw) == {
        "title",
        "link",
        "dc:creator",
        "pubDate",
        "guid",
        "description",
        "content:encoded",
    }
    assert raw["pubDate"] == "Wed, 11 Feb 2026 08:03:51 +0000"


def test_a_post_feed_keeps_feedparsers_entries_for_discovery() -> None:
    # Plain items, but posts: discovery reads feedparser's tags and wfw:commentRss.
    body = rss("<item><guid>https://ex.example/?p=1</guid><title>Launch</title></item>")
    assert feeds_fast.parse_plain(body, feed_url=URL, content_type=RSS_CT) is not None
    parsed = parse_both(body, RSS_CT)
    assert parsed.kind == "posts"
    assert parsed.items[0].raw["id"] == "https://ex.example/?p=1"


@settings(max_examples=300, deadline=None)
@given(
    day=st.sampled_from(["Mon", "Sun", "Fri"]),
    date=st.dates(),
    clock=st.times(),
    zone=st.sampled_from(["+0000", "-0000", "+0100", "-0530", "+1400", "+0099", "-2359"]),
    mday=st.sampled_from([None, "31", "00", "30"]),
)
def test_a_wordpress_date_is_read_as_feedparser_reads_it(
    day: str, date: Any, clock: Any, zone: str, mday: str | None
) -> None:
    month = feeds_fast._MONTH_NAMES[date.month - 1]
    text = f"{day}, {mday or f'{date.day:02d}'} {month} {date.year:04d} {clock:%H:%M:%S} {zone}"
    parsed = _parse_date(text)
    expected = _utc(parsed) if parsed is not None else None
    assert feeds_fast._datetime(text) == expected
