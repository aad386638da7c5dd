"""Every HTML digest format is well-formed HTML5 and carries the basics of accessible
markup, for the test conversation and for hostile items alike (escaped markup must not
unbalance the page around it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from xml.etree.ElementTree import Element

import html5lib
import pytest

from aggregator.digest.context import DigestContext
from aggregator.digest.render import render
from tests.fakes import item
from tests.test_digest import conversation
from tests.test_digest_browser import HTML_FORMATS, digest_context, hostile_context

CONTEXTS: dict[str, Callable[[], DigestContext]] = {
    "conversation": lambda: digest_context(conversation()),
    "hostile": hostile_context,
    "empty": lambda: digest_context([]),
    "one item": lambda: digest_context([item(1)]),
}


def is_document(text: str) -> bool:
    return text.lstrip().lower().startswith("<!doctype")


def parse(text: str) -> tuple[Element, list[str]]:
    """The tree and html5lib's parse errors: a full document as one, a fragment as the
    content of a <div> (where a blog post puts it)."""
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    document = is_document(text)
    tree = parser.parse(text) if document else parser.parseFragment(text, container="div")
    errors = [f"line {line}, col {col}: {code} {data}" for (line, col), code, data in parser.errors]
    return tree, errors


@pytest.fixture(params=list(CONTEXTS), ids=list(CONTEXTS))
def context(request: pytest.FixtureRequest) -> DigestContext:
    return CONTEXTS[request.param]()


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_it_parses_without_errors(context: DigestContext, fmt: str) -> None:
    _, errors = parse(render(context, fmt))
    assert errors == []


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_ids_are_unique_and_every_reference_resolves(context: DigestContext, fmt: str) -> None:
    tree, _ = parse(render(context, fmt))
    ids = Counter(el.get("id") for el in tree.iter() if el.get("id") is not None)
    assert [i for i, n in ids.items() if n > 1] == []
    for attr in ("aria-labelledby", "aria-describedby", "for", "headers"):
        for el in tree.iter():
            for ref in (el.get(attr) or "").split():
                assert ref in ids, f"{el.tag} {attr}={ref!r} names no element"
    for el in tree.iter("a"):
        href = el.get("href") or ""
        if href.startswith("#") and len(href) > 1:
            assert href[1:] in ids, f"link to {href} names no element"


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_it_has_the_basics_of_accessible_markup(context: DigestContext, fmt: str) -> None:
    text = render(context, fmt)
    tree, _ = parse(text)
    if is_document(text):
        assert tree.tag == "html"
        assert (tree.get("lang") or "").strip(), "<html lang> names the page's language"
        title = tree.find("head/title")
        assert title is not None
        assert (title.text or "").strip()
        assert len(list(tree.iter("h1"))) == 1, "one <h1>"
    else:
        # Pasted under the blog post's own title: a second <h1> would compete with it.
        assert list(tree.iter("h1")) == []
    for img in tree.iter("img"):
        assert img.get("alt") is not None, f"<img src={img.get('src')!r}> has no alt"
    for table in tree.iter("table"):
        # E-mail lays out with tables; role=presentation tells screen readers so.
        if table.get("role") not in {"presentation", "none"}:
            assert list(table.iter("th")), "a data table has header cells"
    for a in tree.iter("a"):
        label = "".join(a.itertext()).strip() or a.get("aria-label") or a.get("title")
        assert label, f"<a href={a.get('href')!r}> has no text"


def test_every_html_format_is_checked() -> None:
    """The list follows FORMATS, so a new HTML format is checked without being named."""
    assert {"html", "paste"} <= set(HTML_FORMATS)
    assert "markdown" not in HTML_FORMATS
    assert "json" not in HTML_FORMATS
