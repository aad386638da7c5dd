"""Digest deliveries in the store: each (event, day, channel) is claimed by one worker,
marked sent once, and retried with back-off when it fails.

Claims are single statements, so they are exclusive on both databases: an
``INSERT ... ON CONFLICT DO NOTHING`` for the first claim, else an ``UPDATE`` whose
``WHERE`` only matches a claim that lapsed or a failure whose retry time has come
(PostgreSQL re-checks the ``WHERE`` after waiting for a competing writer's lock;
SQLite takes one writer at a time). A sent delivery is never claimed again unless
forced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select, update

from aggregator.store.schema import Delivery, FetchRun, Source
from aggregator.store.statements import dialect_insert

deliveries_t = cast(Table, Delivery.__table__)

CHANNELS = ("archive", "email")


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    event: str
    day: date
    channel: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    key: DeliveryKey
    status: str
    """``claimed``, ``sent`` or ``failed``."""
    attempts: int
    claimed_by: str | None
    claimed_until: datetime | None
    """While claimed: when the claim lapses. After a failure: when it may be retried."""
    message_id: str | None
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claim:
    held: bool
    """Whether this worker now holds the delivery (and alone may send it)."""
    message_id: str | None = None
    """The delivery's Message-ID: the one stored by an earlier attempt, so a re-send
    after a crash is recognisable as the same message, else the one offered."""
    attempts: int = 0


def _where(key: DeliveryKey) -> ColumnElement[bool]:
    t = deliveries_t.c
    return and_(t.event_slug == key.event, t.day == key.day, t.channel == key.channel)


def get(conn: Connection, key: DeliveryKey) -> DeliveryRecord | None:
    row = conn.execute(select(deliveries_t).where(_where(key))).mappings().first()
    if row is None:
        return None
    return DeliveryRecord(
        key=key,
        status=row["status"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"],
        claimed_until=row["claimed_until"],
        message_id=row["message_id"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )


def listing(conn: Connection, event: str) -> list[DeliveryRecord]:
    t = deliveries_t.c
    keys = conn.execute(
        select(t.day, t.channel).where(t.event_slug == event).order_by(t.day, t.channel)
    ).all()
    records = (get(conn, DeliveryKey(event, day, channel)) for day, channel in keys)
    return [r for r in records if r is not None]


def claim(
    conn: Connection,
    key: DeliveryKey,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
    message_id: str | None = None,
    force: bool = False,
) -> Claim:
    """Try to take ``key`` for ``worker`` until ``now + lease``.

    ``force`` (an organiser re-sending by hand) also takes a sent or given-up delivery,
    with the new ``message_id``: it is a new message. Never a live claim of another
    worker."""
    t = deliveries_t.c
    inserted = conn.execute(
        dialect_insert(conn, deliveries_t)
        .values(
            event_slug=key.event,
            day=key.day,
            channel=key.channel,
            status="claimed",
            attempts=0,
            claimed_by=worker,
            claimed_until=now + lease,
            message_id=message_id,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_slug", "day", "channel"])
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
        .returning(t.event_slug)
    ).first()
    if inserted is None:
        takeable = [
            and_(t.status == "claimed", t.claimed_until <= now),
            and_(t.status == "failed", t.claimed_until <= now, t.attempts < max_attempts),
        ]
        if force:
            takeable = [t.status != "claimed", t.claimed_until <= now, t.claimed_until.is_(None)]
        values: dict[str, object] = {
            "status": "claimed",
            "claimed_by": worker,
            "claimed_until": now + lease,
            "updated_at": now,
        }
        if force:
            values["message_id"] = message_id
        elif message_id is not None:
            values["message_id"] = func.coalesce(t.message_id, message_id)
        updated = conn.execute(
            update(deliveries_t)
            .where(_where(key), or_(*takeable))
            .values(**values)
            .returning(t.event_slug)
        ).first()
        if updated is None:
            return Claim(held=False)
    record = get(conn, key)
    assert record is not None
    return Claim(held=True, message_id=record.message_id, attempts=record.attempts)


def mark_sent(conn: Connection, key: DeliveryKey, *, now: datetime, message_id: str | None) -> None:
    """Sent is final: recorded whoever holds the claim (the message is out)."""
    conn.execute(
        update(deliveries_t)
        .where(_where(key))
        .values(
            status="sent",
            attempts=deliveries_t.c.attempts + 1,
            claimed_until=None,
            message_id=message_id,
            last_error=None,
            sent_at=now,
            updated_at=now,
        )
    )


def mark_failed(
    conn: Connection,
    key: DeliveryKey,
    *,
    worker: str,
    now: datetime,
    error: str,
    retry_at: datetime,
) -> None:
    """The attempt failed: counted, with its error, not to be tried before ``retry_at``.
    Only the claim's holder records it (a lapsed claim taken over is the new holder's)."""
    conn.execute(
        update(deliveries_t)
        .where(_where(key), deliveries_t.c.status == "claimed", deliveries_t.c.claimed_by == worker)
        .values(
            status="failed",
            attempts=deliveries_t.c.attempts + 1,
            claimed_until=retry_at,
            last_error=error[:2000],
            updated_at=now,
        )
    )


# -- notices of failing sources ------------------------------------------------------


def failing_sources(conn: Connection, *, failing_since: datetime) -> list[str]:
    """Enabled sources whose every fetch since ``failing_since`` or earlier has failed
    (their failure streak began then, after their last success), whose admins were
    not told yet. A source that worked, sat idle and failed once is not one of them."""
    s = Source
    streak_start = (
        select(func.min(FetchRun.started_at))
        .where(
            FetchRun.source_id == s.id,
            FetchRun.status == "error",
            or_(s.last_success_at.is_(None), FetchRun.started_at >= s.last_success_at),
        )
        .correlate(s)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(s.id)
        .where(
            s.enabled.is_(True),
            s.error_count > 0,
            s.failing_notice_at.is_(None),
            streak_start <= failing_since,
        )
        .order_by(s.id)
    ).scalars()
    return list(rows)


def claim_failing_notice(conn: Connection, source_id: str, now: datetime) -> bool:
    """Whether this worker is the one to tell the admins (once per failure streak)."""
    taken = conn.execute(
        update(Source)
        .where(Source.id == source_id, Source.failing_notice_at.is_(None))
        .values(failing_notice_at=now)
        .returning(Source.id)
    ).first()
    return taken is not None
