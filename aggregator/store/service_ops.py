"""The store's service side, mixed into :class:`aggregator.store.Store`: leases that
let several workers share one database, digest deliveries and failing-source notices."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aggregator.decisions import Budget
from aggregator.exceptions import StoreError
from aggregator.models import SourceState
from aggregator.store import deliveries, leases


class ServiceOps:
    engine: Engine

    # -- leases (several workers on one database) -----------------------------------

    def claim_due(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        exclude: Collection[str] = (),
    ) -> list[SourceState]:
        """Lease up to ``limit`` due, unleased sources to ``worker`` (one statement)."""
        with Session(self.engine) as session:
            return leases.claim_due(session, worker, now, limit, lease, exclude)

    def release(
        self,
        worker: str,
        source_ids: Sequence[str] | None = None,
        *,
        next_check_at: datetime | None = None,
    ) -> int:
        """Give back ``worker``'s leases without a result (all, or ``source_ids``)."""
        with self.engine.begin() as conn:
            return leases.release(conn, worker, source_ids, next_check_at=next_check_at)

    def source_leases(self) -> dict[str, leases.Lease]:
        with self.engine.connect() as conn:
            return leases.leases(conn)

    def budgets(self) -> list[Budget]:
        """The latest rate-limit reading of each source, keyed by shared budget."""
        with Session(self.engine) as session:
            return leases.budgets(session)

    def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise StoreError(f"the database does not answer: {e}") from e

    # -- deliveries ---------------------------------------------------------------

    def claim_delivery(
        self,
        key: deliveries.DeliveryKey,
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        max_attempts: int,
        message_id: str | None = None,
        force: bool = False,
    ) -> deliveries.Claim:
        """Take one digest delivery for ``worker``, exclusively across workers."""
        with self.engine.begin() as conn:
            return deliveries.claim(
                conn,
                key,
                worker=worker,
                now=now,
                lease=lease,
                max_attempts=max_attempts,
                message_id=message_id,
                force=force,
            )

    def mark_delivered(
        self, key: deliveries.DeliveryKey, *, now: datetime, message_id: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            deliveries.mark_sent(conn, key, now=now, message_id=message_id)

    def mark_delivery_failed(
        self,
        key: deliveries.DeliveryKey,
        *,
        worker: str,
        now: datetime,
        error: str,
        retry_at: datetime,
    ) -> None:
        with self.engine.begin() as conn:
            deliveries.mark_failed(
                conn, key, worker=worker, now=now, error=error, retry_at=retry_at
            )

    def delivery(self, key: deliveries.DeliveryKey) -> deliveries.DeliveryRecord | None:
        with self.engine.connect() as conn:
            return deliveries.get(conn, key)

    def delivery_log(self, event: str) -> list[deliveries.DeliveryRecord]:
        with self.engine.connect() as conn:
            return deliveries.listing(conn, event)

    def failing_sources(self, *, failing_since: datetime) -> list[str]:
        """Ids of sources failing with no success since ``failing_since``, not yet
        reported to the admins."""
        with self.engine.connect() as conn:
            return deliveries.failing_sources(conn, failing_since=failing_since)

    def claim_failing_notice(self, source_id: str, now: datetime) -> bool:
        """Records that the admins are told about ``source_id``; False when another
        worker already did (cleared by the source's next success)."""
        with self.engine.begin() as conn:
            return deliveries.claim_failing_notice(conn, source_id, now)
