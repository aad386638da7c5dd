"""The feed parser: golden files of real-shaped feeds, then the rules one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.models import ItemData
from aggregator.sources import keys
from aggregator.sources.feeds_parse import EPOCH, ParsedFeed, parse_feed
from tests.golden import DATA, assert_golden

FEEDS = DATA / "feeds"
CASES = sorted(FEEDS.glob("*.xml"))
# Where each fixture is served from (docs/source-apis.md §5); the URL is the base for
# relative links and the scope of generic keys.
FEED_URLS = {
    "wp_post_comments_feed.rss.xml": "https://blog.example.fr/2026/02/velo-cargo-hiver/feed/",
    "wp_site_comments_feed.atom.xml": "https://blog.example.fr/comments/feed/atom/",
    "wp_site_posts_feed_wfw_slash.rss.xml": "https://blog.example.fr/feed/",
    "blogger_post_comments_feed.atom.xml": (
        "https://cuisine-de-saison.blogspot.com/feeds/8765432109876543210/comments/default"
    ),
    "blogger_comments_feed_gdata_testdata.atom.xml": (
        "http://blogName.blogspot.com/feeds/postID/comments/default"
    ),
}
WP = "https://blog.example.fr"
NOW = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)


def parse_fixture(name: str) -> ParsedFeed:
    path = FEEDS / name
    return parse_feed(path.read_bytes(), feed_url=feed_url(path), content_type=content_type(path))


def feed_url(path: Path) -> str:
    return FEED_URLS.get(path.name, f"https://feeds.example.org/{path.name}")


def content_type(path: Path) -> str:
    if path.name.endswith(".atom.xml"):
        return "application/atom+xml; charset=UTF-8"
    return "application/rss+xml; charset=UTF-8"


def by_key(parsed: ParsedFeed) -> dict[str, ItemData]:
    return {item.key: item for item in parsed.items}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    parsed = parse_feed(path.read_bytes(), feed_url=feed_url(path), content_type=content_type(path))
    assert_golden(parsed, path.with_name(path.name.removesuffix(".xml") + ".expected.json"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_every_item_is_clean_and_dated(path: Path) -> None:
    for item in parse_fixture(path.name).items:
        assert item.created_at.tzinfo is UTC
        assert "<img" not in item.html, "emoji images become their characters"
        assert item.text == item.text.strip()
        assert item.author.name == item.author.name.strip()


def test_wordpress_comment_keys_follow_the_rest_scheme() -> None:
    items = by_key(parse_fixture("wp_post_comments_feed.rss.xml"))
    assert set(items) == {keys.wordpress_comment(WP, n) for n in (5812, 5809, 5807)}
    comment = items[keys.wordpress_comment(WP, 5812)]
    assert comment.platform == "wordpress"
    assert comment.kind == "comment"
    assert comment.url == "https://blog.example.fr/2026/02/velo-cargo-hiver/#comment-5812"
    assert comment.context_url == "https://blog.example.fr/2026/02/velo-cargo-hiver"
    assert comment.author.key == keys.wordpress_author(WP, "Élodie Martin")
    assert comment.title is None


def test_wordpress_rss_prefers_content_encoded_and_unescapes_text() -> None:
    items = by_key(parse_fixture("wp_post_comments_feed.rss.xml"))
    zoe = items[keys.wordpress_comment(WP, 5807)]
    assert zoe.author.name == "Zoë & Max"
    assert zoe.author.key == keys.wordpress_author(WP, "Zoë & Max")
    # content:encoded is HTML; the description is esc_html'd text whose quote would show.
    assert "<blockquote><p>“Le froid n’existe pas”</p></blockquote>" in zoe.html
    assert zoe.links == ("https://velotaf.example.org/hiver",)
    elodie = items[keys.wordpress_comment(WP, 5812)]
    assert elodie.text.endswith("je l’ai mis à jour dans l’article. 👍")
    tanaka = items[keys.wordpress_comment(WP, 5809)]
    assert tanaka.author.name == "田中 ゆき"
    assert tanaka.text.startswith("とても参考になりました 🚲❄️")


def test_wordpress_rss_has_no_threading_and_atom_has_rfc4685() -> None:
    rss = by_key(parse_fixture("wp_post_comments_feed.rss.xml"))
    assert all(item.in_reply_to is None for item in rss.values())
    atom = by_key(parse_fixture("wp_site_comments_feed.atom.xml"))
    assert atom[keys.wordpress_comment(WP, 5812)].in_reply_to == keys.wordpress_comment(WP, 5807)
    assert atom[keys.wordpress_comment(WP, 5809)].in_reply_to is None, "points at the post"
    bilan = atom[keys.wordpress_comment(WP, 5790)]
    assert bilan.in_reply_to is None
    assert bilan.context_url == "https://blog.example.fr/2025/12/bilan-2025"
    assert bilan.author.url == "https://mat.example.ca/"


def test_one_comment_through_rss_and_atom_is_one_item() -> None:
    rss = by_key(parse_fixture("wp_post_comments_feed.rss.xml"))
    atom = by_key(parse_fixture("wp_site_comments_feed.atom.xml"))
    shared = set(rss) & set(atom)
    assert shared == {keys.wordpress_comment(WP, 5812), keys.wordpress_comment(WP, 5809)}
    for key in shared:
        assert rss[key].author.key == atom[key].author.key
        assert rss[key].html == atom[key].html
        assert rss[key].created_at == atom[key].created_at
        assert rss[key].context_url == atom[key].context_url
    # A top-level comment looks the same both ways; only Atom knows a reply's parent.
    top = keys.wordpress_comment(WP, 5809)
    assert rss[top].content_hash == atom[top].content_hash


def test_wordpress_posts_feed_keeps_comment_feed_and_count() -> None:
    parsed = parse_fixture("wp_site_posts_feed_wfw_slash.rss.xml")
    assert parsed.kind == "posts"
    (post,) = parsed.items
    assert post.key == keys.wordpress_post(WP, 1234)
    assert post.kind == "article"
    assert post.title == "Vélo-cargo en hiver\xa0: 5 leçons apprises"
    assert post.engagement.replies == 7
    assert post.raw["wfw_commentrss"] == "https://blog.example.fr/2026/02/velo-cargo-hiver/feed/"
    assert post.raw["slash_comments"] == "7"
    assert post.language == "fr-FR"


def test_blogger_reply_parent_comes_from_the_related_link() -> None:
    parsed = parse_fixture("blogger_post_comments_feed.atom.xml")
    assert parsed.kind == "comments"
    reply, question = parsed.items
    assert reply.platform == "blogger"
    assert reply.key == "blogger:1234567890123456789:comment:5556667778889990001"
    assert reply.in_reply_to == question.key
    assert question.in_reply_to is None
    post = "https://cuisine-de-saison.blogspot.com/2026/01/galette-des-rois.html"
    assert reply.context_url == question.context_url == post
    assert (
        question.text
        == "Superbe recette ! Quelle température pour le four ? J'ai suivi cette pâte."
    )
    assert question.author.name == "Anonymous"
    assert question.author.avatar_url is None, "Blogger's blank placeholder"
    assert reply.author.key == "blogger:profile:01234567890123456789"
    assert reply.text.endswith("Bonne dégustation 👑")


def test_feed_titles_are_stripped() -> None:
    parsed = parse_fixture("wp_post_comments_feed.rss.xml")
    assert parsed.title == "Comments on: Vélo-cargo en hiver\xa0: 5 leçons apprises"
    assert parsed.link == "https://blog.example.fr/2026/02/velo-cargo-hiver/"


def rss(items: str, channel: str = "<title>T</title><link>https://ex.example/</link>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


def atom(entries: str, head: str = "<title>A</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:thr="http://purl.org/syndication/thread/1.0">{head}{entries}</feed>'
    ).encode()


HOSTILE = (
    '<p onclick="steal()">hi<script>alert(1)</script>'
    '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
    '<iframe src="https://evil.example/"></iframe><style>p{}</style>'
    '<a href="java&#x09;script:alert(5)">t</a><a href="/rel">r</a></p>'
)


@pytest.mark.parametrize(
    "body",
    [
        rss(
            "<item><guid>urn:x:1</guid>"
            f"<link>javascript:alert(4)</link><content:encoded><![CDATA[{HOSTILE}]]>"
            "</content:encoded><pubDate>Tue, 10 Feb 2026 07:30:00 +0000</pubDate></item>"
        ),
        atom(
            "<entry><id>urn:x:1</id><title>t</title><updated>2026-02-10T07:30:00Z</updated>"
            '<link href="javascript:alert(4)"/>'
            f'<content type="html"><![CDATA[{HOSTILE}]]></content></entry>'
        ),
    ],
    ids=["rss", "atom"],
)
def test_hostile_entry_html_is_sanitized(body: bytes) -> None:
    (item,) = parse_feed(body, feed_url="https://ex.example/feed/").items
    for bad in ("<script", "alert", "onerror", "onclick", "javascript:", "<iframe", "<style"):
        assert bad not in item.html
        assert bad not in item.text
    assert item.url is None
    assert item.text == "hixtr"
    assert item.links == ("https://ex.example/rel",)
    assert 'href="https://ex.example/rel"' in item.html


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
        b"<body><h1>Bad Gateway</h1></body></html>",
        b'{"code":"rest_no_route"}',
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>cut',
        b"/etc/passwd",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
        b"<guid>https://ex.example/?p=1#comment-1</guid><description>half a comm",
    ],
    ids=["empty", "blank", "html", "json", "truncated-head", "path", "truncated-entry"],
)
def test_what_is_not_a_whole_feed_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body, feed_url="https://ex.example/feed/")


def test_sloppy_but_complete_feed_is_accepted() -> None:
    # An undeclared HTML entity and a PHP warning before the XML declaration: not XML,
    # yet every real reader shows it.
    body = b"<b>Warning</b>: Undefined index in functions.php\n" + rss(
        "<item><guid>https://ex.example/?p=1#comment-2</guid><title>By: A&nbsp;B</title>"
        "<description>caf&eacute; ok</description></item>"
    )
    (item,) = parse_feed(body, feed_url="https://ex.example/feed/").items
    assert item.key == keys.wordpress_comment("https://ex.example", 2)
    assert item.text == "café ok"


def test_an_empty_feed_is_not_an_error() -> None:
    parsed = parse_feed(rss(""), feed_url="https://ex.example/p/feed/", content_type="text/html")
    assert parsed.items == ()
    assert parsed.title == "T"


def test_dates_fall_back_in_a_documented_order() -> None:
    undated = "<item><guid>urn:x:{n}</guid><title>x</title></item>"
    feed_dated = rss(
        undated.format(n=1),
        "<title>T</title><lastBuildDate>Tue, 10 Feb 2026 07:30:00 GMT</lastBuildDate>",
    )
    (item,) = parse_feed(feed_dated, feed_url="https://ex.example/f").items
    assert item.created_at == datetime(2026, 2, 10, 7, 30, tzinfo=UTC)
    (item,) = parse_feed(rss(undated.format(n=1)), feed_url="https://ex.example/f", now=NOW).items
    assert item.created_at == NOW
    (item,) = parse_feed(rss(undated.format(n=1)), feed_url="https://ex.example/f").items
    assert item.created_at == EPOCH


def test_edited_at_is_a_later_update() -> None:
    body = atom(
        "<entry><id>urn:x:1</id><title>t</title><published>2026-02-10T07:30:00+01:00"
        "</published><updated>2026-02-10T09:00:00Z</updated><content>x</content></entry>"
        "<entry><id>urn:x:2</id><title>t</title><published>2026-02-10T07:30:00Z"
        "</published><updated>2026-02-10T07:30:00Z</updated><content>y</content></entry>"
    )
    edited, unedited = parse_feed(body, feed_url="https://ex.example/f").items
    assert edited.created_at == datetime(2026, 2, 10, 6, 30, tzinfo=UTC)
    assert edited.edited_at == datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    assert unedited.edited_at is None


def test_generic_atom_comment_feed_threads_within_the_feed() -> None:
    post = "https://ex.example/2026/post"
    body = atom(
        f'<entry><id>urn:c:2</id><link href="{post}#c2"/><author><name>Bea</name></author>'
        '<updated>2026-02-10T08:00:00Z</updated><content type="html">re</content>'
        f'<thr:in-reply-to ref="urn:c:1" href="{post}#c1"/></entry>'
        f'<entry><id>urn:c:1</id><link href="{post}#c1"/><author><name>Al</name>'
        "<uri>https://al.example/</uri></author>"
        '<updated>2026-02-10T07:00:00Z</updated><content type="html">first</content>'
        f'<thr:in-reply-to ref="urn:post:9" href="{post}"/></entry>'
    )
    parsed = parse_feed(body, feed_url="https://ex.example/comments/feed")
    assert parsed.kind == "comments"
    reply, first = parsed.items
    assert reply.platform == first.platform == "feed"
    assert reply.kind == first.kind == "comment"
    assert reply.key == keys.feed_entry("https://ex.example/comments/feed", "urn:c:2")
    assert reply.in_reply_to == first.key
    assert first.in_reply_to is None
    assert reply.context_url == first.context_url == post
    assert first.author.key == "feed:author:https://al.example/"
    assert reply.author.key == "feed:author:https://ex.example:bea"


def test_kind_decides_what_generic_entries_are() -> None:
    body = rss("<item><guid>urn:x:1</guid><title>Hello</title><description>d</description></item>")
    (article,) = parse_feed(body, feed_url="https://ex.example/f").items
    assert (article.kind, article.title) == ("article", "Hello")
    parsed = parse_feed(body, feed_url="https://ex.example/f", kind="comments")
    assert parsed.kind == "comments"
    assert (parsed.items[0].kind, parsed.items[0].title) == ("comment", None)


def test_repeated_and_empty_entries_are_skipped() -> None:
    item = "<item><guid>urn:x:1</guid><title>a</title></item>"
    parsed = parse_feed(rss(item + item + "<item></item>"), feed_url="https://ex.example/f")
    assert len(parsed.items) == 1
    assert parsed.skipped == 2


def test_raw_is_json() -> None:
    import json

    for path in CASES:
        for item in parse_fixture(path.name).items:
            json.dumps(item.raw)
            assert isinstance(item.raw.get("published_parsed", ""), str)


REAL = [path.read_bytes() for path in CASES]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    body = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        match draw(st.sampled_from(["cut", "insert", "delete", "flip"])):
            case "cut":
                body = body[:at]
            case "insert":
                body = body[:at] + draw(st.binary(max_size=12)) + body[at:]
            case "delete":
                body = body[:at] + body[at + draw(st.integers(1, 64)) :]
            case "flip":
                body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=damaged(), ct=st.sampled_from([None, "text/html", "application/atom+xml"]))
def test_damaged_feeds_parse_or_raise_parse_error(body: bytes, ct: str | None) -> None:
    try:
        parsed = parse_feed(body, feed_url="https://blog.example.fr/feed/", content_type=ct)
    except ParseError:
        return
    for item in parsed.items:
        assert item.created_at.tzinfo is not None
        assert "<script" not in item.html


def test_a_moved_site_is_keyed_by_its_link_not_its_old_guid() -> None:
    # WordPress never rewrites guids, so after a move they still name the old domain.
    body = rss(
        "<item><guid>http://old.example/?p=7#comment-9</guid>"
        "<link>https://new.example/post/#comment-9</link><description>x</description></item>"
    )
    (item,) = parse_feed(body, feed_url="https://new.example/post/feed/").items
    assert item.key == keys.wordpress_comment("https://new.example", 9)
    assert item.context_url == "https://new.example/post"


def test_html_titles_become_text_and_relative_links_resolve() -> None:
    body = atom(
        '<entry><id>urn:x:1</id><title type="html">Caf&amp;eacute; &lt;b&gt;noir&lt;/b&gt;'
        '</title><link href="/2026/cafe"/><updated>2026-02-10T07:30:00Z</updated>'
        '<content type="html">&lt;a href="/menu"&gt;menu&lt;/a&gt;</content></entry>'
    )
    (item,) = parse_feed(body, feed_url="https://ex.example/feed/").items
    assert item.title == "Café noir"
    assert item.url == "https://ex.example/2026/cafe"
    assert item.links == ("https://ex.example/menu",)
    assert item.language is None
