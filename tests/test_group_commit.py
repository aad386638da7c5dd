"""Outcomes recorded together (one transaction for the fetches that finish in one turn
of the event loop) read exactly as if each had been recorded alone; one that cannot be
written (a lost lease) leaves the others written."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest

from aggregator.models import FetchResult, IngestCounts
from aggregator.store import EventRecord, Store
from aggregator.store.leases import LeaseLost
from aggregator.store.runs import Failure, Success
from aggregator.update import GroupWriter
from tests.conftest import Clock
from tests.fakes import item, spec

EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 22), 0
)
LEASE = timedelta(minutes=10)
IDS = ["ev/fake:a", "ev/fake:b", "ev/fake:c"]


def test_a_group_writes_each_outcome_as_if_alone(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec(i) for i in IDS], clock())
    a, b, c = store.sources()
    now = clock()
    answers = store.record_outcomes(
        [
            Success(a, FetchResult(items=(item(1), item(2)), state={"n": 1}), now, now, now),
            Failure(b, "HTTP 503", now, now, now + timedelta(minutes=5)),
            Success(
                c,
                FetchResult(items=(item(2),), state={"n": 3}, not_modified=False),
                now,
                now,
                lambda counts, quiet: now + timedelta(minutes=10 + counts.new + quiet),
                quiet_limit=4,
            ),
        ]
    )
    assert answers == [IngestCounts(new=2), None, IngestCounts(unchanged=1)]
    rows = {s.spec.id: s for s in store.sources()}
    assert rows["ev/fake:a"].state == {"n": 1}
    assert (rows["ev/fake:b"].state, rows["ev/fake:b"].error_count) == ({}, 1)
    assert rows["ev/fake:c"].next_check_at == now + timedelta(minutes=10)
    assert [r["status"] for r in store.fetch_runs("ev/fake:b")] == ["error"]
    assert [r["new"] for r in store.fetch_runs("ev/fake:a")] == [2]
    assert {v.item.key for v in store.items("ev")} == {"fake:1", "fake:2"}


def test_quiet_runs_count_earlier_runs_only(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec(IDS[0])], clock())
    (a,) = store.sources()
    seen: list[int] = []

    def remember(counts: IngestCounts, quiet: int) -> datetime:
        seen.append(quiet)
        return clock()

    for _ in range(3):
        store.record_outcomes(
            [Success(a, FetchResult(items=(), state={}), clock(), clock(), remember, 8)]
        )
    assert seen == [0, 1, 2]


def test_a_lost_lease_keeps_only_its_own_outcome_out(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec(i) for i in IDS], clock())
    stale = store.claim_due("slow", now=clock(), limit=3, lease=LEASE)
    clock.advance(minutes=11)
    fresh = {s.spec.id: s for s in store.claim_due("w2", now=clock(), limit=1, lease=LEASE)}
    now = clock()
    outcomes = [
        Success(s, FetchResult(items=(item(n),), state={"n": n}), now, now, now, lease_owner="slow")
        for n, s in enumerate(stale)
    ]
    answers = store.record_outcomes(outcomes)
    lost = [i for i, a in enumerate(answers) if isinstance(a, LeaseLost)]
    assert [stale[i].spec.id for i in lost] == list(fresh)
    rows = {s.spec.id: s for s in store.sources()}
    for n, s in enumerate(stale):
        assert rows[s.spec.id].state == ({} if n in lost else {"n": n})


def test_the_writer_groups_what_finishes_together_and_answers_each(
    store: Store, clock: Clock
) -> None:
    store.sync_event(EVENT, [spec(i) for i in IDS], clock())
    sources = store.sources()
    calls: list[int] = []
    record = store.record_outcomes

    class Counting(Store):
        def record_outcomes(self, outcomes):  # type: ignore[no-untyped-def]
            calls.append(len(outcomes))
            return record(outcomes)

    counting = Counting(store.engine)
    writer = GroupWriter(counting)
    now = clock()

    async def main() -> list[IngestCounts | None]:
        return await asyncio.gather(
            *(
                writer.record(Success(s, FetchResult(items=(item(n),), state={}), now, now, now))
                for n, s in enumerate(sources)
            )
        )

    assert asyncio.run(main()) == [IngestCounts(new=1)] * 3
    assert calls == [3]


def test_a_fetch_cancelled_while_waiting_is_not_written(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec(IDS[0])], clock())
    (a,) = store.sources()
    writer = GroupWriter(store)
    now = clock()

    async def main() -> None:
        task = asyncio.ensure_future(
            writer.record(Success(a, FetchResult(items=(item(1),), state={"x": 1}), now, now, now))
        )
        await asyncio.sleep(0)  # queued, not yet written
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    asyncio.run(main())
    assert store.items("ev") == []
    assert store.sources()[0].state == {}
