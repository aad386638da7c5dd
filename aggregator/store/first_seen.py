"""When each author first spoke in each event (``event_authors``), kept by the writes.

A digest's "new voices" are the period's authors with no live item in the event
before it (``Store.known_authors``). Asked of the items themselves that is a walk
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

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from aggregator.store.schema import EventAuthor, Item, ItemSource
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
        # Every fetch passes here: the statement is compiled once per dialect and
        # list size (padded to a power of two with its last id), not on every call.
        size = 1 << (len(chunk) - 1).bit_length()
        padded = chunk + chunk[-1:] * (size - len(chunk))
        sql, names = _compiled(conn.dialect, size)
        if names is None:
            conn.exec_driver_sql(sql, {f"v{i}": id_ for i, id_ in enumerate(padded)})
        else:
            by_name = {f"v{i}": id_ for i, id_ in enumerate(padded)}
            conn.exec_driver_sql(sql, tuple(by_name[n] for n in names))


_COMPILED: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}


def _compiled(dialect: Dialect, size: int) -> tuple[str, tuple[str, ...] | None]:
    """:func:`note`'s statement for ``size`` ids, and its parameters' order if they
    are positional (SQLite's ``?``) rather than named (psycopg's ``%(v0)s``)."""
    key = (dialect.name, size)
    if key not in _COMPILED:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        compiled = _note(insert, size).compile(dialect=dialect)
        order = compiled.positiontup
        _COMPILED[key] = (str(compiled), tuple(order) if order is not None else None)
    return _COMPILED[key]


def _note(insert: Any, size: int) -> Any:
    i, s, ea = items_t.c, item_sources_t.c, event_authors_t.c
    ids = [bindparam(f"v{n}", type_=Integer) for n in range(size)]
    earliest = (
        select(s.event_slug, i.author_key, func.min(i.created_at))
        .select_from(items_t.join(item_sources_t, s.item_id == i.id))
        # Only WHERE keeps SQLite from reading ``ON CONFLICT`` as a join's ON.
        .where(i.id.in_(ids), i.deleted_at.is_(None))
        .group_by(s.event_slug, i.author_key)
    )
    stmt = insert(event_authors_t).from_select(
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


def known(conn: Connection, event: str, authors: Sequence[str], *, before: datetime) -> set[str]:
    """Of ``authors``, those whose first live item in ``event`` is before ``before``:
    one primary-key probe each."""
    ea = event_authors_t.c
    keys = sorted(set(authors))
    found: set[str] = set()
    for start in range(0, len(keys), CHUNK * 10):
        chunk = keys[start : start + CHUNK * 10]
        # Compared here, not in SQL: given ``first_item_at < ?``, SQLite (which has
        # no statistics) walks ix_event_authors_first instead of probing by key.
        rows = conn.execute(
            select(ea.author_key, ea.first_item_at).where(
                ea.event_slug == event, ea.author_key.in_(chunk)
            )
        )
        found.update(author for author, first in rows if first < before)
    return found


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
