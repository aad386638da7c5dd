"""Headline figures: items, people, platforms, new voices, blog posts and comments,
with the change since the previous local day (none for the whole event). New voices
are found with one store query over the period's authors, not a scan of the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event as sa_event

from aggregator.digest.context import build_context, day_period, event_period
from aggregator.digest.figures import Tally, change_text, figures, tally
from aggregator.models import FetchResult, ItemData, RecheckResult
from aggregator.optouts import OptOutRule
from aggregator.store import EventRecord, Store
from tests.fakes import item, spec

# New York: the 20th runs 05:00 to 05:00 UTC.
EVENT = EventRecord(
    "ev", "Launch", ("coproduction",), "America/New_York", date(2026, 11, 20), date(2026, 11, 21), 1
)
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
THU = datetime(2026, 11, 19, 5, 0, tzinfo=UTC)
FRI = THU + timedelta(days=1)


def test_tally_counts_distinct_people_platforms_and_new_voices() -> None:
    items = [
        item(1, author="ana"),
        item(2, author="ana"),
        item(3, author="ben", platform="wordpress", kind="comment"),
        item(4, author="cy", platform="wordpress", kind="article"),
    ]
    assert tally(items, known={"fake:@ana"}) == Tally(
        items=4, people=3, platforms=2, new_voices=2, articles=1, comments=1
    )


def test_figures_carry_their_change_in_words_only_when_compared() -> None:
    now = Tally(items=12, people=5, platforms=2, new_voices=0, articles=0, comments=3)
    before = Tally(items=10, people=7, platforms=2, new_voices=1, articles=0, comments=0)
    by_key = {f.key: f for f in figures(now, before, since="Thursday")}
    assert (by_key["items"].previous, by_key["items"].change) == (10, 2)
    assert by_key["items"].change_text == "+2 since Thursday"
    assert by_key["people"].change_text == "−2 since Thursday"
    assert by_key["platforms"].change_text == "same as Thursday"
    assert [f.key for f in figures(now)] == [
        "items",
        "people",
        "platforms",
        "new_voices",
        "articles",
        "comments",
    ]
    assert all(f.change is None and f.change_text == "" for f in figures(now))
    assert change_text(1234, "Monday") == "+1,234 since Monday"


def store_items(store: Store, items: list[ItemData]) -> None:
    store.sync_event(EVENT, [spec("ev/fake:one")], NOW)
    (source,) = store.sources()
    store.record_success(
        source,
        FetchResult(items=tuple(items), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )


def test_a_day_is_compared_with_the_day_before_and_new_voices_are_first_timers(
    store: Store,
) -> None:
    store_items(
        store,
        [
            item(1, author="ana", created=THU - timedelta(hours=1)),  # Wednesday
            item(2, author="ana", created=THU + timedelta(hours=2)),
            item(3, author="ben", created=THU + timedelta(hours=3)),
            item(4, author="ana", created=FRI + timedelta(hours=1)),
            item(5, author="ben", created=FRI + timedelta(hours=2)),
            item(6, author="cy", created=FRI + timedelta(hours=3)),
            item(7, author="cy", created=FRI + timedelta(hours=4)),
        ],
    )
    ctx = build_context(store, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    by_key = {f.key: f for f in ctx.figures}
    assert ctx.compared_with == "Thursday"
    assert (by_key["items"].value, by_key["items"].previous) == (4, 2)
    assert (by_key["people"].value, by_key["people"].previous) == (3, 2)
    # Friday: only cy is new (ana and ben spoke on Thursday); Thursday: ben (ana spoke
    # on Wednesday).
    assert (by_key["new_voices"].value, by_key["new_voices"].previous) == (1, 1)
    assert by_key["new_voices"].change_text == "same as Thursday"


def test_the_whole_event_has_no_change_and_counts_voices_new_to_it(store: Store) -> None:
    store_items(store, [item(1, author="ana", created=FRI), item(2, author="ben", created=FRI)])
    ctx = build_context(store, EVENT, event_period(EVENT), now=NOW)
    assert ctx.compared_with is None
    assert all(f.change is None for f in ctx.figures)
    assert {f.key: f.value for f in ctx.figures}["new_voices"] == 2


def test_the_first_day_of_the_window_has_nothing_to_compare_with(store: Store) -> None:
    store_items(store, [item(1, created=THU)])
    first = EVENT.starts - timedelta(days=EVENT.lookback_days)
    ctx = build_context(store, EVENT, day_period(EVENT, first), now=NOW)
    assert ctx.compared_with is None
    assert ctx.figures[0].value == 1


def first_spoke_before(store: Store, event: str, authors: list[str], before: datetime) -> set[str]:
    """Of ``authors``, those with a live item in ``event`` created before ``before``."""
    return set(authors) & store.newcomers(
        event, since=datetime.min.replace(tzinfo=UTC), until=before
    )


def test_new_voices_are_one_statement_however_many_items_they_wrote(store: Store) -> None:
    earlier = [
        item(n, author=f"a{n % 150}", created=THU + timedelta(minutes=n)) for n in range(300)
    ]
    deleted_only = replace(item(999, author="gone", created=THU), key="fake:999")
    store_items(store, [*earlier, deleted_only])
    store.record_recheck(
        store.sources()[0],
        [],
        RecheckResult(gone=frozenset({"fake:999"})),
        started_at=NOW,
        now=NOW,
    )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa_event.listen(store.engine, "before_cursor_execute", count)
    try:
        new = store.newcomers("ev", since=THU, until=FRI)
        assert store.newcomers("ev", since=FRI, until=FRI + timedelta(days=1)) == set()
        assert store.newcomers("other", since=THU, until=FRI) == set(), "in this event only"
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", count)
    assert new == {f"fake:@a{n}" for n in range(150)}
    assert "fake:@gone" not in new, "a deleted item does not make its author a voice"
    assert len(statements) == 3


def test_when_authors_first_spoke_follows_deletions_restorations_and_other_events(
    store: Store,
) -> None:
    """New voices are read from when each author first spoke in each event, which every
    write keeps true: a deleted first item hands over to the next live one, a restored
    one takes its place back, an item another event's source returns counts there from
    then on, and an opted-out author is nobody's known voice."""
    wednesday = item(1, author="ana", created=THU - timedelta(hours=1))
    thursday = item(2, author="ana", created=THU + timedelta(hours=2))
    store_items(store, [wednesday, thursday])
    (source,) = store.sources()
    ana = ["fake:@ana"]

    def gone(*keys: str) -> None:
        result = RecheckResult(gone=frozenset(keys))
        store.record_recheck(source, [], result, started_at=NOW, now=NOW)

    assert first_spoke_before(store, "ev", ana, before=THU) == set(ana)
    gone(wednesday.key)
    assert first_spoke_before(store, "ev", ana, before=THU) == set(), "Thursday's is first now"
    assert first_spoke_before(store, "ev", ana, before=FRI) == set(ana)
    gone(thursday.key)
    assert first_spoke_before(store, "ev", ana, before=FRI) == set(), "no live item left"

    store_items(store, [wednesday])  # returned again: restored
    assert first_spoke_before(store, "ev", ana, before=THU) == set(ana)

    other = replace(EVENT, slug="other")
    store.sync_event(other, [spec("other/fake:two", event="other")], NOW)
    (elsewhere,) = store.sources(event="other")
    assert first_spoke_before(store, "other", ana, before=FRI) == set()
    store.record_success(
        elsewhere,
        FetchResult(items=(thursday,), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    assert first_spoke_before(store, "other", ana, before=FRI) == set(ana), "restored, in both"
    assert first_spoke_before(store, "other", ana, before=THU) == set(), "Wednesday's is not there"
    assert first_spoke_before(store, "ev", ana, before=THU) == set(ana)

    store.add_optout(OptOutRule("author", "fake:@ana"), reason=None, by="test", now=NOW)
    assert first_spoke_before(store, "ev", ana, before=FRI) == set()
    assert first_spoke_before(store, "other", ana, before=FRI) == set()
