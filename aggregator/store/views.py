"""Rows as domain types: what the store hands out, and the mapping from ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Executable, Exists, Select, null, select
from sqlalchemy.orm import Session

from aggregator.models import AuthorData, Engagement, ItemData, SourceSpec, SourceState
from aggregator.store.schema import Author, Event, Item, ItemAlias, ItemSource, Source


@dataclass(frozen=True, slots=True)
class EventRecord:
    slug: str
    title: str
    hashtags: tuple[str, ...]
    timezone: str
    starts: date
    ends: date
    lookback_days: int


@dataclass(frozen=True, slots=True)
class SourceHealth:
    id: str
    event: str
    platform: str
    target: str
    enabled: bool
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_count: int
    next_check_at: datetime | None
    rate_limit: dict[str, Any] | None
    items: int


@dataclass(frozen=True, slots=True)
class StoredItemView:
    """An item as outputs see it, with provenance."""

    id: int
    item: ItemData
    fetched_at: datetime
    deleted: bool
    source_ids: tuple[str, ...]


class CountedItem(NamedTuple):
    """What counting a live item takes (who, where, what kind): a day digest's figures
    for the day before, at a fraction of loading its items (:func:`load_counted`).
    A named tuple: ten thousand are made straight from the rows."""

    key: str
    author_key: str
    platform: str
    kind: str


def in_event(event: str) -> Exists:
    """Whether the outer query's item belongs to ``event``: a probe of item_sources by
    its primary key. (The `|| ''` keeps SQLite, which has no statistics, from walking
    the event's whole slice of ix_item_sources_event_created for every item instead:
    minutes instead of milliseconds at 1M items, benchmarks/digest.py.)"""
    return (
        select(ItemSource.item_id)
        .where(ItemSource.item_id == Item.id, ItemSource.event_slug + "" == event)
        .exists()
    )


def describe_query(spec: SourceSpec) -> str:
    tags = " ".join(f"#{h}" for h in spec.hashtags)
    return f"{spec.platform} {spec.target} {tags}".strip()


def load_items(
    session: Session,
    ids: Sequence[int] | Select[Any],
    include_deleted: bool,
    *,
    with_raw: bool = True,
) -> Iterable[StoredItemView]:
    """The items ``ids`` names, in that order; or, given a query of ids, the items it
    selects, oldest first. A query keeps a day's 10,000 ids out of bound parameters."""
    # Columns, not ORM entities: building and tracking an entity per row cost more
    # than the query itself (benchmarks/digest.py).
    query = (
        select(*(LOADED if with_raw else WITHOUT_RAW))
        .join(Author, Author.key == Item.author_key)
        .where(Item.id.in_(ids))
    )
    if not include_deleted:
        query = query.where(Item.deleted_at.is_(None))
    conn = session.connection()  # plain rows: no ORM result processing
    # Equal values are shared, not rebuilt per row: a day's items have a few thousand
    # authors and a handful of distinct engagement counts, tag lists and source sets.
    # Fewer objects, fewer garbage-collector passes over them (benchmarks/digest.py).
    interned = Shared()
    tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
    sources: dict[int, tuple[str, ...]] = {}
    for item_id, source_id in iter_rows(
        conn, select(ItemSource.item_id, ItemSource.source_id).where(ItemSource.item_id.in_(ids))
    ):
        seen = tuple(sorted((*sources.get(item_id, ()), source_id)))
        sources[item_id] = tuples.setdefault(seen, seen)
    loaded: dict[int, StoredItemView] = {}
    # Rows are read as they come, each made into its item and dropped.
    for row in iter_rows(conn, query):
        # Unpacked by position: attribute access on a Row costs more than the rest.
        (
            id_,
            key,
            platform,
            kind,
            url,
            author_key,
            title,
            html,
            text,
            language,
            created_at,
            edited_at,
            fetched_at,
            in_reply_to,
            context_url,
            replies,
            reposts,
            likes,
            hashtags,
            links,
            raw,
            deleted,
            author_platform,
            name,
            handle,
            author_url,
            avatar_url,
        ) = row
        author = interned.author(author_key, author_platform, name, handle, author_url, avatar_url)
        engagement = interned.engagement(replies, reposts, likes)
        tags = tuple(hashtags)
        loaded[id_] = StoredItemView(
            id=id_,
            item=ItemData(
                key=key,
                platform=platform,
                kind=kind,
                url=url,
                author=author,
                html=html,
                text=text,
                created_at=created_at,
                language=language,
                edited_at=edited_at,
                in_reply_to=in_reply_to or None,
                context_url=context_url,
                title=title,
                engagement=engagement,
                hashtags=tuples.setdefault(tags, tags),
                links=tuple(links),
                raw=raw if raw is not None else {},
            ),
            fetched_at=fetched_at,
            deleted=bool(deleted),
            source_ids=sources.get(id_, ()),
        )
    resolved = resolve_parents(conn, (v.item.in_reply_to for v in loaded.values()))
    if isinstance(ids, Sequence):
        order: Iterable[int] = ids
    else:
        # Oldest first, sorted here: SQL would sort whole rows (their text and HTML
        # too), a sixth of the query's time for a day's items (benchmarks/digest.py).
        order = sorted(loaded, key=lambda i: (loaded[i].item.created_at, i))
    for id_ in order:
        view = loaded.get(id_)
        if view is None:
            continue
        parent = view.item.in_reply_to
        if parent in resolved:
            view = replace(view, item=replace(view.item, in_reply_to=resolved[parent]))
        yield view


class Shared:
    """Equal authors and engagement counts made once per read and shared by the items
    that have them: a day's items have a few thousand authors and a handful of
    distinct counts (fewer objects, fewer garbage-collector passes over them)."""

    __slots__ = ("_authors", "_counts")

    def __init__(self) -> None:
        self._authors: dict[str, AuthorData] = {}
        self._counts: dict[tuple[int | None, int | None, int | None], Engagement] = {}

    def author(
        self,
        key: str,
        platform: str,
        name: str,
        handle: str,
        url: str | None,
        avatar_url: str | None,
    ) -> AuthorData:
        author = self._authors.get(key)
        if author is None:
            author = self._authors[key] = AuthorData(key, platform, name, handle, url, avatar_url)
        return author

    def engagement(self, replies: int | None, reposts: int | None, likes: int | None) -> Engagement:
        counts = (replies, reposts, likes)
        engagement = self._counts.get(counts)
        if engagement is None:
            engagement = self._counts[counts] = Engagement(replies, reposts, likes)
        return engagement


def resolve_parents(conn: Connection, parents: Iterable[str | None]) -> dict[str, str]:
    """Replies may name their parent by an alias (a platform-local id): the key of
    each parent so named."""
    wanted = sorted({p for p in parents if p})
    resolved: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for alias, key in conn.execute(
            select(ItemAlias.alias, Item.key)
            .join(Item, Item.id == ItemAlias.item_id)
            .where(ItemAlias.alias.in_(chunk))
        ):
            resolved[alias] = key
    return resolved


def iter_rows(conn: Connection, query: Executable) -> Iterator[Any]:
    """The rows of ``query``, fetched a thousand at a time: iterating a result fetches
    (and processes) row by row, and ``all()`` keeps every row alive until the last."""
    for part in conn.execute(query).partitions(1000):
        yield from part


LOADED = (
    Item.id,
    Item.key,
    Item.platform,
    Item.kind,
    Item.url,
    Item.author_key,
    Item.title,
    Item.html,
    Item.text,
    Item.language,
    Item.created_at,
    Item.edited_at,
    Item.fetched_at,
    Item.in_reply_to,
    Item.context_url,
    Item.replies_count,
    Item.reposts_count,
    Item.likes_count,
    Item.hashtags,
    Item.links,
    Item.raw,
    Item.deleted_at.is_not(None),  # only whether: no timestamp to parse
    Author.platform,
    Author.name,
    Author.handle,
    Author.url,
    Author.avatar_url,
)
_RAW = 20
WITHOUT_RAW = (*LOADED[:_RAW], null(), *LOADED[_RAW + 1 :])


LIGHT = (
    Item.id,
    Item.key,
    Item.platform,
    Item.kind,
    Item.author_key,
    Item.created_at,
    Item.deleted_at.is_not(None),
    Author.platform,
)


def load_light(session: Session, ids: Sequence[int] | Select[Any]) -> Iterable[StoredItemView]:
    """Enough of each item to count it (who, where, what kind): no words, no payload,
    at a fraction of a full load (:func:`load_counted` is leaner still). Given
    a query of ids (one statement for a whole day), the items come oldest first."""
    query = select(*LIGHT).join(Author, Author.key == Item.author_key).where(Item.id.in_(ids))
    if not isinstance(ids, Sequence):
        query = query.order_by(Item.created_at, Item.id)
    authors: dict[str, AuthorData] = {}
    for row in iter_rows(session.connection(), query):
        id_, key, platform, kind, author_key, created, deleted, author_platform = row
        author = authors.get(author_key)
        if author is None:
            author = authors[author_key] = AuthorData(author_key, author_platform, "")
        yield StoredItemView(
            id=id_,
            item=ItemData(
                key=key,
                platform=platform,
                kind=kind,
                url=None,
                author=author,
                html="",
                text="",
                created_at=created,
                engagement=_NO_ENGAGEMENT,
            ),
            fetched_at=created,
            deleted=bool(deleted),
            source_ids=(),
        )


_NO_ENGAGEMENT = Engagement()


def load_counted(conn: Connection, ids: Select[Any]) -> list[CountedItem]:
    """The live items among those ``ids`` selects, as :class:`CountedItem`, in no
    particular order: four short columns of each row, no join, no sort, no
    timestamps to parse."""
    query = select(Item.key, Item.author_key, Item.platform, Item.kind).where(
        Item.id.in_(ids), Item.deleted_at.is_(None)
    )
    return list(map(CountedItem._make, iter_rows(conn, query)))


def event_record(e: Event) -> EventRecord:
    return EventRecord(
        e.slug, e.title, tuple(e.hashtags), e.timezone, e.starts, e.ends, e.lookback_days
    )


def source_state(s: Source) -> SourceState:
    return SourceState(
        spec=SourceSpec(
            id=s.id,
            event=s.event_slug,
            platform=s.platform,
            target=s.target,
            hashtags=tuple(s.hashtags),
            options=s.options,
        ),
        state=s.state,
        next_check_at=s.next_check_at,
        last_success_at=s.last_success_at,
        last_error=s.last_error,
        error_count=s.error_count,
    )
