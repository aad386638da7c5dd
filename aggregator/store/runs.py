"""Writing the outcome of a fetch or a re-check: items, state, provenance, in the
caller's transaction (one transaction per outcome, so state moves only with items)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, select, update

from aggregator.models import (
    ExcludedItem,
    FetchResult,
    IngestCounts,
    RecheckResult,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.store import leases, optouts
from aggregator.store.ingest import dialect_insert, ingest_items, tombstone_keys
from aggregator.store.schema import FetchRun, Item, Source
from aggregator.store.views import describe_query

sources_t = cast(Table, Source.__table__)
fetch_runs_t = cast(Table, FetchRun.__table__)


def add_source(
    conn: Connection,
    spec: SourceSpec,
    *,
    origin: str,
    enabled: bool,
    now: datetime,
    found_by: str | None = None,
) -> None:
    """A source no configuration names (discovered by another, or an imported file).
    A discovered source that exists already is left as it is; an import updates its
    options (the same file read again)."""
    stmt = dialect_insert(conn, sources_t).values(
        id=spec.id,
        event_slug=spec.event,
        platform=spec.platform,
        target=spec.target,
        options=dict(spec.options),
        hashtags=list(spec.hashtags),
        enabled=enabled,
        state={},
        error_count=0,
        created_at=now,
        next_check_at=now if enabled else None,
        origin=origin,
        discovered_from=found_by,
    )
    if found_by is not None:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    else:
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["id"], set_={"options": dict(spec.options)})
        )


def record_success(
    conn: Connection,
    source: SourceState,
    result: FetchResult,
    *,
    started_at: datetime,
    now: datetime,
    next_check_at: datetime | Callable[[IngestCounts], datetime],
    discovered: Sequence[SourceSpec] = (),
    lease_owner: str | None = None,
) -> IngestCounts:
    """The items, the source's new state, the sources it discovered and the run.

    ``next_check_at`` may depend on what was stored (a quiet source waits longer).
    With ``lease_owner``, the lease is settled first: see :func:`leases.settle`."""
    spec = source.spec
    if lease_owner is not None:
        leases.settle(conn, spec.id, lease_owner)
    for found in discovered:
        add_source(conn, found, origin="discovered", enabled=True, now=now, found_by=spec.id)
    counts = ingest_items(conn, source_id=spec.id, event_slug=spec.event, result=result, now=now)
    optouts.record_exclusions(conn, spec.event, spec.id, result.excluded_items, now)
    if callable(next_check_at):
        next_check_at = next_check_at(counts)
    rate = result.rate_limit
    conn.execute(
        update(Source)
        .where(Source.id == spec.id)
        .values(
            state=dict(result.state),
            last_attempt_at=started_at,
            last_success_at=now,
            error_count=0,
            # A new failure streak gets its own notice to the admins.
            failing_notice_at=None,
            next_check_at=next_check_at,
            rate_limit=None
            if rate is None
            else {
                "limit": rate.limit,
                "remaining": rate.remaining,
                "reset_at": rate.reset_at.isoformat() if rate.reset_at else None,
            },
        )
    )
    conn.execute(
        fetch_runs_t.insert().values(
            source_id=spec.id,
            started_at=started_at,
            finished_at=now,
            status="not_modified" if result.not_modified else "ok",
            fetched=len(result.items),
            new=counts.new,
            updated=counts.updated,
            unchanged=counts.unchanged,
            deleted=counts.deleted,
            excluded=dict(result.excluded),
            requests=result.requests,
            query=result.query or describe_query(spec),
            cursor_before=result.cursor_before,
            cursor_after=result.cursor_after,
        )
    )
    return counts


def record_failure(
    conn: Connection,
    source: SourceState,
    error: str,
    *,
    started_at: datetime,
    now: datetime,
    next_check_at: datetime,
    lease_owner: str | None = None,
) -> None:
    """The error becomes data on the source row; its state and items are untouched."""
    if lease_owner is not None:
        leases.settle(conn, source.spec.id, lease_owner)
    conn.execute(
        update(Source)
        .where(Source.id == source.spec.id)
        .values(
            last_attempt_at=started_at,
            last_error=error,
            last_error_at=now,
            error_count=Source.error_count + 1,
            next_check_at=next_check_at,
        )
    )
    conn.execute(
        fetch_runs_t.insert().values(
            source_id=source.spec.id,
            started_at=started_at,
            finished_at=now,
            status="error",
            excluded={},
            query=describe_query(source.spec),
            error=error,
        )
    )


def quiet_runs(conn: Connection, source_id: str, limit: int) -> int:
    """How many of the source's latest fetches in a row (up to ``limit``) stored no new
    item; failures and re-checks neither count nor break the run."""
    news = conn.execute(
        select(FetchRun.new)
        .where(FetchRun.source_id == source_id, FetchRun.status.in_(("ok", "not_modified")))
        .order_by(FetchRun.id.desc())
        .limit(limit)
    ).scalars()
    quiet = 0
    for new in news:
        if new:
            break
        quiet += 1
    return quiet


def record_recheck(
    conn: Connection,
    source: SourceState,
    refs: Sequence[StoredRef],
    result: RecheckResult,
    *,
    started_at: datetime,
    now: datetime,
) -> IngestCounts:
    """Edits, deletions and newly excluded items from a re-check, in one
    transaction; the source's own state and schedule are not touched."""
    spec = source.spec
    counts = ingest_items(
        conn,
        source_id=spec.id,
        event_slug=spec.event,
        result=FetchResult(items=result.items, state={}),
        now=now,
    )
    by_key = {r.key: r for r in refs}
    excluded = [
        ExcludedItem(key, reason, by_key[key].created_at if key in by_key else None)
        for key, reason in result.excluded_keys.items()
    ]
    optouts.record_exclusions(conn, spec.event, spec.id, excluded, now)
    deleted = tombstone_keys(conn, result.gone, now)
    checked = [r.key for r in refs]
    for start in range(0, len(checked), 500):
        conn.execute(
            update(Item).where(Item.key.in_(checked[start : start + 500])).values(checked_at=now)
        )
    conn.execute(
        fetch_runs_t.insert().values(
            source_id=spec.id,
            started_at=started_at,
            finished_at=now,
            status="recheck",
            fetched=len(result.items),
            new=counts.new,
            updated=counts.updated,
            unchanged=counts.unchanged,
            deleted=deleted,
            excluded=dict(result.excluded),
            requests=result.requests,
            query=f"re-check of {len(refs)} items on {spec.target}",
        )
    )
    return replace(counts, deleted=deleted)
