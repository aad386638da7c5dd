"""X post text with its entities, as the digest shows it: pure functions, no I/O.

Shared by the live source (:mod:`aggregator.sources.x_parse`, API v2 entities) and the
archive import (:mod:`aggregator.x_import`, v1.1-shaped entities): both hand
:func:`render` the text and its :class:`Span` list.

``text`` is HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``) and entity offsets count code
points of that *escaped* text; archives have been seen counting the unescaped text.
:func:`render` checks each entity against the text it claims and reads the offsets
whichever way fits.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal
from urllib.parse import quote

from aggregator.sanitize import clean

WEB = "https://x.com"

# A post's own permalink (its media pages, the "show more" link) or a quoted post's.
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?:i/web|[^/]+)/status/(\d+)"
    r"(?:/(?:photo|video)/\d+)?/?$",
    re.IGNORECASE,
)
_PARAGRAPH = re.compile(r"\n\s*\n")

SpanKind = Literal["url", "mention", "hashtag"]


@dataclass(frozen=True, slots=True)
class Span:
    """An entity: what the text holds at ``[start, end)`` (code points)."""

    start: int
    end: int
    kind: SpanKind
    value: str
    """url: the ``t.co`` address as it stands in the text; mention: the username;
    hashtag: the tag, without ``#``."""
    href: str | None = None
    """url: where it leads (``expanded_url``)."""
    display: str | None = None
    """url: how X shows it (``display_url``)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    text: str
    links: tuple[str, ...]
    hashtags: tuple[str, ...]


def render(text: str, spans: Sequence[Span], *, own_ids: Collection[str] = ()) -> Rendered:
    """Post text plus its entities as sanitized HTML, text, links and hashtags.

    Links are the expanded URLs minus permalinks of ``own_ids`` (the post's own media
    pages and "show more" link, the post it quotes): those are the post, not a share.
    An entity whose offsets do not hold what it names is left as plain text.
    """
    plain = _unescape(text)
    escaped = True
    if plain != text and _fitting(plain, spans) > _fitting(text, spans):
        text, escaped = plain, False
    parts: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < pos or not _fits(span, text):
            continue
        parts.append(_plain(text[pos : span.start], escaped))
        parts.append(_anchor(span, _unescape(text[span.start : span.end])))
        pos = span.end
    parts.append(_plain(text[pos:], escaped))
    body = "".join(parts).replace("\r\n", "\n")
    paragraphs = [p.strip() for p in _PARAGRAPH.split(body) if p.strip()]
    cleaned = clean("".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs))
    links = tuple(u for u in cleaned.links if not _is_own(u, own_ids))
    tags = dict.fromkeys(s.value.lower() for s in spans if s.kind == "hashtag" and s.value)
    return Rendered(cleaned.html, cleaned.text, links, tuple(tags))


def path_segment(segment: str) -> str:
    """``segment`` quoted for a URL path (a username, a tag)."""
    # errors="replace": a lone surrogate (JSON allows "\ud800") cannot be UTF-8 encoded.
    return quote(segment, safe="", errors="replace")


# -- helpers ---------------------------------------------------------------------------


def _fits(span: Span, text: str) -> bool:
    if not (0 <= span.start < span.end <= len(text)) or not span.value:
        return False
    got = text[span.start : span.end]
    if span.kind == "url":
        return got == span.value
    marks = "#＃" if span.kind == "hashtag" else "@＠"
    return got[0] in marks and got[1:].casefold() == span.value.casefold()


def _fitting(text: str, spans: Iterable[Span]) -> int:
    return sum(_fits(s, text) for s in spans)


def _unescape(text: str) -> str:
    # Exactly what X escapes; html.unescape would also decode "&copy;" and friends.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(segment: str, escaped: bool) -> str:
    return escape(_unescape(segment) if escaped else segment, quote=False)


def _anchor(span: Span, label: str) -> str:
    if span.kind == "url":
        href = span.href or span.value
        return f'<a href="{escape(href)}">{escape(span.display or href)}</a>'
    path = path_segment(span.value)
    if span.kind == "mention":
        return f'<a href="{WEB}/{path}" class="u-url mention">{escape(label)}</a>'
    return f'<a href="{WEB}/hashtag/{path}" class="mention hashtag">{escape(label)}</a>'


def _is_own(url: str, own_ids: Collection[str]) -> bool:
    m = _STATUS_URL.match(url)
    return m is not None and m.group(1) in own_ids
