"""Soak: the service for a day and a half of simulated time (a fake clock) against
loopback Mastodon and WordPress servers that keep publishing while they inject 429s,
5xx, timeouts, connection resets, malformed bodies and slow answers, and an SMTP
server that refuses mail for a while.

At the end every published post and comment is stored exactly once, every source's
state is consistent (no lease held, no error left, its provenance adds up), and each
day's digest was archived and e-mailed once, on schedule.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aggregator.app import App, build_app
from aggregator.config import Settings
from aggregator.deliver import deliver_due
from aggregator.demo.httpserver import Fault, LoopbackServer, Response
from aggregator.demo.mastodon_sim import MastodonSim, make_account
from aggregator.demo.wordpress_sim import WordPressSite
from aggregator.service.collector import Collector
from aggregator.sources import keys
from aggregator.store import Store
from aggregator.store.schema import Delivery, Item, ItemSource
from aggregator.update import HostGates
from tests.support import Clock
from tests.test_deliver_support import Inbox, smtp_server

START = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)  # London is on UTC in November
HOURS = 36
STEP = timedelta(minutes=2)
TAG = "coproduction"
FAULTS = (
    Fault("status", 429, {"Retry-After": "300"}),
    Fault("status", 500),
    Fault("status", 502),
    Fault("status", 503, {"Retry-After": "120"}),
    Fault("reset"),
    Fault("malformed"),
    Fault("timeout", seconds=1.3),  # past the client's timeout
)


class Slow:
    """Every ``every``-th answer of the wrapped app is slow but within the timeout."""

    def __init__(self, app: Any, every: int = 7, delay: float = 0.15) -> None:
        self.app, self.every, self.delay, self.calls = app, every, delay, 0

    def __call__(self, request: Any) -> Response:
        self.calls += 1
        response: Response = self.app(request)
        if self.calls % self.every == 0:
            response.delay = self.delay
        return response


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    clock = Clock(START)
    toots = [MastodonSim(domain=f"m{n}.example", clock=clock) for n in range(2)]
    blog = WordPressSite(utc_offset=timedelta(0))
    post = blog.add_post("copro", "Coproduction launch", "<p>Ours.</p>", date=START)
    servers = [LoopbackServer(Slow(app)).start() for app in (*toots, blog)]
    inbox = Inbox()
    try:
        with smtp_server(inbox) as port:
            yield {
                "clock": clock,
                "toots": toots,
                "blog": blog,
                "post": post,
                "servers": servers,
                "inbox": inbox,
                "smtp_port": port,
                "tmp": tmp_path,
            }
    finally:
        for server in servers:
            server.stop()


def settings(world: dict[str, Any]) -> Settings:
    wp = world["servers"][2]
    blog, post = world["blog"], world["post"]
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{world['tmp'] / 'soak.db'}"},
            "fetch": {"interval_minutes": 15, "timeout_seconds": 1.0, "max_backoff_hours": 1},
            "digest": {"output": str(world["tmp"] / "archive")},
            "delivery": {"time": "07:30", "days_after": 0, "retry_minutes": 5},
            "email": {
                "host": "127.0.0.1",
                "port": world["smtp_port"],
                "security": "none",
                "sender": "Digest <digest@example.org>",
                "to": ["organisers@example.org"],
                "timeout_seconds": 5,
            },
            "events": [
                {
                    "slug": "copro",
                    "title": "Coproduction launch",
                    "hashtags": [TAG],
                    "timezone": "Europe/London",
                    "starts": date(2026, 11, 20),
                    "ends": date(2026, 11, 20),
                    "lookback_days": 1,
                    "sources": [
                        {"platform": "mastodon", "instance": server.base_url}
                        for server in world["servers"][:2]
                    ]
                    + [{"platform": "wordpress", "post": blog.post_url(wp.base_url, post.id)}],
                }
            ],
        }
    )


def publish(world: dict[str, Any], rng: random.Random, published: set[str]) -> None:
    """What people write in one step: a few toots, sometimes a blog comment."""
    now = world["clock"]()
    for sim in world["toots"]:
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            who = rng.randrange(12)
            status = sim.post(
                f"<p>#{TAG} thought {len(published)} from person {who}</p>",
                account=make_account(f"p{who}", domain=sim.domain),
                tags=[TAG],
                at=now - timedelta(seconds=rng.randrange(60)),
            )
            published.add(keys.mastodon_status(status["uri"]))
    if rng.random() < 0.3:
        blog, wp = world["blog"], world["servers"][2]
        comment = blog.add_comment(
            world["post"].id,
            f"Reader {rng.randrange(20)}",
            f"Comment {len(published)} on the launch.",
            date=now - timedelta(seconds=rng.randrange(60)),
        )
        published.add(keys.wordpress_comment(wp.base_url, comment.id))


async def soak(app: App, world: dict[str, Any], published: set[str]) -> dict[str, int]:
    clock: Clock = world["clock"]
    rng = random.Random(20261120)
    inbox: Inbox = world["inbox"]
    collector = Collector(
        app=app,
        worker="soak",
        client=app.client(),
        lease=timedelta(minutes=10),
        capacity=8,
        gates=HostGates(2),
    )
    injected = 0
    seen: Counter[str] = Counter()
    end = START + timedelta(hours=HOURS)
    calm = end - timedelta(hours=3)  # the last hours is fault-free: every source recovers
    async with collector.client:
        while clock() < end:
            clock.advance(seconds=STEP.total_seconds())
            if clock() < calm:
                publish(world, rng, published)
            elif clock() - STEP < calm:
                # The outage is over: a fault still waiting would strike a source that
                # has backed off for an hour, and then again an hour later.
                for server in world["servers"]:
                    server.clear_faults()
            for server in world["servers"]:
                # Faults in proportion to the traffic (about one request in five fails),
                # so a source backing off is not met by one at every return.
                asked, seen[server.base_url] = (
                    len(server.requests) - seen[server.base_url],
                    len(server.requests),
                )
                if clock() < calm and asked and not server.pending_faults and rng.random() < 0.2:
                    server.inject(rng.choice(FAULTS), times=rng.choice((1, 1, 2)))
                    injected += 1
            # The first morning's mail is refused for a while: retried, sent once.
            first_send = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
            inbox.reject = (
                "451 4.3.0 try again later"
                if first_send <= clock() < first_send + timedelta(minutes=20)
                else None
            )
            await collector.tick()
            if collector.tasks:
                await asyncio.gather(*collector.tasks)
            await asyncio.to_thread(deliver_due, app, "soak")
    return {"faults": injected}


def test_a_day_and_a_half_of_faults_loses_and_duplicates_nothing(
    world: dict[str, Any],
) -> None:
    clock: Clock = world["clock"]
    app = build_app(settings(world), clock=clock, env={})
    published: set[str] = set()
    try:
        figures = asyncio.run(soak(app, world, published))
        store: Store = app.store
        with store.engine.connect() as conn:
            stored_keys = list(
                conn.execute(select(Item.key).where(Item.kind != "article")).scalars()
            )
            provenance = conn.execute(
                select(ItemSource.source_id, func.count()).group_by(ItemSource.source_id)
            ).all()
            deliveries = conn.execute(
                select(
                    Delivery.day,
                    Delivery.channel,
                    Delivery.status,
                    Delivery.sent_at,
                    Delivery.message_id,
                )
            ).all()
        health = store.health("copro")
        runs = {h.id: store.fetch_runs(h.id) for h in health}
        leases = store.source_leases()
    finally:
        app.store.close()

    assert figures["faults"] > 40, "the soak injected faults all along"
    failed_runs = [r for rs in runs.values() for r in rs if r["status"] == "error"]
    assert len(failed_runs) > 20, "and the sources met them"
    # Each source's provenance adds up: the new items its runs counted are its items,
    # and it ended healthy, having succeeded after the last post was published.
    per_source = dict(provenance)
    for source in health:
        source_runs = runs[source.id]
        assert sum(r["new"] for r in source_runs) == per_source[source.id]
        assert source.error_count == 0, (source.id, source.last_error)
        assert source.last_success_at is not None
        assert source.last_success_at > START + timedelta(hours=HOURS - 3)
        assert source.next_check_at is not None
        assert source.next_check_at > clock()
        # Runs never overlap: each starts after the previous one finished.
        for before, after in pairwise(source_runs):
            assert after["started_at"] >= before["finished_at"]

    assert leases == {}

    # Exactly once: every published item is stored, none twice, nothing else.
    assert len(stored_keys) == len(set(stored_keys))
    assert set(stored_keys) == published
    assert len(published) > 500

    # Two days were due (the look-back day and the event day), each archived and
    # e-mailed once, at or soon after 07:30 the next morning; the refused first send
    # was retried.
    sent = {(d.day, d.channel): d for d in deliveries}
    assert set(sent) == {
        (date(2026, 11, 19), "archive"),
        (date(2026, 11, 19), "email"),
        (date(2026, 11, 20), "archive"),
        (date(2026, 11, 20), "email"),
    }
    for (day, _), d in sent.items():
        due = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        due += timedelta(hours=7, minutes=30)
        assert d.status == "sent"
        assert due <= d.sent_at < due + timedelta(hours=1)
    # The first morning's server refused mail until 07:50: that send came after.
    first = sent[(date(2026, 11, 19), "email")]
    assert first.sent_at >= datetime(2026, 11, 20, 7, 50, tzinfo=UTC)
    messages = world["inbox"].messages
    assert len(messages) == 2
    assert {m["Message-ID"] for m in messages} == {
        sent[(day, "email")].message_id for day in (date(2026, 11, 19), date(2026, 11, 20))
    }
    assert "Thursday 19 November 2026" in messages[0]["Subject"]
    assert "Friday 20 November 2026" in messages[1]["Subject"]
    archive = world["tmp"] / "archive" / "copro"
    assert (archive / "2026-11-19.html").is_file()
    assert (archive / "2026-11-20.html").is_file()
