"""Reading sanitized post HTML fast, with the events :class:`html.parser.HTMLParser`
would give for it.

What nh3 writes is regular: lower-case tags from a short allow-list, attributes as
``name="value"`` with single spaces between them, text with every ``<`` escaped, no
comments. One regular expression reads such HTML several times faster than
``HTMLParser`` does, and a digest converts every post of a busy day
(benchmarks/digest.py). Anything else (HTML that was never sanitized, a tag nh3 would
not write) goes to ``HTMLParser`` itself, so the result never depends on which
reader ran.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from aggregator.sanitize import ALLOWED_TAGS

# Only tags HTMLParser treats alike: never script or style, whose content is raw text.
_NAME = "(?:" + "|".join(sorted(set(ALLOWED_TAGS) - {"script", "style"})) + ")"
_ATTRIBUTES = r'(?: [a-z][a-z-]*+="[^"<>]*+")*+'
# A start tag, an end tag, or text. Possessive (``*+``, ``++``): a document that is
# not made of them fails at once, where backtracking would try every way to split
# its text.
_DOCUMENT = re.compile(rf"(?:<{_NAME}{_ATTRIBUTES}>|</{_NAME}>|[^<]++)*+")
_TOKEN = re.compile(rf"<({_NAME})({_ATTRIBUTES})>|</({_NAME})>|([^<]+)")
_ATTRIBUTE = re.compile(r' ([a-z][a-z-]*)="([^"<>]*)"')


def parse(parser: HTMLParser, html: str) -> None:
    """``parser.feed(html)`` then ``parser.close()``: the same calls of its
    ``handle_starttag``, ``handle_endtag`` and ``handle_data``, for a parser made with
    ``convert_charrefs=True`` (text arrives unescaped, one call per run of text)."""
    if not _DOCUMENT.fullmatch(html):
        parser.feed(html)
        parser.close()
        return
    handle_starttag, handle_endtag, handle_data = (
        parser.handle_starttag,
        parser.handle_endtag,
        parser.handle_data,
    )
    for start, attributes, end, text in _TOKEN.findall(html):
        if text:
            handle_data(unescape(text) if "&" in text else text)
        elif end:
            handle_endtag(end)
        else:
            attrs: list[tuple[str, str | None]] = [
                (name, unescape(value)) for name, value in _ATTRIBUTE.findall(attributes)
            ]
            handle_starttag(start, attrs)
