"""A busy day has thousands of conversations: the pages people read show each
section's 25 busiest, each with at most 10 replies, and say how many more there are
and where; the ``full`` page has every one."""

from __future__ import annotations

import re

from aggregator.digest.render import SHOWN, busiest, render
from tests.fakes import item
from tests.test_digest_browser import digest_context
from tests.test_digest_html_valid import parse

TOPICS = 70
MAX_THREADS, MAX_REPLIES = SHOWN


def busy_day() -> list:  # type: ignore[type-arg]
    """70 conversations on one platform: every tenth has a reply, the 7th post the
    most likes of all."""
    items = []
    for n in range(1, TOPICS + 1):
        items.append(item(n, text=f"topic {n:03d}", likes=100 if n == 7 else 0))
        if n % 10 == 0:
            items.append(item(1000 + n, text=f"reply to {n:03d}", reply_to=n))
    return items


def topics(text: str) -> list[int]:
    return sorted({int(m) for m in re.findall(r"topic (\d{3})", text)})


def test_the_page_shows_the_busiest_conversations_in_time_order() -> None:
    context = digest_context(busy_day())
    (section,) = context.platforms
    shown = [s.node for s in busiest(section.threads, 10)]
    # The seven with replies, then the most liked, then the earliest.
    assert [t.item.text for t in shown] == [
        "topic 001",
        "topic 002",
        "topic 007",
        "topic 010",
        "topic 020",
        "topic 030",
        "topic 040",
        "topic 050",
        "topic 060",
        "topic 070",
    ]
    assert [s.node for s in busiest(section.threads, None)] == list(section.threads)
    assert [s.node for s in busiest(section.threads, TOPICS)] == list(section.threads)


def test_html_says_how_many_more_and_links_the_full_page() -> None:
    context = digest_context(busy_day())
    page = render(context, "html")
    assert len(topics(page)) == MAX_THREADS
    assert {10, 20, 30, 40, 50, 60, 70, 7} <= set(topics(page))
    assert "reply to" in page
    note = re.search(r'<p class="more">([^<]*)<a href="([^"]+)">', page)
    assert note
    assert note.group(1).startswith(f"The {MAX_THREADS} busiest conversations on Fake are shown; ")
    assert f"{TOPICS - MAX_THREADS} more conversations" in note.group(1)
    assert note.group(2) == "event.full.html"
    with_base = render(context, "html", base_url="https://digests.example.org/")
    assert 'href="https://digests.example.org/ev/event.full.html"' in with_base
    _, errors = parse(page)
    assert errors == []


def test_the_full_page_has_every_conversation() -> None:
    full = render(digest_context(busy_day()), "full")
    assert topics(full) == list(range(1, TOPICS + 1))
    assert 'class="more"' not in full


def test_pasted_formats_show_25_and_say_the_rest_is_in_the_full_digest() -> None:
    context = digest_context(busy_day())
    for fmt in ("paste", "markdown"):
        out = render(context, fmt)
        assert len(topics(out)) == MAX_THREADS, fmt
        assert f"{TOPICS - 25} more conversations in the full digest" in out, fmt
    linked = render(context, "markdown", base_url="https://digests.example.org/")
    assert "[in the full digest](https://digests.example.org/ev/event.full.html)" in linked


def long_comment_thread() -> list:  # type: ignore[type-arg]
    """One post with 30 replies: a chain of 5 under the first, 25 direct ones."""
    items = [item(1, text="the post")]
    items += [item(2 + k, text=f"chain {k:02d}", reply_to=1 + k) for k in range(5)]
    items += [item(100 + k, text=f"direct {k:02d}", reply_to=1) for k in range(25)]
    return items


def test_a_long_conversation_shows_its_first_replies_and_counts_the_rest() -> None:
    context = digest_context(long_comment_thread())
    (section,) = context.platforms
    (shown,) = busiest(section.threads, MAX_THREADS, MAX_REPLIES)
    assert shown.node.size == 1 + MAX_REPLIES
    assert shown.hidden == 30 - MAX_REPLIES
    page = render(context, "html")
    assert re.findall(r"chain \d\d", page) == [f"chain {k:02d}" for k in range(5)]
    assert len(re.findall(r"direct \d\d", page)) == MAX_REPLIES - 5
    assert f"{30 - MAX_REPLIES} more replies" in page
    assert 'href="event.full.html">in the full digest' in page
    full = render(context, "full")
    assert len(re.findall(r"direct \d\d", full)) == 25
    assert "more replies" not in full
    for fmt in ("paste", "markdown"):
        out = render(context, fmt)
        assert f"{30 - MAX_REPLIES} more replies in the full digest" in out, fmt
        assert len(re.findall(r"direct \d\d", out)) == MAX_REPLIES - 5, fmt
    _, errors = parse(page)
    assert errors == []
