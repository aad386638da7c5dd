"""A real ``aggregator run`` process stopped mid-fetch: SIGTERM lets the fetch finish
within the grace period or cancels it without writing anything, and exits 0; SIGKILL
leaves a lease that lapses. Either way a restart stores every item exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aggregator.demo.httpserver import LoopbackServer
from aggregator.store import Store
from aggregator.store.schema import FetchRun
from tests.test_service import Overlap, config_text, mastodon

STATUSES = 100
"""Three pages of 40: a fetch spans several slow requests."""
TAG = "coproa"


def start_worker(config: Path, worker: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator.cli",
            "--config",
            str(config),
            "run",
            "--worker-id",
            worker,
            *extra,
        ],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], timeout: float = 30) -> int:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the worker did not exit")
    if process.returncode not in (0, -signal.SIGKILL):
        print(err)
    return process.returncode


@pytest.fixture
def slow_server() -> Iterator[tuple[str, Overlap]]:
    """A Mastodon server taking 0.6 s per response, and its address."""
    watched = Overlap(mastodon("s0.example", STATUSES, tags=(TAG,)), delay=0.6)
    with LoopbackServer(watched) as server:
        yield server.base_url, watched


def write_config(tmp_path: Path, url: str, **service: Any) -> tuple[Path, Store]:
    database = f"sqlite:///{tmp_path / 'a.db'}"
    path = tmp_path / "aggregator.toml"
    path.write_text(config_text(database, [url], (TAG,), service=service), "utf-8")
    return path, Store.open(database)


def runs_and_new(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(func.count(), func.coalesce(func.sum(FetchRun.new), 0)).where(
                FetchRun.status == "ok"
            )
        ).one()
    return int(row[0]), int(row[1])


@pytest.mark.parametrize(
    ("grace", "stored"),
    [(0.2, 0), (30, STATUSES)],
    ids=["grace-runs-out-the-fetch-is-cancelled", "the-fetch-finishes-within-grace"],
)
def test_sigterm_mid_fetch_exits_0_and_a_restart_adds_no_duplicates(
    tmp_path: Path, slow_server: tuple[str, Overlap], grace: float, stored: int
) -> None:
    url, server = slow_server
    config, store = write_config(tmp_path, url, grace_seconds=grace)
    worker = start_worker(config, "w1")
    wait_for(lambda: server.timeline_requests() >= 1, 30, "the first request")
    worker.send_signal(signal.SIGTERM)
    assert finish(worker) == 0
    assert store.counts(TAG)["items"] == stored
    assert store.source_leases() == {}, "leases are given back on the way out"
    (source,) = store.sources()
    if stored == 0:
        assert source.state == {}, "a cancelled fetch does not move the cursor"
        assert runs_and_new(store) == (0, 0)

    server.delay = 0.0
    restart = start_worker(config, "w2", "--once")
    assert finish(restart) == 0
    assert store.counts(TAG)["items"] == STATUSES
    _, new = runs_and_new(store)
    assert new == STATUSES, "each item was new exactly once"


def test_after_kill_9_the_lease_lapses_and_another_worker_stores_each_item_once(
    tmp_path: Path, slow_server: tuple[str, Overlap]
) -> None:
    url, server = slow_server
    config, store = write_config(tmp_path, url, lease_seconds=3)
    worker = start_worker(config, "doomed")
    wait_for(lambda: server.timeline_requests() >= 1, 30, "the first request")
    worker.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert finish(worker) == -signal.SIGKILL
    (lease,) = store.source_leases().values()
    assert lease.owner == "doomed"

    server.delay = 0.0
    asked = server.timeline_requests()
    early = start_worker(config, "w2", "--once")
    assert finish(early) == 0
    if time.monotonic() - killed_at < 3:
        assert server.timeline_requests() == asked, "a live lease is respected"
    wait_for(lambda: time.monotonic() - killed_at > 3.2, 10, "the lease to lapse")
    late = start_worker(config, "w2", "--once")
    assert finish(late) == 0
    assert store.counts(TAG)["items"] == STATUSES
    assert runs_and_new(store) == (1, STATUSES)
    assert store.source_leases() == {}
