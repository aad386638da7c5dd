"""Sanitized post HTML as Markdown whose links stay links and whose words stay words.

A post's links, mentions and hashtags become Markdown links (``[#coproduction](…)``);
its paragraphs and line breaks stay. Everything else is the author's words, escaped so
no Markdown renderer (CommonMark, GitHub's, the original Markdown.pl) finds emphasis,
code, links, raw HTML or block syntax (headings, lists, quotes, rules) of their own in
them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote

from aggregator.digest import normalhtml
from aggregator.digest.addresses import web_url

# Inline text only (never at a line start): these are what could make emphasis, code,
# links or raw HTML out of someone's words.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")
# In post bodies, also GitHub's strikethrough and tables, and character references
# (``&lt;`` would show as ``<``, not as typed). One pass for all of them.
_MD_INERT = re.compile(r"([\\`*_\[\]<>~|]|&(?=#?[a-zA-Z0-9]+;))")
# What makes a block of a line's start: a heading, a list item, a setext underline or
# a thematic break. ``>`` and ``*`` are escaped everywhere already.
_BLOCK_START = re.compile(r"^(?:([#+=-])|(\d{1,9})([.)]))")
# What ends a link destination or makes it something else: percent-encoded.
_URL_UNSAFE = re.compile(r"[\s()<>\\\x00-\x1f\x7f]")

_BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "figure", "figcaption"}
    | {f"h{n}" for n in range(1, 7)}
)
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
# Two spaces then a newline: the line break every Markdown dialect knows.
_HARD_BREAK = "  \n"


def markdown_escape(text: str) -> str:
    """Text from a platform, inert in Markdown: no links, emphasis or raw HTML of its own."""
    # Searched first: most text has nothing to escape, and a substitution with a
    # template costs more than the search even then.
    return _MD_SPECIAL.sub(r"\\\1", text) if _MD_SPECIAL.search(text) else text


def markdown_url(url: str) -> str:
    """``url`` as a link destination: spaces, parentheses, angle brackets and
    backslashes percent-encoded, so the link cannot end early or take a title."""
    return _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url)


def html_to_markdown(html: str) -> str:
    """``html`` (already sanitized) as Markdown paragraphs. Links to web addresses
    become links; any other link (``javascript:``, ``mailto:``) is just its words."""
    parser = _MarkdownParser()
    normalhtml.parse(parser, html)
    return parser.markdown()


def _inert(text: str) -> str:
    return _MD_INERT.sub(r"\\\1", text) if _MD_INERT.search(text) else text


def _protect_line_start(line: str) -> str:
    # Most lines start with a letter: only the rest can start a block.
    if not line or (line[0] not in "#+=-" and not line[0].isdecimal()):
        return line
    return _BLOCK_START.sub(
        lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}",
        line,
        count=1,
    )


class _MarkdownParser(HTMLParser):
    """Collects escaped Markdown with ``\\n`` for a line break and ``\\n\\n`` for a
    paragraph; :meth:`markdown` then tidies the whitespace."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] | None = None
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and self._anchor is None:
            self._href = dict(attrs).get("href")
            self._anchor = []
        elif tag == "br" and self._anchor is not None:
            self._anchor.append(" ")
        elif tag == "br":
            self._emit("\n")
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre += 1
            self._emit("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            words = " ".join("".join(self._anchor).split())
            url = web_url(self._href)
            self._href, self._anchor = None, None
            if url and words:
                self._link(words, url)
            else:
                self._emit(_inert(words))
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor.append(data)
            return
        # Newlines in HTML are spaces, except in <pre>, where they are line breaks.
        self._emit(_inert(data if self._pre else data.replace("\n", " ")))

    def _link(self, words: str, url: str) -> None:
        # "!" right before "[" would make the link an image, loaded when the page is read.
        if self._out and self._out[-1].endswith("!"):
            self._out[-1] = self._out[-1][:-1] + "\\!"
        self._emit(f"[{_inert(words)}]({markdown_url(url)})")

    def _emit(self, text: str) -> None:
        if text:
            self._out.append(text)

    def markdown(self) -> str:
        paragraphs = []
        for block in _PARAGRAPH_BREAK.split("".join(self._out)):
            lines = [" ".join(line.split()) for line in block.split("\n")]
            kept = [_protect_line_start(line) for line in lines if line]
            if kept:
                paragraphs.append(_HARD_BREAK.join(kept))
        return "\n\n".join(paragraphs)
