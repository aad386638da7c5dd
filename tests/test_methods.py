"""The methods note beside an export: where, when, how and under which consent rules
the data was collected, with counts of what was left out, and no names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from aggregator.methods import methods_note
from aggregator.models import AuthorData, ConsentPolicy, ExcludedItem, FetchResult
from aggregator.optouts import parse_rule
from aggregator.store import EventRecord, Store
from tests.fakes import item, spec

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EVENT = EventRecord(
    "ev",
    "Coproduction launch",
    ("coproduction",),
    "Europe/London",
    date(2026, 11, 20),
    date(2026, 11, 22),
    2,
)
CAROL = AuthorData("fake:@carol", "fake", "Carol Secret", "@carol@hidden.example")


def test_the_note_says_where_when_and_under_which_rules_and_names_no_one(store: Store) -> None:
    store.sync_event(EVENT, [spec("ev/fake:server.example")], NOW)
    (source,) = store.sources()
    excluded = (ExcludedItem("fake:99", "nobot", NOW),)
    store.record_success(
        source,
        FetchResult(
            items=(item(1), replace(item(2), author=CAROL)),
            state={},
            requests=3,
            excluded={"nobot": 1},
            excluded_items=excluded,
        ),
        started_at=NOW - timedelta(minutes=1),
        now=NOW,
        next_check_at=NOW,
    )
    store.record_failure(
        source, "HTTP 503 from server.example", started_at=NOW, now=NOW, next_check_at=NOW
    )
    store.add_optout(parse_rule("hidden.example"), reason="asked", by="organiser", now=NOW)
    note = methods_note(
        store,
        EVENT,
        consent=ConsentPolicy(require_indexable=True),
        horizon=datetime(2026, 11, 18, tzinfo=UTC),
        now=NOW,
    )
    assert "Hashtags: #coproduction" in note
    assert (
        "fake: server.example; fetched 2026-11-23 07:59 to 2026-11-23 08:00 UTC; 2 items." in note
    )
    assert "`require_indexable` = True" in note
    assert "Items left out: 2 (nobot 1, optout 1)" in note
    assert "Removed by their authors after collection (deleted, made private): 0" in note
    assert "1 error, 1 ok; 3 requests" in note
    assert "error ×1: HTTP 503 from server.example" in note
    for secret in ("Carol", "hidden.example", "asked"):
        assert secret not in note
