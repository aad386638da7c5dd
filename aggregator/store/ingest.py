"""Writing a fetch's items: SQLAlchemy Core upserts in batches, no ORM in this path.

Decisions (what is new, changed, deleted) come from :mod:`aggregator.decisions`;
this module only reads what they need and carries them out, inside the caller's
transaction.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from aggregator.decisions import IngestPlan, StoredItem, plan_items, tombstones
from aggregator.models import AuthorData, Engagement, FetchResult, IngestCounts, ItemData
from aggregator.store.schema import Author, Item, ItemAlias, ItemLink, ItemSource, Link
from aggregator.urls import is_shortener

BATCH = 500
items_t = cast(Table, Item.__table__)
authors_t = cast(Table, Author.__table__)
links_t = cast(Table, Link.__table__)
item_links_t = cast(Table, ItemLink.__table__)
item_sources_t = cast(Table, ItemSource.__table__)
item_aliases_t = cast(Table, ItemAlias.__table__)

Upsert = sqlite.Insert | postgresql.Insert


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    positional: bool
    names: list[str]
    get: Callable[[Mapping[str, Any]], Any]
    convert: list[tuple[int, Callable[[Any], Any]]]


# Per dialect (its JSON serializer is part of the bind processors), per statement and
# column set: compiling costs more than a poll's rows take to write.
_PREPARED: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, tuple[str, ...]], _Prepared]] = (
    weakref.WeakKeyDictionary()
)


def _prepare(stmt: ClauseElement, dialect: Dialect, columns: list[str]) -> _Prepared:
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=columns))
    procs = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
    names: list[str] = list(compiled.positiontup or compiled.binds)
    return _Prepared(
        sql=str(compiled),
        positional=compiled.positiontup is not None,
        names=names,
        get=itemgetter(*names),
        convert=[(i, procs[n]) for i, n in enumerate(names) if n in procs],
    )


def executemany(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str | None = None,
) -> None:
    """``conn.execute(stmt, rows)`` for many rows, minus SQLAlchemy's per-row overhead.

    SQLAlchemy's generic parameter handling costs more than SQLite's own insert
    (benchmarks/ingest.py). The statement is compiled once by SQLAlchemy for this
    dialect, its own bind processors convert the values, and the driver's
    ``executemany`` runs it: same SQL, same conversions, a tight loop. With ``key``
    (naming what ``stmt`` builds, which may then be a function of the connection),
    the compiled form is kept for the next call with the same columns.
    """
    if not rows:
        return
    # Column defaults are not applied on this path: rows must carry every column.
    columns = list(rows[0])
    prepared: _Prepared | None = None
    cache: dict[tuple[str, tuple[str, ...]], _Prepared] | None = None
    if key is not None:
        cache = _PREPARED.setdefault(conn.dialect, {})
        prepared = cache.get((key, tuple(columns)))
    if prepared is None:
        built = stmt if isinstance(stmt, ClauseElement) else stmt(conn)
        prepared = _prepare(built, conn.dialect, columns)
        if cache is not None and key is not None:
            cache[key, tuple(columns)] = prepared
    get, convert, names = prepared.get, prepared.convert, prepared.names
    single, positional = len(names) == 1, prepared.positional
    params: list[Any] = []
    for row in rows:
        values = [get(row)] if single else list(get(row))
        for i, proc in convert:
            values[i] = proc(values[i])
        params.append(tuple(values) if positional else dict(zip(names, values, strict=True)))
    conn.exec_driver_sql(prepared.sql, params)


def execute(
    conn: Connection,
    stmt: Callable[[Connection], ClauseElement],
    params: Mapping[str, Any],
    *,
    key: str,
) -> CursorResult[Any]:
    """A statement run often with different values (no expanding ``IN``), compiled once
    per dialect as :func:`executemany` does; the driver's rows come back as they are
    (no result processing: for plain numbers and strings)."""
    columns = list(params)
    cache = _PREPARED.setdefault(conn.dialect, {})
    prepared = cache.get((key, tuple(columns)))
    if prepared is None:
        prepared = cache[key, tuple(columns)] = _prepare(stmt(conn), conn.dialect, columns)
    values = [params[n] for n in prepared.names]
    for i, proc in prepared.convert:
        values[i] = proc(values[i])
    args = tuple(values) if prepared.positional else dict(zip(prepared.names, values, strict=True))
    return conn.exec_driver_sql(prepared.sql, args)


def dialect_insert(conn: Connection, table: Table) -> Upsert:
    """INSERT with the dialect's ON CONFLICT support (both spell it the same)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def ingest_items(
    conn: Connection,
    *,
    source_id: str,
    event_slug: str,
    result: FetchResult,
    now: datetime,
) -> IngestCounts:
    counts = IngestCounts()
    items = list(result.items)
    for start in range(0, len(items), BATCH):
        counts += _ingest_batch(conn, items[start : start + BATCH], source_id, event_slug, now)
    if result.listing is not None:
        counts += _tombstone(conn, source_id, result.listing, now)
    return counts


def _ingest_batch(
    conn: Connection, batch: Sequence[ItemData], source_id: str, event_slug: str, now: datetime
) -> IngestCounts:
    _upsert_authors(conn, batch)
    stored = _stored(conn, [item.key for item in batch])
    plan = plan_items(batch, stored)
    ids: dict[str, int] = {}
    if plan.new:
        rows = [item_row(item, now) | {"fetched_at": now} for item in plan.new]
        # executemany plus one SELECT: cheaper than INSERT ... RETURNING, which has
        # to be rendered as batched multi-VALUES statements.
        executemany(conn, items_t.insert(), rows, key="items.insert")
        new_keys = [item.key for item in plan.new]
        for key, id_ in conn.execute(
            select(items_t.c.key, items_t.c.id).where(items_t.c.key.in_(new_keys))
        ):
            ids[key] = id_
    if plan.changed:
        executemany(
            conn,
            update(items_t).where(items_t.c.id == bindparam("_id")),
            [item_row(c.item, now) | {"_id": c.id, "deleted_at": None} for c in plan.changed],
            key="items.update",
        )
    for c in plan.changed:
        ids[c.item.key] = c.id
    for key, old in stored.items():
        ids.setdefault(key, old.id)
    _link_sources(conn, batch, ids, source_id, event_slug, now)
    _write_aliases(conn, batch, ids)
    _write_links(conn, plan, ids, now)
    edited = sum(1 for c in plan.changed if c.edited and not c.restored)
    restored = sum(1 for c in plan.changed if c.restored)
    refreshed = len(plan.changed) - edited - restored
    return IngestCounts(
        new=len(plan.new),
        updated=edited,
        unchanged=len(plan.unchanged) + refreshed,
        restored=restored,
    )


def item_row(item: ItemData, now: datetime) -> dict[str, Any]:
    return {
        "key": item.key,
        "platform": item.platform,
        "kind": item.kind,
        "url": item.url,
        "author_key": item.author.key,
        "title": item.title,
        "html": item.html,
        "text": item.text,
        "language": item.language,
        "created_at": item.created_at,
        "edited_at": item.edited_at,
        "updated_at": now,
        "in_reply_to": item.in_reply_to,
        "context_url": item.context_url,
        "replies_count": item.engagement.replies,
        "reposts_count": item.engagement.reposts,
        "likes_count": item.engagement.likes,
        "hashtags": list(item.hashtags),
        "links": list(item.links),
        "raw": dict(item.raw),
        "content_hash": item.content_hash,
    }


def author_row(a: AuthorData) -> dict[str, Any]:
    return {
        "key": a.key,
        "platform": a.platform,
        "name": a.name,
        "handle": a.handle,
        "url": a.url,
        "avatar_url": a.avatar_url,
    }


def _upsert_authors(conn: Connection, batch: Sequence[ItemData]) -> None:
    authors = {item.author.key: item.author for item in batch if item.via is None}
    # Through a bridge an author is seen second-hand (the bridge's handle and avatar):
    # enough to create them, never to overwrite what their own platform says.
    bridged = {
        item.author.key: item.author
        for item in batch
        if item.via is not None and item.author.key not in authors
    }
    if bridged:
        executemany(
            conn,
            lambda c: dialect_insert(c, authors_t).on_conflict_do_nothing(index_elements=["key"]),
            [author_row(a) for a in bridged.values()],
            key="authors.insert_bridged",
        )
    if authors:
        rows = [author_row(a) for a in authors.values()]
        executemany(conn, _authors_upsert, rows, key="authors.upsert")


def _authors_upsert(conn: Connection) -> Upsert:
    stmt = dialect_insert(conn, authors_t)
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={c: stmt.excluded[c] for c in ("name", "handle", "url", "avatar_url")},
        # Only touch rows that changed: unchanged upserts are the common case.
        where=tuple_(authors_t.c.name, authors_t.c.handle).is_distinct_from(
            tuple_(stmt.excluded.name, stmt.excluded.handle)
        )
        | authors_t.c.url.is_distinct_from(stmt.excluded.url)
        | authors_t.c.avatar_url.is_distinct_from(stmt.excluded.avatar_url),
    )


def _stored(conn: Connection, keys: Sequence[str]) -> dict[str, StoredItem]:
    c = items_t.c
    query = select(
        c.key,
        c.id,
        c.content_hash,
        c.deleted_at,
        c.in_reply_to,
        c.context_url,
        c.replies_count,
        c.reposts_count,
        c.likes_count,
    ).where(c.key.in_(keys))
    return {
        row.key: StoredItem(
            id=row.id,
            content_hash=row.content_hash,
            deleted=row.deleted_at is not None,
            in_reply_to=row.in_reply_to,
            context_url=row.context_url,
            engagement=Engagement(row.replies_count, row.reposts_count, row.likes_count),
        )
        for row in conn.execute(query)
    }


def _link_sources(
    conn: Connection,
    batch: Sequence[ItemData],
    ids: dict[str, int],
    source_id: str,
    event_slug: str,
    now: datetime,
) -> None:
    rows = {
        ids[item.key]: {
            "item_id": ids[item.key],
            "source_id": source_id,
            "event_slug": event_slug,
            "item_created_at": item.created_at,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for item in batch
    }
    executemany(conn, _item_sources_upsert, list(rows.values()), key="item_sources.upsert")


def _item_sources_upsert(conn: Connection) -> Upsert:
    stmt = dialect_insert(conn, item_sources_t)
    return stmt.on_conflict_do_update(
        index_elements=["item_id", "source_id"],
        set_={"last_seen_at": stmt.excluded.last_seen_at},
    )


def _write_aliases(conn: Connection, batch: Sequence[ItemData], ids: dict[str, int]) -> None:
    rows = {alias: ids[item.key] for item in batch for alias in item.aliases}
    if not rows:
        return
    executemany(
        conn,
        _aliases_upsert,
        [{"alias": a, "item_id": i} for a, i in rows.items()],
        key="item_aliases.upsert",
    )


def _aliases_upsert(conn: Connection) -> Upsert:
    stmt = dialect_insert(conn, item_aliases_t)
    return stmt.on_conflict_do_update(
        index_elements=["alias"],
        set_={"item_id": stmt.excluded.item_id},
        where=item_aliases_t.c.item_id != stmt.excluded.item_id,
    )


def _write_links(conn: Connection, plan: IngestPlan, ids: dict[str, int], now: datetime) -> None:
    touched = [(ids[i.key], i.links) for i in plan.new] + [
        (c.id, c.item.links) for c in plan.changed if c.edited
    ]
    if not touched:
        return
    changed_ids = [c.id for c in plan.changed if c.edited]
    if changed_ids:
        conn.execute(delete(item_links_t).where(item_links_t.c.item_id.in_(changed_ids)))
    urls = sorted({url for _, links in touched for url in links})
    if not urls:
        return
    executemany(
        conn,
        lambda c: dialect_insert(c, links_t).on_conflict_do_nothing(index_elements=["url"]),
        [{"url": u, "first_seen_at": now, "shortener": is_shortener(u)} for u in urls],
        key="links.insert",
    )
    link_ids: dict[str, int] = {}
    for start in range(0, len(urls), BATCH):
        chunk = urls[start : start + BATCH]
        for row in conn.execute(
            select(links_t.c.url, links_t.c.id).where(links_t.c.url.in_(chunk))
        ):
            link_ids[row.url] = row.id
    pairs = {(item_id, link_ids[u]) for item_id, links in touched for u in links}
    executemany(
        conn,
        lambda c: dialect_insert(c, item_links_t).on_conflict_do_nothing(),
        [{"item_id": i, "link_id": link} for i, link in pairs],
        key="item_links.insert",
    )


def _tombstone(
    conn: Connection, source_id: str, listing: frozenset[str], now: datetime
) -> IngestCounts:
    query = (
        select(items_t.c.key, items_t.c.id, items_t.c.deleted_at)
        .join(item_sources_t, item_sources_t.c.item_id == items_t.c.id)
        .where(item_sources_t.c.source_id == source_id)
    )
    stored = {row.key: (row.id, row.deleted_at is not None) for row in conn.execute(query)}
    gone = tombstones(listing, stored)
    purge_items(conn, gone, now)
    return IngestCounts(deleted=len(gone))


def tombstone_keys(conn: Connection, keys: Iterable[str], now: datetime) -> int:
    """Tombstone live items by key; returns how many were live."""
    key_list = list(keys)
    ids: list[int] = []
    for start in range(0, len(key_list), BATCH):
        chunk = key_list[start : start + BATCH]
        ids += (
            conn.execute(
                select(items_t.c.id).where(items_t.c.key.in_(chunk), items_t.c.deleted_at.is_(None))
            )
            .scalars()
            .all()
        )
    purge_items(conn, ids, now)
    return len(ids)


def purge_items(conn: Connection, ids: Iterable[int], now: datetime) -> None:
    """Tombstone: the row (and its key) stays so a deletion is counted and not
    re-collected as new; everything the author wrote is removed."""
    id_list = list(ids)
    for start in range(0, len(id_list), BATCH):
        chunk = id_list[start : start + BATCH]
        conn.execute(
            update(items_t)
            .where(items_t.c.id.in_(chunk))
            .values(deleted_at=now, updated_at=now, html="", text="", title=None, raw={}, links=[])
        )
        conn.execute(delete(item_links_t).where(item_links_t.c.item_id.in_(chunk)))
