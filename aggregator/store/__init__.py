"""The store facade: domain types in, domain types out; rows stay inside.

Every write that advances a source's incremental state happens in the same
transaction as the items it describes (:meth:`Store.record_success`), so a crash can
lose at most a fetch, never the items behind a cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, func, literal, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aggregator.exceptions import StoreError
from aggregator.models import (
    FetchResult,
    IngestCounts,
    ItemData,
    RecheckResult,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.store import first_seen, migrate, runs
from aggregator.store.admin_ops import AdminOps, event_values
from aggregator.store.curation_ops import CurationOps
from aggregator.store.engine import make_engine
from aggregator.store.leases import open_events
from aggregator.store.live import load_live
from aggregator.store.schema import (
    Event,
    FetchRun,
    Item,
    ItemAlias,
    ItemSource,
    Source,
)
from aggregator.store.service_ops import ServiceOps
from aggregator.store.statements import dialect_insert
from aggregator.store.views import (
    CountedItem,
    EventRecord,
    SourceHealth,
    StoredItemView,
    describe_query,
    event_record,
    in_event,
    load_counted,
    load_items,
    load_light,
    source_state,
)

events_t = cast(Table, Event.__table__)
sources_t = cast(Table, Source.__table__)
fetch_runs_t = cast(Table, FetchRun.__table__)


__all__ = [
    "CountedItem",
    "EventRecord",
    "SourceHealth",
    "Store",
    "StoredItemView",
    "describe_query",
]


class Store(ServiceOps, CurationOps, AdminOps):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        store = cls(make_engine(url))
        if upgrade:
            store.upgrade()
        else:
            store.check_schema()
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------

    def upgrade(self) -> None:
        try:
            migrate.upgrade(self.engine)
        except OperationalError as e:
            raise StoreError(f"cannot migrate the database: {e.orig}") from e

    def check_schema(self) -> None:
        current, head = migrate.current_revision(self.engine), migrate.head_revision(self.engine)
        if current != head:
            raise StoreError(
                f"database schema is at {current or 'nothing'}, expected {head}: "
                "run `aggregator db upgrade`"
            )

    # -- configuration ------------------------------------------------------------

    def sync_event(self, event: EventRecord, specs: Sequence[SourceSpec], now: datetime) -> None:
        """Make the stored event and its sources match the configuration.

        Sources keep their state across reloads (same id); sources no longer
        configured are disabled, not deleted, so their items keep their provenance.
        """
        with self.engine.begin() as conn:
            values = {**event_values(event, now), "managed_by": "config"}
            stmt = dialect_insert(conn, events_t).values(slug=event.slug, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["slug"], set_=values))
            for spec in specs:
                values = {
                    "event_slug": spec.event,
                    "platform": spec.platform,
                    "target": spec.target,
                    "options": dict(spec.options),
                    "hashtags": list(spec.hashtags),
                    "enabled": True,
                }
                stmt = dialect_insert(conn, sources_t).values(
                    id=spec.id, state={}, error_count=0, created_at=now, next_check_at=now, **values
                )
                conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
            ids = [s.id for s in specs]
            # Sources found by other sources stay: the file never named them.
            gone = update(Source).where(Source.event_slug == event.slug, Source.origin == "config")
            if ids:
                gone = gone.where(Source.id.not_in(ids))
            conn.execute(gone.values(enabled=False))

    def register_source(
        self, spec: SourceSpec, *, origin: str, enabled: bool, now: datetime
    ) -> None:
        """A source that no configuration names (an imported file): kept with its
        provenance, never disabled by a reload, fetched only when ``enabled``."""
        with self.engine.begin() as conn:
            runs.add_source(conn, spec, origin=origin, enabled=enabled, now=now)

    def events(self) -> list[EventRecord]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Event).order_by(Event.starts, Event.slug)).all()
            return [event_record(row) for row in rows]

    def event(self, slug: str) -> EventRecord | None:
        with Session(self.engine) as session:
            row = session.scalars(select(Event).where(Event.slug == slug)).first()
            return event_record(row) if row else None

    # -- sources ------------------------------------------------------------------

    def sources(
        self,
        *,
        event: str | None = None,
        source_id: str | None = None,
        due_at: datetime | None = None,
    ) -> list[SourceState]:
        query = select(Source).where(Source.enabled.is_(True), Source.event_slug.in_(open_events()))
        if event:
            query = query.where(Source.event_slug == event)
        if source_id:
            query = query.where(Source.id == source_id)
        if due_at is not None:
            query = query.where(or_(Source.next_check_at.is_(None), Source.next_check_at <= due_at))
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(Source.next_check_at, Source.id)).all()
            return [source_state(row) for row in rows]

    def health(self, event: str | None = None, *, counts: bool = True) -> list[SourceHealth]:
        """Each source's state. ``counts=False`` leaves ``items`` at 0 and skips
        counting them, which costs in proportion to the event's items (a digest
        does not show them)."""
        if not counts:
            query = select(Source, literal(0))
            if event:
                query = query.where(Source.event_slug == event)
            with Session(self.engine) as session:
                return _health(session.execute(query.order_by(Source.event_slug, Source.id)))
        tally = select(ItemSource.source_id, func.count().label("n"))
        if event:
            # Only this event's sources are counted (ix_item_sources_source), not the store.
            tally = tally.where(
                ItemSource.source_id.in_(select(Source.id).where(Source.event_slug == event))
            )
        counted = tally.group_by(ItemSource.source_id).subquery()
        query = select(Source, func.coalesce(counted.c.n, 0)).outerjoin(
            counted, counted.c.source_id == Source.id
        )
        if event:
            query = query.where(Source.event_slug == event)
        with Session(self.engine) as session:
            return _health(session.execute(query.order_by(Source.event_slug, Source.id)))

    def record_success(
        self,
        source: SourceState,
        result: FetchResult,
        *,
        started_at: datetime,
        now: datetime,
        next_check_at: datetime | Callable[[IngestCounts], datetime],
        discovered: Sequence[SourceSpec] = (),
        lease_owner: str | None = None,
    ) -> IngestCounts:
        """Store the items, the source's new state, the sources it discovered and the
        run, in one transaction. With ``lease_owner``: only if that worker still holds
        the source's lease, which is given back (else ``leases.LeaseLost``, nothing
        written)."""
        with self.engine.begin() as conn:
            return runs.record_success(
                conn,
                source,
                result,
                started_at=started_at,
                now=now,
                next_check_at=next_check_at,
                discovered=discovered,
                lease_owner=lease_owner,
            )

    def record_failure(
        self,
        source: SourceState,
        error: str,
        *,
        started_at: datetime,
        now: datetime,
        next_check_at: datetime,
        lease_owner: str | None = None,
    ) -> None:
        """The error becomes data on the source row; its state and items are untouched.
        ``lease_owner`` as in :meth:`record_success`."""
        with self.engine.begin() as conn:
            runs.record_failure(
                conn,
                source,
                error,
                started_at=started_at,
                now=now,
                next_check_at=next_check_at,
                lease_owner=lease_owner,
            )

    def quiet_runs(self, source_id: str, *, limit: int) -> int:
        """How many of the source's latest fetches in a row stored no new item."""
        with self.engine.connect() as conn:
            return runs.quiet_runs(conn, source_id, limit)

    def record_outcomes(
        self, outcomes: Sequence[runs.Outcome]
    ) -> list[IngestCounts | Exception | None]:
        """Several fetches' outcomes (:class:`runs.Success`, :class:`runs.Failure`) in
        one transaction: a commit costs more than a typical poll's rows. If that fails,
        each is recorded in a transaction of its own, so that what keeps one from being
        written (``leases.LeaseLost``, say) is that one's alone. Per outcome: its
        counts (``None`` for a failure), or the exception that left it unwritten."""
        try:
            with self.engine.begin() as conn:
                return list(runs.record_outcomes(conn, outcomes))
        except Exception as e:
            if len(outcomes) == 1:
                return [e]
        out: list[IngestCounts | Exception | None] = []
        for outcome in outcomes:
            try:
                with self.engine.begin() as conn:
                    out += runs.record_outcomes(conn, [outcome])
            except Exception as e:
                out.append(e)
        return out

    def recheck_candidates(
        self,
        source_id: str,
        *,
        since: datetime,
        limit: int = 2000,
        due: Callable[[datetime, datetime | None], bool] | None = None,
        batch: int | None = None,
        known_before: datetime | None = None,
    ) -> list[tuple[StoredRef, datetime | None]]:
        """Live items this source stored, created after ``since``, least recently
        checked first, with when each was last known true: re-checked, or returned
        again by the source itself.

        ``due(created_at, last_known)`` keeps only those worth a look now (at most
        ``batch``): it is asked on a narrow first query, so a fetch with nothing due
        does not read every stored item's payload. ``known_before`` tells the
        database itself to leave out items the source returned after it (the caller
        knows none of those is due): a poll that just saw all of them reads none."""
        light = (
            select(Item.id, Item.created_at, Item.checked_at, ItemSource.last_seen_at)
            .join(ItemSource, ItemSource.item_id == Item.id)
            .where(
                ItemSource.source_id == source_id,
                Item.deleted_at.is_(None),
                Item.created_at >= since,
            )
            .order_by(func.coalesce(Item.checked_at, Item.created_at), Item.id)
            .limit(limit)
        )
        if known_before is not None:
            light = light.where(ItemSource.last_seen_at <= known_before)
        with self.engine.connect() as conn:
            known: dict[int, datetime | None] = {}
            for r in conn.execute(light):
                last = max(r.checked_at, r.last_seen_at) if r.checked_at else r.last_seen_at
                if due is None or due(r.created_at, last):
                    known[r.id] = last
                    if batch is not None and len(known) >= batch:
                        break
            ids = list(known)
            rows: dict[int, Any] = {}
            aliases: dict[int, list[str]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for r in conn.execute(
                    select(Item.id, Item.key, Item.url, Item.created_at, Item.raw).where(
                        Item.id.in_(chunk)
                    )
                ):
                    rows[r.id] = r
                for item_id, alias in conn.execute(
                    select(ItemAlias.item_id, ItemAlias.alias).where(ItemAlias.item_id.in_(chunk))
                ):
                    aliases.setdefault(item_id, []).append(alias)
        return [
            (
                StoredRef(
                    key=rows[i].key,
                    aliases=tuple(sorted(aliases.get(i, []))),
                    url=rows[i].url,
                    created_at=rows[i].created_at,
                    platform_id=str(rows[i].raw["id"])
                    if isinstance(rows[i].raw, dict) and "id" in rows[i].raw
                    else None,
                ),
                known[i],
            )
            for i in ids
            if i in rows
        ]

    def record_recheck(
        self,
        source: SourceState,
        refs: Sequence[StoredRef],
        result: RecheckResult,
        *,
        started_at: datetime,
        now: datetime,
    ) -> IngestCounts:
        """Edits, deletions and newly excluded items from a re-check, in one
        transaction; the source's own state and schedule are not touched."""
        with self.engine.begin() as conn:
            return runs.record_recheck(conn, source, refs, result, started_at=started_at, now=now)

    def fetch_runs(self, source_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fetch_runs_t).where(FetchRun.source_id == source_id).order_by(FetchRun.id)
            ).mappings()
            return [dict(r) for r in rows]

    def failed_runs(self, event: str, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The event's fetch runs that failed, started in [since, until), oldest first,
        with their source's platform and target (a digest's gaps)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    FetchRun.source_id,
                    Source.platform,
                    Source.target,
                    FetchRun.started_at,
                    FetchRun.error,
                )
                .join(Source, Source.id == FetchRun.source_id)
                .where(
                    Source.event_slug == event,
                    FetchRun.status == "error",
                    FetchRun.started_at >= since,
                    FetchRun.started_at < until,
                )
                .order_by(FetchRun.started_at, FetchRun.id)
            ).mappings()
            return [dict(r) for r in rows]

    def newcomers(self, event: str, *, since: datetime, until: datetime) -> set[str]:
        """The authors whose first live item in ``event`` was created in [since, until):
        of a period's authors, the rest spoke in the event before it (:mod:`first_seen`).
        One range read, as long as the answer: a digest's new voices."""
        with self.engine.connect() as conn:
            return first_seen.newcomers(conn, event, since=since, until=until)

    # -- items --------------------------------------------------------------------

    def items(
        self,
        event: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        include_deleted: bool = False,
        raw: bool = True,
        light: bool = False,
    ) -> list[StoredItemView]:
        """The event's items created in [since, until), oldest first. ``raw=False``
        leaves each item's platform payload out (outputs never show it); ``light``
        loads only what counting needs (:func:`views.load_light`)."""
        # One query for the lot: a day digest wants every item of the day at once.
        ids = select(ItemSource.item_id).where(*self._in_range(event, since, until))
        with Session(self.engine) as session:
            if light:
                return list(load_light(session, ids))
            return list(load_items(session, ids, include_deleted, with_raw=raw))

    def live_items(self, event: str, *, since: datetime, until: datetime) -> list[ItemData]:
        """The event's live items created in [since, until), oldest first, as outputs
        show them: without their platform payload or provenance (:mod:`live`)."""
        ids = select(ItemSource.item_id).where(*self._in_range(event, since, until))
        with self.engine.connect() as conn:
            return load_live(conn, ids)

    def counted_items(self, event: str, *, since: datetime, until: datetime) -> list[CountedItem]:
        """The event's live items created in [since, until), with only what counting
        them needs (:class:`views.CountedItem`), in no particular order."""
        ids = select(ItemSource.item_id).where(*self._in_range(event, since, until))
        with self.engine.connect() as conn:
            return load_counted(conn, ids)

    @staticmethod
    def _in_range(event: str, since: datetime | None, until: datetime | None) -> list[Any]:
        conds: list[Any] = [ItemSource.event_slug == event]
        if since is not None:
            conds.append(ItemSource.item_created_at >= since)
        if until is not None:
            conds.append(ItemSource.item_created_at < until)
        return conds

    def iter_items(
        self,
        event: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        include_deleted: bool = False,
        batch: int = 1000,
        raw: bool = True,
        light: bool = False,
    ) -> Iterator[StoredItemView]:
        conds = self._in_range(event, since, until)
        ids_query = (
            select(ItemSource.item_id, func.min(ItemSource.item_created_at).label("c"))
            .where(and_(*conds))
            .group_by(ItemSource.item_id)
            .order_by("c", ItemSource.item_id)
        )
        with Session(self.engine) as session:
            ids = [row.item_id for row in session.execute(ids_query)]
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                if light:
                    yield from load_light(session, chunk)
                else:
                    yield from load_items(session, chunk, include_deleted, with_raw=raw)
                session.expunge_all()

    def articles(self, event: str) -> list[ItemData]:
        """The event's live blog posts (kind ``article``), whenever they were published,
        oldest first, as :meth:`live_items`: a day's comments may belong to an older
        post. (An event follows a few posts.)"""
        # From the few articles (ix_items_kind) to their events, not from the event's
        # many items to their kinds.
        ids = select(Item.id).where(
            Item.kind == "article", Item.deleted_at.is_(None), in_event(event)
        )
        with self.engine.connect() as conn:
            return load_live(conn, ids)

    def counts(self, event: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            live = conn.execute(
                select(func.count(func.distinct(Item.id)))
                .join(ItemSource, ItemSource.item_id == Item.id)
                .where(ItemSource.event_slug == event, Item.deleted_at.is_(None))
            ).scalar_one()
            deleted = conn.execute(
                select(func.count(func.distinct(Item.id)))
                .join(ItemSource, ItemSource.item_id == Item.id)
                .where(ItemSource.event_slug == event, Item.deleted_at.is_not(None))
            ).scalar_one()
        return {"items": live, "deleted": deleted}


def _health(rows: Iterable[Any]) -> list[SourceHealth]:
    return [
        SourceHealth(
            id=r.Source.id,
            event=r.Source.event_slug,
            platform=r.Source.platform,
            target=r.Source.target,
            enabled=r.Source.enabled,
            last_success_at=r.Source.last_success_at,
            last_attempt_at=r.Source.last_attempt_at,
            last_error=r.Source.last_error,
            last_error_at=r.Source.last_error_at,
            error_count=r.Source.error_count,
            next_check_at=r.Source.next_check_at,
            rate_limit=r.Source.rate_limit,
            items=r[1],
        )
        for r in rows
    ]
