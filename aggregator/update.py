"""The update pipeline: fetch due sources concurrently, write each result through the
one store (a single writer), and turn failures into data on the source row.

A failing source never stops the others and never touches what was stored. At most
``per_host`` sources whose requests go to one host are fetched at once (httpx has no
per-host limit; one shared client sits behind these gates). A worker holding leases
(``aggregator run``) records a result only while it still holds the source's lease.

Outcomes are written by a :class:`GroupWriter`: those that arrive while the event loop
is busy are recorded together, in one transaction (each source's state still moves
only with its own items), because the commit costs more than a poll's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError

from aggregator.decisions import (
    RECHECK_MIN,
    EventWindow,
    Polling,
    Schedule,
    host_key,
    next_check_after_failure,
    next_check_after_success,
    poll_interval,
    recheck_due,
)
from aggregator.exceptions import SourceError
from aggregator.gcpause import collector_paused
from aggregator.models import (
    ConsentPolicy,
    FetchResult,
    IngestCounts,
    RunReport,
    SourceSpec,
    SourceState,
)
from aggregator.offload import Offload, inline
from aggregator.optouts import OptOutRule, filter_items
from aggregator.sources import FetchContext, Rechecker, Source, UnknownPlatform, registry
from aggregator.store import Store
from aggregator.store.leases import LeaseLost
from aggregator.store.runs import Failure, Outcome, Success

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class HostGates:
    """One semaphore per host, shared by every fetch of a process (they outlive one
    :meth:`Updater.update`: the service starts fetches tick after tick)."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._gates: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def hold(self, spec: SourceSpec) -> AsyncIterator[None]:
        gate = self._gates.setdefault(host_key(spec), asyncio.Semaphore(self.per_host))
        async with gate:
            yield


class GroupWriter:
    """Records outcomes for the fetches of one event loop, several per transaction.

    An outcome waits for the end of the current turn of the loop; the outcomes
    gathered by then go to :meth:`Store.record_outcomes` together. While that runs
    (it blocks the loop), more fetches finish: the busier the writer, the larger its
    groups. A fetch cancelled while its outcome waits is dropped from the group."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[Outcome, asyncio.Future[IngestCounts | None]]] = []

    async def record(self, outcome: Outcome) -> IngestCounts | None:
        """What :meth:`Store.record_outcomes` answers for ``outcome``; raises the
        exception that left it unwritten."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IngestCounts | None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        entry = (outcome, done)
        self._pending.append(entry)
        try:
            return await done
        except asyncio.CancelledError:
            if entry in self._pending:
                self._pending.remove(entry)
            raise

    def _flush(self) -> None:
        # A future already done was cancelled with its fetch: that outcome is dropped.
        group = [(outcome, done) for outcome, done in self._pending if not done.done()]
        self._pending = []
        if not group:
            return
        try:
            answers = self.store.record_outcomes([outcome for outcome, _ in group])
        except Exception as e:  # the store failing outright: every waiting fetch hears it
            answers = [e] * len(group)
        for (_, done), answer in zip(group, answers, strict=True):
            if done.done():
                continue
            if isinstance(answer, Exception):
                done.set_exception(answer)
            else:
                done.set_result(answer)


@dataclass
class Updater:
    store: Store
    client: httpx.AsyncClient
    clock: Clock
    schedule: Schedule
    env: Mapping[str, str] = field(default_factory=dict)
    max_pages: int = 20
    concurrency: int = 8
    horizons: Mapping[str, datetime] = field(default_factory=dict)
    """Per event slug: nothing older than this is collected."""
    consents: Mapping[str, ConsentPolicy] = field(default_factory=dict)
    """Per event slug; the respectful default where an event has none."""
    recheck_until: Mapping[str, datetime] = field(default_factory=dict)
    """Per event slug: after this, stored items are no longer re-checked."""
    recheck_batch: int = 200
    """Most items re-checked per source per pass."""
    optouts: Sequence[OptOutRule] = ()
    """The organisers' opt-out list, applied to every source's items."""
    sources: Mapping[str, Source] = field(default_factory=registry)
    """Platform name -> source; the installed entry points unless a test injects others."""
    windows: Mapping[str, EventWindow] = field(default_factory=dict)
    """Per event slug: its phases, which set how often its sources are polled."""
    polling: Polling = field(default_factory=Polling)
    gates: HostGates = field(default_factory=lambda: HostGates(2))
    """The per-host cap; pass one instance to every Updater of a process."""
    worker: str | None = None
    """The lease holder (``aggregator run``); ``None`` records without leases."""
    writer: GroupWriter | None = None
    """Where outcomes are recorded; one of its own by default."""
    offload: Offload = inline
    """Where fetched bodies are parsed (``fetch.parse_workers``)."""

    def __post_init__(self) -> None:
        if self.writer is None:
            self.writer = GroupWriter(self.store)

    async def _record(self, outcome: Outcome) -> IngestCounts | None:
        assert self.writer is not None
        return await self.writer.record(outcome)

    async def update(
        self,
        sources: Sequence[SourceState],
        on_done: Callable[[RunReport], None] | None = None,
    ) -> list[RunReport]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: SourceState) -> RunReport:
            # The host's gate first: a source waiting for its server must not hold one
            # of the slots that sources of idle servers could use.
            async with self.gates.hold(source.spec), gate:
                report = await self._update_one(source)
            if on_done is not None:
                on_done(report)
            return report

        # A pass makes and drops tens of thousands of objects (aggregator.gcpause).
        with collector_paused():
            return list(await asyncio.gather(*(one(s) for s in sources)))

    async def update_one(self, source: SourceState) -> RunReport:
        """Fetch, record and re-check one source; raises only if cancelled (then nothing
        of this fetch is written, its state moves only with its items; unless the
        cancellation came after its outcome was written, which is as consistent)."""
        async with self.gates.hold(source.spec):
            return await self._update_one(source)

    async def _update_one(self, source: SourceState) -> RunReport:
        spec = source.spec
        started = self.clock()
        ctx = FetchContext(
            client=self.client,
            now=started,
            env=self.env,
            horizon=self.horizons.get(spec.event),
            max_pages=self.max_pages,
            consent=self.consents.get(spec.event, ConsentPolicy()),
            offload=self.offload,
        )
        try:
            impl = self.sources.get(spec.platform)
            if impl is None:
                raise UnknownPlatform(spec.platform)
            result = await impl.fetch(source, ctx)
        except (SourceError, UnknownPlatform) as e:
            message = str(e) if isinstance(e, SourceError) else f"unknown platform {e}"
            error = e if isinstance(e, SourceError) else None
            return await self._failed(source, started, error, message)
        except Exception as e:
            # A bug, not a platform failure: shout, but keep the other sources going
            # and make the failure visible on the source row.
            log.exception("bug while fetching %s", spec.id)
            message = f"internal error: {type(e).__name__}: {e}"
            return await self._failed(source, started, None, message)
        result = self._apply_optouts(result)
        finished = self.clock()
        polling = self.polling
        chosen: list[datetime] = []

        def next_check(counts: IngestCounts, quiet_before: int) -> datetime:
            # quiet_before: previous runs only; whether this one was quiet is known now.
            quiet = quiet_before + 1 if counts.new == 0 else 0
            window = self.windows.get(spec.event)
            interval = poll_interval(self.schedule.interval, finished, window, quiet, polling)
            at = next_check_after_success(
                finished,
                replace(self.schedule, interval=interval),
                result.next_check_hint,
                rate_limit=result.rate_limit,
            )
            chosen.append(at)
            return at

        found = self._discovered(spec, result)
        success = Success(
            source,
            result,
            started_at=started,
            now=finished,
            next_check_at=next_check,
            quiet_limit=polling.quiet_after * 4,
            discovered=found,
            lease_owner=self.worker,
        )
        try:
            counts = await self._record(success)
        except LeaseLost as e:
            return self._discarded(source, started, str(e))
        assert counts is not None
        next_at = chosen[-1]
        # Before its first success a source has no items but the ones just written,
        # which are not due: the query would find nothing.
        if isinstance(impl, Rechecker) and source.last_success_at is not None:
            counts += await self._recheck(source, impl, replace(ctx, now=finished))
        return RunReport(
            source_id=spec.id,
            platform=spec.platform,
            target=spec.target,
            started_at=started,
            finished_at=finished,
            counts=counts,
            fetched=len(result.items),
            excluded=result.excluded,
            not_modified=result.not_modified,
            next_check_at=next_at,
            discovered=len(found),
        )

    async def _recheck(
        self, source: SourceState, impl: Rechecker, ctx: FetchContext
    ) -> IngestCounts:
        """Look again at stored items that are due (edits, deletions, consent
        withdrawn). A failure here is logged and leaves everything as it was: the
        fetch itself succeeded, and the items are looked at again next time."""
        spec = source.spec
        until = self.recheck_until.get(spec.event)
        if until is not None and ctx.now > until:
            return IngestCounts()
        since = self.horizons.get(spec.event) or datetime.min.replace(tzinfo=UTC)
        candidates = self.store.recheck_candidates(
            spec.id,
            since=since,
            due=lambda created, checked: recheck_due(created, checked, ctx.now),
            batch=self.recheck_batch,
            # recheck_due: nothing known true within RECHECK_MIN is due. Most stored
            # items were just returned by the fetch itself; the database skips them.
            known_before=ctx.now - RECHECK_MIN,
        )
        refs = [ref for ref, _ in candidates]
        if not refs:
            return IngestCounts()
        try:
            result = await impl.recheck(source, refs, ctx)
        except SourceError as e:
            log.warning("%s: re-check failed: %s", spec.id, e)
            return IngestCounts()
        except Exception:
            log.exception("bug while re-checking %s", spec.id)
            return IngestCounts()
        kept, dropped = filter_items(result.items, self.optouts)
        if dropped:
            result = replace(
                result,
                items=kept,
                gone=result.gone | {d.key for d in dropped},
                excluded_keys={**result.excluded_keys, **{d.key: d.reason for d in dropped}},
                excluded=dict(Counter(result.excluded) + Counter(d.reason for d in dropped)),
            )
        return self.store.record_recheck(source, refs, result, started_at=ctx.now, now=self.clock())

    def _discovered(self, spec: SourceSpec, result: FetchResult) -> list[SourceSpec]:
        """Specs for the sources ``result`` found; one the platform refuses is logged
        and skipped (a feed address on plain http, say), never fatal."""
        specs = []
        for found in result.discovered:
            impl = self.sources.get(found.platform)
            if impl is None:
                continue
            try:
                options = impl.Options.model_validate(dict(found.options))
            except ValidationError as e:
                log.warning("%s: not following %s: %s", spec.id, found.why, e)
                continue
            target = impl.target(options)
            specs.append(
                SourceSpec(
                    id=f"{spec.event}/{found.platform}:{target}",
                    event=spec.event,
                    platform=found.platform,
                    target=target,
                    hashtags=spec.hashtags,
                    options=options.model_dump(mode="json"),
                )
            )
        return specs

    def _apply_optouts(self, result: FetchResult) -> FetchResult:
        kept, dropped = filter_items(result.items, self.optouts)
        if not dropped:
            return result
        excluded = Counter(result.excluded)
        excluded.update(e.reason for e in dropped)
        return replace(
            result,
            items=kept,
            excluded=dict(excluded),
            excluded_items=result.excluded_items + dropped,
        )

    async def _failed(
        self, source: SourceState, started: datetime, error: SourceError | None, message: str
    ) -> RunReport:
        finished = self.clock()
        next_at = next_check_after_failure(
            finished,
            self.schedule,
            error if error is not None else SourceError(message),
            source.error_count + 1,
        )
        log.warning("%s failed: %s", source.spec.id, message)
        try:
            await self._record(
                Failure(
                    source,
                    message,
                    started_at=started,
                    now=finished,
                    next_check_at=next_at,
                    lease_owner=self.worker,
                )
            )
        except LeaseLost as e:
            return self._discarded(source, started, str(e))
        return RunReport(
            source_id=source.spec.id,
            platform=source.spec.platform,
            target=source.spec.target,
            started_at=started,
            finished_at=finished,
            counts=IngestCounts(),
            error=message,
            next_check_at=next_at,
        )

    def _discarded(self, source: SourceState, started: datetime, message: str) -> RunReport:
        """Another worker has the source now; what this one fetched is dropped unwritten."""
        log.warning("%s", message)
        return RunReport(
            source_id=source.spec.id,
            platform=source.spec.platform,
            target=source.spec.target,
            started_at=started,
            finished_at=self.clock(),
            counts=IngestCounts(),
            error=message,
        )
