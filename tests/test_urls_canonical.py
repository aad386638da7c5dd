"""The URL shortcuts give exactly what the long way gave: canonical_url (no join for
a URL with its own host, the fragment cut before the cache), a feed entry's links
(feeds_parse) and feedparser's join as the fast feed path does it (feeds_fast)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from feedparser.urls import _urljoin

from aggregator.sources.feeds_fast import _join
from aggregator.sources.feeds_parse import _http_url
from aggregator.urls import TRACKING_PARAMS, canonical_url


def reference(url: str, *, base: str | None = None) -> str | None:
    """The implementation before the shortcuts."""
    url = url.strip()
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


URLS = [
    "https://blog.example.org/2026/11/post/#comment-12",
    "https://blog.example.org/2026/11/post/?utm_source=x&p=1#frag",
    "HTTPS://Blog.Example.org:443/a/./b/../c/",
    "http://example.org:8080/a?",
    "http://example.org/a?#",
    "http://example.org/a#",
    "http://example.org/a;",
    "http://example.org/a;p?q=1",
    "http://example.org/a;b/c",
    "http:///no-host",
    "http:/one-slash",
    "http:relative",
    "//scheme-relative.example/x",
    "/absolute/path",
    "relative/path?x=1",
    "../up",
    "?q=only",
    "#only-fragment",
    "",
    "   https://padded.example/x   ",
    "https://example.org/a b #x",
    "https://exa\tmple.org/x",
    "http://\t/x",
    "https://[::1]:8443/v6",
    "https://[bad/x",
    "https://example.org:99999/bad-port",
    "mailto:someone@example.org",
    "javascript:alert(1)",
    "ftp://example.org/file",
    "https://user:pw@Example.org/x",
    "https://example.org//double//slash//",
    "https://example.org/%7Euser/?fbclid=1&a=&b",
]
BASES = [
    None,
    "https://blog.example.org/2026/11/post/",
    "http://blog.example.org/dir/page?x=1#y",
    "https://other.example/",
    "ftp://files.example/",
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("url", URLS)
def test_canonical_url_matches_join_then_canonicalize(url: str, base: str | None) -> None:
    assert canonical_url(url, base=base) == reference(url, base=base)


def reference_feed_link(url: str, base: str) -> str | None:
    """feeds_parse._http_url before its shortcut."""
    url = url.strip()
    if not url:
        return None
    try:
        url = urljoin(base, url)
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if re.search(r"[\s\x00-\x1f]", url):
        return None
    return url


@pytest.mark.parametrize("base", [b for b in BASES if b])
@pytest.mark.parametrize("url", URLS)
def test_feed_links_join_as_urljoin_does(url: str, base: str) -> None:
    assert _http_url(url, base=base) == reference_feed_link(url, base)


@pytest.mark.parametrize("base", [b for b in BASES if b])
@pytest.mark.parametrize("url", [*URLS, "http:////extra-slashes.example/x", "HTTP://UP.example"])
def test_fast_feed_links_join_as_feedparser_does(url: str, base: str) -> None:
    assert _join(base, url) == _urljoin(base, url)
