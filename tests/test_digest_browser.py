"""Every HTML digest format, opened in a real browser (Chromium) from a loopback server,
with the test conversation of test_digest.py plus hostile items: nothing runs, nothing
is fetched from off the machine, and the page reads well on a phone, a desktop and paper.

Hostile items stand for what a platform could send or an old row could hold: every
payload either calls ``alert`` or sets ``window.__pwned``, so script that ran is seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.demo.httpserver import LoopbackServer, Request, Response
from aggregator.digest.context import DigestContext, assemble, event_period
from aggregator.digest.render import FORMATS, render
from aggregator.models import AuthorData, ItemData
from aggregator.store import SourceHealth
from tests.browser import DESKTOP, PHONE, OpenPage, Visit
from tests.fakes import item
from tests.test_digest import BLOG, EVENT, NOW, at, conversation

HTML_FORMATS = [
    fmt for fmt, spec in FORMATS.items() if str(getattr(spec, "template", spec)).endswith(".html")
]
TITLE = EVENT.title
HOSTILE_BLOG = "https://blog.example/2026/11/20/hostile/"
CANARY = "window.__pwned=1"

# What a sanitizer has to stop, one trick per line: scripts, event handlers, javascript:
# and data: URLs, frames, plug-ins, styles and style URLs, hotlinked images, a <base> that
# would re-point every relative URL, meta refresh, forms, mutation XSS, and end tags
# that break out of an element a template might wrap content in.
HOSTILE_HTML = (
    f'<p onmouseover="{CANARY}" onclick="{CANARY}" '
    'style="background:url(https://evil.example/bg.png);width:expression(alert(1))">'
    "hover or click me</p>"
    f"<script>{CANARY};alert('script')</script>"
    f'<img src="x" onerror="{CANARY}" alt="broken">'
    f'<svg onload="{CANARY}"><circle r="4"></circle></svg>'
    f'<a href="javascript:{CANARY}">javascript link</a> '
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data link</a> '
    '<a href=" JaVaScRiPt:alert(1)">mixed-case link</a> '
    '<a href="https://evil.example/" onmouseover="alert(1)">a link that hovers</a>'
    '<iframe src="javascript:alert(1)"></iframe>'
    '<iframe srcdoc="&lt;script&gt;parent.alert(1)&lt;/script&gt;"></iframe>'
    '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">'
    '<style>@import "https://evil.example/x.css"; '
    "body { background: url(https://evil.example/bg.png) } * { display: none }</style>"
    '<link rel="stylesheet" href="https://evil.example/x.css">'
    '<img src="https://evil.example/pixel.gif" alt="tracker">'
    '<picture><source srcset="https://evil.example/a.webp"><img src="x" alt="p"></picture>'
    '<video poster="https://evil.example/p.jpg"><source src="https://evil.example/v.mp4"></video>'
    '<base href="https://evil.example/">'
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
    f'<form action="https://evil.example/"><button formaction="javascript:{CANARY}">go</button>'
    f'<input autofocus onfocus="{CANARY}"></form>'
    f'<details open ontoggle="{CANARY}"><summary>more</summary></details>'
    f'<math><mtext><table><mglyph><style><img src=x onerror="{CANARY}">'
    f'<noscript><p title="</noscript><img src=x onerror={CANARY}>"></noscript>'
    "</textarea></title></style></noscript><script>alert('breakout')</script>"
)
HOSTILE_TEXT = f"</textarea></title><script>{CANARY}</script><img src=x onerror={CANARY}>"
# Long unbroken words and addresses are what push a narrow page sideways.
LONG_WORD = "Coproduction" * 40
LONG_URL = "https://care.example.org/resources/" + "coproduction-" * 20 + "toolkit.pdf"
# A title made of one hashtag: too wide for a phone, not for a desktop, in any sans font.
TITLE_WORD = "#CoproductionResourcesLaunchLiveCoverageThread"
LONG_HANDLE = "@a_very_long_handle_that_never_wraps@social.a-long-instance-name.example"

# Every URL field of an item, as a template would put it into href.
HOSTILE_URLS = (
    "javascript:alert('url')",
    " JaVaScRiPt:alert('spaced')",
    "data:text/html,<script>alert('data')</script>",
    "vbscript:msgbox(1)",
)


def author(name: str, handle: str, *, platform: str = "fake", url: str | None = None) -> AuthorData:
    return AuthorData(
        key=f"{platform}:{handle}", platform=platform, name=name, handle=handle, url=url
    )


def hostile_items(*, wide: bool = True) -> list[ItemData]:
    """The hostile items; ``wide``: with long unbroken words, which test layout."""
    post = replace(
        item(101, text=HOSTILE_TEXT, created=at(400)),
        html=HOSTILE_HTML,
        author=author(f'<img src=x onerror="{CANARY}">Mallory', f'"><svg onload="{CANARY}">'),
        language=f'en" onmouseover="{CANARY}',
        title=f"</h4><script>{CANARY}</script>",
    )
    article = replace(
        item(102, platform="wordpress", kind="article", author="eve", created=at(30)),
        url=HOSTILE_BLOG,
        title=f"{TITLE_WORD if wide else ''} </title><script>{CANARY}</script>"
        "<style>* { display: none }</style>",
        html=HOSTILE_HTML,
    )
    comment = replace(
        item(
            103,
            platform="wordpress",
            kind="comment",
            context_url=HOSTILE_BLOG,
            text=HOSTILE_TEXT,
            created=at(410),
        ),
        html=HOSTILE_HTML,
        author=author("</textarea><script>alert('name')</script>", "", platform="wordpress"),
    )
    long = replace(
        item(104, text=f"{LONG_WORD} {LONG_URL}", links=(LONG_URL,), created=at(420)),
        html=f'<p>{LONG_WORD}</p><p><a href="{LONG_URL}">{LONG_URL}</a></p>',
        author=author("Nkechinyerem Oluwaseyifunmi-Abernathy", LONG_HANDLE),
    )
    return [post, article, comment, long] if wide else [post, article, comment]


def health(target: str = "one", error: str | None = None) -> SourceHealth:
    return SourceHealth(
        id=f"ev/fake:{target}",
        event="ev",
        platform="fake",
        target=target,
        enabled=True,
        last_success_at=NOW,
        last_attempt_at=NOW,
        last_error=error,
        last_error_at=NOW if error else None,
        error_count=1 if error else 0,
        next_check_at=NOW,
        rate_limit=None,
        items=0,
    )


def digest_context(items: list[ItemData], sources: tuple[SourceHealth, ...] = ()) -> DigestContext:
    """The whole-event context of ``items``, as the store would hand them over."""
    ordered = sorted(items, key=lambda i: i.created_at)
    return assemble(EVENT, event_period(EVENT), ordered, now=NOW, health=sources)


def hostile_context(*, wide: bool = True) -> DigestContext:
    """The test conversation, the hostile items, and a source whose error message (the
    text of a server's response) and name carry markup."""
    sources = (
        health(),
        health(f"<img src=x onerror={CANARY}>", f"HTTP 500: <script>{CANARY}</script>"),
    )
    return digest_context([*conversation(), *hostile_items(wide=wide)], sources)


def hostile_urls_context() -> DigestContext:
    """Items whose URL fields (their page, their author's, their links, the blog post a
    comment belongs to) are not web addresses."""
    items = []
    for n, url in enumerate(HOSTILE_URLS):
        base = item(200 + n, text=f"hostile url {n}", links=(url,), created=at(500 + n))
        items.append(replace(base, url=url, author=author(f"Url {n}", f"@url{n}", url=url)))
        items.append(
            item(
                210 + n,
                platform="wordpress",
                kind="comment",
                context_url=url,
                text=f"comment {n}",
                created=at(510 + n),
            )
        )
    return digest_context(items)


# -- serving and opening ----------------------------------------------------------------

HOST_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A blog post</title></head>
<body><article><h1>A blog post</h1>
{fragment}
</article></body>
</html>
"""


def as_page(text: str) -> str:
    """A full document as it is; a fragment inside a plain blog page, where it is pasted."""
    if text.lstrip().lower().startswith("<!doctype"):
        return text
    return HOST_PAGE.format(fragment=text)


def serve(server: LoopbackServer, html: str) -> str:
    body = html.encode("utf-8")

    def app(request: Request) -> Response:
        if request.path != "/digest.html":
            return Response(404)
        return Response(200, {"Content-Type": "text/html; charset=utf-8"}, body)

    server.app = app
    return f"{server.base_url}/digest.html"


@pytest.fixture
def open_digest(loopback: LoopbackServer, open_page: OpenPage) -> Callable[..., Visit]:
    def open_(context: DigestContext, fmt: str, size: tuple[int, int] = DESKTOP) -> Visit:
        url = serve(loopback, as_page(render(context, fmt)))
        return open_page(url, width=size[0], height=size[1])

    return open_


# Synthetic events reach inline handlers exactly as real ones do, and cost nothing per
# element, so every element gets every event that could fire a handler.
PROVOKE = """() => {
  // Following an ordinary link would leave the page under test; anything else a link
  // points at (javascript:, data:) must still get its chance to run.
  addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href]');
    if (a && /^(https?|mailto):/i.test(a.href)) e.preventDefault();
  }, true);
  const events = ['pointerover', 'mouseover', 'mouseenter', 'mousemove', 'mousedown',
                  'mouseup', 'focusin', 'toggle', 'load', 'error', 'animationstart'];
  const all = [...document.querySelectorAll('body *')];
  for (const el of all) {
    for (const type of events) el.dispatchEvent(new MouseEvent(type, {bubbles: true}));
    if (el.focus) el.focus();
    if (el.click) el.click();
  }
  return all.length;
}"""

AUDIT = """() => {
  const urlAttrs = ['href', 'src', 'srcset', 'action', 'formaction', 'poster', 'data',
                    'xlink:href', 'background', 'cite'];
  const unsafe = [];
  const handlers = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) handlers.push(`${el.tagName} ${attr.name}`);
      if (urlAttrs.includes(attr.name)) {
        const value = attr.value.trim();
        if (value && !/^(https?:|mailto:|#|\\/(?!\\/)|[^:]*$)/i.test(value)) {
          unsafe.push(`${el.tagName} ${attr.name}=${value}`);
        }
      }
    }
  }
  const active = 'script, iframe, frame, object, embed, applet, base, form, '
    + 'meta[http-equiv], link:not([rel~="icon"])';
  return {
    scripts: document.scripts.length,
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    handlers,
    unsafe,
    active: [...document.querySelectorAll(active)].map((e) => e.outerHTML.slice(0, 80)),
  };
}"""


def provoke(visit: Visit) -> None:
    page = visit.page
    page.evaluate(PROVOKE)
    for text in ("hover or click me", "more"):
        for target in page.get_by_text(text, exact=True).all():
            if target.is_visible():
                target.hover()
                target.click()
    # javascript: navigations and error events run as tasks after the click.
    page.wait_for_timeout(300)


# -- nothing runs, nothing leaves -------------------------------------------------------


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_hostile_items_run_nothing_and_load_nothing_from_off_the_machine(
    open_digest: Callable[..., Visit], fmt: str
) -> None:
    visit = open_digest(hostile_context(), fmt)
    url = visit.page.url

    provoke(visit)

    audit = visit.page.evaluate(AUDIT)
    assert visit.off_machine == [], "third-party requests"
    assert visit.dialogs == [], "script ran (alert)"
    assert audit["pwned"] is None, "script ran (canary set)"
    assert audit["scripts"] == 0
    assert audit["handlers"] == []
    assert audit["unsafe"] == []
    assert audit["active"] == []
    assert (visit.page_errors, visit.console_errors) == ([], [])
    assert visit.page.url == url, "nothing navigated the page away"
    assert visit.requests[0] == url
    assert "hover or click me" in visit.page.inner_text("body"), "the words themselves survive"


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_urls_that_are_not_web_addresses_never_become_links(
    open_digest: Callable[..., Visit], fmt: str
) -> None:
    visit = open_digest(hostile_urls_context(), fmt)

    provoke(visit)

    audit = visit.page.evaluate(AUDIT)
    assert audit["unsafe"] == []
    assert visit.dialogs == []
    assert visit.off_machine == []


# -- layout ----------------------------------------------------------------------------

LAYOUT = """(phrases) => {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden'
      && box.left >= 0 && box.right <= innerWidth + 0.5;
  };
  // The element showing ``phrase``: a visible one if there is one (an e-mail's hidden
  // preview text repeats the title).
  const holding = (phrase) => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let hidden = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.data.includes(phrase)) continue;
      if (visible(node.parentElement)) return node.parentElement;
      hidden = hidden || node.parentElement;
    }
    return hidden;
  };
  const text = {};
  for (const phrase of phrases) {
    const el = holding(phrase);
    text[phrase] = el && {size: parseFloat(getComputedStyle(el).fontSize), visible: visible(el)};
  }
  const links = [...document.querySelectorAll('a[href]')];
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth,
    wide: [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}`).slice(0, 5),
    bodySize: parseFloat(getComputedStyle(document.body).fontSize),
    text,
    headings: [...document.querySelectorAll('h1, h2')]
      .filter((h) => !visible(h)).map((h) => h.textContent.trim()),
    imagesWithoutAlt: [...document.images].filter((i) => !i.hasAttribute('alt')).length,
    silentLinks: links.filter((a) => !(a.innerText.trim() || a.getAttribute('aria-label')
      || a.querySelector('img[alt]:not([alt=""])'))).map((a) => a.outerHTML),
  };
}"""
# People's words in the test conversation, whatever markup a format wraps them in: the
# most liked post is in every format; a reply or a comment may be left out of a short
# one (the embed), but where shown it is as legible.
FIRST_POST = "We launch our coproduction resources today"
WORDS = ("Congratulations!", "Great write-up")


SIZES = {"phone": PHONE, "desktop": DESKTOP}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_nothing_is_wider_than_the_screen(
    open_digest: Callable[..., Visit], fmt: str, size: tuple[int, int]
) -> None:
    visit = open_digest(hostile_context(), fmt, size)

    layout = visit.page.evaluate(LAYOUT, [])

    assert layout["scrollWidth"] <= layout["innerWidth"], f"sideways scroll: {layout['wide']}"


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_the_page_reads_well(
    open_digest: Callable[..., Visit], fmt: str, size: tuple[int, int], tmp_path: Path
) -> None:
    # Long words are the overflow test's business; here they would only repeat it.
    visit = open_digest(hostile_context(wide=False), fmt, size)
    visit.page.screenshot(path=tmp_path / f"{fmt}-{size[0]}.png", full_page=True)

    layout = visit.page.evaluate(LAYOUT, [TITLE, FIRST_POST, *WORDS])

    assert layout["bodySize"] >= 14
    for phrase, found in layout["text"].items():
        if found is None and phrase in WORDS:
            continue
        assert found is not None, f"{phrase!r} is not on the page"
        assert found["visible"], f"{phrase!r} is hidden or off screen"
        if phrase != TITLE:
            assert found["size"] >= 14, f"{phrase!r} is set in {found['size']}px"
    assert layout["headings"] == [], "headings hidden or off screen"
    assert layout["imagesWithoutAlt"] == 0
    assert layout["silentLinks"] == [], "links without text"


# -- print ------------------------------------------------------------------------------

A4_AT_96DPI = (794, 1123)
PRINT = """() => {
  const interactive = 'nav, button, input, select, textarea, form, [role="navigation"], '
    + '[role="button"], [role="search"]';
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth,
    shown: [...document.querySelectorAll(interactive)]
      .filter((el) => getComputedStyle(el).display !== 'none').map((el) => el.tagName),
  };
}"""


@pytest.mark.parametrize("fmt", HTML_FORMATS)
def test_the_page_prints(open_digest: Callable[..., Visit], fmt: str, tmp_path: Path) -> None:
    visit = open_digest(hostile_context(), fmt, A4_AT_96DPI)
    visit.page.emulate_media(media="print")

    printed = visit.page.evaluate(PRINT)
    pdf = visit.page.pdf(path=tmp_path / f"{fmt}.pdf", format="A4", print_background=False)

    assert printed["scrollWidth"] <= printed["innerWidth"], "cut off at the right margin"
    assert printed["shown"] == [], "navigation and controls are of no use on paper"
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
    assert visit.off_machine == []


def test_the_fixture_conversation_is_the_one_test_digest_uses() -> None:
    """The hostile context is built without a store; this keeps it the same conversation
    that test_digest.py stores and renders (its blog thread, its people)."""
    context = digest_context(conversation())
    assert context.totals.items == 8
    assert [b.url for b in context.blogs] == [BLOG]
    hostile = hostile_context()
    assert hostile.totals.items == 8 + len(hostile_items())
    assert {b.url for b in hostile.blogs} == {BLOG, HOSTILE_BLOG}
