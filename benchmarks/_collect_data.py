"""Payloads for benchmarks/collect.py, generated from the recorded fixtures in tests/data.

WordPress comment feeds are the recorded ``wp_post_comments_feed.rss.xml`` (core's
``feed-rss2-comments.php``: tabs, CDATA, ``&#38;`` in names, escaped ``description``
beside the HTML ``content:encoded``) grown to ``comments`` items per post, each a
distinct comment; the channel also declares the ``wfw``/``slash`` namespaces that
plugins hooking ``rss2_ns`` add. Mastodon statuses are the recorded
``timeline_tag_hoot.json`` status, made distinct per server, tag and position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
WP_FEED = DATA / "feeds" / "wp_post_comments_feed.rss.xml"
MASTODON_PAGE = DATA / "mastodon" / "timeline_tag_hoot.json"

# The fixture's own values, replaced per generated comment.
_FIXTURE_SITE = "https://blog.example.fr"
_FIXTURE_POST = "https://blog.example.fr/2026/02/velo-cargo-hiver/"
_ITEM = re.compile(r"\t\t\t<item>.*?</item>\n", re.DOTALL)
_RSS_NS_HOOK = '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
_WFW_SLASH = (
    '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
    '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n'
)
NAMES = [
    "Élodie Martin",
    "田中 ゆき",
    "Zoë &#38; Max",
    "Sam O&#8217;Neill",
    "Priya Raman",
    "Jonas Weiß",
    "Amara Okafor",
    "Lucía Fernández",
]
WORDS = [
    *("coproduction", "care", "services", "people", "evidence", "together", "guide"),
    *("films", "launch", "families", "carers", "commissioning", "practice", "voices"),
    "outcomes",
]


@dataclass(frozen=True, slots=True)
class FeedDoc:
    path: str
    body: bytes
    etag: str
    last_modified: str


def site_url(site: int) -> str:
    """The blog's public address, as its comment links name it."""
    return f"https://blog{site:03d}.example.org"


def feed_path(feed: int) -> str:
    return f"/{feed:04d}/comment-feed/feed/"


def wordpress_feeds(feeds: int, sites: int, comments: int, newest: datetime) -> list[FeedDoc]:
    """``feeds`` per-post comment feeds spread over ``sites`` blogs, ``comments`` each.

    Feed ``f`` lives on site ``f % sites`` (which the server maps to a port)."""
    text = WP_FEED.read_text("utf-8")
    templates = _ITEM.findall(text)
    head = text[: text.index(templates[0])].replace(_RSS_NS_HOOK, _RSS_NS_HOOK + _WFW_SLASH)
    tail = text[text.rindex(templates[-1]) + len(templates[-1]) :]
    docs = []
    for f in range(feeds):
        site = site_url(f % sites)
        post_id = 1000 + f
        post = f"{site}/2026/11/post-{post_id}/"
        items = []
        latest = newest - timedelta(minutes=7 * f)
        for n in range(comments):
            comment_id = post_id * 1000 + comments - n
            when = latest - timedelta(minutes=11 * n, seconds=n)
            name = NAMES[(f + n) % len(NAMES)]
            items.append(
                _item(
                    templates[n % len(templates)], site, post, post_id, comment_id, when, name
                ).replace(
                    "</p>\n]]></content:encoded>", f"{_sentence(f, n)}\n]]></content:encoded>"
                )
            )
        body = (
            head.replace(_FIXTURE_POST, post)
            .replace("Wed, 11 Feb 2026 08:03:51 +0000", _rfc822(latest))
            .replace("Vélo-cargo en hiver", f"Notes from the launch, part {f}")
            + "".join(items)
            + tail
        )
        last_modified = format_datetime(latest, usegmt=True)
        docs.append(FeedDoc(feed_path(f), body.encode(), f'"{f:08x}{post_id:08x}"', last_modified))
    return docs


def _item(
    template: str,
    site: str,
    post: str,
    post_id: int,
    comment_id: int,
    when: datetime,
    name: str,
) -> str:
    # Each fixture item names its own id, date and author: swap them for this comment's.
    item = re.sub(r"#comment-\d+", f"#comment-{comment_id}", template)
    item = re.sub(r"<pubDate>[^<]*</pubDate>", f"<pubDate>{_rfc822(when)}</pubDate>", item)
    item = re.sub(r"<dc:creator><!\[CDATA\[.*?\]\]>", f"<dc:creator><![CDATA[{name}]]>", item)
    item = re.sub(r"By: [^\t<]*", f"By: {name}", item)
    return (
        item.replace(_FIXTURE_POST, post)
        .replace(f"{_FIXTURE_SITE}/?p=1234", f"{site}/?p={post_id}")
        .replace(_FIXTURE_SITE, site)
    )


def _sentence(f: int, n: int) -> str:
    words = " ".join(WORDS[(f * 7 + n * 3 + i) % len(WORDS)] for i in range(14))
    return f"</p>\n<p>{escape(words.capitalize())} (#{f}.{n}) &#8212; merci&nbsp;!</p>"


def _rfc822(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def mastodon_statuses(
    domain: str, tag: str, count: int, newest: datetime, salt: int
) -> list[dict[str, Any]]:
    """``count`` public statuses on ``#tag`` as ``domain`` serves them, newest first."""
    template = json.loads(MASTODON_PAGE.read_text("utf-8"))[0]
    out = []
    for n in range(count):
        s = dict(template)
        created = newest - timedelta(seconds=3 * n + (salt % 3))
        ms = int(created.timestamp() * 1000)
        s["id"] = str((ms << 16) | ((salt * 131 + n) & 0xFFFF))
        user = f"u{(salt * 7 + n) % 500}"
        home = f"social{(salt + n) % 40}.example"
        s["uri"] = f"https://{home}/users/{user}/statuses/{s['id']}{salt}"
        s["url"] = f"https://{home}/@{user}/{s['id']}{salt}"
        s["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        words = " ".join(WORDS[(salt + n + i) % len(WORDS)] for i in range(12))
        s["content"] = (
            f'<p>{words} <a href="https://{domain}/tags/{tag}" class="mention hashtag" '
            f'rel="tag">#<span>{tag}</span></a> '
            f'<a href="https://link.example/{(salt + n) % 300}?utm_source=x" '
            f'rel="nofollow noopener" target="_blank"><span class="invisible">https://</span>'
            f'<span class="">link.example/{(salt + n) % 300}</span></a></p>'
        )
        s["account"] = dict(
            template["account"],
            id=str(100000 + (salt * 7 + n) % 500),
            username=user,
            acct=f"{user}@{home}",
            uri=f"https://{home}/users/{user}",
            url=f"https://{home}/@{user}",
        )
        s["tags"] = [{"name": tag, "url": f"https://{domain}/tags/{tag}"}]
        out.append(s)
    return out


def hashtags(count: int) -> Iterator[str]:
    for n in range(count):
        yield f"launch{n}"
