"""Sanitized post HTML as plain text whose links stay usable.

A plain-text digest (the text part of the e-mail) cannot hide a URL behind words, so
each link becomes a numbered footnote (``#coproduction [3]``), the way text browsers
print pages, and the footnotes are listed once at the end. A link whose words are its
own address (``care.example.org/copro…``) is printed as the whole bare URL instead:
mail clients make bare URLs clickable, and a footnote would repeat it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from aggregator.digest import normalhtml

_BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "figure", "figcaption"}
    | {f"h{n}" for n in range(1, 7)}
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://(www\.)?", re.IGNORECASE)


class Footnotes:
    """The URLs cited in one document, numbered from 1 in order of first citation."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._numbers: dict[str, int] = {}

    def cite(self, url: str) -> int:
        if url not in self._numbers:
            self.urls.append(url)
            self._numbers[url] = len(self.urls)
        return self._numbers[url]


def html_to_text(html: str, notes: Footnotes) -> str:
    """``html`` (already sanitized) as paragraphs of text, its links cited in ``notes``."""
    parser = _TextParser(notes)
    normalhtml.parse(parser, html)
    return parser.text()


def squeeze_blank_lines(text: str) -> str:
    """At most two blank lines in a row: templates can start each section with two
    without counting what the one before ended with."""
    return re.sub(r"\n{4,}", "\n\n\n", text)


def spells_url(words: str, url: str) -> bool:
    """Whether a link's words are its address, or the start of it (Mastodon and
    Bluesky shorten long URLs with an ellipsis)."""
    shown = _SCHEME.sub("", words.strip()).rstrip("…").rstrip("/")
    target = _SCHEME.sub("", url).rstrip("/")
    return "." in shown and target.startswith(shown)


class _TextParser(HTMLParser):
    def __init__(self, notes: Footnotes) -> None:
        super().__init__(convert_charrefs=True)
        self._notes = notes
        self._out: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []
        elif tag == "br":
            self._emit("\n")
        elif tag in _BLOCKS:
            self._emit("\n\n")
            if tag == "li":
                self._emit("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            href, words = self._href, "".join(self._anchor)
            self._href = None
            if spells_url(words, href):
                self._emit(href)
            else:
                self._emit(f"{words} [{self._notes.cite(href)}]")
        elif tag in _BLOCKS:
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._anchor.append(data)
        else:
            self._emit(data)

    def _emit(self, text: str) -> None:
        self._out.append(text)

    def text(self) -> str:
        lines = [" ".join(line.split()) for line in "".join(self._out).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
