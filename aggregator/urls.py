"""URL canonicalization, so one link shared many ways counts once."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the page.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "mc_cid", "mc_eid", "igshid", "ref_src", "_hsenc", "_hsmi"}
)


def canonical_url(url: str, *, base: str | None = None) -> str | None:
    """Canonical form of an http(s) URL, or ``None`` for anything else.

    Lower-cases scheme and host, drops default ports, fragments, tracking parameters
    (``utm_*`` and friends) and a trailing slash; keeps the rest of the path as given.
    """
    url = url.strip()
    if base:
        try:
            if not _has_host(url):
                url = urljoin(base, url)
        except ValueError:
            return None
    # The fragment goes anyway: cut it before the cache, so that every comment
    # (#comment-N) of one post shares the post's entry.
    return _canonical(url.partition("#")[0])


def joins_to_itself(url: str, parts: SplitResult | None = None) -> bool:
    """Whether ``urljoin(base, url) == url`` for every base: an http(s) URL with a
    host, written as urlsplit would write it back, without ``;params`` (which urljoin
    splits off and may drop). Most links are such, and urljoin costs more than the
    rest of reading them. ``parts`` is ``urlsplit(url)`` when the caller has it.
    Raises ValueError where urlsplit does."""
    if parts is None:
        parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and ";" not in parts.path
        and url.startswith(parts.scheme)
        and urlunsplit(parts) == url
    )


def _has_host(url: str) -> bool:
    """Whether joining ``url`` to any base cannot change its canonical form: an
    http(s) URL with a host, whose path ends in no ``;`` (urljoin would drop an
    empty ``;params``). Raises ValueError where urljoin would."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and ";" not in parts.path


# The same few links are shared over and over in one conversation.
@lru_cache(maxsize=16384)
def _canonical(url: str) -> str | None:
    try:
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
    # "/post/" and "/post" are one page on every blog engine we follow.
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


# Link shorteners seen in event conversations. Where they lead is only known by
# following them, which we do not do: they are recorded as shorteners.
SHORTENERS = frozenset(
    {
        "bit.ly",
        "buff.ly",
        "t.co",
        "tinyurl.com",
        "ow.ly",
        "goo.gl",
        "is.gd",
        "lnkd.in",
        "dlvr.it",
        "trib.al",
        "shorturl.at",
        "rebrand.ly",
        "cutt.ly",
        "tiny.cc",
        "s.id",
        "bl.ink",
        "rb.gy",
        "t.ly",
        "youtu.be",
        "fb.me",
        "wp.me",
        "amzn.to",
        "flip.it",
    }
)


def web_url(url: str | None) -> str | None:
    """``url`` if it is a web address, else None: only these become links. Item, author
    and blog addresses come from platforms and are not sanitized like post HTML, so a
    ``javascript:`` or ``data:`` one must not reach an ``href``."""
    if url and urlsplit(url).scheme.lower() in {"http", "https"}:
        return url
    return None


def is_shortener(url: str) -> bool:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host in SHORTENERS


def site_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased: the site a WordPress id belongs to."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def host_of(url: str) -> str:
    """A URL's ``host[:port]``, lower-cased: what a forum's keys hang off."""
    return urlsplit(url).netloc.lower()
