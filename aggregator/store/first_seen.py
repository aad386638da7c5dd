"""When each author first spoke in each event (``event_authors``), kept by the writes.

A digest's "new voices" are the period's authors with no live item in the event
before it. Asked of the items themselves that is a walk
per author through their items, checking each one's event and whether it is live:
a third of a day digest's time at a million items (benchmarks/digest.py). This table
answers it with one range read: the authors who first spoke in a period
(:func:`newcomers`), as many as there are new voices.

The invariant: for every event and author with a live item in that event (an item
not deleted, returned by one of the event's sources), one row whose
``first_item_at`` is the earliest such item's ``created_at``; no row for the others.

* Items arriving can only lower it (a new item, a deleted one restored, an item
  seen for the first time by another event's source): :func:`note`, after the items
  and their ``item_sources`` rows are written.
* A tombstone can raise it or end it: :func:`forget`, after the items are marked
  deleted, recomputes the pairs whose first item was among them.

Like ``item_sources.item_created_at``, it takes an item's ``created_at`` as fixed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.sql.elements import ClauseElement

from aggregator.store.schema import EventAuthor, Item, ItemSource
from aggregator.store.statements import dialect_insert, execute
from aggregator.store.views import in_event

CHUNK = 500
event_authors_t = cast(Table, EventAuthor.__table__)
items_t = cast(Table, Item.__table__)
item_sources_t = cast(Table, ItemSource.__table__)


def note(conn: Connection, item_ids: Iterable[int]) -> None:
    """The events' first-seen times lowered to these items' where earlier: call after
    writing items and their sources (new, restored or seen by a new source). Items
    that are deleted are left out; those already counted change nothing."""
    ids = list(item_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        # Every fetch passes here: one statement per list size, padded to a power of
        # two with its last id, compiled once (statements.execute).
        size = 1 << (len(chunk) - 1).bit_length()
        params = {f"v{i}": chunk[min(i, len(chunk) - 1)] for i in range(size)}
        execute(conn, functools.partial(_note, size=size), params, key=f"event_authors.note:{size}")


def _note(conn: Connection, *, size: int) -> ClauseElement:
    i, s, ea = items_t.c, item_sources_t.c, event_authors_t.c
    ids = [bindparam(f"v{n}", type_=Integer) for n in range(size)]
    earliest = (
        select(s.event_slug, i.author_key, func.min(i.created_at))
        .select_from(items_t.join(item_sources_t, s.item_id == i.id))
        # Only WHERE keeps SQLite from reading ``ON CONFLICT`` as a join's ON.
        .where(i.id.in_(ids), i.deleted_at.is_(None))
        .group_by(s.event_slug, i.author_key)
    )
    stmt = dialect_insert(conn, event_authors_t).from_select(
        ["event_slug", "author_key", "first_item_at"], earliest
    )
    return stmt.on_conflict_do_update(
        index_elements=["event_slug", "author_key"],
        set_={"first_item_at": stmt.excluded.first_item_at},
        # Only ever earlier: a row already as early is not written again.
        where=stmt.excluded.first_item_at < ea.first_item_at,
    )


def forget(conn: Connection, item_ids: Iterable[int]) -> None:
    """Call after tombstoning these items: where one of them was its author's first
    in an event, the next live one takes its place (or the row goes)."""
    ids = list(item_ids)
    i, s, ea = items_t.c, item_sources_t.c, event_authors_t.c
    stale: set[tuple[str, str]] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        stale.update(
            (event, author)
            for event, author in conn.execute(
                select(ea.event_slug, ea.author_key)
                .select_from(
                    items_t.join(item_sources_t, s.item_id == i.id).join(
                        event_authors_t,
                        and_(
                            ea.event_slug == s.event_slug,
                            ea.author_key == i.author_key,
                            ea.first_item_at == i.created_at,
                        ),
                    )
                )
                .where(i.id.in_(chunk), i.deleted_at.is_not(None))
            )
        )
    for event, author in sorted(stale):
        _recompute(conn, event, author)


def _recompute(conn: Connection, event: str, author: str) -> None:
    first = conn.execute(
        select(Item.created_at)
        .where(Item.author_key == author, Item.deleted_at.is_(None), in_event(event))
        .order_by(Item.created_at)
        .limit(1)
    ).scalar()
    pair = and_(event_authors_t.c.event_slug == event, event_authors_t.c.author_key == author)
    if first is None:
        conn.execute(delete(event_authors_t).where(pair))
    else:
        conn.execute(update(event_authors_t).where(pair).values(first_item_at=first))


def newcomers(conn: Connection, event: str, *, since: datetime, until: datetime) -> set[str]:
    """The authors whose first live item in ``event`` was created in [since, until):
    one range of ix_event_authors_first, as long as the answer. An author with a
    live item in the event in that window is known before ``since`` unless named."""
    ea = event_authors_t.c
    return set(
        conn.execute(
            select(ea.author_key).where(
                ea.event_slug == event, ea.first_item_at >= since, ea.first_item_at < until
            )
        ).scalars()
    )
