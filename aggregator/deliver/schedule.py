"""Pure decisions: which daily digests are due at an instant, and when to retry.

The digest of a local day D is sent at the configured local time on D + 1, in the
event's time zone. Wall-clock times are turned into instants with zoneinfo, following
PEP 495 (``fold=0``): a time that does not exist that day (skipped by a spring-forward)
falls after the gap, by the gap's length (01:30 on the Europe/London spring-forward day
is 02:30 BST); a time that happens twice (fall-back) is the first of the two, so a
digest is due once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_RETRY_DELAY = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """One event's daily digests: for each local day from ``first_day`` through
    ``last_day`` (the look-back days, the event, and the days after)."""

    event: str
    timezone: str
    first_day: date
    last_day: date
    send_time: time


@dataclass(frozen=True, slots=True)
class DueDigest:
    event: str
    day: date
    due_at: datetime
    """The UTC instant the digest became due."""


def plan(
    event: str,
    *,
    timezone: str,
    starts: date,
    ends: date,
    lookback_days: int,
    send_time: time,
    days_after: int,
) -> DeliveryPlan:
    return DeliveryPlan(
        event=event,
        timezone=timezone,
        first_day=starts - timedelta(days=lookback_days),
        last_day=ends + timedelta(days=days_after),
        send_time=send_time,
    )


def due_at(day: date, send_time: time, timezone: str) -> datetime:
    """The instant the digest of local ``day`` is due: ``send_time`` on the next day."""
    local = datetime.combine(day + timedelta(days=1), send_time.replace(tzinfo=None, fold=0))
    return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def days(p: DeliveryPlan) -> Iterator[date]:
    day = p.first_day
    while day <= p.last_day:
        yield day
        day += timedelta(days=1)


def due(plans: Iterable[DeliveryPlan], now: datetime, catch_up: timedelta) -> list[DueDigest]:
    """The digests due at ``now``: their send time has passed, by at most ``catch_up``
    (a service that was down catches up, but a week-old digest is not mailed out of the
    blue). Whether one was already delivered is the store's to say; oldest first."""
    out = []
    for p in plans:
        for day in days(p):
            at = due_at(day, p.send_time, p.timezone)
            if at <= now and now - at <= catch_up:
                out.append(DueDigest(p.event, day, at))
    return sorted(out, key=lambda d: (d.due_at, d.event))


def published(p: DeliveryPlan, now: datetime) -> list[date]:
    """The days whose digests are out at ``now`` (what the archive and its feed show)."""
    return [day for day in days(p) if due_at(day, p.send_time, p.timezone) <= now]


def ended(p: DeliveryPlan, now: datetime) -> list[date]:
    """The days of ``p`` that are over at ``now`` in the event's time zone: through
    yesterday there, however long after the event ``now`` is."""
    today = now.astimezone(ZoneInfo(p.timezone)).date()
    return [day for day in days(p) if day < today]


def retry_at(attempts: int, now: datetime, first_delay: timedelta) -> datetime:
    """When a delivery that failed ``attempts`` times is tried again: the delay doubles
    each time, up to :data:`MAX_RETRY_DELAY`."""
    delay: timedelta = first_delay * 2 ** max(0, attempts - 1)
    return now + min(delay, MAX_RETRY_DELAY)
