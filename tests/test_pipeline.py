"""The update pipeline: failures are data, one failing source never stops the others,
and a source's state only moves together with its items."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from aggregator.decisions import Schedule
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.models import ConsentPolicy
from aggregator.store import EventRecord, Store
from aggregator.update import Updater
from tests.conftest import Clock
from tests.fakes import FakeSource, item, spec

EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 22), 0
)
SCHEDULE = Schedule(interval=timedelta(minutes=15), max_backoff=timedelta(hours=6), jitter=0)


def run(store: Store, clock: Clock, fake: FakeSource, *source_ids: str):
    store.sync_event(EVENT, [spec(s) for s in source_ids], clock())

    async def go():
        async with httpx.AsyncClient() as client:
            updater = Updater(
                store=store, client=client, clock=clock, schedule=SCHEDULE, sources={"fake": fake}
            )
            return await updater.update(store.sources(event="ev"))

    return asyncio.run(go())


def test_items_and_state_are_stored_and_the_next_check_is_scheduled(
    store: Store, clock: Clock
) -> None:
    fake = FakeSource().returns(item(1), item(2), state={"cursor": "2"})
    (report,) = run(store, clock, fake, "ev/fake:one")
    assert (report.counts.new, report.error) == (2, None)
    (source,) = store.sources()
    assert source.state == {"cursor": "2"}
    assert source.next_check_at == clock() + timedelta(minutes=15)


@pytest.mark.parametrize(
    "error",
    [
        TemporaryError("timeout fetching https://x"),
        RateLimited("HTTP 429", timedelta(seconds=90)),
        ParseError("malformed JSON"),
        PermanentError("HTTP 404: Record not found"),
        RuntimeError("a bug in a parser"),
    ],
    ids=["timeout", "429", "bad-json", "404", "bug"],
)
def test_a_failing_source_does_not_stop_the_others_nor_lose_what_was_stored(
    store: Store, clock: Clock, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSource().returns(item(1), state={"cursor": "1"})
    run(store, clock, fake, "ev/fake:one")
    clock.advance(minutes=20)
    fake.fails(error).returns(item(2), state={"cursor": "2"})
    with caplog.at_level(logging.WARNING):
        reports = {r.source_id: r for r in run(store, clock, fake, "ev/fake:one", "ev/fake:two")}
    failed, ok = reports["ev/fake:one"], reports["ev/fake:two"]
    assert failed.error is not None
    assert ok.error is None
    assert ok.counts.new == 1
    one = store.sources(source_id="ev/fake:one")[0]
    assert one.state == {"cursor": "1"}, "a failed fetch must not advance the cursor"
    assert one.error_count == 1
    assert {v.item.key for v in store.items("ev")} == {"fake:1", "fake:2"}
    if isinstance(error, RuntimeError):
        assert "internal error" in (one.last_error or "")
        assert any(r.levelno == logging.ERROR for r in caplog.records), "bugs are logged loudly"


def test_retry_after_is_honoured(store: Store, clock: Clock) -> None:
    fake = FakeSource().fails(RateLimited("HTTP 429", timedelta(minutes=40)))
    run(store, clock, fake, "ev/fake:one")
    (source,) = store.sources()
    assert source.next_check_at == clock() + timedelta(minutes=40)


def test_repeated_failures_back_off_exponentially_up_to_a_cap(store: Store, clock: Clock) -> None:
    fake = FakeSource()
    waits = []
    for _ in range(8):
        fake.fails(TemporaryError("HTTP 503"))
        run(store, clock, fake, "ev/fake:one")
        (source,) = store.sources()
        waits.append(source.next_check_at - clock())
    assert waits[:3] == [timedelta(minutes=30), timedelta(minutes=60), timedelta(minutes=120)]
    assert waits[-1] == timedelta(hours=6)
    fake.returns(item(1))
    run(store, clock, fake, "ev/fake:one")
    (source,) = store.sources()
    assert (source.error_count, source.next_check_at - clock()) == (0, timedelta(minutes=15))


STRICT = ConsentPolicy(require_indexable=True)


def test_the_fetch_context_carries_the_clock_and_the_events_horizon_and_policy(
    store: Store, clock: Clock
) -> None:
    fake = FakeSource().returns()
    store.sync_event(EVENT, [spec("ev/fake:one")], clock())

    async def go():
        async with httpx.AsyncClient() as client:
            horizon = clock() - timedelta(days=2)
            updater = Updater(
                store=store,
                client=client,
                clock=clock,
                schedule=SCHEDULE,
                sources={"fake": fake},
                horizons={"ev": horizon},
                max_pages=7,
                consents={"ev": STRICT},
            )
            await updater.update(store.sources())
            return horizon

    horizon = asyncio.run(go())
    ((_, ctx),) = fake.calls
    assert (ctx.now, ctx.horizon, ctx.max_pages, ctx.consent) == (clock(), horizon, 7, STRICT)


def test_an_unknown_platform_is_an_error_on_that_source(store: Store, clock: Clock) -> None:
    store.sync_event(EVENT, [spec("ev/gone:one", platform="gone")], clock())

    async def go():
        async with httpx.AsyncClient() as client:
            updater = Updater(
                store=store, client=client, clock=clock, schedule=SCHEDULE, sources={}
            )
            return await updater.update(store.sources())

    (report,) = asyncio.run(go())
    assert report.error == "unknown platform 'gone'"


def test_jitter_spreads_checks_within_its_fraction() -> None:
    from aggregator.decisions import next_check_after_success

    schedule = Schedule(interval=timedelta(minutes=10), max_backoff=timedelta(hours=1), jitter=0.2)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    rng = random.Random(1)
    waits = {next_check_after_success(now, schedule, rng=rng) - now for _ in range(50)}
    assert len(waits) > 1
    assert all(timedelta(minutes=10) <= w <= timedelta(minutes=12) for w in waits)


def test_a_quiet_source_is_polled_less_often_until_a_new_item_arrives(
    store: Store, clock: Clock
) -> None:
    fake = FakeSource()
    waits = []
    for _ in range(6):
        fake.returns()
        run(store, clock, fake, "ev/fake:one")
        (source,) = store.sources()
        waits.append((source.next_check_at - clock()) / timedelta(minutes=1))
        clock.advance(hours=3)
    assert waits == [15, 15, 30, 30, 30, 60]
    fake.returns(item(1))
    run(store, clock, fake, "ev/fake:one")
    (source,) = store.sources()
    assert source.next_check_at - clock() == timedelta(minutes=15)


def test_a_pass_holds_the_cyclic_collector_off_and_hands_it_back(
    store: Store, clock: Clock
) -> None:
    # A pass makes and drops tens of thousands of objects: the collector's walks of
    # the heap would find nothing to free (aggregator.gcpause, benchmarks/collect.py).
    enabled_during: list[bool] = []

    class Watching(FakeSource):
        async def fetch(self, source, ctx):  # type: ignore[no-untyped-def]
            enabled_during.append(gc.isenabled())
            return await super().fetch(source, ctx)

    fake = Watching().returns(item(1)).returns(item(2))
    assert gc.isenabled()
    reports = run(store, clock, fake, "ev/fake:one", "ev/fake:two")
    assert [r.counts.new for r in reports] == [1, 1]
    assert enabled_during == [False, False]
    assert gc.isenabled()
