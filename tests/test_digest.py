"""The first digest: counts, threads, blog comment threads and links, for a day in
the event's time zone or the whole event; rendered safely; overridable templates."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.digest.context import build_context, day_period, event_period
from aggregator.digest.render import make_environment, render
from aggregator.models import FetchResult
from aggregator.store import EventRecord, Store
from tests.fakes import item, spec

DATA = Path(__file__).parent / "data" / "digest"
# New York: a day there runs 05:00 to 05:00 UTC in November, which tests the boundaries.
EVENT = EventRecord(
    "ev",
    "Coproduction launch",
    ("coproduction",),
    "America/New_York",
    date(2026, 11, 20),
    date(2026, 11, 21),
    1,
)
DAY_START = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
BLOG = "https://blog.example/2026/11/20/coproduction-win/"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def conversation():
    return [
        item(
            1,
            text="We launch our coproduction resources today",
            author="carehub",
            links=("https://care.example.org/coproduction",),
            likes=20,
            created=at(60),
        ),
        item(2, text="Congratulations!", author="ngozi", reply_to=1, created=at(75)),
        item(3, text="Thank you", author="carehub", reply_to=2, created=at(80)),
        item(
            4,
            text="Wrote it up",
            author="dan",
            links=(BLOG, "https://care.example.org/coproduction"),
            created=at(200),
        ),
        item(5, text="the night before", author="priya", created=DAY_START - timedelta(minutes=1)),
        item(6, text="the next day", author="priya", created=DAY_START + timedelta(days=1)),
        item(
            41,
            platform="wordpress",
            kind="comment",
            author="zoë & max",
            context_url=BLOG,
            text="Great write-up",
            created=at(300),
        ),
        item(
            42,
            platform="wordpress",
            kind="comment",
            author="dan",
            context_url=BLOG,
            reply_to=41,
            text="Thanks!",
            created=at(320),
        ),
    ]


@pytest.fixture
def filled(store: Store) -> Store:
    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    (source,) = store.sources()
    store.record_success(
        source,
        FetchResult(items=tuple(conversation()), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    return store


def test_a_day_is_the_events_local_day(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert ctx.totals.items == 6
    assert (ctx.totals.posts, ctx.totals.comments, ctx.totals.people) == (4, 2, 5)
    assert ctx.period.label == "Friday 20 November 2026"


def test_replies_are_threaded_under_their_parents(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    (section,) = ctx.platforms
    first = section.threads[0]
    assert first.item.text.startswith("We launch")
    assert [r.item.text for r in first.replies] == ["Congratulations!"]
    assert [r.item.text for r in first.replies[0].replies] == ["Thank you"]
    assert section.count == 4


def test_blog_comments_hang_off_their_post(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    (blog,) = ctx.blogs
    assert (blog.url, blog.comments, blog.title) == (BLOG, 2, "Coproduction win")
    assert blog.threads[0].replies[0].item.author.name == "Dan"
    assert [v.text for v in blog.shared_in] == ["Wrote it up"]


def test_links_shared_are_counted_with_their_first_sharer(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert [(link.url, link.count, link.first_shared_by) for link in ctx.links] == [
        ("https://care.example.org/coproduction", 2, "Carehub"),
    ]


def test_the_whole_event_includes_the_lookback_and_every_day(filled: Store) -> None:
    ctx = build_context(filled, EVENT, event_period(EVENT), now=NOW)
    assert ctx.totals.items == 8


def test_the_digest_renders_the_same_as_its_golden_file(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    for fmt, ext in (
        ("html", "html"),
        ("json", "json"),
        ("markdown", "md"),
        ("paste", "paste.html"),
    ):
        got = render(ctx, fmt)
        path = DATA / f"day.expected.{ext}"
        if os.environ.get("AGGREGATOR_UPDATE_GOLDEN"):
            path.write_text(got, "utf-8")
        assert got == path.read_text("utf-8"), f"{fmt} differs from {path.name}"
    data = json.loads(render(ctx, "json"))
    assert data["totals"]["items"] == 6
    assert data["blogs"][0]["threads"][0]["size"] == 2


def test_hostile_html_never_reaches_the_page_even_if_stored(filled: Store) -> None:
    from dataclasses import replace

    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    section = ctx.platforms[0]
    evil = replace(
        section.threads[0].item,
        html='<p onclick="x()">hi<script>alert(1)</script><img src=x onerror=alert(2)>'
        '<a href="javascript:alert(3)">j</a></p>',
        author=replace(section.threads[0].item.author, name="<script>alert(4)</script>"),
    )
    ctx = replace(
        ctx, platforms=(replace(section, threads=(replace(section.threads[0], item=evil),)),)
    )
    page = render(ctx, "html")
    for bad in ("<script", "onerror", "onclick", "javascript:"):
        assert bad not in page
    assert "&lt;script&gt;alert(4)" in page


def test_a_template_in_the_users_folder_overrides_the_packaged_one(
    filled: Store, tmp_path: Path
) -> None:
    (tmp_path / "digest.html").write_text("{{ d.event.title }}: {{ d.totals.items }} items")
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert render(ctx, "html", make_environment(tmp_path)) == "Coproduction launch: 6 items"


def test_an_empty_day_says_so(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 25)), now=NOW)
    assert ctx.totals.items == 0
    assert "Nothing was said with" in render(ctx, "html")


def test_a_day_of_comments_on_an_older_post_is_titled_by_that_post(store: Store) -> None:
    from dataclasses import replace

    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    (source,) = store.sources()
    post = replace(
        item(1, platform="wordpress", kind="article", author="dan", created=at(0)),
        url=BLOG,
        title="#Coproduction = win (and Bill Shankly)",
    )
    late = item(
        2, platform="wordpress", kind="comment", context_url=BLOG, created=at(0) + timedelta(days=1)
    )
    store.record_success(
        source,
        FetchResult(items=(post, late), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    ctx = build_context(store, EVENT, day_period(EVENT, date(2026, 11, 21)), now=NOW)
    (blog,) = ctx.blogs
    assert blog.title == "#Coproduction = win (and Bill Shankly)"
    assert blog.post is not None
    assert blog.post.author.name == "Dan"
    assert ctx.totals.items == 1, "the older post titles the thread but is not the day's item"


def test_markdown_keeps_peoples_words_inert(filled: Store) -> None:
    from dataclasses import replace

    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    section = ctx.platforms[0]
    evil = replace(
        section.threads[0].item,
        html="<p>[click](javascript:alert(1)) &lt;script&gt;x&lt;/script&gt; *loud* `code`</p>",
    )
    ctx = replace(
        ctx, platforms=(replace(section, threads=(replace(section.threads[0], item=evil),)),)
    )
    page = render(ctx, "markdown")
    assert "\\[click\\](javascript:alert(1))" in page
    assert "<script>" not in page
    assert "\\*loud\\*" in page


def test_the_paste_fragment_survives_blog_filters_and_stays_safe(filled: Store) -> None:
    from dataclasses import replace
    from html.parser import HTMLParser

    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    section = ctx.platforms[0]
    evil = replace(section.threads[0].item, html='<p onclick="x()">hi<script>alert(1)</script></p>')
    ctx = replace(
        ctx, platforms=(replace(section, threads=(replace(section.threads[0], item=evil),)),)
    )
    fragment = render(ctx, "paste")

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[str] = set()
            self.open: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.seen.add(tag)
            if tag not in {"br", "hr", "img", "wbr"}:  # void elements have no end tag
                self.open.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.open.pop() == tag, f"</{tag}> closes something else"

    tags = Tags()
    tags.feed(fragment)
    assert tags.open == [], "every element is closed"
    # WordPress.com strips these; a fragment that relies on them breaks there.
    assert not tags.seen & {"style", "script", "iframe", "html", "head", "body", "link"}
    assert "onclick" not in fragment


# -- analysis and moderation (schema 2) ------------------------------------------------


def moderate(store: Store, kind: str, target: str, action: str) -> None:
    from aggregator.models import ModerationRecord

    store.moderate(ModerationRecord("ev", kind, target, action, None, "organiser", NOW))


def test_hidden_items_and_hidden_authors_are_in_nothing_not_even_the_counts(
    filled: Store,
) -> None:
    moderate(filled, "item", "fake:4", "hide")  # dan's post
    moderate(filled, "author", "wordpress:@zoë & max", "hide")
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    page = render(ctx, "html") + render(ctx, "markdown") + render(ctx, "paste")
    assert "Wrote it up" not in page
    assert "Great write-up" not in page
    assert ctx.totals.items == 4
    assert {f.key: f.value for f in ctx.figures}["items"] == 4
    assert sum(b.total for b in ctx.activity.buckets) == 4 if ctx.activity else False
    assert [link.count for link in ctx.links] == [1], "the hidden post's link is not counted"
    (blog,) = ctx.blogs
    assert [t.item.text for t in blog.threads] == ["Thanks!"], "a reply stays, as a root"


def test_pinned_items_lead_the_highlights_and_featured_ones_are_flagged(filled: Store) -> None:
    moderate(filled, "item", "fake:3", "pin")
    moderate(filled, "item", "fake:2", "feature")
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert [(h.item.key, h.pinned, h.why) for h in ctx.highlights] == [
        ("fake:3", True, "pinned by the organisers"),
        ("fake:1", False, "20 likes; the typical fake post that day had none"),
    ]
    replies = ctx.platforms[0].threads[0].replies
    assert replies[0].item.featured
    assert not replies[0].item.pinned
    assert replies[0].replies[0].item.pinned
    assert "Featured</span>" in render(ctx, "html")
    assert "(featured)" in render(ctx, "markdown")
    assert "<strong>featured</strong>" in render(ctx, "paste")


def test_sources_that_failed_during_the_period_are_gaps_in_the_footnotes(filled: Store) -> None:
    (source,) = filled.sources()
    for minutes, error in ((30, "HTTP 503"), (90, "timed out"), (-30, "the day before")):
        filled.record_failure(
            source, error, started_at=at(minutes), now=at(minutes), next_check_at=NOW
        )
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    (gap,) = ctx.gaps
    assert (gap.source_id, gap.errors, gap.last_error, gap.last_error_at) == (
        "ev/fake:one",
        2,
        "timed out",
        at(90),
    )
    html = render(ctx, "html")
    assert 'href="#gaps"' in html
    assert 'id="gaps"' in html
    assert "failed 2 times, last at" in html
    assert "timed out" in render(ctx, "markdown")
    assert "failed 2 times" in render(ctx, "paste")


def test_the_digest_shows_the_analysis_in_every_format(filled: Store) -> None:
    ctx = build_context(filled, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert ctx.schema_version == 2
    assert ctx.activity is not None
    assert (ctx.activity.busiest[0].name, ctx.activity.busiest[0].total) == ("01:00–02:00", 3)
    html = render(ctx, "html")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert 'role="img"' in html
    assert '<span aria-hidden="true">▲</span> +5 since Thursday' in html
    assert "<li>01:00–02:00: 3 items</li>" in html, "the text fallback beside the chart"
    assert "Why it is here:</span> 20 likes" in html
    paste = render(ctx, "paste")
    assert "<svg" not in paste, "WordPress.com strips SVG: the paste uses the text"
    assert "01:00–02:00 (3 items)" in paste
    md = render(ctx, "markdown")
    assert "- **6** items (+5 since Thursday)" in md
    assert "1. 01:00–02:00: 3 items" in md


def test_co_hashtags_and_terms_reach_the_page(store: Store) -> None:
    from dataclasses import replace

    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    (source,) = store.sources()
    items = [
        replace(item(n, text=f"Carers shaped these guides {n}", created=at(n)), hashtags=tags)
        for n, tags in ((1, ("coproduction", "socialcare")), (2, ("Coproduction", "socialcare")))
    ]
    store.record_success(
        source,
        FetchResult(items=tuple(items), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    ctx = build_context(store, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert [(t.term, t.count) for t in ctx.hashtags] == [("socialcare", 2)]
    assert [(t.term, t.count) for t in ctx.terms] == [
        ("carers", 2),
        ("guides", 2),
        ("shaped", 2),
    ], "'these' is a stopword, the event's tag and numbers are not words"
    html = render(ctx, "html")
    assert '#socialcare <span class="n">in 2 items</span>' in html
    assert "#socialcare (2)" in render(ctx, "markdown")


def test_the_export_leaves_out_hidden_items_and_authors(filled: Store) -> None:
    import csv
    import io

    from aggregator.export import write_csv, write_jsonl

    moderate(filled, "item", "fake:1", "hide")
    moderate(filled, "author", "fake:@priya", "hide")
    moderation = filled.moderation("ev")
    lines = io.StringIO()
    assert write_jsonl(filled.iter_items("ev"), lines, moderation) == 5
    keys = {json.loads(line)["key"] for line in lines.getvalue().splitlines()}
    assert keys == {"fake:2", "fake:3", "fake:4", "wordpress:41", "wordpress:42"}
    table = io.StringIO()
    assert write_csv(filled.iter_items("ev"), table, moderation) == 5
    assert {r["key"] for r in csv.DictReader(io.StringIO(table.getvalue()))} == keys
    assert write_jsonl(filled.iter_items("ev"), io.StringIO()) == 8, "nothing hidden by default"
