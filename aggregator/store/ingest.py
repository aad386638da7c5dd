"""Writing a fetch's items: SQLAlchemy Core upserts in batches, no ORM in this path.

Decisions (what is new, changed, deleted) come from :mod:`aggregator.decisions`;
this module only reads what they need and carries them out, inside the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, tuple_, update

from aggregator.decisions import IngestPlan, StoredItem, plan_items, tombstones
from aggregator.models import AuthorData, Engagement, FetchResult, IngestCounts, ItemData
from aggregator.store import first_seen
from aggregator.store.schema import Author, Item, ItemAlias, ItemLink, ItemSource, Link
from aggregator.store.statements import (
    BATCH,
    Upsert,
    dialect_insert,
    executemany_values,
    select_in,
)
from aggregator.urls import is_shortener

items_t = cast(Table, Item.__table__)
authors_t = cast(Table, Author.__table__)
links_t = cast(Table, Link.__table__)
item_links_t = cast(Table, ItemLink.__table__)
item_sources_t = cast(Table, ItemSource.__table__)
item_aliases_t = cast(Table, ItemAlias.__table__)


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
