"""The collector: each tick claims as many due sources as it has free slots, under this
worker's lease, and fetches them through the :class:`~aggregator.update.Updater` on the
process's one HTTP client. Results are written from the event loop's thread, one at a
time (the single writer). No APScheduler here: :mod:`.scheduler` calls :meth:`tick`.

Several collectors (processes, machines) may share one database: the lease decides
who fetches what (:mod:`aggregator.store.leases`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from aggregator.app import App
from aggregator.decisions import budget_holds, budget_key
from aggregator.models import RunReport, SourceState
from aggregator.offload import Offload, inline
from aggregator.update import HostGates, Updater

log = logging.getLogger(__name__)


@dataclass
class Collector:
    app: App
    worker: str
    client: httpx.AsyncClient
    lease: timedelta
    capacity: int
    """Sources fetched at once by this process."""
    gates: HostGates
    on_done: Callable[[RunReport], None] | None = None
    offload: Offload = inline
    """The process's parse workers (``fetch.parse_workers``), held for its lifetime."""
    tasks: set[asyncio.Task[RunReport | None]] = field(default_factory=set)
    last_tick: float | None = None
    """``time.monotonic()`` of the last tick that reached the database."""
    stopping: bool = False

    async def tick(self, *, exclude: frozenset[str] = frozenset()) -> int:
        """Claim due sources for the free slots and start fetching them; returns how
        many were started. Sources in ``exclude`` are left for later."""
        if self.stopping:
            return 0
        free = self.capacity - len(self.tasks)
        started = 0
        if free > 0:
            store, now = self.app.store, self.app.clock()
            claimed = store.claim_due(
                self.worker, now=now, limit=free, lease=self.lease, exclude=exclude
            )
            if claimed:
                started = self._start(claimed)
        self.last_tick = time.monotonic()
        return started

    def _start(self, claimed: list[SourceState]) -> int:
        store, now = self.app.store, self.app.clock()
        holds = budget_holds(store.budgets(), now)
        updater = self.app.updater(
            self.client, gates=self.gates, worker=self.worker, offload=self.offload
        )
        started = 0
        for source in claimed:
            until = holds.get(budget_key(source.spec))
            if until is not None:
                # Another source spent the budget this one shares: fetching now would
                # only earn a 429 (or cost the token its standing).
                store.release(self.worker, [source.spec.id], next_check_at=until)
                continue
            task = asyncio.create_task(self._fetch(updater, source), name=source.spec.id)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        return started

    async def _fetch(self, updater: Updater, source: SourceState) -> RunReport | None:
        try:
            report = await updater.update_one(source)
        except asyncio.CancelledError:
            # Nothing of this fetch was written (its state moves only with its items):
            # hand the source back now rather than when the lease lapses.
            self._release(source)
            raise
        except Exception:
            # Expected failures are data on the source row already; this is the store
            # itself failing, or a bug. The lease lapses if releasing fails too.
            log.exception("%s: fetch not recorded", source.spec.id)
            self._release(source)
            return None
        if report.error:
            log.info("%s: %s", source.spec.id, report.error)
        else:
            log.info(
                "%s: %d fetched, %d new, next check %s",
                source.spec.id,
                report.fetched,
                report.counts.new,
                report.next_check_at,
            )
        if self.on_done is not None:
            self.on_done(report)
        return report

    def _release(self, source: SourceState) -> None:
        try:
            self.app.store.release(self.worker, [source.spec.id])
        except Exception:
            log.exception("%s: lease not released; it lapses on its own", source.spec.id)

    async def run_once(self) -> None:
        """Fetch every source that is due now, once each, then return."""
        seen: set[str] = set()
        while True:
            await self.tick(exclude=frozenset(seen))
            # Task names are source ids: a source that comes due again at once (a short
            # Retry-After) waits for the next run.
            seen.update(t.get_name() for t in self.tasks)
            if not self.tasks:
                return
            await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)

    async def drain(self, grace: float) -> None:
        """Stop claiming; give fetches under way ``grace`` seconds, then cancel the rest
        (their leases are released as they unwind), and give back any lease left."""
        self.stopping = True
        running = set(self.tasks)
        if running:
            log.info("waiting up to %.0f s for %d fetches", grace, len(running))
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("cancelled %d fetches; they are fetched again later", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        try:
            self.app.store.release(self.worker)
        except Exception:
            log.exception("leases not released; they lapse on their own")
