"""The store's admin side, mixed into :class:`aggregator.store.Store`: events and
sources the web admin manages, admin accounts, their sessions and failed sign-ins.

Which wins: the configuration file is the truth for the events it names (every start
of ``aggregator run``/``serve`` writes them back); the admin edits the events it
created, and may add sources to any event (``origin = 'admin'``, which a reload of the
file leaves alone). Both end up in the same tables, which is what collection reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aggregator.exceptions import StoreError
from aggregator.models import SourceSpec, SourceState
from aggregator.store import leases, runs
from aggregator.store.schema import AdminSession, AdminUser, Event, LoginAttempt, Source
from aggregator.store.views import EventRecord, source_state

events_t = cast(Table, Event.__table__)


def event_values(event: EventRecord, now: datetime) -> dict[str, Any]:
    """An event's row, but for its slug and who manages it."""
    return {
        "title": event.title,
        "hashtags": list(event.hashtags),
        "timezone": event.timezone,
        "starts": event.starts,
        "ends": event.ends,
        "lookback_days": event.lookback_days,
        "updated_at": now,
    }


class ReadOnlyEvent(StoreError):
    """The configuration file manages this event: edit the file."""


@dataclass(frozen=True, slots=True)
class EventMeta:
    """What the admin needs beyond :class:`EventRecord`."""

    slug: str
    managed_by: str
    """``config`` or ``admin``."""
    closed_at: datetime | None
    consent: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    username: str
    csrf: str
    expires_at: datetime


class AdminOps:
    engine: Engine

    # -- events -------------------------------------------------------------------

    def event_meta(self) -> dict[str, EventMeta]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Event.slug, Event.managed_by, Event.closed_at, Event.consent)
            )
            return {r.slug: EventMeta(r.slug, r.managed_by, r.closed_at, r.consent) for r in rows}

    def save_admin_event(
        self, event: EventRecord, *, consent: dict[str, Any] | None, now: datetime
    ) -> None:
        """Create or edit an admin-managed event. Its sources follow its hashtags from
        the next fetch on (they read them from their own rows)."""
        values = {**event_values(event, now), "consent": consent}
        with self.engine.begin() as conn:
            managed = conn.execute(
                select(Event.managed_by).where(Event.slug == event.slug)
            ).scalar_one_or_none()
            if managed == "config":
                raise ReadOnlyEvent(f"event {event.slug!r} is managed by the configuration file")
            if managed is None:
                conn.execute(
                    events_t.insert().values(slug=event.slug, managed_by="admin", **values)
                )
            else:
                conn.execute(update(Event).where(Event.slug == event.slug).values(**values))
            conn.execute(
                update(Source)
                .where(Source.event_slug == event.slug, Source.origin != "discovered")
                .values(hashtags=list(event.hashtags))
            )

    def set_closed(self, slug: str, closed_at: datetime | None) -> None:
        """Close an event (its sources are no longer fetched) or, with None, reopen it."""
        with self.engine.begin() as conn:
            done = conn.execute(update(Event).where(Event.slug == slug).values(closed_at=closed_at))
            if done.rowcount == 0:
                raise StoreError(f"no event {slug!r}")

    # -- sources ------------------------------------------------------------------

    def add_admin_source(self, spec: SourceSpec, *, now: datetime) -> bool:
        """Follow ``spec`` from the next tick on; False when the event already follows
        it (then it is enabled again, its state kept)."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(Source.id).where(Source.id == spec.id)).first()
            if exists:
                conn.execute(
                    update(Source)
                    .where(Source.id == spec.id)
                    .values(enabled=True, next_check_at=now)
                )
                return False
            runs.add_source(conn, spec, origin="admin", enabled=True, now=now)
            return True

    def claim_source(
        self, source_id: str, worker: str, *, now: datetime, lease: timedelta
    ) -> SourceState | None:
        """:func:`leases.claim_one`: "fetch now" under the same leases as the collector."""
        with Session(self.engine) as session:
            return leases.claim_one(session, worker, source_id, now, lease)

    def set_source_enabled(self, source_id: str, enabled: bool, *, now: datetime) -> None:
        values: dict[str, Any] = {"enabled": enabled}
        if enabled:
            values["next_check_at"] = now
        with self.engine.begin() as conn:
            done = conn.execute(update(Source).where(Source.id == source_id).values(**values))
            if done.rowcount == 0:
                raise StoreError(f"no source {source_id!r}")

    def source_origins(self, event: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Source.id, Source.origin).where(Source.event_slug == event))
            return {r.id: r.origin for r in rows}

    def all_sources(self) -> list[tuple[SourceSpec, bool, str]]:
        """Every source, enabled or not, with its origin (for the export)."""
        with Session(self.engine) as session:
            rows = session.scalars(select(Source).order_by(Source.event_slug, Source.id))
            return [(source_state(r).spec, r.enabled, r.origin) for r in rows]

    # -- accounts -----------------------------------------------------------------

    def create_admin(self, username: str, password_hash: str, *, now: datetime) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    cast(Table, AdminUser.__table__)
                    .insert()
                    .values(username=username, password_hash=password_hash, created_at=now)
                )
        except IntegrityError:
            raise StoreError(f"an admin named {username!r} exists already") from None

    def set_admin_password(self, username: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(AdminUser)
                .where(AdminUser.username == username)
                .values(password_hash=password_hash)
            )
            if done.rowcount == 0:
                raise StoreError(f"no admin named {username!r}")
            # A new password signs every browser out.
            conn.execute(delete(AdminSession).where(AdminSession.username == username))

    def admin_password_hash(self, username: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(AdminUser.password_hash).where(AdminUser.username == username)
            ).scalar_one_or_none()

    def admin_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(AdminUser.username).order_by(AdminUser.username)).scalars()
            )

    # -- sessions -----------------------------------------------------------------

    def start_session(
        self, token_hash: str, username: str, *, csrf: str, now: datetime, expires: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
            conn.execute(
                cast(Table, AdminSession.__table__)
                .insert()
                .values(
                    token_hash=token_hash,
                    username=username,
                    csrf=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
            conn.execute(
                update(AdminUser).where(AdminUser.username == username).values(last_login_at=now)
            )

    def session(self, token_hash: str, *, now: datetime) -> SessionRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(AdminSession.username, AdminSession.csrf, AdminSession.expires_at).where(
                    AdminSession.token_hash == token_hash, AdminSession.expires_at > now
                )
            ).first()
            return SessionRecord(row.username, row.csrf, row.expires_at) if row else None

    def end_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash))

    # -- failed sign-ins ----------------------------------------------------------

    def record_failed_login(self, keys: Sequence[str], *, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                cast(Table, LoginAttempt.__table__).insert(),
                [{"key": k[:200], "at": now} for k in keys],
            )

    def failed_logins(self, key: str, *, since: datetime) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(LoginAttempt)
                    .where(LoginAttempt.key == key[:200], LoginAttempt.at >= since)
                ).scalar_one()
            )

    def forget_failed_logins(self, keys: Sequence[str], *, before: datetime | None = None) -> None:
        """After a good sign-in its account's count starts again; old rows are pruned."""
        with self.engine.begin() as conn:
            if keys:
                conn.execute(
                    delete(LoginAttempt).where(LoginAttempt.key.in_([k[:200] for k in keys]))
                )
            if before is not None:
                conn.execute(delete(LoginAttempt).where(LoginAttempt.at < before))
