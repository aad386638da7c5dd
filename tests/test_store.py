"""The store, on SQLite and PostgreSQL: items stored once, edits and deletions kept
true, incremental state advanced only together with its items."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aggregator.models import FetchResult, SourceState
from aggregator.store import EventRecord, Store
from aggregator.store.schema import Author, Item, ItemLink, Link
from aggregator.store.statements import _PREPARED, select_in
from tests.fakes import item, spec

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "Europe/London", date(2026, 11, 20), date(2026, 11, 22), 1
)


def setup(store: Store, *source_ids: str) -> list[SourceState]:
    specs = [spec(sid) for sid in (source_ids or ("ev/fake:one",))]
    store.sync_event(EVENT, specs, NOW)
    return [s for sid in (source_ids or ("ev/fake:one",)) for s in store.sources(source_id=sid)]


def save(store: Store, source: SourceState, *items, listing: bool = False, state=None):
    result = FetchResult(
        items=tuple(items),
        state=state or {"cursor": "x"},
        listing=frozenset(i.key for i in items) if listing else None,
    )
    return store.record_success(
        source, result, started_at=NOW, now=NOW, next_check_at=NOW + timedelta(minutes=15)
    )


def count(store: Store, model) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_item_is_stored_once_and_refetching_adds_nothing(store: Store) -> None:
    (source,) = setup(store)
    first = save(store, source, item(1), item(2))
    again = save(store, source, item(1), item(2))
    assert (first.new, again.new, again.updated, again.unchanged) == (2, 0, 0, 2)
    assert count(store, Item) == 2
    assert count(store, Author) == 1


def test_an_item_returned_by_two_sources_is_one_item_with_both_provenances(store: Store) -> None:
    a, b = setup(store, "ev/fake:one", "ev/fake:two")
    save(store, a, item(1))
    counts = save(store, b, item(1), item(2))
    assert counts.new == 1
    views = store.items("ev")
    assert [v.item.key for v in views] == ["fake:1", "fake:2"]
    assert views[0].source_ids == ("ev/fake:one", "ev/fake:two")


def test_an_edit_updates_the_stored_item(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1, text="first words"))
    edited = replace(item(1, text="better words"), edited_at=NOW)
    counts = save(store, source, edited)
    assert counts.updated == 1
    (view,) = store.items("ev")
    assert view.item.text == "better words"
    assert view.item.edited_at == NOW


def test_new_like_counts_refresh_without_counting_as_an_edit(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1, likes=1))
    counts = save(store, source, item(1, likes=5))
    assert (counts.updated, counts.unchanged) == (0, 1)
    assert store.items("ev")[0].item.engagement.likes == 5


def test_a_source_without_threading_never_erases_a_known_parent(store: Store) -> None:
    rest, rss = setup(store, "ev/fake:rest", "ev/fake:rss")
    save(store, rest, item(2, reply_to=1, likes=3))
    counts = save(store, rss, item(2))
    assert counts.updated == 0
    stored = store.items("ev")[0].item
    assert stored.in_reply_to == "fake:1"
    assert stored.engagement.likes == 3


def test_items_missing_from_a_complete_listing_become_counted_tombstones(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1, links=("https://a.example/",)), item(2), listing=True)
    counts = save(store, source, item(2), listing=True)
    assert counts.deleted == 1
    assert [v.item.key for v in store.items("ev")] == ["fake:2"]
    (gone,) = [v for v in store.items("ev", include_deleted=True) if v.deleted]
    assert (gone.item.text, gone.item.html, dict(gone.item.raw), gone.item.links) == (
        "",
        "",
        {},
        (),
    )
    assert store.counts("ev") == {"items": 1, "deleted": 1}
    assert count(store, ItemLink) == 0


def test_a_partial_listing_deletes_nothing(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1), item(2), listing=True)
    counts = save(store, source, item(2))  # listing=None: a window, not the whole
    assert counts.deleted == 0
    assert len(store.items("ev")) == 2


def test_a_tombstoned_item_that_reappears_is_restored(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1), item(2), listing=True)
    save(store, source, item(2), listing=True)
    counts = save(store, source, item(1), item(2), listing=True)
    assert counts.restored == 1
    assert {v.item.key for v in store.items("ev")} == {"fake:1", "fake:2"}


def test_one_source_listing_does_not_delete_another_sources_items(store: Store) -> None:
    a, b = setup(store, "ev/fake:one", "ev/fake:two")
    save(store, a, item(1), listing=True)
    counts = save(store, b, item(2), listing=True)
    assert counts.deleted == 0


def test_state_is_written_with_the_items_and_the_run_is_recorded(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1), state={"min_id": "42"})
    (after,) = store.sources(source_id=source.spec.id)
    assert after.state == {"min_id": "42"}
    assert after.last_success_at == NOW
    (run,) = store.fetch_runs(source.spec.id)
    assert (run["status"], run["new"], run["fetched"]) == ("ok", 1, 1)
    assert run["query"] == "fake one #coproduction"


def test_a_failure_is_data_on_the_source_and_leaves_state_and_items_alone(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1), state={"min_id": "42"})
    later = NOW + timedelta(hours=1)
    store.record_failure(
        source,
        "HTTP 503 from x",
        started_at=later,
        now=later,
        next_check_at=later + timedelta(minutes=30),
    )
    store.record_failure(
        source, "timeout", started_at=later, now=later, next_check_at=later + timedelta(hours=1)
    )
    (after,) = store.sources(source_id=source.spec.id)
    assert after.state == {"min_id": "42"}
    assert (after.last_error, after.error_count) == ("timeout", 2)
    assert after.next_check_at == later + timedelta(hours=1)
    assert len(store.items("ev")) == 1
    (health,) = store.health("ev")
    assert (health.items, health.error_count, health.last_success_at) == (1, 2, NOW)


def test_due_sources_are_those_whose_next_check_has_come(store: Store) -> None:
    a, _ = setup(store, "ev/fake:one", "ev/fake:two")
    save(store, a, item(1))  # next check in 15 minutes
    due = store.sources(due_at=NOW + timedelta(minutes=1))
    assert [s.spec.id for s in due] == ["ev/fake:two"]


def test_reconfiguring_keeps_state_and_disables_removed_sources(store: Store) -> None:
    a, _ = setup(store, "ev/fake:one", "ev/fake:two")
    save(store, a, item(1), state={"k": 1})
    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    remaining = store.sources(event="ev")
    assert [(s.spec.id, dict(s.state)) for s in remaining] == [("ev/fake:one", {"k": 1})]


def test_items_of_a_period_are_selected_by_creation_time(store: Store) -> None:
    (source,) = setup(store)
    t = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    save(
        store,
        source,
        item(1, created=t - timedelta(seconds=1)),
        item(2, created=t),
        item(3, created=t + timedelta(hours=23, minutes=59)),
        item(4, created=t + timedelta(days=1)),
    )
    day = store.items("ev", since=t, until=t + timedelta(days=1))
    assert [v.item.key for v in day] == ["fake:2", "fake:3"]


def test_links_are_stored_once_per_url(store: Store) -> None:
    (source,) = setup(store)
    save(
        store,
        source,
        item(1, links=("https://a.example/",)),
        item(2, links=("https://a.example/", "https://b.example/")),
    )
    assert count(store, Link) == 2
    assert count(store, ItemLink) == 3


def test_an_edit_that_removes_a_link_unlinks_it(store: Store) -> None:
    (source,) = setup(store)
    save(store, source, item(1, text="see", links=("https://a.example/",)))
    save(store, source, item(1, text="never mind", links=()))
    assert count(store, ItemLink) == 0


def test_large_batches_are_written_in_chunks(store: Store) -> None:
    (source,) = setup(store)
    counts = save(store, source, *(item(n) for n in range(1, 1201)))
    assert counts.new == 1200
    assert len(store.items("ev")) == 1200


def test_naive_datetimes_are_refused_and_nothing_is_half_written(store: Store) -> None:
    (source,) = setup(store)
    naive = replace(item(2), created_at=datetime(2026, 11, 20, 9, 0))
    with pytest.raises(ValueError, match="naive"):
        save(store, source, item(1), naive, state={"cursor": "advanced"})
    assert store.items("ev") == []
    assert store.sources(source_id=source.spec.id)[0].state == {}


def test_a_reply_naming_its_parent_by_an_alias_is_threaded(store: Store) -> None:
    (source,) = setup(store)
    parent = replace(item(1), aliases=("fake-local:server/901",))
    reply = replace(item(2), in_reply_to="fake-local:server/901")
    save(store, source, reply)  # the reply can arrive before its parent
    assert store.items("ev")[0].item.in_reply_to == "fake-local:server/901"
    save(store, source, parent)
    by_key = {v.item.key: v.item for v in store.items("ev")}
    assert by_key["fake:2"].in_reply_to == "fake:1"


def test_an_author_seen_through_a_bridge_never_overwrites_their_own_platforms_profile(
    store: Store,
) -> None:
    (source,) = setup(store)
    own = item(1)
    copy = replace(
        item(1, text="as the bridge rendered it"),
        via="bridgy-fed",
        author=replace(own.author, handle="@ana@bsky.brid.gy", avatar_url="https://bridge/a.png"),
    )
    save(store, source, own)
    save(store, source, copy)
    (view,) = store.items("ev")
    assert (view.item.author.handle, view.item.author.avatar_url) == ("@ana", None)
    assert view.item.text == "post number 1"


@pytest.mark.parametrize("n", [1, 2, 64, 65, 500, 501, 1100])
def test_lookups_by_key_find_every_key_whatever_the_number_asked(store: Store, n: int) -> None:
    (source,) = setup(store)
    save(store, source, *(item(k) for k in range(1, n + 1)))
    c = Item.__table__.c
    keys = [f"fake:{k}" for k in range(n, 0, -1)] + ["fake:missing"]
    with store.engine.connect() as conn:
        found = select_in(conn, (c.key, c.id), c.key, keys, key="test.lookups")
        ids = {key: id_ for key, id_ in conn.execute(select(c.key, c.id))}
    assert sorted(map(tuple, found)) == sorted(ids.items())
    # A few statements serve every length (padded to a multiple of 32 past 64 keys).
    sizes = {k for k, *_ in _PREPARED[store.engine.dialect] if k.startswith("test.lookups:")}
    assert len(sizes) <= 3
