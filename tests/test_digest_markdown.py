"""The Markdown digest keeps people's links, mentions and hashtags clickable and their
paragraphs apart, and nothing else they wrote becomes Markdown: read back with a
CommonMark parser (with GitHub's tables and strikethrough), as a blog would."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser

import html5lib
import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from aggregator.digest import normalhtml
from aggregator.digest.context import DigestContext
from aggregator.digest.markdown import html_to_markdown
from aggregator.digest.render import md_post, render
from aggregator.sanitize import CLEANER
from tests.test_digest_formats import RICH_HTML, assert_golden, ctx, with_first_post

__all__ = ["ctx"]  # the fixture

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
HOSTILE_WORDS = (
    "[x](javascript:alert(1)) <script>alert(2)</script> *bold* __strong__ `code` "
    "~~struck~~ ![img](https://x.example/p.png) <https://x.example/> &lt;b&gt;"
)
HOSTILE_HTML = (
    "<p>[x](javascript:alert(1)) &lt;script&gt;alert(2)&lt;/script&gt; *bold* __strong__ "
    "`code` ~~struck~~ ![img](https://x.example/p.png) &lt;https://x.example/&gt; "
    "&amp;lt;b&amp;gt;<script>alert(3)</script></p>"
    "<p># heading</p><p>- item<br>+ item<br>1. item<br>2) item<br>&gt; quote<br>===</p>"
    "<p>| a | b |<br>|---|---|</p>"
)


def inline(markdown: str) -> Iterator[Token]:
    for block in MD.parse(markdown):
        yield from block.children or ()


def tags(html: str) -> Counter[str]:
    return Counter(re.findall(r"<([a-z][a-z0-9]*)", html))


def links(markdown: str) -> list[tuple[str, str]]:
    """(href, words) of every link in ``markdown``."""
    out, words, href = [], "", None
    for token in inline(markdown):
        if token.type == "link_open":
            href, words = str(token.attrs["href"]), ""
        elif token.type == "link_close":
            out.append((href, words))
            href = None
        elif token.type == "text" and href is not None:
            words += token.content
    return out


def test_links_mentions_and_hashtags_become_markdown_links(ctx: DigestContext) -> None:
    page = render(with_first_post(ctx, html=RICH_HTML), "markdown")

    found = links(page)
    for link in (
        ("https://social.example/@ngozi", "@ngozi"),
        ("https://social.example/tags/coproduction", "#coproduction"),
        (
            "https://care.example.org/coproduction/guide-complet",
            "https://care.example.org/coproduction/guide-complet",
        ),
    ):
        assert found.count(link) == 2, f"in the highlights and in the thread: {link}"
    assert page.count("Nos ressources sont en ligne 🎉") == 2


def test_a_rich_post_renders_the_same_as_its_golden_file(ctx: DigestContext) -> None:
    assert_golden(render(with_first_post(ctx, html=RICH_HTML), "markdown"), "rich.expected.md")


def test_hostile_words_stay_words() -> None:
    markdown = md_post(HOSTILE_HTML)

    blocks = [t.type for t in MD.parse(markdown)]
    assert set(blocks) == {"paragraph_open", "inline", "paragraph_close"}, "no block syntax"
    assert {t.type for t in inline(markdown)} <= {"text", "hardbreak", "softbreak"}
    first = next(t for t in MD.parse(markdown) if t.type == "inline")
    assert first.children is not None
    assert "".join(t.content for t in first.children) == HOSTILE_WORDS, "shown as written"
    assert "alert(3)" not in markdown, "a stored <script> is dropped, not shown"


def test_hostile_words_stay_words_in_the_digest(ctx: DigestContext) -> None:
    page = render(with_first_post(ctx, html=HOSTILE_HTML), "markdown")
    plain = render(with_first_post(ctx, html="<p>plain words</p>"), "markdown")

    assert "javascript:" not in "".join(href for href, _ in links(page))
    added = tags(MD.render(page)) - tags(MD.render(plain))
    assert set(added) <= {"p", "br"}, "paragraphs and line breaks, nothing else"
    assert "*bold* __strong__ `code` ~~struck~~" in MD.render(page)


@pytest.mark.parametrize(
    "html",
    [
        '<p><a href="javascript:alert(1)">click me</a></p>',
        '<p><a href=" JaVaScRiPt:alert(1)">click me</a></p>',
        '<p><a href="data:text/html,x">click me</a></p>',
        "<p><a>click me</a></p>",
    ],
)
def test_a_link_to_anything_but_a_web_address_is_just_its_words(html: str) -> None:
    assert md_post(html) == "click me"
    assert html_to_markdown(html) == "click me", "even if the stored HTML was never sanitized"


def test_link_addresses_cannot_end_early_or_become_images() -> None:
    markdown = md_post('<p>wow!<a href="https://x.example/a b(c)\\d?q=1">see [this]</a></p>')

    assert links(markdown) == [("https://x.example/a%20b%28c%29%5Cd?q=1", "see [this]")]
    assert "image" not in {t.type for t in inline(markdown)}
    assert MD.render(markdown).startswith("<p>wow!<a ")


def test_paragraphs_and_line_breaks_stay_inside_the_posts_list_item(
    ctx: DigestContext,
) -> None:
    html = (
        "<p>First paragraph<br>second line</p><p>Third 🎉 <a href='https://x.example/'>link</a></p>"
    )
    assert md_post(html) == "First paragraph  \nsecond line\n\nThird 🎉 [link](https://x.example/)"
    section = ctx.platforms[0]
    thread = section.threads[0]
    reply = replace(thread.replies[0], item=replace(thread.replies[0].item, html=html))
    threads = (replace(thread, replies=(reply,)), *section.threads[1:])
    ctx = replace(ctx, platforms=(replace(section, threads=threads),))

    page = MD.render(render(ctx, "markdown"))

    tree = html5lib.parseFragment(page, namespaceHTMLElements=False)
    (item,) = [
        li
        for li in tree.iter("li")
        if any("Ngozi" in "".join(p.itertext()) for p in li.findall("p"))
    ]
    paragraphs = ["".join(p.itertext()) for p in item.findall("p")]
    assert paragraphs[0].endswith("First paragraph\nsecond line")
    assert item.find("p/br") is not None
    assert paragraphs[1] == "Third 🎉 link"
    nested = item.find("ul/li")
    assert nested is not None
    assert "Thank you" in "".join(nested.itertext()), "the reply's reply is nested under it"


class _Events(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[object, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("data", data))


@pytest.mark.parametrize(
    "html",
    [
        RICH_HTML,
        HOSTILE_HTML,
        '<p>a &amp; b &lt;c&gt; &#39;d&#39; &amp</p><p><a href="https://x.example/?a=1&amp;b=2" '
        'rel="nofollow noopener noreferrer ugc">x</a><br>y</p>',
        # Not what nh3 writes: read by HTMLParser itself.
        "<P>upper</P><br/><a href='single'>q</a><!-- c --><b >x</b ></a x=\"1\">",
        "<script>a<b</script><style>p{}</style><textarea><b></textarea>",
        "text < with a bare angle > and & ampersands",
        '<a href="x>y">z</a><a href>empty</a><img alt="x">',
        "",
    ],
)
def test_sanitized_html_is_read_as_htmlparser_reads_it(html: str) -> None:
    for document in (html, CLEANER.clean(html)):
        expected, fast = _Events(), _Events()
        expected.feed(document)
        expected.close()
        normalhtml.parse(fast, document)
        assert fast.events == expected.events


def test_what_nh3_writes_is_read_without_htmlparser() -> None:
    for html in (RICH_HTML, HOSTILE_HTML):
        assert normalhtml._DOCUMENT.fullmatch(CLEANER.clean(html))
