"""Writing the outcome of a fetch or a re-check: items, state, provenance, in the
caller's transaction (one transaction per outcome, so state moves only with items)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, literal_column, null, text, update
from sqlalchemy.sql.elements import ClauseElement

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
from aggregator.store.ingest import ingest_items, tombstone_keys
from aggregator.store.schema import FetchRun, Item, Source
from aggregator.store.statements import dialect_insert, execute, executemany
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


NextCheck = Callable[[IngestCounts, int], datetime]
"""When to check a source next, from what was stored and how many of its latest fetches
in a row (before this one, up to the outcome's ``quiet_limit``) stored nothing new."""


@dataclass(frozen=True, slots=True)
class Success:
    """A fetch to record: its items, the source's new state, the sources it discovered
    and the run. With ``lease_owner``, only if that worker still holds the source's
    lease, which is given back (see :func:`leases.settle`)."""

    source: SourceState
    result: FetchResult
    started_at: datetime
    now: datetime
    next_check_at: datetime | NextCheck
    quiet_limit: int = 0
    """How far back quiet runs are counted for ``next_check_at`` (0: not at all)."""
    discovered: Sequence[SourceSpec] = ()
    lease_owner: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed fetch: the error becomes data on the source row; its state and items
    are untouched. ``lease_owner`` as for :class:`Success`."""

    source: SourceState
    error: str
    started_at: datetime
    now: datetime
    next_check_at: datetime
    lease_owner: str | None = None


Outcome = Success | Failure


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
    decide: datetime | NextCheck
    if callable(next_check_at):
        by_counts = next_check_at

        def decide(counts: IngestCounts, _quiet: int) -> datetime:
            return by_counts(counts)

    else:
        decide = next_check_at
    success = Success(source, result, started_at, now, decide, 0, discovered, lease_owner)
    counts = record_outcomes(conn, [success])[0]
    assert counts is not None
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
    record_outcomes(conn, [Failure(source, error, started_at, now, next_check_at, lease_owner)])


def record_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> list[IngestCounts | None]:
    """Several fetches' outcomes in the caller's transaction, in order: per outcome, what
    its items did (``None`` for a failure). Raises (``leases.LeaseLost`` among others)
    as soon as one cannot be written: the caller rolls all of them back.

    Each source's state moves with its own items, in this one transaction. The rows
    every outcome has (the source row, the run) are written together at the end, one
    statement each, rather than one statement per outcome: a cycle in which nothing
    changed is little else. A source named twice is written as if one after the other.
    """
    out: list[IngestCounts | None] = []
    first = 0
    seen: set[str] = set()
    for i, outcome in enumerate(outcomes):
        if outcome.source.spec.id in seen:
            out += _record_group(conn, outcomes[first:i])
            first, seen = i, set()
        seen.add(outcome.source.spec.id)
    out += _record_group(conn, outcomes[first:])
    return out


def _record_group(conn: Connection, outcomes: Sequence[Outcome]) -> list[IngestCounts | None]:
    """:func:`record_outcomes` for outcomes of distinct sources."""
    out: list[IngestCounts | None] = []
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    fetch_runs: list[dict[str, Any]] = []
    for outcome in outcomes:
        spec = outcome.source.spec
        if outcome.lease_owner is not None:
            leases.settle(conn, spec.id, outcome.lease_owner)
        if isinstance(outcome, Failure):
            failed.append(
                {
                    "_id": spec.id,
                    "last_attempt_at": outcome.started_at,
                    "last_error": outcome.error,
                    "last_error_at": outcome.now,
                    "next_check_at": outcome.next_check_at,
                }
            )
            fetch_runs.append(
                _run_row(spec.id, outcome.started_at, outcome.now, "error")
                | {"query": describe_query(spec), "error": outcome.error}
            )
            out.append(None)
            continue
        counts = _store_items(conn, outcome)
        next_check_at = outcome.next_check_at
        if callable(next_check_at):
            quiet = quiet_runs(conn, spec.id, outcome.quiet_limit) if outcome.quiet_limit else 0
            next_check_at = next_check_at(counts, quiet)
        result = outcome.result
        rate = result.rate_limit
        succeeded.append(
            {
                "_id": spec.id,
                "state": dict(result.state),
                "last_attempt_at": outcome.started_at,
                "last_success_at": outcome.now,
                # (and error_count 0, failing_notice_at NULL: a new failure streak gets
                # its own notice to the admins)
                "next_check_at": next_check_at,
                "rate_limit": None
                if rate is None
                else {
                    "limit": rate.limit,
                    "remaining": rate.remaining,
                    "reset_at": rate.reset_at.isoformat() if rate.reset_at else None,
                },
            }
        )
        fetch_runs.append(
            _run_row(
                spec.id,
                outcome.started_at,
                outcome.now,
                "not_modified" if result.not_modified else "ok",
            )
            | {
                "fetched": len(result.items),
                "new": counts.new,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "deleted": counts.deleted,
                "excluded": dict(result.excluded),
                "requests": result.requests,
                "query": result.query or describe_query(spec),
                "cursor_before": result.cursor_before,
                "cursor_after": result.cursor_after,
            }
        )
        out.append(counts)
    executemany(conn, _success_update, succeeded, key="sources.success")
    executemany(conn, _failure_update, failed, key="sources.failure")
    executemany(conn, fetch_runs_t.insert(), fetch_runs, key="fetch_runs.insert")
    return out


def _store_items(conn: Connection, outcome: Success) -> IngestCounts:
    spec, result, now = outcome.source.spec, outcome.result, outcome.now
    for found in outcome.discovered:
        add_source(conn, found, origin="discovered", enabled=True, now=now, found_by=spec.id)
    if not result.items and result.listing is None and not result.excluded_items:
        return IngestCounts()  # nothing changed: the common poll
    counts = ingest_items(conn, source_id=spec.id, event_slug=spec.event, result=result, now=now)
    optouts.record_exclusions(conn, spec.event, spec.id, result.excluded_items, now)
    return counts


def _success_update(_conn: Connection) -> ClauseElement:
    return (
        update(sources_t)
        .where(sources_t.c.id == bindparam("_id"))
        # Literals, not parameters: every value here is a column of the rows.
        .values(error_count=literal_column("0"), failing_notice_at=null())
    )


def _failure_update(_conn: Connection) -> ClauseElement:
    return (
        update(sources_t)
        .where(sources_t.c.id == bindparam("_id"))
        .values(error_count=sources_t.c.error_count + literal_column("1"))
    )


def _run_row(source_id: str, started_at: datetime, now: datetime, status: str) -> dict[str, Any]:
    """A ``fetch_runs`` row with every column (the fast path applies no defaults)."""
    return {
        "source_id": source_id,
        "started_at": started_at,
        "finished_at": now,
        "status": status,
        "fetched": 0,
        "new": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "excluded": {},
        "requests": 0,
        "query": None,
        "cursor_before": None,
        "cursor_after": None,
        "error": None,
    }


def quiet_runs(conn: Connection, source_id: str, limit: int) -> int:
    """How many of the source's latest fetches in a row (up to ``limit``) stored no new
    item; failures and re-checks neither count nor break the run."""
    # Asked once per fetch: compiled once. Ordered as ix_fetch_runs_source_started is
    # (a source's fetches never overlap: its lease), so the index hands over the latest
    # rows and the query does not sort a source's whole history on every fetch.
    news = execute(conn, _latest_news, {"source_id": source_id, "limit": limit}, key="quiet_runs")
    quiet = 0
    for (new,) in news:
        if new:
            break
        quiet += 1
    return quiet


def _latest_news(_conn: Connection) -> ClauseElement:
    return text(
        "SELECT new FROM fetch_runs WHERE source_id = :source_id"
        " AND status IN ('ok', 'not_modified') ORDER BY started_at DESC, id DESC LIMIT :limit"
    )


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
