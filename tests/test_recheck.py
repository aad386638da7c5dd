"""Keeping stored items true: a re-check on a schedule proportional to their age finds
edits, deletions and withdrawn consent, and whatever is gone leaves every output."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from aggregator.decisions import Schedule, recheck_due
from aggregator.demo.httpserver import Fault, LoopbackServer
from aggregator.demo.mastodon_sim import MastodonSim, make_account, make_status, snowflake_id
from aggregator.digest.context import build_context, event_period
from aggregator.digest.render import render
from aggregator.export import write_jsonl
from aggregator.http import make_client
from aggregator.models import SourceSpec
from aggregator.sources.mastodon import SOURCE
from aggregator.store import EventRecord, Store
from aggregator.update import Updater
from tests.conftest import Clock

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EVENT = EventRecord(
    "ev", "Launch", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 22), 1
)
ALICE = make_account("alice", display_name="Alice")
BOB = make_account("bob", display_name="Bob")


@pytest.mark.parametrize(
    ("age", "since_check", "due"),
    [
        (timedelta(minutes=5), timedelta(minutes=5), False),
        (timedelta(minutes=40), timedelta(minutes=11), True),
        (timedelta(hours=8), timedelta(hours=1), False),
        (timedelta(hours=8), timedelta(hours=2), True),
        (timedelta(days=10), timedelta(hours=23), False),
        (timedelta(days=10), timedelta(days=1), True),
    ],
)
def test_the_older_an_item_the_less_often_it_is_checked(
    age: timedelta, since_check: timedelta, due: bool
) -> None:
    now = T0 + timedelta(days=30)
    assert recheck_due(now - age, now - since_check, now) is due


def status(n: int, text: str, account=ALICE) -> dict:
    return make_status(
        snowflake_id(T0 + timedelta(minutes=n), n),
        created_at=T0 + timedelta(minutes=n),
        content=f"<p>{text} #coproduction</p>",
        account=account,
        tags=["coproduction"],
    )


def collect(store: Store, server: LoopbackServer, clock: Clock) -> None:
    spec = SourceSpec(
        "ev/mastodon:sim", "ev", "mastodon", "sim", ("coproduction",), {"instance": server.base_url}
    )
    store.sync_event(EVENT, [spec], clock())

    async def go():
        async with make_client(timeout=httpx.Timeout(2.0)) as client:
            updater = Updater(
                store=store,
                client=client,
                clock=clock,
                schedule=Schedule(timedelta(minutes=15), timedelta(hours=1)),
                sources={"mastodon": SOURCE},
                horizons={"ev": T0 - timedelta(days=1)},
            )
            return await updater.update(store.sources())

    (report,) = asyncio.run(go())
    assert report.error is None, report.error


@pytest.fixture(params=[True, False], ids=["batch-lookup", "before-4.3"])
def sim(request: pytest.FixtureRequest, clock: Clock) -> MastodonSim:
    return MastodonSim(
        [status(1, "first"), status(2, "second"), status(3, "third", BOB)],
        clock=clock,
        batch_lookup=request.param,
    )


def test_edits_deletions_and_withdrawn_consent_are_found_and_leave_every_output(
    store: Store, sim: MastodonSim, clock: Clock
) -> None:
    clock.now = T0 + timedelta(hours=1)
    with LoopbackServer(sim) as server:
        collect(store, server, clock)
        assert len(store.items("ev")) == 3
        first, second, third = (
            status(n, t, a)
            for n, t, a in ((1, "first", ALICE), (2, "second", ALICE), (3, "third", BOB))
        )
        sim.edit(first["id"], content="<p>first, corrected #coproduction</p>", at=clock())
        sim.delete(second["id"])
        sim.delete(third["id"])
        sim.add({**third, "account": {**BOB, "noindex": True}})
        clock.advance(hours=1)
        collect(store, server, clock)

    live = {v.item.text for v in store.items("ev")}
    assert live == {"first, corrected #coproduction"}
    assert store.exclusions("ev") == {"noindex": 1}
    ctx = build_context(store, EVENT, event_period(EVENT), now=clock())
    exported = io.StringIO()
    write_jsonl(store.iter_items("ev"), exported)
    page = render(ctx, "html") + render(ctx, "json") + exported.getvalue()
    for gone in ("second", "third", "Bob"):
        assert gone not in page
    assert ctx.removed == 1
    runs = [r for r in store.fetch_runs("ev/mastodon:sim") if r["status"] == "recheck"]
    assert [r["deleted"] for r in runs] == [2], "one re-check, right when it was due"


def test_nothing_is_rechecked_before_it_is_due(store: Store, clock: Clock) -> None:
    sim = MastodonSim([status(1, "first")], clock=clock)
    clock.now = T0 + timedelta(minutes=2)
    with LoopbackServer(sim) as server:
        collect(store, server, clock)
        before = len(server.requests)
        clock.advance(minutes=1)
        collect(store, server, clock)
        assert [r.path for r in server.requests[before:]] == ["/api/v1/timelines/tag/coproduction"]


def test_a_failing_recheck_changes_nothing_and_the_fetch_still_succeeds(
    store: Store, clock: Clock
) -> None:
    sim = MastodonSim([status(1, "first")], clock=clock)
    clock.now = T0 + timedelta(hours=1)
    with LoopbackServer(sim) as server:
        collect(store, server, clock)
        clock.advance(hours=1)
        server.inject(Fault("status", status=503, path_prefix="/api/v1/statuses"), times=50)
        collect(store, server, clock)
    assert [v.item.text for v in store.items("ev")] == ["first #coproduction"]


def test_items_known_true_since_a_moment_are_left_out_by_the_database(
    store: Store, clock: Clock
) -> None:
    def candidates(**kwargs: datetime) -> set[str]:
        found = store.recheck_candidates(
            "ev/mastodon:sim", since=T0 - timedelta(days=1), due=lambda *_: True, **kwargs
        )
        return {ref.key for ref, _ in found}

    sim = MastodonSim([status(1, "first"), status(2, "second")], clock=clock)
    clock.now = T0 + timedelta(hours=1)
    with LoopbackServer(sim) as server:
        collect(store, server, clock)
        older = candidates()
        sim.add(status(3, "third"))
        clock.advance(minutes=5)
        collect(store, server, clock)  # returns only the new status: seen just now

    assert len(older) == 2
    assert len(candidates()) == 3
    assert candidates(known_before=clock() - timedelta(minutes=2)) == older
