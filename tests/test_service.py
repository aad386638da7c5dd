"""The collector service in-process, against loopback Mastodon servers: due sources
are fetched under a lease and given back, at most ``per_host`` at once per server, a
spent shared budget holds its other sources, periodic jobs run, and the health
endpoint and ``sources --json`` say how things are."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import cli
from aggregator.app import App, build_app
from aggregator.config import load_settings
from aggregator.demo.httpserver import LoopbackServer, Request, Response
from aggregator.demo.mastodon_sim import MastodonSim, make_account
from aggregator.models import FetchResult, RateLimit
from aggregator.service import Job, serve
from aggregator.service.health import alive, source_reports

TAGS = ("coproa", "coprob", "coproc", "coprod")


class Overlap:
    """Wraps a simulator: each response takes ``delay`` seconds, and the most requests
    in flight at once are counted per path (a tag's timeline is one source's) and per
    server."""

    def __init__(self, app: MastodonSim, delay: float = 0.0) -> None:
        self.app = app
        self.delay = delay
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.requests: list[str] = []

    def __call__(self, request: Request) -> Response:
        keys = (request.path, "*")
        with self.lock:
            self.requests.append(request.path)
            for key in keys:
                self.now[key] += 1
                self.most[key] = max(self.most[key], self.now[key])
        try:
            time.sleep(self.delay)
            return self.app(request)
        finally:
            with self.lock:
                for key in keys:
                    self.now[key] -= 1

    def timeline_requests(self) -> int:
        with self.lock:
            return sum(1 for p in self.requests if p.startswith("/api/v1/timelines/tag/"))


def mastodon(domain: str, per_tag: int, tags: Sequence[str] = TAGS, **options: Any) -> MastodonSim:
    sim = MastodonSim(domain=domain, **options)
    now = datetime.now(UTC)
    for n in range(per_tag):
        for tag in tags:
            sim.post(
                f"<p>{tag} {n} on {domain}</p>",
                account=make_account(f"user{n % 7}", domain=domain),
                tags=[tag],
                at=now - timedelta(minutes=n + 1, seconds=TAGS.index(tag)),
            )
    return sim


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[list[tuple[LoopbackServer, Overlap]]]:
    """``@pytest.mark.parametrize("servers", [(count, per_tag, delay)], indirect=True)``"""
    count, per_tag, delay = request.param
    started = []
    try:
        for n in range(count):
            watched = Overlap(mastodon(f"s{n}.example", per_tag), delay)
            started.append((LoopbackServer(watched).start(), watched))
        yield started
    finally:
        for server, _ in started:
            server.stop()


def config_text(
    database_url: str,
    urls: Sequence[str],
    tags: Sequence[str] = TAGS,
    *,
    fetch: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
) -> str:
    """One event per tag (so each source of a server reads its own timeline), each
    following every server in ``urls``; live today."""
    today = datetime.now(UTC).date()
    sections = {
        "fetch": {"interval_minutes": 15, "timeout_seconds": 10, **(fetch or {})},
        "service": {
            "tick_seconds": 0.2,
            "lease_seconds": 60,
            "grace_seconds": 5,
            **(service or {}),
        },
    }
    text = f'[database]\nurl = "{database_url}"\n'
    for name, values in sections.items():
        text += f"\n[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    for tag in tags:
        text += (
            f'\n[[events]]\nslug = "{tag}"\ntitle = "{tag}"\nhashtags = ["{tag}"]\n'
            f"starts = {today - timedelta(days=1)}\nends = {today + timedelta(days=1)}\n"
            "lookback_days = 1\n"
        )
        for url in urls:
            text += f'\n[[events.sources]]\nplatform = "mastodon"\ninstance = "{url}"\n'
    return text


def make_app(tmp_path: Path, urls: Sequence[str], **sections: dict[str, Any]) -> App:
    path = tmp_path / "aggregator.toml"
    path.write_text(config_text(f"sqlite:///{tmp_path / 'a.db'}", urls, **sections), "utf-8")
    return build_app(load_settings(path, env={}), env={})


def run(app: App, **kwargs: Any) -> int:
    return asyncio.run(serve(app, worker=kwargs.pop("worker", "w1"), **kwargs))


@pytest.mark.parametrize("servers", [(2, 30, 0.0)], indirect=True)
def test_due_sources_are_fetched_once_under_a_lease_that_is_then_given_back(
    tmp_path: Path, servers: list[tuple[LoopbackServer, Overlap]]
) -> None:
    app = make_app(tmp_path, [s.base_url for s, _ in servers])
    assert run(app, once=True) == 0
    assert sum(app.store.counts(tag)["items"] for tag in TAGS) == 2 * 30 * len(TAGS)
    assert app.store.source_leases() == {}
    now = datetime.now(UTC)
    assert all(s.next_check_at and s.next_check_at > now for s in app.store.sources())
    asked = sum(w.timeline_requests() for _, w in servers)
    assert run(app, once=True) == 0, "nothing is due: nothing is fetched"
    assert sum(w.timeline_requests() for _, w in servers) == asked


@pytest.mark.parametrize("servers", [(1, 45, 0.15)], indirect=True)
def test_at_most_per_host_sources_of_one_server_are_fetched_at_once(
    tmp_path: Path, servers: list[tuple[LoopbackServer, Overlap]]
) -> None:
    ((server, watched),) = servers
    app = make_app(tmp_path, [server.base_url], fetch={"per_host": 2, "concurrency": 8})
    assert run(app, once=True) == 0
    assert watched.most["*"] == 2
    assert sum(app.store.counts(tag)["items"] for tag in TAGS) == 45 * len(TAGS)


@pytest.mark.parametrize("servers", [(1, 3, 0.0)], indirect=True)
def test_a_spent_shared_budget_holds_the_other_sources_spending_it(
    tmp_path: Path, servers: list[tuple[LoopbackServer, Overlap]]
) -> None:
    ((server, watched),) = servers
    app = make_app(tmp_path, [server.base_url])
    spent, *others = app.store.sources()
    reset = datetime.now(UTC) + timedelta(minutes=5)
    (claimed,) = app.store.claim_due(
        "w0",
        now=datetime.now(UTC),
        limit=1,
        lease=timedelta(minutes=1),
        exclude=[s.spec.id for s in others],
    )
    app.store.record_success(
        claimed,
        FetchResult(items=(), state={}, rate_limit=RateLimit(300, 1, reset)),
        started_at=datetime.now(UTC),
        now=datetime.now(UTC),
        next_check_at=reset + timedelta(seconds=1),
        lease_owner="w0",
    )
    assert run(app, once=True) == 0
    assert watched.timeline_requests() == 0
    assert claimed.spec.id == spent.spec.id
    for other in others:
        (held,) = app.store.sources(source_id=other.spec.id)
        assert held.next_check_at == reset + timedelta(seconds=1)
    assert app.store.source_leases() == {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("servers", [(1, 2, 0.0)], indirect=True)
def test_the_service_ticks_runs_its_jobs_answers_healthz_and_stops_cleanly(
    tmp_path: Path, servers: list[tuple[LoopbackServer, Overlap]]
) -> None:
    ((server, watched),) = servers
    app = make_app(tmp_path, [server.base_url])
    calls: list[tuple[App, str]] = []
    port = free_port()
    seen: dict[str, tuple[int, dict[str, Any]]] = {}

    async def go() -> int:
        stop = asyncio.Event()
        job = Job("probe", lambda a, w: calls.append((a, w)), every=timedelta(seconds=0.1))
        task = asyncio.create_task(serve(app, worker="w9", jobs=[job], health_port=port, stop=stop))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if len(calls) >= 2 and watched.timeline_requests() and not app.store.source_leases():
                break
        seen["healthz"] = await asyncio.to_thread(get, port, "/healthz")
        seen["other"] = await asyncio.to_thread(get, port, "/")
        stop.set()
        return await task

    assert asyncio.run(go()) == 0
    assert len(calls) >= 2
    assert all(a is app and w == "w9" for a, w in calls)
    status, body = seen["healthz"]
    assert status == 200
    assert (body["ok"], body["worker"], body["database"]) == (True, "w9", "ok")
    assert seen["other"][0] == 404
    assert sum(app.store.counts(tag)["items"] for tag in TAGS) == 2 * len(TAGS)


@pytest.mark.parametrize(
    ("since_tick", "database_ok", "healthy"),
    [
        (1.0, True, True),
        (29.0, True, True),
        (31.0, True, False),
        (None, True, False),
        (1.0, False, False),
    ],
    ids=["fresh", "late-but-ok", "stale", "never-ticked", "no-database"],
)
def test_healthy_means_a_recent_tick_and_a_database_that_answers(
    since_tick: float | None, database_ok: bool, healthy: bool
) -> None:
    assert alive(since_tick, 10, database_ok) is healthy


@pytest.mark.parametrize("servers", [(1, 2, 0.0)], indirect=True)
def test_sources_json_reports_each_sources_health(
    tmp_path: Path,
    servers: list[tuple[LoopbackServer, Overlap]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ((server, _),) = servers
    app = make_app(tmp_path, [server.base_url])
    assert run(app, once=True) == 0
    server.stop()  # the next fetch of one source fails
    (held,) = app.store.claim_due(
        "w7", now=datetime.now(UTC) + timedelta(days=1), limit=1, lease=timedelta(days=2)
    )
    reports = {r.id: r for r in source_reports(app.store, datetime.now(UTC))}
    assert reports[held.spec.id].lease_owner == "w7"
    assert cli.main(["--config", str(tmp_path / "aggregator.toml"), "sources", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {s.spec.id for s in app.store.sources()}
    row = rows[held.spec.id]
    assert row["lease_owner"] == "w7"
    assert row["consecutive_failures"] == 0
    assert row["rate_limit"]["limit"] == 300
    assert row["rate_limit"]["remaining"] < 300
    assert datetime.fromisoformat(row["last_success_at"]) <= datetime.now(UTC)
    assert datetime.fromisoformat(row["next_check_at"]) > datetime.now(UTC)
    assert {"last_error", "last_error_at", "lease_until", "items"} <= set(row)
