"""Three ``aggregator run`` workers on one PostgreSQL schema, one killed with SIGKILL
mid-run: every item is stored exactly once, no source is fetched by two workers at
once, and the dead worker's sources are taken over once its leases lapse."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aggregator.demo.httpserver import LoopbackServer
from aggregator.demo.mastodon_sim import make_account
from aggregator.store import Store
from aggregator.store.schema import FetchRun, Item, ItemSource
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.test_service import Overlap, config_text, mastodon
from tests.test_service_process import finish, start_worker, wait_for

pytestmark = pytest.mark.postgres

SERVERS = 4
TAGS = ("coproa", "coprob", "coproc")
PER_TAG = 50
LATE = 5
"""Statuses posted on each server and tag after the kill."""
LEASE = 3.0
TICK = 0.2
TAKEOVER = LEASE + 6.0
"""The lease, a tick, and room for a loaded machine."""


@pytest.fixture
def database(postgres_reason: str | None) -> Iterator[str]:
    """A fresh schema, migrated once (workers starting together then find it current)."""
    if postgres_reason:
        pytest.skip(postgres_reason)
    with postgres_schema() as schema:
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        Store.open(url).close()
        yield url


def test_three_workers_one_killed_store_each_item_once_and_never_overlap(
    tmp_path: Path, database: str
) -> None:
    sims = [
        Overlap(mastodon(f"s{n}.example", PER_TAG, TAGS, rate_limit=100_000), delay=0.15)
        for n in range(SERVERS)
    ]
    servers = [LoopbackServer(sim).start() for sim in sims]
    config = tmp_path / "aggregator.toml"
    config.write_text(
        config_text(
            database,
            [s.base_url for s in servers],
            TAGS,
            fetch={"interval_minutes": 0.05, "concurrency": 4, "per_host": 2},
            service={"tick_seconds": TICK, "lease_seconds": LEASE, "grace_seconds": 5},
        ),
        "utf-8",
    )
    store = Store.open(database)
    workers = {name: start_worker(config, name) for name in ("w1", "w2", "w3")}
    try:
        wait_for(
            lambda: any(lease.owner == "w1" for lease in store.source_leases().values()),
            60,
            "w1 to hold a lease",
        )
        workers["w1"].send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        assert finish(workers["w1"]) == -signal.SIGKILL
        orphans = {i for i, lease in store.source_leases().items() if lease.owner == "w1"}
        assert orphans, "the killed worker held sources"

        for sim in sims:
            for tag in TAGS:
                for n in range(LATE):
                    sim.app.post(f"<p>late {tag} {n}</p>", account=make_account("late"), tags=[tag])
        expected = SERVERS * len(TAGS) * (PER_TAG + LATE)
        wait_for(lambda: _count(store, Item) == expected, 60, "every item")
        time.sleep(1.5)  # a few more polling rounds, to catch a late duplicate
        for name in ("w2", "w3"):
            workers[name].send_signal(signal.SIGTERM)
        for name in ("w2", "w3"):
            assert finish(workers[name]) == 0, f"{name} stops cleanly"
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
        for server in servers:
            server.stop()

    assert _count(store, Item) == expected
    assert _count(store, ItemSource) == expected, "each item came from one source"
    with store.engine.connect() as conn:
        new = conn.execute(select(func.sum(FetchRun.new))).scalar_one()
        runs = conn.execute(
            select(FetchRun.source_id, FetchRun.started_at).where(FetchRun.status == "ok")
        ).all()
    assert new == expected, "no item was inserted twice"
    for sim in sims:
        overlapping = {p: n for p, n in sim.most.items() if p.startswith("/api/v1/timelines")}
        assert set(overlapping.values()) == {1}, f"a source fetched twice at once: {overlapping}"
    for source_id in orphans:
        taken = min(s for i, s in runs if i == source_id and s >= killed_at)
        assert taken - killed_at <= timedelta(seconds=TAKEOVER), source_id
    assert store.source_leases() == {}
    store.close()


def _count(store: Store, table: type[Item] | type[ItemSource]) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
