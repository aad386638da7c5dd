"""The admin and the configuration file together: what a running collector does with
the admin's changes (no restart), what a restart keeps, and ``aggregator serve`` as a
process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from aggregator.app import build_app
from aggregator.config import source_specs
from aggregator.demo.run import SERVERS, SLUG
from aggregator.http import make_client
from aggregator.service.collector import Collector
from aggregator.store import EventRecord
from aggregator.update import HostGates
from aggregator.web.forms import source_from_form
from tests.web_support import client, csrf, sign_in, site

DAY = date(2026, 11, 20)


def test_a_running_collector_follows_the_admins_changes_at_its_next_tick(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        instance = s.sample.urls[SERVERS[1]]

        async def go() -> set[str]:
            async with make_client(None) as http:
                collector = Collector(
                    app=s.app,
                    worker="w1",
                    client=http,
                    lease=timedelta(minutes=5),
                    capacity=8,
                    gates=HostGates(4),
                )
                await collector.run_once()
                first = {i.item.key for i in s.app.store.items("second")}
                assert first == set()
                # Between two ticks of the same collector, an organiser adds an event
                # and a source to it.
                s.app.store.save_admin_event(
                    EventRecord(
                        "second", "Second", ("coproduction",), "Europe/London", DAY, DAY, 1
                    ),
                    consent=None,
                    now=s.clock(),
                )
                event = s.app.store.event("second")
                assert event is not None
                spec = source_from_form(event, {"platform": "mastodon", "instance": instance})
                s.app.store.add_admin_source(spec, now=s.clock())
                await collector.run_once()
                return {i.item.key for i in s.app.store.items("second")}

        collected = asyncio.run(go())
        assert collected
        assert collected <= {i.item.key for i in s.app.store.items(SLUG)}


def test_a_restart_keeps_the_admins_events_and_sources_and_the_file_wins_for_its_own(
    tmp_path: Path,
) -> None:
    with site(tmp_path) as s:
        instance = s.sample.urls[SERVERS[1]]
        config_event = s.app.store.event(SLUG)
        assert config_event is not None
        extra = source_from_form(config_event, {"platform": "feed", "url": instance + "/feed"})
        s.app.store.add_admin_source(extra, now=s.clock())
        s.app.store.save_admin_event(
            EventRecord("second", "Second", ("carers",), "UTC", DAY, DAY, 0),
            consent={"require_indexable": True},
            now=s.clock(),
        )
        # The file is read again (a restart of `aggregator run` or `serve`).
        settings = s.app.settings
        again = build_app(settings, env={}, clock=s.clock, store=s.app.store)
        ids = {st.spec.id for st in again.store.sources()}
        assert extra.id in ids
        assert {spec.id for spec in source_specs(settings.event(SLUG))} <= ids
        assert again.store.event("second") is not None
        assert again.consents()["second"].require_indexable
        assert not again.consents()[SLUG].require_indexable
        meta = again.store.event_meta()
        assert (meta[SLUG].managed_by, meta["second"].managed_by) == ("config", "admin")


def test_opt_outs_from_the_admin_remove_what_was_stored(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        asyncio.run(s.app.fetch())
        author = s.app.store.items(SLUG)[0].item.author

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                token = await csrf(c, "/admin/optouts")
                bad = await c.post("/admin/optouts", data={"csrf": token, "who": "nobody at all"})
                assert bad.status_code == 400
                assert "Not added" in bad.text
                r = await c.post(
                    "/admin/optouts", data={"csrf": token, "who": author.key, "reason": "asked"}
                )
                assert r.status_code == 303
                assert "stored items removed" in r.headers["location"].replace("%20", " ")
                listing = await c.get("/admin/optouts")
                assert author.key in listing.text
                health = (await c.get("/admin/health.json")).json()
                assert {h["id"] for h in health["sources"]} == s.sample.source_ids

        asyncio.run(go())
        assert author.key not in {v.item.author.key for v in s.app.store.items(SLUG)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_aggregator_serve_serves_the_configured_events(tmp_path: Path) -> None:
    with site(tmp_path):
        config = tmp_path / "aggregator.toml"
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aggregator",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            assert r.status_code == 200
            assert "Coproduction resources launch" in r.text
            page = httpx.get(f"http://127.0.0.1:{port}/{SLUG}/", timeout=5)
            assert page.status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/admin/", timeout=5).status_code == 303
        finally:
            process.terminate()
            process.communicate(timeout=10)
