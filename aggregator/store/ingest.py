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

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Table,
    bindparam,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from aggregator.decisions import IngestPlan, StoredItem, plan_items, tombstones
from aggregator.models import AuthorData, Engagement, FetchResult, IngestCounts, ItemData
from aggregator.store import first_seen
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
    get: Callable[[Any], Any] | None
    """The statement's parameters from a row, in order (``None``: the row as it is)."""
    convert: list[tuple[int, Callable[[Any], Any]]]


# Per dialect (its JSON serializer is part of the bind processors), per statement and
# column set: compiling costs more than a poll's rows take to write.
_PREPARED: weakref.WeakKeyDictionary[
    Dialect, dict[tuple[str, tuple[str, ...], bool], _Prepared]
] = weakref.WeakKeyDictionary()


def _prepare(
    stmt: ClauseElement, dialect: Dialect, columns: Sequence[str], *, by_name: bool
) -> _Prepared:
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(columns)))
    procs = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
    names: list[str] = list(compiled.positiontup or compiled.binds)
    positional = compiled.positiontup is not None
    get: Callable[[Any], Any] | None
    if by_name:
        get = itemgetter(*names)
    elif positional and names == list(columns):
        get = None
    else:
        get = itemgetter(*(columns.index(n) for n in names))
    return _Prepared(
        sql=str(compiled),
        positional=positional,
        names=names,
        get=get,
        convert=[(i, procs[n]) for i, n in enumerate(names) if n in procs],
    )


def _prepared(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    columns: Sequence[str],
    key: str | None,
    *,
    by_name: bool,
) -> _Prepared:
    if key is None:
        built = stmt if isinstance(stmt, ClauseElement) else stmt(conn)
        return _prepare(built, conn.dialect, columns, by_name=by_name)
    cache = _PREPARED.setdefault(conn.dialect, {})
    cache_key = (key, tuple(columns), by_name)
    prepared = cache.get(cache_key)
    if prepared is None:
        built = stmt if isinstance(stmt, ClauseElement) else stmt(conn)
        prepared = cache[cache_key] = _prepare(built, conn.dialect, columns, by_name=by_name)
    return prepared


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
    _run_many(conn, _prepared(conn, stmt, list(rows[0]), key, by_name=True), rows)


def executemany_values(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: str,
) -> None:
    """:func:`executemany` for rows given as tuples of ``columns``, in that order: the
    ingest path's rows, which need no dictionary per row."""
    if rows:
        _run_many(conn, _prepared(conn, stmt, columns, key, by_name=False), rows)


_UNSEEN = object()


def _run_many(conn: Connection, prepared: _Prepared, rows: Sequence[Any]) -> None:
    get, names, positional = prepared.get, prepared.names, prepared.positional
    single = get is not None and len(names) == 1
    # A bind processor is a function of its value, and a value repeats down a column
    # (the batch's ``now``, a missing ``edited_at``): one object seen in consecutive
    # rows is converted once. Compared by identity, which is safe for any value (none
    # changes while the rows are read).
    convert = [(i, j, proc) for j, (i, proc) in enumerate(prepared.convert)]
    seen: list[Any] = [_UNSEEN] * len(convert)
    done: list[Any] = [None] * len(convert)
    params: list[Any] = []
    for row in rows:
        values = list(row) if get is None else [get(row)] if single else list(get(row))
        for i, j, proc in convert:
            value = values[i]
            if value is seen[j]:
                values[i] = done[j]
            else:
                seen[j] = value
                values[i] = done[j] = proc(value)
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
    prepared = _prepared(conn, stmt, list(params), key, by_name=True)
    values = [params[n] for n in prepared.names]
    for i, proc in prepared.convert:
        values[i] = proc(values[i])
    args = tuple(values) if prepared.positional else dict(zip(prepared.names, values, strict=True))
    return conn.exec_driver_sql(prepared.sql, args)


def select_in(
    conn: Connection,
    columns: Sequence[ColumnElement[Any]],
    where: ColumnElement[Any],
    values: Sequence[Any],
    *,
    key: str,
) -> list[Sequence[Any]]:
    """``SELECT columns WHERE where IN values`` (in chunks of :data:`BATCH`), each
    chunk's statement compiled once. A list longer than a page of a typical source is
    padded with its last value to a multiple of 32, so a few dozen statements serve
    every length (each padding value costs a lookup). As for :func:`execute`, the
    driver's values come back unprocessed (for plain numbers and strings)."""
    out: list[Sequence[Any]] = []
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        size = len(chunk) if len(chunk) <= 64 else -(-len(chunk) // 32) * 32
        params = {f"v{i}": chunk[min(i, len(chunk) - 1)] for i in range(size)}

        def build(_conn: Connection, size: int = size) -> ClauseElement:
            binds = [bindparam(f"v{i}", type_=where.type) for i in range(size)]
            return select(*columns).where(where.in_(binds))

        out += execute(conn, build, params, key=f"{key}:{size}")
    return out


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
    ids = {key: old.id for key, old in stored.items()}
    if plan.new:
        rows = [(*_item_values(item, now), now) for item in plan.new]
        # executemany plus one SELECT: cheaper than INSERT ... RETURNING, which has
        # to be rendered as batched multi-VALUES statements.
        executemany_values(conn, items_t.insert(), _ITEM_INSERT, rows, key="items.insert")
        c = items_t.c
        new_keys = [item.key for item in plan.new]
        for key, id_ in select_in(conn, (c.key, c.id), c.key, new_keys, key="items.ids"):
            ids[key] = id_
    if plan.changed:
        executemany_values(
            conn,
            update(items_t).where(items_t.c.id == bindparam("_id")),
            _ITEM_UPDATE,
            [(*_item_values(c.item, now), c.id, None) for c in plan.changed],
            key="items.update",
        )
    _link_sources(conn, batch, ids, source_id, event_slug, now)
    first_seen.note(conn, ids.values())
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


_ITEM_COLUMNS = (
    *("key", "platform", "kind", "url", "author_key", "title", "html", "text", "language"),
    *("created_at", "edited_at", "updated_at", "in_reply_to", "context_url"),
    *("replies_count", "reposts_count", "likes_count", "hashtags", "links", "raw"),
    "content_hash",
)
_ITEM_INSERT = (*_ITEM_COLUMNS, "fetched_at")
_ITEM_UPDATE = (*_ITEM_COLUMNS, "_id", "deleted_at")


def _item_values(item: ItemData, now: datetime) -> tuple[Any, ...]:
    """An item's ``items`` columns, as :data:`_ITEM_COLUMNS` names them."""
    e = item.engagement
    return (
        item.key,
        item.platform,
        item.kind,
        item.url,
        item.author.key,
        item.title,
        item.html,
        item.text,
        item.language,
        item.created_at,
        item.edited_at,
        now,
        item.in_reply_to,
        item.context_url,
        e.replies,
        e.reposts,
        e.likes,
        list(item.hashtags),
        list(item.links),
        dict(item.raw),
        item.content_hash,
    )


def item_row(item: ItemData, now: datetime) -> dict[str, Any]:
    return dict(zip(_ITEM_COLUMNS, _item_values(item, now), strict=True))


_AUTHOR_COLUMNS = ("key", "platform", "name", "handle", "url", "avatar_url")


def _author_values(a: AuthorData) -> tuple[Any, ...]:
    return (a.key, a.platform, a.name, a.handle, a.url, a.avatar_url)


def author_row(a: AuthorData) -> dict[str, Any]:
    return dict(zip(_AUTHOR_COLUMNS, _author_values(a), strict=True))


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
        executemany_values(
            conn,
            lambda c: dialect_insert(c, authors_t).on_conflict_do_nothing(index_elements=["key"]),
            _AUTHOR_COLUMNS,
            [_author_values(a) for a in bridged.values()],
            key="authors.insert_bridged",
        )
    if authors:
        rows = [_author_values(a) for a in authors.values()]
        executemany_values(conn, _authors_upsert, _AUTHOR_COLUMNS, rows, key="authors.upsert")


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
    columns = (c.key, c.id, c.content_hash, c.deleted_at, c.in_reply_to, c.context_url)
    counts = (c.replies_count, c.reposts_count, c.likes_count)
    stored: dict[str, StoredItem] = {}
    # Only whether deleted_at is NULL is read: its stored form needs no conversion.
    for key, id_, content_hash, deleted_at, in_reply_to, context_url, *engagement in select_in(
        conn, (*columns, *counts), c.key, keys, key="items.stored"
    ):
        stored[key] = StoredItem(
            id=id_,
            content_hash=content_hash,
            deleted=deleted_at is not None,
            in_reply_to=in_reply_to,
            context_url=context_url,
            engagement=Engagement(*engagement),
        )
    return stored


_ITEM_SOURCE_COLUMNS = (
    *("item_id", "source_id", "event_slug", "item_created_at", "first_seen_at", "last_seen_at"),
)


def _link_sources(
    conn: Connection,
    batch: Sequence[ItemData],
    ids: dict[str, int],
    source_id: str,
    event_slug: str,
    now: datetime,
) -> None:
    rows: dict[int, tuple[Any, ...]] = {}
    for item in batch:
        id_ = ids[item.key]
        rows[id_] = (id_, source_id, event_slug, item.created_at, now, now)
    executemany_values(
        conn,
        _item_sources_upsert,
        _ITEM_SOURCE_COLUMNS,
        list(rows.values()),
        key="item_sources.upsert",
    )


def _item_sources_upsert(conn: Connection) -> Upsert:
    stmt = dialect_insert(conn, item_sources_t)
    return stmt.on_conflict_do_update(
        index_elements=["item_id", "source_id"],
        set_={"last_seen_at": stmt.excluded.last_seen_at},
    )


def _write_aliases(conn: Connection, batch: Sequence[ItemData], ids: dict[str, int]) -> None:
    rows = {alias: ids[item.key] for item in batch for alias in item.aliases}
    executemany_values(
        conn,
        _aliases_upsert,
        ("alias", "item_id"),
        list(rows.items()),
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
    executemany_values(
        conn,
        lambda c: dialect_insert(c, links_t).on_conflict_do_nothing(index_elements=["url"]),
        ("url", "first_seen_at", "shortener"),
        [(u, now, is_shortener(u)) for u in urls],
        key="links.insert",
    )
    c = links_t.c
    link_ids = {
        url: id_ for url, id_ in select_in(conn, (c.url, c.id), c.url, urls, key="links.ids")
    }
    pairs = {(item_id, link_ids[u]) for item_id, links in touched for u in links}
    executemany_values(
        conn,
        lambda c: dialect_insert(c, item_links_t).on_conflict_do_nothing(),
        ("item_id", "link_id"),
        list(pairs),
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
    first_seen.forget(conn, id_list)
