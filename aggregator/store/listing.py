"""An event's items for the public API: newest first, a page at a time, by keyset.

Each item is listed once, at the time its first ``item_sources`` row of the event gave
it (``item_created_at``, copied from the item when a source first returned it; the
same instant :meth:`Store.iter_items` orders by). Items with equal times are ordered
by id, so ``(item_created_at, item_id)`` is a total order, and a page ends at a
:class:`Keyset`: the next page is everything strictly after it.

Why a keyset and not an offset: each page is a range scan of
``ix_item_sources_event_created`` from the keyset on, however deep the reader has
paged, and items stored while a reader pages neither repeat nor shift the pages.

What readers must not see is left out in SQL, so every page is full: tombstoned
items, and the organisers' hidden items and authors (passed in from
:meth:`Store.moderation`, which decides what is hidden; a few hand-made decisions,
so they are bound as lists).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from aggregator.store.schema import Item, ItemSource
from aggregator.store.views import StoredItemView, load_items


class BadCursor(ValueError):
    """A cursor this module did not make (or made from another version of it)."""


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page ended: its last item's listing time and id."""

    created_at: datetime
    item_id: int

    def encode(self) -> str:
        """An opaque, URL-safe string (base64 of ``[time, id]``, unpadded)."""
        raw = json.dumps([self.created_at.isoformat(timespec="microseconds"), self.item_id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Keyset:
        """The keyset :meth:`encode` made, or :class:`BadCursor`."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            when, item_id = json.loads(raw)
            created_at = datetime.fromisoformat(when)
        except (binascii.Error, ValueError, TypeError) as e:
            raise BadCursor("not a cursor this API gave out; use next_cursor as it is") from e
        if created_at.tzinfo is None or type(item_id) is not int:
            raise BadCursor("not a cursor this API gave out; use next_cursor as it is")
        return cls(created_at, item_id)


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which of the event's live items to list."""

    since: datetime | None = None
    """Created at or after."""
    until: datetime | None = None
    """Created before."""
    platform: str | None = None
    kind: str | None = None
    hidden_items: frozenset[str] = frozenset()
    """Item keys the organisers hid."""
    hidden_authors: frozenset[str] = frozenset()
    """Author keys the organisers hid."""


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: tuple[StoredItemView, ...]
    """Newest first, without their platform payloads."""
    next: Keyset | None
    """Where the next page starts; ``None`` on the last page."""


def item_page(
    engine: Engine,
    event: str,
    *,
    limit: int,
    after: Keyset | None = None,
    where: ItemFilter = ItemFilter(),
) -> ItemPage:
    """Up to ``limit`` of ``event``'s visible items that come after ``after``."""
    if limit < 1:
        raise ValueError("a page holds at least one item")
    listed = ItemSource.item_created_at
    query = (
        select(ItemSource.item_id, listed)
        .join(Item, Item.id == ItemSource.item_id)
        .where(*_visible(event, where), _first_row_of_item())
        .order_by(listed.desc(), ItemSource.item_id.desc())
        # One more than asked: whether there is a next page, without counting.
        .limit(limit + 1)
    )
    if after is not None:
        # The row-value comparison (t, id) < (t0, id0), spelled out so that both
        # engines see the bound ``t <= t0`` on the index's column.
        query = query.where(
            listed <= after.created_at,
            or_(listed < after.created_at, ItemSource.item_id < after.item_id),
        )
    with Session(engine) as session:
        rows = session.connection().execute(query).all()
        shown = rows[:limit]
        # Read in the same transaction as the keys; an item tombstoned in between is
        # dropped from the page, which then ends short of ``limit``.
        items = tuple(
            load_items(session, [r.item_id for r in shown], include_deleted=False, with_raw=False)
        )
    last = shown[-1] if len(rows) > limit else None
    return ItemPage(items, Keyset(last.item_created_at, last.item_id) if last else None)


def visible_counts(
    engine: Engine, event: str, where: ItemFilter = ItemFilter()
) -> dict[tuple[str, str], int]:
    """How many of ``event``'s items :func:`item_page` would list, by platform and kind."""
    query = (
        select(Item.platform, Item.kind, func.count(func.distinct(Item.id)))
        .select_from(ItemSource)
        .join(Item, Item.id == ItemSource.item_id)
        .where(*_visible(event, where))
        .group_by(Item.platform, Item.kind)
    )
    with engine.connect() as conn:
        return {(platform, kind): n for platform, kind, n in conn.execute(query)}


def _visible(event: str, where: ItemFilter) -> Sequence[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        ItemSource.event_slug == event,
        Item.deleted_at.is_(None),
    ]
    if where.since is not None:
        conds.append(ItemSource.item_created_at >= where.since)
    if where.until is not None:
        conds.append(ItemSource.item_created_at < where.until)
    if where.platform is not None:
        conds.append(Item.platform == where.platform)
    if where.kind is not None:
        conds.append(Item.kind == where.kind)
    if where.hidden_items:
        conds.append(Item.key.not_in(sorted(where.hidden_items)))
    if where.hidden_authors:
        conds.append(Item.author_key.not_in(sorted(where.hidden_authors)))
    return conds


def _first_row_of_item() -> ColumnElement[bool]:
    """Whether the outer ``item_sources`` row is its item's first in the event (the
    earliest ``item_created_at``, then the least source id): an item several sources
    returned is listed once, without a DISTINCT that would read the whole range before
    the first row. A probe of the primary key (item_id, source_id) per row."""
    other = aliased(ItemSource)
    earlier = or_(
        other.item_created_at < ItemSource.item_created_at,
        and_(
            other.item_created_at == ItemSource.item_created_at,
            other.source_id < ItemSource.source_id,
        ),
    )
    return ~(
        select(other.item_id)
        .where(
            other.item_id == ItemSource.item_id,
            # `|| ''`: without it SQLite probes by event (the event's whole slice of
            # ix_item_sources_event_created per row) instead of by item (as in_event).
            other.event_slug + "" == ItemSource.event_slug,
            earlier,
        )
        .exists()
    )
