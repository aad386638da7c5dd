"""The APScheduler wiring, and the only module that imports APScheduler.

An ``AsyncIOScheduler`` on the service's event loop runs the ticker (a coroutine, so the
fetches it starts share the loop, the HTTP client and the one writer) and the periodic
jobs (synchronous functions: APScheduler runs them in the loop's thread pool, so an SMTP
conversation never stalls fetching). Every job has ``max_instances=1`` (a slow run is
never doubled) and ``coalesce=True`` (runs missed while busy or asleep become one).
The schedule itself lives in the database (``next_check_at``); the ticker only asks
it what is due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from aggregator.service.jobs import Job

if TYPE_CHECKING:
    from aggregator.app import App

ONE_AT_A_TIME: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


class Scheduler:
    def __init__(
        self,
        tick: Callable[[], Awaitable[object]],
        tick_seconds: float,
        jobs: Sequence[Job],
        app: App,
        worker: str,
    ) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            tick,
            "interval",
            seconds=tick_seconds,
            id="ticker",
            next_run_time=datetime.now(UTC),
            **ONE_AT_A_TIME,
        )
        for job in jobs:
            self._scheduler.add_job(
                job.run,
                "interval",
                args=(app, worker),
                seconds=job.every.total_seconds(),
                id=job.name,
                **ONE_AT_A_TIME,
            )

    def start(self) -> None:
        """Call from inside the running event loop."""
        self._scheduler.start()

    def stop(self) -> None:
        """No new runs; runs under way finish on their own (the caller drains fetches)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def job_ids(self) -> list[str]:
        return [str(job.id) for job in self._scheduler.get_jobs()]
