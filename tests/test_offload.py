"""Parse workers (``fetch.parse_workers``, aggregator.offload): a feed parsed in a worker
gives exactly what parsing it in the fetching process gives, errors included; small
bodies stay in the process; a worker that dies costs no parse."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from aggregator.app import build_app
from aggregator.config import load_settings
from aggregator.demo.httpserver import LoopbackServer
from aggregator.demo.run import BLUESKY_PASSWORD, BLUESKY_PASSWORD_ENV, demo_config, demo_servers
from aggregator.exceptions import ParseError
from aggregator.http import make_client
from aggregator.models import FetchResult
from aggregator.offload import Offload, ProcessOffload, inline
from aggregator.sources import FetchContext
from aggregator.sources.feeds import SOURCE
from tests.test_feeds_fetch import NOW, FeedApp, source_state

T = TypeVar("T")


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessOffload]:
    # min_size 0: the recorded feeds are small, and would otherwise be parsed inline.
    offload = ProcessOffload(1, min_size=0)
    offload.start()
    yield offload
    offload.close()


def fetch(server: LoopbackServer, offload: Offload) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(timeout=httpx.Timeout(5.0)) as client:
            ctx = FetchContext(client=client, now=NOW, offload=offload)
            return await SOURCE.fetch(source_state(server), ctx)

    return asyncio.run(go())


def test_a_feed_parsed_by_a_worker_gives_what_inline_parsing_gives(pool: ProcessOffload) -> None:
    with LoopbackServer(FeedApp()) as server:
        here = fetch(server, inline)
        there = fetch(server, pool)
    assert len(there.items) == 3
    assert there.items == here.items
    # raw is left out of an item's equality: compared on its own.
    assert [i.raw for i in there.items] == [i.raw for i in here.items]
    assert there.state == here.state


def test_a_parse_error_in_a_worker_is_the_parse_error_inline_parsing_raises(
    pool: ProcessOffload,
) -> None:
    page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Soon</body></html>"
    app = FeedApp(body=page, content_type="text/html; charset=UTF-8", etag=None, last_modified=None)
    errors = []
    with LoopbackServer(app) as server:
        for offload in (inline, pool):
            with pytest.raises(ParseError) as caught:
                fetch(server, offload)
            errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_small_bodies_are_parsed_in_the_fetching_process() -> None:
    offload = ProcessOffload(1, min_size=100)
    offload.start()
    try:
        small = asyncio.run(offload(os.getpid, size=99))
        large = asyncio.run(offload(os.getpid, size=100))
    finally:
        offload.close()
    assert small == os.getpid()
    assert large != os.getpid()


def test_before_start_and_after_close_everything_is_parsed_inline() -> None:
    offload = ProcessOffload(1, min_size=0)
    assert asyncio.run(offload(os.getpid, size=10**6)) == os.getpid()
    offload.start()
    offload.close()
    assert asyncio.run(offload(os.getpid, size=10**6)) == os.getpid()


def _exit_unless_in(pid: int) -> str:
    """Kills the worker it runs in; in the fetching process, says so."""
    if os.getpid() != pid:
        os._exit(1)
    return "parsed inline"


def test_a_worker_that_dies_costs_no_parse_and_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    offload = ProcessOffload(1, min_size=0)
    offload.start()
    try:
        first = asyncio.run(offload(os.getpid, size=1))
        with caplog.at_level(logging.ERROR, logger="aggregator.offload"):
            answer = asyncio.run(offload(functools.partial(_exit_unless_in, os.getpid()), size=1))
        second = asyncio.run(offload(os.getpid, size=1))
    finally:
        offload.close()
    assert answer == "parsed inline"
    assert "parse worker died" in caplog.text
    assert second not in (first, os.getpid()), "a new worker parses the next body"


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessOffload(0)


class CountingOffload(ProcessOffload):
    def __init__(self) -> None:
        super().__init__(1, min_size=0)  # the demo's feed is small
        self.sizes: list[int] = []

    async def __call__(self, work: Callable[[], T], *, size: int) -> T:
        self.sizes.append(size)
        return await super().__call__(work, size=size)


def _stored(db: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, html, text, content_hash FROM items ORDER BY key")
        return [tuple(r) for r in rows.fetchall()]


def test_a_pass_with_parse_workers_stores_what_a_pass_without_them_stores(
    tmp_path: Path,
) -> None:
    stored = []
    counting = CountingOffload()
    counting.start()
    try:
        with demo_servers() as urls:
            for offload in (inline, counting):
                folder = tmp_path / ("inline" if offload is inline else "workers")
                folder.mkdir()
                config = folder / "demo.toml"
                config.write_text(demo_config(urls, folder), "utf-8")
                env = {BLUESKY_PASSWORD_ENV: BLUESKY_PASSWORD}
                app = build_app(load_settings(config), env=env)
                try:
                    reports = asyncio.run(app.fetch(offload=offload))
                finally:
                    app.store.close()
                assert all(r.error is None for r in reports), [r.error for r in reports]
                stored.append(_stored(folder / "demo.db"))
    finally:
        counting.close()
    assert len(counting.sizes) == 1, "the demo's one comment feed went to the worker"
    assert stored[0] == stored[1]
    assert len(stored[1]) > 10


def test_the_app_holds_the_configured_workers_for_as_long_as_it_is_asked(
    tmp_path: Path,
) -> None:
    config = tmp_path / "aggregator.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{(tmp_path / "a.db").as_posix()}"\n'
        "[fetch]\nparse_workers = 1\n",
        "utf-8",
    )
    app = build_app(load_settings(config), env={})
    try:
        with app.offload() as offload:
            assert isinstance(offload, ProcessOffload)
            assert asyncio.run(offload(os.getpid, size=10**6)) != os.getpid()
        assert asyncio.run(offload(os.getpid, size=10**6)) == os.getpid(), "workers stopped"
        fetch = app.settings.fetch.model_copy(update={"parse_workers": 0})
        app.settings = app.settings.model_copy(update={"fetch": fetch})
        with app.offload() as offload:
            assert offload is inline
    finally:
        app.store.close()
