"""Source leases: several ``aggregator run`` workers share one database, and each due
source is fetched by exactly one of them at a time.

A worker claims due sources in one statement: PostgreSQL locks the candidate rows with
``FOR UPDATE SKIP LOCKED`` (two workers never wait on, nor take, the same row) and the
same ``UPDATE`` writes ``lease_owner``/``lease_until``; SQLite has one writer at a time,
so the same conditional ``UPDATE`` is enough there. The lease is settled in the
transaction that records the fetch's outcome, and only if the worker still holds it: a
worker that stalled past its lease, whose source another worker took, has its result
discarded (:class:`LeaseLost`) instead of overwriting a newer state. A dead worker's
leases lapse at ``lease_until`` and its sources go back to the pool.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, or_, select, update
from sqlalchemy.orm import Session

from aggregator.decisions import Budget, budget_key
from aggregator.exceptions import StoreError
from aggregator.models import RateLimit, SourceState
from aggregator.store.schema import Event, Source
from aggregator.store.views import source_state


class LeaseLost(StoreError):
    """The worker no longer holds the source's lease: its result is discarded."""


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    until: datetime


def _free(now: datetime) -> ColumnElement[bool]:
    """Not leased, or its lease lapsed (its worker died or stalled)."""
    return or_(Source.lease_until.is_(None), Source.lease_until <= now)


def claim_one(
    session: Session, worker: str, source_id: str, now: datetime, lease: timedelta
) -> SourceState | None:
    """Lease one enabled source to ``worker`` now, due or not ("fetch now"); None when
    another worker holds it (or it is off or unknown). Commits."""
    row = session.scalars(
        update(Source)
        .where(Source.id == source_id, Source.enabled.is_(True), _free(now))
        .values(lease_owner=worker, lease_until=now + lease)
        .returning(Source),
        execution_options={"synchronize_session": False},
    ).first()
    state = source_state(row) if row is not None else None
    session.commit()
    return state


def open_events() -> Select[Any]:
    """Slugs of the events not closed: only their sources are fetched."""
    return select(Event.slug).where(Event.closed_at.is_(None))


def claim_due(
    session: Session,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    exclude: Collection[str] = (),
) -> list[SourceState]:
    """Lease up to ``limit`` enabled sources that are due and not leased (or whose lease
    lapsed) to ``worker`` until ``now + lease``, most overdue first, leaving out the ids
    in ``exclude``. Commits."""
    if limit <= 0:
        return []
    free = _free(now)
    due = or_(Source.next_check_at.is_(None), Source.next_check_at <= now)
    candidates = select(Source.id).where(
        Source.enabled.is_(True), due, free, Source.event_slug.in_(open_events())
    )
    if exclude:
        candidates = candidates.where(Source.id.not_in(list(exclude)))
    candidates = (
        candidates.order_by(Source.next_check_at.asc().nulls_first(), Source.id)
        .limit(limit)
        # Ignored by SQLite, whose writers are serialized anyway.
        .with_for_update(skip_locked=True)
    )
    claimed = session.scalars(
        update(Source)
        .where(Source.id.in_(candidates.scalar_subquery()), free)
        .values(lease_owner=worker, lease_until=now + lease)
        .returning(Source),
        execution_options={"synchronize_session": False},
    ).all()
    states = [source_state(row) for row in claimed]
    session.commit()
    never = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(states, key=lambda s: (s.next_check_at or never, s.spec.id))


def settle(conn: Connection, source_id: str, worker: str) -> None:
    """Give the lease back as part of recording an outcome; raise :class:`LeaseLost`
    (rolling the caller's transaction back) when ``worker`` no longer holds it.

    Run first in the transaction: on PostgreSQL the row stays locked until it commits,
    so no other worker can claim the source half-way through the write."""
    done = conn.execute(
        update(Source)
        .where(Source.id == source_id, Source.lease_owner == worker)
        .values(lease_owner=None, lease_until=None)
    )
    if done.rowcount == 0:
        raise LeaseLost(f"{source_id}: {worker} no longer holds the lease; result discarded")


def release(
    conn: Connection,
    worker: str,
    source_ids: Sequence[str] | None = None,
    *,
    next_check_at: datetime | None = None,
) -> int:
    """Give back ``worker``'s leases (all of them, or those of ``source_ids``) without a
    result; ``next_check_at`` postpones those sources too. Returns how many."""
    stmt = update(Source).where(Source.lease_owner == worker)
    if source_ids is not None:
        if not source_ids:
            return 0
        stmt = stmt.where(Source.id.in_(list(source_ids)))
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if next_check_at is not None:
        values["next_check_at"] = next_check_at
    return conn.execute(stmt.values(**values)).rowcount


def leases(conn: Connection) -> dict[str, Lease]:
    """Source id -> its lease, lapsed or not, for every leased source."""
    rows = conn.execute(
        select(Source.id, Source.lease_owner, Source.lease_until).where(
            Source.lease_owner.is_not(None)
        )
    )
    return {r.id: Lease(r.lease_owner, r.lease_until) for r in rows if r.lease_until is not None}


def budgets(session: Session) -> list[Budget]:
    """The last rate-limit reading of every enabled source, keyed by the budget it
    spends (:func:`aggregator.decisions.budget_key`)."""
    rows = session.scalars(
        select(Source).where(Source.enabled.is_(True), Source.rate_limit.is_not(None))
    ).all()
    out = []
    for row in rows:
        rate, seen = rate_limit(row.rate_limit), row.last_success_at or row.last_attempt_at
        if rate is not None and seen is not None:
            out.append(Budget(budget_key(source_state(row).spec), rate, seen))
    return out


def rate_limit(stored: dict[str, Any] | None) -> RateLimit | None:
    """A source row's ``rate_limit`` JSON (as :mod:`aggregator.store.runs` writes it)."""
    if not stored:
        return None
    reset = stored.get("reset_at")
    return RateLimit(
        limit=stored.get("limit"),
        remaining=stored.get("remaining"),
        reset_at=datetime.fromisoformat(reset) if isinstance(reset, str) else None,
    )
