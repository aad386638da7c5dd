"""What a digest reads from the store, on SQLite and PostgreSQL: a period's live items
(``Store.live_items``) and the event's blog posts (``Store.articles``) are the items
``Store.items`` hands the export, less their platform payload."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aggregator.models import AuthorData, Engagement, FetchResult
from aggregator.store import Store
from tests.fakes import item, spec
from tests.test_store import EVENT, NOW

DAY = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def fill(store: Store) -> None:
    store.sync_event(EVENT, [spec()], NOW)
    (source,) = store.sources(source_id="ev/fake:one")
    parent = replace(item(1, created=DAY + timedelta(hours=9)), aliases=("fake-local:901",))
    items = (
        item(9, created=DAY - timedelta(seconds=1)),  # the day before
        parent,
        # Created at the same moment as its parent: the earlier stored comes first.
        replace(item(2, created=parent.created_at), in_reply_to="fake-local:901"),
        replace(
            item(3, links=("https://a.example/x", "https://b.example/"), likes=4),
            created_at=DAY + timedelta(hours=8),
            hashtags=("coproduction", "socialcare"),
            edited_at=DAY + timedelta(hours=10),
            engagement=Engagement(replies=2, reposts=None, likes=4),
            author=AuthorData("fake:@ben", "fake", "Ben", "@ben", "https://fake.example/@ben"),
        ),
        item(4, kind="article", created=DAY - timedelta(days=3)),
        item(5, created=DAY + timedelta(hours=11)),  # deleted below
        item(6, created=DAY + timedelta(days=1)),  # the day after
    )
    result = FetchResult(items=items, state={})
    store.record_success(source, result, started_at=NOW, now=NOW, next_check_at=NOW)
    # A complete listing without item 5: its platform no longer shows it.
    listing = FetchResult(
        items=(), state={}, listing=frozenset(i.key for i in items if i.key != "fake:5")
    )
    store.record_success(source, listing, started_at=NOW, now=NOW, next_check_at=NOW)


def test_a_periods_live_items_are_its_stored_items_without_their_payload(store: Store) -> None:
    fill(store)
    until = DAY + timedelta(days=1)
    live = store.live_items("ev", since=DAY, until=until)
    assert [i.key for i in live] == ["fake:3", "fake:1", "fake:2"]
    # ItemData leaves the payload out of equality: every other field is the same.
    assert live == [v.item for v in store.items("ev", since=DAY, until=until)]
    assert [dict(i.raw) for i in live] == [{}, {}, {}]
    assert live[2].in_reply_to == "fake:1"  # named by its alias when stored
    assert (live[0].hashtags, live[0].links) == (
        ("coproduction", "socialcare"),
        ("https://a.example/x", "https://b.example/"),
    )


def test_the_blog_posts_of_an_event_are_read_whenever_they_were_published(store: Store) -> None:
    fill(store)
    assert store.articles("ev") == [v.item for v in store.items("ev") if v.item.kind == "article"]
    assert [i.key for i in store.articles("ev")] == ["fake:4"]
