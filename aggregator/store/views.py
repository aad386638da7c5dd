"""Rows as domain types: what the store hands out, and the mapping from ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
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


def describe_query(spec: SourceSpec) -> str:
    tags = " ".join(f"#{h}" for h in spec.hashtags)
    return f"{spec.platform} {spec.target} {tags}".strip()


def load_items(
    session: Session, ids: Sequence[int], include_deleted: bool
) -> Iterable[StoredItemView]:
    query = select(Item, Author).join(Author, Author.key == Item.author_key).where(Item.id.in_(ids))
    if not include_deleted:
        query = query.where(Item.deleted_at.is_(None))
    rows = {r.Item.id: r for r in session.execute(query)}
    # Replies may name their parent by an alias (a platform-local id): resolve it.
    parents = {r.Item.in_reply_to for r in rows.values() if r.Item.in_reply_to}
    resolved: dict[str, str] = {}
    for start in range(0, len(parents), 500):
        chunk = sorted(parents)[start : start + 500]
        for alias, key in session.execute(
            select(ItemAlias.alias, Item.key)
            .join(Item, Item.id == ItemAlias.item_id)
            .where(ItemAlias.alias.in_(chunk))
        ):
            resolved[alias] = key
    sources: dict[int, list[str]] = {}
    for item_id, source_id in session.execute(
        select(ItemSource.item_id, ItemSource.source_id).where(ItemSource.item_id.in_(ids))
    ):
        sources.setdefault(item_id, []).append(source_id)
    for id_ in ids:
        row = rows.get(id_)
        if row is None:
            continue
        i, a = row.Item, row.Author
        yield StoredItemView(
            id=i.id,
            item=ItemData(
                key=i.key,
                platform=i.platform,
                kind=i.kind,
                url=i.url,
                author=AuthorData(a.key, a.platform, a.name, a.handle, a.url, a.avatar_url),
                html=i.html,
                text=i.text,
                created_at=i.created_at,
                language=i.language,
                edited_at=i.edited_at,
                in_reply_to=resolved.get(i.in_reply_to, i.in_reply_to) if i.in_reply_to else None,
                context_url=i.context_url,
                title=i.title,
                engagement=Engagement(i.replies_count, i.reposts_count, i.likes_count),
                hashtags=tuple(i.hashtags),
                links=tuple(i.links),
                raw=i.raw,
            ),
            fetched_at=i.fetched_at,
            deleted=i.deleted_at is not None,
            source_ids=tuple(sorted(sources.get(id_, []))),
        )


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
