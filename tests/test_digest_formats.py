"""The digest as an e-mail (inlined HTML and plain text), as an embeddable roundup and
its oEmbed response: rendered from the same context as the page, on the conversation
of tests/test_digest.py, keeping people's links, mentions, hashtags, emoji and
language, and never running anything of theirs."""

from __future__ import annotations

import gc
import json
import os
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

import html5lib
import pytest

from aggregator.cli import main
from aggregator.digest.context import DigestContext, build_context, day_period, event_period
from aggregator.digest.email import EmailParts, render_email
from aggregator.digest.oembed import oembed
from aggregator.digest.render import FORMATS, make_environment, published_url, render
from aggregator.models import FetchResult
from aggregator.store import Store
from tests.fakes import spec
from tests.test_digest import EVENT, NOW, conversation

DATA = Path(__file__).parent / "data" / "digest"
BASE = "https://roundups.example/digests"
DAY = date(2026, 11, 20)
# A Mastodon status as the API sends it (after sanitizing): a mention, a hashtag, a
# long link shortened with Mastodon's invisible spans, an emoji; written in French.
RICH_HTML = (
    '<p><span class="h-card"><a href="https://social.example/@ngozi" class="u-url mention">'
    "@<span>ngozi</span></a></span> Nos ressources sont en ligne 🎉 "
    '<a href="https://social.example/tags/coproduction" class="mention hashtag" rel="tag">'
    "#<span>coproduction</span></a> "
    '<a href="https://care.example.org/coproduction/guide-complet">'
    '<span class="invisible">https://</span><span class="ellipsis">care.example.org/coproduc'
    '</span><span class="invisible">tion/guide-complet</span></a></p>'
)
EVIL_HTML = (
    '<p onclick="x()">hi<script>alert(1)</script><img src=x onerror=alert(2)>'
    '<a href="javascript:alert(3)">j</a><style>p{}</style></p>'
)


def day_context(store: Store) -> DigestContext:
    """The day digest of tests/test_digest.py's conversation."""
    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    (source,) = store.sources()
    store.record_success(
        source,
        FetchResult(items=tuple(conversation()), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    return build_context(store, EVENT, day_period(EVENT, DAY), now=NOW)


@pytest.fixture
def ctx(sqlite_store: Store) -> DigestContext:
    return day_context(sqlite_store)


def with_first_post(ctx: DigestContext, **changes: object) -> DigestContext:
    """``ctx`` with its first social post changed, wherever it is shown."""
    section = ctx.platforms[0]
    node = section.threads[0]
    item = replace(node.item, **changes)  # type: ignore[arg-type]
    threads = (replace(node, item=item), *section.threads[1:])
    highlights = tuple(
        replace(h, item=item) if h.item.key == item.key else h for h in ctx.highlights
    )
    assert highlights, "the first post is a highlight too"
    return replace(
        ctx,
        platforms=(replace(section, threads=threads), *ctx.platforms[1:]),
        highlights=highlights,
    )


def parse(page: str) -> Element:
    """``page`` (a document, or the paste format's fragment) as a tree; a strict
    parser, so any HTML syntax error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    whole = page.lstrip().lower().startswith("<!doctype")
    tree: Element = parser.parse(page) if whole else parser.parseFragment(page)
    assert parser.errors == []
    return tree


def assert_golden(got: str, name: str) -> None:
    path = DATA / name
    if os.environ.get("AGGREGATOR_UPDATE_GOLDEN"):
        path.write_text(got, "utf-8")
    assert path.exists(), f"missing {path.name}; run with AGGREGATOR_UPDATE_GOLDEN=1"
    assert got == path.read_text("utf-8"), f"differs from {path.name} (read the diff)"


# -- golden renderings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("email", "day.expected.email.html"),
        ("text", "day.expected.txt"),
        ("embed", "day.expected.embed.html"),
        ("oembed", "day.expected.oembed.json"),
    ],
)
def test_each_format_renders_the_same_as_its_golden_file(
    ctx: DigestContext, fmt: str, name: str
) -> None:
    assert_golden(render(ctx, fmt, base_url=BASE), name)


@pytest.mark.parametrize("fmt", ["email", "embed", "html", "paste"])
def test_html_formats_parse_without_a_single_error(ctx: DigestContext, fmt: str) -> None:
    rich = with_first_post(ctx, html=RICH_HTML, language="fr")
    parse(render(rich, fmt))


# -- people's words ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["email", "embed", "html", "paste"])
def test_posts_keep_links_mentions_hashtags_emoji_and_language(
    ctx: DigestContext, fmt: str
) -> None:
    page = render(with_first_post(ctx, html=RICH_HTML, language="fr"), fmt)

    posts = list(parse(page).iterfind(".//*[@lang='fr']"))
    assert posts, "the post's element carries its language"
    expected = {
        "https://social.example/@ngozi": "@ngozi",
        "https://social.example/tags/coproduction": "#coproduction",
        "https://care.example.org/coproduction/guide-complet": (
            "https://care.example.org/coproduction/guide-complet"
        ),
    }
    for post in posts:  # in the highlights and in its thread
        links = {a.get("href"): "".join(a.itertext()) for a in post.iter("a")}
        # The element may hold the byline too (the page's <article>): the post's are in it.
        assert links.items() >= expected.items()
        assert "🎉" in "".join(post.itertext())


def test_text_cites_each_link_once_as_a_numbered_footnote(ctx: DigestContext) -> None:
    text = render(with_first_post(ctx, html=RICH_HTML, language="fr"), "text")

    mention = re.findall(r"@ngozi \[(\d+)\]", text)
    hashtag = re.findall(r"#coproduction \[(\d+)\]", text)
    assert len(mention) == len(hashtag) == 2, "cited in the highlights and in the thread"
    assert len(set(mention)) == len(set(hashtag)) == 1, "a URL has one number"
    notes = dict(re.findall(r"^\[(\d+)\] (\S+)$", text, re.MULTILINE))
    assert notes[mention[0]] == "https://social.example/@ngozi"
    assert notes[hashtag[0]] == "https://social.example/tags/coproduction"
    # A link that spells its own address is printed whole, where a reader can click it.
    assert "ressources sont en ligne 🎉" in text
    assert "https://care.example.org/coproduction/guide-complet" in text.split("Links\n")[0]
    assert "https://care.example.org/coproduction/guide-complet" not in notes.values()


def test_text_has_no_markup_and_wraps_at_72_columns(ctx: DigestContext) -> None:
    long = " ".join(["Coproduction means sharing power with the people who use services."] * 6)
    text = render(with_first_post(ctx, html=f"<p>{long} &lt;b&gt;</p>"), "text")

    assert re.search(r"<[a-zA-Z/!][^>]*>", text.replace("<b>", "")) is None
    assert "<b>" in text, "people's words are text here, shown as written"
    assert long.split(". ")[0] in text.replace("\n", " ")
    for line in text.splitlines():
        assert len(line) <= 72 or "://" in line, f"not wrapped: {line!r}"


@pytest.mark.parametrize("fmt", ["email", "embed", "text"])
def test_hostile_html_never_reaches_the_output_even_if_stored(ctx: DigestContext, fmt: str) -> None:
    out = render(with_first_post(ctx, html=EVIL_HTML), fmt)

    for bad in ("<script", "alert(1)", "onerror", "onclick", "javascript:", "<img", "p{}"):
        assert bad not in out


def test_times_are_the_events_local_times(ctx: DigestContext) -> None:
    # The first post was written at 06:00 UTC, 01:00 in New York; generated 07:00 UTC.
    for fmt in ("email", "text", "embed"):
        out = render(ctx, fmt)
        assert "2026-11-20 01:00" in out, fmt
        assert "2026-11-20 06:00" not in out, fmt
    for fmt in ("email", "text"):
        assert "Generated 2026-11-23 02:00 EST" in render(ctx, fmt)


# -- e-mail ---------------------------------------------------------------------------

# Elements that show as boxes or links: in a client that drops <style>, each needs its
# own style attribute to look as designed.
STYLED = {"body", "table", "td", "p", "a", "h1", "h2", "h3", "ol", "ul", "li", "blockquote"}


def test_email_html_has_every_style_inline_and_nothing_a_client_strips(
    ctx: DigestContext,
) -> None:
    page = render(with_first_post(ctx, html=RICH_HTML, language="fr"), "email")
    tree = parse(page)

    for tag in ("style", "script", "link", "img", "svg", "iframe", "form"):
        assert tree.find(f".//{tag}") is None, f"<{tag}> in the e-mail"
    unstyled = [
        (e.tag, e.get("class")) for e in tree.iter() if e.tag in STYLED and not e.get("style")
    ]
    assert unstyled == []
    assert all(e.get("style") for e in tree.iter() if e.get("class") == "content")
    (wrap,) = tree.iterfind(".//table[@class='wrap']")
    assert "max-width: 640px" in wrap.get("style", "")
    assert wrap.get("width") == "640", "Outlook reads the attribute, not the style"


def test_render_email_gives_subject_html_and_text(ctx: DigestContext) -> None:
    parts = render_email(ctx, base_url=BASE)

    assert isinstance(parts, EmailParts)
    assert parts.subject == "Coproduction launch: Friday 20 November 2026 — 6 items from 5 people"
    assert parts.html == render(ctx, "email", base_url=BASE)
    assert parts.text == render(ctx, "text", base_url=BASE)
    page = f"{BASE}/ev/2026-11-20.html"
    assert f'href="{page}"' in parts.html
    assert f"Full digest: {page}" in parts.text


def test_without_a_base_url_the_email_links_to_no_page(ctx: DigestContext) -> None:
    parts = render_email(ctx)
    assert "full digest" not in parts.html.lower()
    assert "Full digest" not in parts.text


def test_the_subject_stays_on_one_line(ctx: DigestContext) -> None:
    ctx = replace(ctx, event=replace(ctx.event, title="Launch\r\nBcc: everyone@example.org"))
    assert "\n" not in render_email(ctx).subject
    assert "\r" not in render_email(ctx).subject


def test_a_users_email_template_is_inlined_too(ctx: DigestContext, tmp_path: Path) -> None:
    (tmp_path / "digest-email.html").write_text(
        "<!DOCTYPE html><html><head><style>h1 { color: #b3261e; }</style></head>"
        "<body><h1>{{ d.event.title }}</h1></body></html>"
    )
    page = render_email(ctx, make_environment(tmp_path)).html
    assert '<h1 style="color: #b3261e;">Coproduction launch</h1>' in page
    assert "<style" not in page


# -- embed and oEmbed -----------------------------------------------------------------


def test_the_embed_requests_nothing_and_opens_links_outside_the_frame(
    ctx: DigestContext,
) -> None:
    page = render(with_first_post(ctx, html=RICH_HTML), "embed")
    tree = parse(page)

    assert tree.find(".//script") is None
    assert [e.tag for e in tree.iter() if e.get("src") or e.tag in {"link", "img"}] == []
    assert "url(" not in page
    assert "@import" not in page
    anchors = list(tree.iter("a"))
    assert len(anchors) > 5
    for a in anchors:
        assert a.get("target") == "_blank", a.get("href")
        assert "noopener" in a.get("rel", "").split(), a.get("href")


@pytest.mark.parametrize(
    ("base_url", "period", "full_digest"),
    [
        (None, "day", "../2026-11-20.html"),
        (None, "event", "event.html"),
        (BASE, "day", f"{BASE}/ev/2026-11-20.html"),
        (BASE + "/", "event", f"{BASE}/ev/event.html"),
    ],
)
def test_the_embed_links_to_the_full_digest(
    sqlite_store: Store, base_url: str | None, period: str, full_digest: str
) -> None:
    day_context(sqlite_store)
    chosen = day_period(EVENT, DAY) if period == "day" else event_period(EVENT)
    ctx = build_context(sqlite_store, EVENT, chosen, now=NOW)
    tree = parse(render(ctx, "embed", base_url=base_url))
    assert [
        a.get("href") for a in tree.iter("a") if "".join(a.itertext()) == "Read the full digest"
    ] == [full_digest]


def test_embed_urls_are_stable_per_event_and_day(sqlite_store: Store) -> None:
    day = day_context(sqlite_store)
    whole = build_context(sqlite_store, EVENT, event_period(EVENT), now=NOW)
    assert published_url(BASE, day, "embed") == f"{BASE}/ev/embed/2026-11-20.html"
    assert published_url(BASE, whole, "embed") == f"{BASE}/ev/embed.html"


def iframe(response: dict[str, object]) -> Element:
    tree = parse(f"<!DOCTYPE html><title>t</title>{response['html']}")
    (frame,) = tree.iter("iframe")
    return frame


@pytest.mark.parametrize(
    ("maxwidth", "maxheight", "size"),
    [
        (None, None, (480, 640)),
        (300, 200, (300, 200)),
        (1000, 2000, (480, 640)),
        (320, None, (320, 640)),
    ],
)
def test_oembed_is_a_rich_response_within_the_consumers_bounds(
    ctx: DigestContext, maxwidth: int | None, maxheight: int | None, size: tuple[int, int]
) -> None:
    url = f"{BASE}/ev/embed/2026-11-20.html"
    response = oembed(ctx, embed_url=url, maxwidth=maxwidth, maxheight=maxheight)

    assert {k: response[k] for k in ("version", "type", "provider_name")} == {
        "version": "1.0",
        "type": "rich",
        "provider_name": "aggregator",
    }
    assert response["title"] == "Coproduction launch: Friday 20 November 2026"
    assert (response["width"], response["height"]) == size
    frame = iframe(response)
    assert frame.get("src") == url
    assert (int(frame.get("width", 0)), int(frame.get("height", 0))) == size
    assert json.loads(json.dumps(response)) == response


def test_oembed_caches_a_finished_day_longer_than_a_running_one(ctx: DigestContext) -> None:
    url = f"{BASE}/ev/embed/2026-11-20.html"
    finished = oembed(ctx, embed_url=url, maxwidth=None, maxheight=None)
    running = oembed(
        replace(ctx, generated_at=ctx.period.end - timedelta(hours=2)),
        embed_url=url,
        maxwidth=None,
        maxheight=None,
    )
    assert isinstance(finished["cache_age"], int)
    assert isinstance(running["cache_age"], int)
    assert finished["cache_age"] > running["cache_age"] > 0


def test_oembed_escapes_the_url_and_refuses_impossible_bounds(ctx: DigestContext) -> None:
    response = oembed(ctx, embed_url='https://x.example/"><script>', maxwidth=None, maxheight=None)
    assert iframe(response).get("src") == 'https://x.example/"><script>'
    assert "<script>" not in str(response["html"])
    with pytest.raises(ValueError, match="maxwidth"):
        oembed(ctx, embed_url="https://x.example/", maxwidth=0, maxheight=None)


def test_the_oembed_format_needs_a_base_url(ctx: DigestContext) -> None:
    with pytest.raises(ValueError, match="base URL"):
        render(ctx, "oembed")
    assert json.loads(render(ctx, "oembed", base_url=BASE))["html"].startswith(
        f'<iframe src="{BASE}/ev/embed/2026-11-20.html"'
    )


# -- command line ---------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    path = tmp_path / "aggregator.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{(tmp_path / "a.db").as_posix()}"\n\n'
        f'[digest]\noutput = "{(tmp_path / "out").as_posix()}"\n\n'
        '[[events]]\nslug = "ev"\ntitle = "Coproduction launch"\n'
        'hashtags = ["coproduction"]\ntimezone = "America/New_York"\n'
        "starts = 2026-11-20\nends = 2026-11-21\n",
        "utf-8",
    )
    return path


def test_cli_offers_every_format(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    with pytest.raises(SystemExit):
        main(["-c", str(config), "digest", "--help"])
    usage = capsys.readouterr().out
    for fmt in FORMATS:
        assert fmt in usage


def test_cli_prints_the_oembed_response_for_the_base_url(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    status = main(["-c", str(config), "digest", "ev", "--date", "2026-11-20", "--format",
                   "oembed", "--base-url", BASE])  # fmt: skip

    assert status == 0
    response = json.loads(capsys.readouterr().out)
    assert iframe(response).get("src") == f"{BASE}/ev/embed/2026-11-20.html"


def test_cli_oembed_without_a_base_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    assert main(["-c", str(config), "digest", "ev", "--format", "oembed"]) == 2
    assert "--base-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fmt", "day", "written"),
    [
        ("email", "2026-11-20", "ev/2026-11-20.email.html"),
        ("text", None, "ev/event.txt"),
        ("embed", "2026-11-20", "ev/embed/2026-11-20.html"),
        ("embed", None, "ev/embed.html"),
    ],
)
def test_cli_writes_each_format_where_it_is_published(
    config: Path, tmp_path: Path, fmt: str, day: str | None, written: str
) -> None:
    args = ["-c", str(config), "digest", "ev", "--format", fmt, "--base-url", BASE]
    assert main(args + (["--date", day] if day else [])) == 0
    assert "Coproduction launch" in (tmp_path / "out" / written).read_text("utf-8")


@pytest.mark.parametrize("fmt", ["email", "text", "embed"])
def test_headline_figures_highlights_and_busiest_hours_are_shown(
    ctx: DigestContext, fmt: str
) -> None:
    out = render(ctx, fmt)
    assert re.search(r"6</span> items|6</strong> items|- 6 items", out), "the items figure"
    assert "+5 since Thursday" in out
    assert "Why it is here: 20 likes" in out.replace("<strong>", "").replace("</strong>", "")
    # The chart's text fallback: the busiest local hours.
    assert "01:00–02:00" in out


@pytest.mark.parametrize("fmt", ["email", "embed", "text"])
def test_addresses_that_are_not_web_addresses_never_become_links(
    ctx: DigestContext, fmt: str
) -> None:
    bad = "javascript:alert(1)"
    first = ctx.platforms[0].threads[0].item
    ctx = with_first_post(ctx, url=bad, author=replace(first.author, url="data:text/html,x"))
    ctx = replace(
        ctx,
        links=(replace(ctx.links[0], url=bad),),
        blogs=(replace(ctx.blogs[0], url=" JaVaScRiPt:alert(2)"),),
    )

    out = render(ctx, fmt)

    assert "javascript:" not in out.lower()
    assert "data:text" not in out
    assert "We launch our coproduction resources today" in out, "the post is still shown"
    assert "Coproduction win" in out, "so is the blog post's title"


@pytest.mark.parametrize("enabled", [True, False])
def test_building_a_context_leaves_the_garbage_collector_as_it_found_it(
    sqlite_store: Store, enabled: bool
) -> None:
    # build_context holds the collector off while it runs (benchmarks/digest.py).
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        day_context(sqlite_store)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_contexts_built_in_several_threads_at_once_leave_the_collector_on(
    sqlite_store: Store,
) -> None:
    # The web app renders in a thread pool: overlapping builds share one pause.
    from concurrent.futures import ThreadPoolExecutor

    assert gc.isenabled()
    with ThreadPoolExecutor(4) as pool:
        contexts = list(pool.map(lambda _: day_context(sqlite_store), range(8)))
    assert len({c.period.label for c in contexts}) == 1
    assert gc.isenabled()
