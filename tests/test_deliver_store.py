"""Deliveries in the store: claimed by one worker at a time, sent once, retried after a
failure or a lapsed claim, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aggregator.store import Store
from aggregator.store.deliveries import DeliveryKey
from tests.fakes import spec
from tests.test_deliver_support import EVENT

NOW = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
KEY = DeliveryKey("ev", date(2026, 11, 20), "email")
LEASE = timedelta(minutes=10)


@pytest.fixture
def deliveries(store: Store) -> Store:
    store.sync_event(EVENT, [], NOW)
    return store


def claim(store: Store, worker: str, now: datetime = NOW, **kwargs: object):
    return store.claim_delivery(
        KEY,
        worker=worker,
        now=now,
        lease=LEASE,
        max_attempts=kwargs.pop("max_attempts", 3),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_first_worker_holds_a_delivery_and_the_next_does_not(deliveries: Store) -> None:
    first = claim(deliveries, "a", message_id="<1@example.org>")
    assert first.held
    assert first.message_id == "<1@example.org>"
    assert not claim(deliveries, "b", message_id="<2@example.org>").held
    record = deliveries.delivery(KEY)
    assert record is not None
    assert (record.status, record.claimed_by, record.claimed_until) == ("claimed", "a", NOW + LEASE)


def test_a_sent_delivery_is_never_claimed_again(deliveries: Store) -> None:
    assert claim(deliveries, "a", message_id="<1@example.org>").held
    deliveries.mark_delivered(KEY, now=NOW, message_id="<1@example.org>")
    for later in (NOW, NOW + timedelta(days=3)):
        assert not claim(deliveries, "b", later).held
    record = deliveries.delivery(KEY)
    assert record is not None
    assert (record.status, record.attempts, record.message_id, record.sent_at) == (
        "sent",
        1,
        "<1@example.org>",
        NOW,
    )


def test_a_lapsed_claim_is_taken_over_with_the_same_message_id(deliveries: Store) -> None:
    assert claim(deliveries, "crashed", message_id="<1@example.org>").held
    assert not claim(deliveries, "b", NOW + LEASE - timedelta(seconds=1)).held
    taken = claim(deliveries, "b", NOW + LEASE, message_id="<2@example.org>")
    # A re-send after a crash carries the first attempt's Message-ID: recognisable.
    assert (taken.held, taken.message_id) == (True, "<1@example.org>")


def test_a_failure_is_retried_after_its_back_off_until_attempts_run_out(
    deliveries: Store,
) -> None:
    now = NOW
    for attempt in range(1, 4):
        assert claim(deliveries, "a", now, max_attempts=3).held
        retry = now + timedelta(minutes=5 * attempt)
        deliveries.mark_delivery_failed(
            KEY, worker="a", now=now, error=f"451 try later ({attempt})", retry_at=retry
        )
        record = deliveries.delivery(KEY)
        assert record is not None
        assert (record.status, record.attempts, record.last_error) == (
            "failed",
            attempt,
            f"451 try later ({attempt})",
        )
        assert not claim(deliveries, "b", retry - timedelta(seconds=1)).held
        now = retry
    # Three failures of three attempts: given up, until someone forces it.
    assert not claim(deliveries, "a", now + timedelta(days=1), max_attempts=3).held
    assert claim(deliveries, "a", now + timedelta(days=1), force=True, message_id="<n@x>").held


def test_force_takes_a_sent_delivery_as_a_new_message_but_never_a_live_claim(
    deliveries: Store,
) -> None:
    assert claim(deliveries, "a", message_id="<1@example.org>").held
    assert not claim(deliveries, "b", force=True, message_id="<2@example.org>").held
    deliveries.mark_delivered(KEY, now=NOW, message_id="<1@example.org>")
    again = claim(deliveries, "b", force=True, message_id="<2@example.org>")
    assert (again.held, again.message_id) == (True, "<2@example.org>")


def test_only_the_holder_records_a_failure(deliveries: Store) -> None:
    assert claim(deliveries, "a").held
    assert claim(deliveries, "b", NOW + LEASE).held  # a's claim lapsed
    deliveries.mark_delivery_failed(
        KEY, worker="a", now=NOW + LEASE, error="late", retry_at=NOW + 2 * LEASE
    )
    record = deliveries.delivery(KEY)
    assert record is not None
    assert (record.status, record.claimed_by, record.attempts) == ("claimed", "b", 0)


def test_channels_and_days_are_delivered_independently(deliveries: Store) -> None:
    assert claim(deliveries, "a").held
    for key in (
        DeliveryKey("ev", KEY.day, "archive"),
        DeliveryKey("ev", KEY.day + timedelta(days=1), "email"),
    ):
        assert deliveries.claim_delivery(key, worker="b", now=NOW, lease=LEASE, max_attempts=3).held
    assert [(r.key.day, r.key.channel) for r in deliveries.delivery_log("ev")] == [
        (KEY.day, "archive"),
        (KEY.day, "email"),
        (KEY.day + timedelta(days=1), "email"),
    ]


def test_a_failing_source_is_reported_once_per_streak(store: Store) -> None:
    from aggregator.models import FetchResult

    store.sync_event(EVENT, [], NOW)
    store.register_source(spec("ev/fake:one"), origin="import", enabled=True, now=NOW)
    (source,) = store.sources(event="ev")
    since = NOW + timedelta(hours=1)
    assert store.failing_sources(failing_since=since) == []  # not failing

    store.record_failure(source, "boom", started_at=NOW, now=NOW, next_check_at=NOW)
    # Failing since NOW: not since a second earlier.
    assert store.failing_sources(failing_since=NOW - timedelta(seconds=1)) == []
    assert store.failing_sources(failing_since=since) == ["ev/fake:one"]
    assert store.claim_failing_notice("ev/fake:one", since)
    assert not store.claim_failing_notice("ev/fake:one", since)
    assert store.failing_sources(failing_since=since) == []

    # A success ends the streak; the next streak gets its own notice.
    later = NOW + timedelta(hours=2)
    store.record_success(
        source, FetchResult(items=(), state={}), started_at=later, now=later, next_check_at=later
    )
    store.record_failure(source, "again", started_at=later, now=later, next_check_at=later)
    assert store.failing_sources(failing_since=later + timedelta(hours=1)) == ["ev/fake:one"]
