"""The update pipeline: fetch due sources concurrently, write each result through the
one store (a single writer), and turn failures into data on the source row.

A failing source never stops the others and never touches what was stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError

from aggregator.decisions import (
    Schedule,
    next_check_after_failure,
    next_check_after_success,
    recheck_due,
)
from aggregator.exceptions import SourceError
from aggregator.models import (
    ConsentPolicy,
    FetchResult,
    IngestCounts,
    RunReport,
    SourceSpec,
    SourceState,
)
from aggregator.optouts import OptOutRule, filter_items
from aggregator.sources import FetchContext, Rechecker, Source, UnknownPlatform, registry
from aggregator.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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

    async def update(
        self,
        sources: Sequence[SourceState],
        on_done: Callable[[RunReport], None] | None = None,
    ) -> list[RunReport]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(source: SourceState) -> RunReport:
            async with gate:
                report = await self.update_one(source)
            if on_done is not None:
                on_done(report)
            return report

        return list(await asyncio.gather(*(one(s) for s in sources)))

    async def update_one(self, source: SourceState) -> RunReport:
        spec = source.spec
        started = self.clock()
        ctx = FetchContext(
            client=self.client,
            now=started,
            env=self.env,
            horizon=self.horizons.get(spec.event),
            max_pages=self.max_pages,
            consent=self.consents.get(spec.event, ConsentPolicy()),
        )
        try:
            impl = self.sources.get(spec.platform)
            if impl is None:
                raise UnknownPlatform(spec.platform)
            result = await impl.fetch(source, ctx)
        except (SourceError, UnknownPlatform) as e:
            message = str(e) if isinstance(e, SourceError) else f"unknown platform {e}"
            return self._failed(source, started, e if isinstance(e, SourceError) else None, message)
        except Exception as e:
            # A bug, not a platform failure: shout, but keep the other sources going
            # and make the failure visible on the source row.
            log.exception("bug while fetching %s", spec.id)
            return self._failed(source, started, None, f"internal error: {type(e).__name__}: {e}")
        result = self._apply_optouts(result)
        finished = self.clock()
        next_at = next_check_after_success(finished, self.schedule, result.next_check_hint)
        found = self._discovered(spec, result)
        counts = self.store.record_success(
            source,
            result,
            started_at=started,
            now=finished,
            next_check_at=next_at,
            discovered=found,
        )
        if isinstance(impl, Rechecker):
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
        refs = [
            ref
            for ref, checked in self.store.recheck_candidates(spec.id, since=since)
            if recheck_due(ref.created_at, checked, ctx.now)
        ][: self.recheck_batch]
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

    def _failed(
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
        self.store.record_failure(
            source, message, started_at=started, now=finished, next_check_at=next_at
        )
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
