"""The composition root: settings + store + clock + HTTP transport -> a working app.

The CLI, the demo and the tests all build the app here, injecting what differs
(a fixed clock, a loopback transport, a temporary database).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from aggregator.config import ConsentSettings, EventSettings, Settings, source_specs
from aggregator.decisions import EventWindow, Polling, Schedule
from aggregator.http import make_client
from aggregator.models import ConsentPolicy, RunReport
from aggregator.offload import Offload, ProcessOffload, inline
from aggregator.store import EventRecord, Store
from aggregator.update import HostGates, Updater


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    store: Store
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], datetime] = utcnow
    transport: httpx.AsyncBaseTransport | None = None

    def sync_config(self) -> None:
        """The configuration file is the truth for the events it names."""
        now = self.clock()
        for event in self.settings.events:
            self.store.sync_event(event_record(event), source_specs(event), now)

    def schedule(self) -> Schedule:
        f = self.settings.fetch
        return Schedule(
            interval=timedelta(minutes=f.interval_minutes),
            max_backoff=timedelta(hours=f.max_backoff_hours),
        )

    def consents(self) -> dict[str, ConsentPolicy]:
        """Each event's consent rules: the file's for the events it names, the admin's
        for the others (the defaults where it set none)."""
        meta = self.store.event_meta()
        out = {}
        for slug, m in meta.items():
            out[slug] = ConsentSettings.model_validate(m.consent or {}).policy()
        for e in self.settings.events:
            out[e.slug] = e.consent.policy()
        return out

    def client(self) -> httpx.AsyncClient:
        """The process's one HTTP client (connection pooling across every fetch)."""
        timeout = httpx.Timeout(self.settings.fetch.timeout_seconds, connect=10.0)
        return make_client(self.transport, timeout=timeout)

    @contextlib.contextmanager
    def offload(self) -> Iterator[Offload]:
        """The parse workers ``fetch.parse_workers`` asks for, started, for as long as
        the block runs (a long-running service holds them from start to stop)."""
        workers = self.settings.fetch.parse_workers
        if not workers:
            yield inline
            return
        pool = ProcessOffload(workers)
        pool.start()
        try:
            yield pool
        finally:
            pool.close()

    def updater(
        self,
        client: httpx.AsyncClient,
        *,
        gates: HostGates | None = None,
        worker: str | None = None,
        offload: Offload = inline,
    ) -> Updater:
        """The pipeline as configured; ``worker`` records results under its leases."""
        f = self.settings.fetch
        # Read from the store each time: events the admin added or edited count from
        # the next tick, without a restart.
        events = self.store.events()
        return Updater(
            store=self.store,
            client=client,
            clock=self.clock,
            schedule=self.schedule(),
            env=self.env,
            max_pages=f.max_pages,
            concurrency=f.concurrency,
            horizons={e.slug: horizon(e) for e in events},
            consents=self.consents(),
            optouts=self.store.optout_rules(),
            recheck_until={e.slug: recheck_until(e) for e in events},
            windows={e.slug: event_window(e) for e in events},
            polling=Polling(quiet_after=f.quiet_after),
            gates=gates or HostGates(f.per_host),
            worker=worker,
            offload=offload,
        )

    async def fetch(
        self,
        *,
        event: str | None = None,
        source_id: str | None = None,
        only_due: bool = False,
        on_done: Callable[[RunReport], None] | None = None,
        offload: Offload | None = None,
    ) -> list[RunReport]:
        """One pass over the sources asked for. ``offload``: parse workers that outlive
        the pass (:meth:`offload`); by default the pass starts and stops its own."""
        sources = self.store.sources(
            event=event, source_id=source_id, due_at=self.clock() if only_due else None
        )
        with contextlib.ExitStack() as stack:
            if offload is None:
                offload = stack.enter_context(self.offload())
            async with self.client() as client:
                return await self.updater(client, offload=offload).update(sources, on_done)


def build_app(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utcnow,
    transport: httpx.AsyncBaseTransport | None = None,
    store: Store | None = None,
) -> App:
    store = store or Store.open(settings.database.url)
    app = App(
        settings=settings,
        store=store,
        env=dict(os.environ) if env is None else env,
        clock=clock,
        transport=transport,
    )
    app.sync_config()
    return app


def event_record(event: EventSettings) -> EventRecord:
    return EventRecord(
        slug=event.slug,
        title=event.title,
        hashtags=event.hashtags,
        timezone=event.timezone,
        starts=event.starts,
        ends=event.ends,
        lookback_days=event.lookback_days,
    )


RECHECK_DAYS_AFTER = 14
FOLLOW_UP_DAYS = 2
"""After an event, replies and write-ups keep coming for a while: polled as usual."""


def event_window(event: EventRecord) -> EventWindow:
    """The event's live days (local midnights, in UTC) and its follow-up."""
    zone = ZoneInfo(event.timezone)
    live_from = datetime.combine(event.starts, time(0), zone).astimezone(UTC)
    end = datetime.combine(event.ends + timedelta(days=1), time(0), zone)
    follow_up = datetime.combine(event.ends + timedelta(days=1 + FOLLOW_UP_DAYS), time(0), zone)
    return EventWindow(live_from, end.astimezone(UTC), follow_up.astimezone(UTC))


def recheck_until(event: EventRecord) -> datetime:
    """Items are kept true (edits, deletions) until two weeks after the event."""
    last = event.ends + timedelta(days=RECHECK_DAYS_AFTER + 1)
    return datetime.combine(last, time(0), ZoneInfo(event.timezone)).astimezone(UTC)


def horizon(event: EventRecord) -> datetime:
    """Local midnight of the first collected day, in UTC."""
    first = event.starts - timedelta(days=event.lookback_days)
    return datetime.combine(first, time(0), ZoneInfo(event.timezone)).astimezone(UTC)
