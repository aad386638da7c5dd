"""Moderation in the store, on SQLite and PostgreSQL: every decision is kept with who,
when and why, and the latest decision on a target is the one that applies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aggregator.models import Moderation, ModerationRecord
from aggregator.store import EventRecord, Store
from tests.fakes import item

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "Europe/London", date(2026, 11, 20), date(2026, 11, 22), 1
)


def decide(store: Store, kind: str, target: str, action: str, minutes: int = 0) -> None:
    store.moderate(
        ModerationRecord(
            event="ev",
            target_kind=kind,
            target=target,
            action=action,
            reason=f"{action} {target}",
            decided_by="organiser@example.org",
            decided_at=NOW + timedelta(minutes=minutes),
        )
    )


def test_no_decisions_moderate_nothing(store: Store) -> None:
    store.sync_event(EVENT, [], NOW)
    assert store.moderation("ev") == Moderation()
    assert store.moderation_log("ev") == []


def test_the_latest_decision_on_a_target_wins_and_the_log_keeps_them_all(store: Store) -> None:
    store.sync_event(EVENT, [], NOW)
    decide(store, "item", "fake:1", "hide", 0)
    decide(store, "item", "fake:2", "hide", 1)
    decide(store, "item", "fake:2", "show", 2)
    decide(store, "author", "fake:author:a", "hide", 3)
    decide(store, "item", "fake:3", "pin", 4)
    decide(store, "item", "fake:4", "pin", 5)
    decide(store, "item", "fake:5", "pin", 6)
    decide(store, "item", "fake:5", "unpin", 7)
    decide(store, "item", "fake:3", "feature", 8)

    state = store.moderation("ev")
    assert state.hidden_items == {"fake:1"}
    assert state.hidden_authors == {"fake:author:a"}
    assert state.pinned == ("fake:4", "fake:3")  # most recently pinned first
    assert state.featured == {"fake:3"}

    log = store.moderation_log("ev")
    assert [(r.target, r.action) for r in log][:3] == [
        ("fake:1", "hide"),
        ("fake:2", "hide"),
        ("fake:2", "show"),
    ]
    assert all(r.decided_by == "organiser@example.org" for r in log)
    assert log[0].reason == "hide fake:1"
    assert log[-1].decided_at == NOW + timedelta(minutes=8)


def test_moderation_hides_items_by_key_or_by_author() -> None:
    state = Moderation(hidden_items=frozenset({"fake:1"}), hidden_authors=frozenset())
    assert state.hides(item(1))
    assert not state.hides(item(2))
    by_author = Moderation(hidden_authors=frozenset({item(2).author.key}))
    assert by_author.hides(item(2))


@pytest.mark.parametrize(
    ("kind", "action", "message"),
    [("author", "pin", "an author can be hide, show"), ("server", "hide", "choose item or")],
)
def test_a_decision_that_makes_no_sense_is_refused(
    store: Store, kind: str, action: str, message: str
) -> None:
    store.sync_event(EVENT, [], NOW)
    with pytest.raises(ValueError, match=message):
        decide(store, kind, "x", action)
    assert store.moderation_log("ev") == []
