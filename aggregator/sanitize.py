"""Untrusted HTML in, safe HTML + plain text + shared links out.

Every piece of HTML a platform sends goes through :func:`clean` before it is stored:
nh3 (a maintained, allow-list sanitizer) removes scripts, event handlers, styles and
``javascript:`` URLs. Plain text is taken from the *sanitized* HTML, then unescaped
(never the other way round, or escaped markup would turn into markup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

import nh3

from aggregator.urls import canonical_url

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "del", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "i", "li", "ol", "p", "pre", "q", "s", "span", "strong", "sub",
    "sup", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"lang"},
    "p": {"lang"},
    "abbr": {"title"},
}
# Mastodon marks the hidden parts of long links and the mention/hashtag links by class;
# keeping just these lets templates shorten links the way Mastodon itself does.
ALLOWED_CLASSES = {
    "a": {"mention", "hashtag", "u-url"},
    "span": {"invisible", "ellipsis", "h-card"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer ugc"

_IMG_ALT = re.compile(
    r"""<img\b[^>]*?\balt\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>""", re.IGNORECASE | re.DOTALL
)
_BLOCK_END = {"p", "blockquote", "li", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}


@dataclass(frozen=True, slots=True)
class Cleaned:
    html: str
    text: str
    links: tuple[str, ...]
    """Canonical outbound links, in order of appearance, without mentions or hashtags."""


def clean(html: str, *, base_url: str | None = None) -> Cleaned:
    """Sanitize ``html`` and derive its text and links."""
    # Emoji arrive as <img class="wp-smiley" alt="👍"> (WordPress) or custom-emoji
    # images; keep their alt text rather than hotlinking the image.
    html = _IMG_ALT.sub(lambda m: escape(m.group(1) or m.group(2) or ""), html)
    safe = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    ).strip()
    walker = _Walker(base_url)
    walker.feed(safe)
    walker.close()
    return Cleaned(html=safe, text=walker.text(), links=tuple(dict.fromkeys(walker.links)))


def text_to_html(text: str) -> str:
    """Plain text from a platform that sends no markup, as safe paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


class _Walker(HTMLParser):
    def __init__(self, base_url: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            a = dict(attrs)
            classes = set((a.get("class") or "").split())
            href = a.get("href")
            if href and not classes & {"mention", "hashtag"}:
                url = canonical_url(href, base=self.base_url)
                if url is not None:
                    self.links.append(url)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_END:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts).replace("\xa0", " ")
        lines = [" ".join(line.split()) for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
