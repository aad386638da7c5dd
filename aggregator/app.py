"""The composition root: settings + store + clock + HTTP transport -> a working app.

The CLI, the demo and the tests all build the app here, injecting what differs
(a fixed clock, a loopback transport, a temporary database).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from aggregator.config import EventSettings, Settings, source_specs
from aggregator.decisions import Schedule
from aggregator.http import make_client
from aggregator.models import RunReport
from aggregator.store import EventRecord, Store
from aggregator.update import Updater


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

    def horizons(self) -> dict[str, datetime]:
        return {e.slug: horizon(event_record(e)) for e in self.settings.events}

    async def fetch(
        self,
        *,
        event: str | None = None,
        source_id: str | None = None,
        only_due: bool = False,
        on_done: Callable[[RunReport], None] | None = None,
    ) -> list[RunReport]:
        sources = self.store.sources(
            event=event, source_id=source_id, due_at=self.clock() if only_due else None
        )
        timeout = httpx.Timeout(self.settings.fetch.timeout_seconds, connect=10.0)
        async with make_client(self.transport, timeout=timeout) as client:
            updater = Updater(
                store=self.store,
                client=client,
                clock=self.clock,
                schedule=self.schedule(),
                env=self.env,
                max_pages=self.settings.fetch.max_pages,
                concurrency=self.settings.fetch.concurrency,
                horizons=self.horizons(),
                consents={e.slug: e.consent.policy() for e in self.settings.events},
                optouts=self.store.optout_rules(),
                recheck_until={
                    e.slug: recheck_until(event_record(e)) for e in self.settings.events
                },
            )
            return await updater.update(sources, on_done)


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


def recheck_until(event: EventRecord) -> datetime:
    """Items are kept true (edits, deletions) until two weeks after the event."""
    last = event.ends + timedelta(days=RECHECK_DAYS_AFTER + 1)
    return datetime.combine(last, time(0), ZoneInfo(event.timezone)).astimezone(UTC)


def horizon(event: EventRecord) -> datetime:
    """Local midnight of the first collected day, in UTC."""
    first = event.starts - timedelta(days=event.lookback_days)
    return datetime.combine(first, time(0), ZoneInfo(event.timezone)).astimezone(UTC)
