"""Source leases on both engines: a due source goes to one worker at a time, a lapsed
lease frees it, and a worker that lost its lease cannot write its result."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx
import pytest

from aggregator.decisions import Schedule
from aggregator.models import FetchResult
from aggregator.store import EventRecord, Store
from aggregator.store.leases import LeaseLost
from aggregator.update import Updater
from tests.conftest import Clock
from tests.fakes import FakeSource, item, spec

EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 22), 0
)
LEASE = timedelta(minutes=10)
IDS = ["ev/fake:a", "ev/fake:b", "ev/fake:c"]


def setup(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec(i) for i in IDS], clock())


def claim(store: Store, clock: Clock, worker: str, limit: int = 10) -> list[str]:
    return [s.spec.id for s in store.claim_due(worker, now=clock(), limit=limit, lease=LEASE)]


def test_each_due_source_is_claimed_by_one_worker(store: Store, clock: Clock) -> None:
    setup(store, clock)
    first = claim(store, clock, "w1", limit=2)
    second = claim(store, clock, "w2")
    assert len(first) == 2
    assert sorted(first + second) == IDS
    assert claim(store, clock, "w3") == []
    leases = store.source_leases()
    assert {leases[i].owner for i in first} == {"w1"}
    assert leases[second[0]].until == clock() + LEASE


def test_sources_not_due_or_disabled_are_not_claimed(store: Store, clock: Clock) -> None:
    setup(store, clock)
    store.sync_event(EVENT, [spec("ev/fake:a")], clock())  # b and c no longer configured
    ok = FetchResult(items=(), state={})
    (a,) = store.claim_due("w1", now=clock(), limit=5, lease=LEASE)
    store.record_success(
        a,
        ok,
        started_at=clock(),
        now=clock(),
        next_check_at=clock() + timedelta(minutes=15),
        lease_owner="w1",
    )
    assert claim(store, clock, "w1") == []
    clock.advance(minutes=15)
    assert claim(store, clock, "w1") == ["ev/fake:a"]


def test_a_lapsed_lease_frees_the_source_for_another_worker(store: Store, clock: Clock) -> None:
    setup(store, clock)
    claim(store, clock, "dead")
    clock.advance(minutes=9)
    assert claim(store, clock, "w2") == []
    clock.advance(minutes=1)
    assert sorted(claim(store, clock, "w2")) == IDS


def test_a_late_result_of_a_worker_that_lost_its_lease_is_discarded(
    store: Store, clock: Clock
) -> None:
    setup(store, clock)
    (stale,) = store.claim_due("slow", now=clock(), limit=1, lease=LEASE)
    clock.advance(minutes=11)
    (fresh,) = store.claim_due("w2", now=clock(), limit=1, lease=LEASE)
    assert fresh.spec.id == stale.spec.id
    late = FetchResult(items=(item(1),), state={"cursor": "late"})
    with pytest.raises(LeaseLost):
        store.record_success(
            stale,
            late,
            started_at=clock(),
            now=clock(),
            next_check_at=clock(),
            lease_owner="slow",
        )
    with pytest.raises(LeaseLost):
        store.record_failure(
            stale,
            "boom",
            started_at=clock(),
            now=clock(),
            next_check_at=clock(),
            lease_owner="slow",
        )
    assert store.items("ev") == []
    (row,) = store.sources(source_id=stale.spec.id)
    assert (row.state, row.error_count) == ({}, 0)
    # The holder's own result goes in, and gives the lease back.
    store.record_success(
        fresh,
        FetchResult(items=(item(2),), state={"cursor": "2"}),
        started_at=clock(),
        now=clock(),
        next_check_at=clock() + timedelta(minutes=15),
        lease_owner="w2",
    )
    assert [v.item.key for v in store.items("ev")] == ["fake:2"]
    assert stale.spec.id not in store.source_leases()


def test_release_gives_back_only_the_workers_own_leases(store: Store, clock: Clock) -> None:
    setup(store, clock)
    mine = claim(store, clock, "w1", limit=2)
    theirs = claim(store, clock, "w2")
    later = clock() + timedelta(hours=1)
    assert store.release("w1", [mine[0], theirs[0]], next_check_at=later) == 1
    assert store.release("w1") == 1
    assert set(store.source_leases()) == set(theirs)
    assert store.sources(source_id=mine[0])[0].next_check_at == later
    assert claim(store, clock, "w3") == [mine[1]]


def test_the_pipeline_of_a_worker_that_lost_its_lease_reports_and_writes_nothing(
    store: Store, clock: Clock
) -> None:
    setup(store, clock)
    (source,) = store.claim_due("slow", now=clock(), limit=1, lease=LEASE)
    clock.advance(minutes=11)
    store.claim_due("w2", now=clock(), limit=1, lease=LEASE)
    fake = FakeSource().returns(item(1), state={"cursor": "1"})

    async def go():  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient() as client:
            updater = Updater(
                store=store,
                client=client,
                clock=clock,
                schedule=Schedule(interval=timedelta(minutes=15), max_backoff=timedelta(hours=6)),
                sources={"fake": fake},
                worker="slow",
            )
            return await updater.update_one(source)

    report = asyncio.run(go())
    assert report.error is not None
    assert "discarded" in report.error
    assert store.items("ev") == []
    assert store.source_leases()[source.spec.id].owner == "w2"
