"""The ``aggregator run`` process: start the scheduler, serve the health endpoint,
and on SIGTERM/SIGINT stop claiming, let fetches under way finish within the grace
period, cancel the rest (nothing of them is written) and give every lease back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aggregator.app import App
from aggregator.exceptions import StoreError
from aggregator.models import RunReport
from aggregator.offload import Offload
from aggregator.service.collector import Collector
from aggregator.service.health import alive
from aggregator.service.healthz import serve_healthz
from aggregator.service.jobs import Job
from aggregator.service.scheduler import Scheduler
from aggregator.update import HostGates

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_worker_id() -> str:
    """Unique among live workers: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(
    app: App,
    *,
    worker: str,
    jobs: Sequence[Job] = (),
    once: bool = False,
    health_port: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the collector until ``stop`` is set or a stop signal arrives (or, ``once``,
    until every due source was fetched once). Returns the exit status: 0, or with
    ``once`` 1 when a source failed."""
    with app.offload() as offload:
        return await _serve(app, offload, worker, jobs, once, health_port, stop)


async def _serve(
    app: App,
    offload: Offload,
    worker: str,
    jobs: Sequence[Job],
    once: bool,
    health_port: int | None,
    stop: asyncio.Event | None,
) -> int:
    service, fetch = app.settings.service, app.settings.fetch
    reports: list[RunReport] = []
    async with app.client() as client:
        collector = Collector(
            app=app,
            worker=worker,
            client=client,
            lease=timedelta(seconds=service.lease_seconds),
            capacity=fetch.concurrency,
            gates=HostGates(fetch.per_host),
            on_done=reports.append,
            offload=offload,
        )
        if once:
            try:
                await collector.run_once()
            finally:
                await collector.drain(service.grace_seconds)
            return 0 if all(r.error is None for r in reports) else 1
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        scheduler = Scheduler(collector.tick, service.tick_seconds, jobs, app, worker)
        health = None
        try:
            scheduler.start()
            if health_port is not None:
                health = await serve_healthz(
                    lambda: _probe(collector, service.tick_seconds), health_port
                )
            log.info("worker %s collecting (jobs: %s)", worker, ", ".join(scheduler.job_ids()))
            await stop.wait()
            log.info("worker %s stopping", worker)
        finally:
            scheduler.stop()
            if health is not None:
                health.close()
            await collector.drain(service.grace_seconds)
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
    return 0


async def _probe(collector: Collector, tick_seconds: float) -> tuple[bool, dict[str, Any]]:
    since = None if collector.last_tick is None else time.monotonic() - collector.last_tick
    try:
        # The store is synchronous: ask it off the loop, so a hung database cannot
        # also hang the probe that should report it.
        await asyncio.to_thread(collector.app.store.ping)
        database = "ok"
    except StoreError as e:
        database = str(e)
    return alive(since, tick_seconds, database == "ok"), {
        "worker": collector.worker,
        "database": database,
        "seconds_since_tick": None if since is None else round(since, 1),
        "fetching": len(collector.tasks),
        "stopping": collector.stopping,
    }
