"""How each source is doing, and whether the service is alive: for `aggregator sources
--json`, the health endpoint of `aggregator run` and the web app."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aggregator.store import Store
from aggregator.store.leases import rate_limit


@dataclass(frozen=True, slots=True)
class RateHeadroom:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceReport:
    id: str
    event: str
    platform: str
    target: str
    enabled: bool
    items: int
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    rate_limit: RateHeadroom | None
    """What the platform said was left of the budget on the last successful fetch."""
    next_check_at: datetime | None
    lease_owner: str | None
    """The worker fetching the source now; ``None`` when free or its lease lapsed."""
    lease_until: datetime | None


def source_reports(store: Store, now: datetime, event: str | None = None) -> list[SourceReport]:
    leases = store.source_leases()
    reports = []
    for h in store.health(event):
        lease = leases.get(h.id)
        held = lease if lease is not None and lease.until > now else None
        rate = rate_limit(h.rate_limit)
        reports.append(
            SourceReport(
                id=h.id,
                event=h.event,
                platform=h.platform,
                target=h.target,
                enabled=h.enabled,
                items=h.items,
                last_success_at=h.last_success_at,
                last_attempt_at=h.last_attempt_at,
                last_error=h.last_error,
                last_error_at=h.last_error_at,
                consecutive_failures=h.error_count,
                rate_limit=None
                if rate is None
                else RateHeadroom(rate.limit, rate.remaining, rate.reset_at),
                next_check_at=h.next_check_at,
                lease_owner=held.owner if held else None,
                lease_until=held.until if held else None,
            )
        )
    return reports


def as_json(report: SourceReport) -> dict[str, Any]:
    """The report as JSON values (instants as ISO 8601 UTC)."""
    return _jsonable(asdict(report))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


STALE_TICKS = 3
STALE_FLOOR = 10.0
"""Seconds: a tick may run late under load without the service being called dead."""


def alive(since_tick: float | None, tick_seconds: float, database_ok: bool) -> bool:
    """Healthy when the database answers and the ticker ran within three ticks (at
    least 10 s): a wedged loop or a lost database both show."""
    if not database_ok or since_tick is None:
        return False
    return since_tick <= max(STALE_TICKS * tick_seconds, STALE_FLOOR)
