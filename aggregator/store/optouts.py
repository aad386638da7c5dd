"""The store's side of consent: the opt-out list, purging, and counting exclusions.

Exclusions are kept as a hash of the item's key per event: enough to count each left-out
item once however often it is seen again, not enough to say whose it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, delete, select

from aggregator.models import AuthorData, ExcludedItem
from aggregator.optouts import REASON, OptOutRule, RuleKind, matches
from aggregator.store.ingest import purge_items
from aggregator.store.schema import Author, Exclusion, Item, ItemSource, OptOut
from aggregator.store.statements import dialect_insert, executemany

optouts_t = cast(Table, OptOut.__table__)
exclusions_t = cast(Table, Exclusion.__table__)


def key_hash(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def record_exclusions(
    conn: Connection, event: str, source_id: str, excluded: Sequence[ExcludedItem], now: datetime
) -> None:
    rows = {
        key_hash(e.key): {
            "event_slug": event,
            "key_hash": key_hash(e.key),
            "reason": e.reason,
            "source_id": source_id,
            "item_created_at": e.created_at,
            "first_seen_at": now,
        }
        for e in excluded
    }
    if rows:
        stmt = dialect_insert(conn, exclusions_t).on_conflict_do_nothing()
        executemany(conn, stmt, list(rows.values()))


def rules(conn: Connection) -> list[OptOutRule]:
    rows = conn.execute(select(OptOut.kind, OptOut.value).order_by(OptOut.id))
    return [OptOutRule(cast(RuleKind, kind), value) for kind, value in rows]


def add_rule(conn: Connection, rule: OptOutRule, reason: str | None, by: str, now: datetime) -> int:
    """Add the rule and purge what it covers; returns how many items were removed."""
    stmt = dialect_insert(conn, optouts_t).on_conflict_do_nothing()
    conn.execute(
        stmt,
        [
            {
                "kind": rule.kind,
                "value": rule.value,
                "reason": reason,
                "created_by": by,
                "created_at": now,
            }
        ],
    )
    return purge_matching(conn, [rule], now)


def remove_rule(conn: Connection, rule: OptOutRule) -> bool:
    result = conn.execute(
        delete(OptOut).where(OptOut.kind == rule.kind, OptOut.value == rule.value)
    )
    return bool(result.rowcount)


def purge_matching(conn: Connection, rules_: Sequence[OptOutRule], now: datetime) -> int:
    """Tombstone and empty every live item whose author a rule covers, and count each
    as an exclusion of its events."""
    authors = [
        AuthorData(key, platform, name, handle, url)
        for key, platform, name, handle, url in conn.execute(
            select(Author.key, Author.platform, Author.name, Author.handle, Author.url)
        )
    ]
    covered = {a.key for a in authors if any(matches(r, a) for r in rules_)}
    query = select(
        Item.id, Item.key, Item.created_at, Item.author_key, Item.url, Item.platform
    ).where(Item.deleted_at.is_(None))
    by_author = {a.key: a for a in authors}
    doomed: dict[int, tuple[str, datetime]] = {}
    for id_, key, created, author_key, url, _platform in conn.execute(query):
        author = by_author.get(author_key)
        if author_key in covered or (
            author is not None
            and url
            and any(r.kind == "domain" and matches(r, author, url) for r in rules_)
        ):
            doomed[id_] = (key, created)
    if not doomed:
        return 0
    events: dict[int, set[tuple[str, str]]] = {}
    for item_id, event, source_id in conn.execute(
        select(ItemSource.item_id, ItemSource.event_slug, ItemSource.source_id).where(
            ItemSource.item_id.in_(list(doomed))
        )
    ):
        events.setdefault(item_id, set()).add((event, source_id))
    for item_id, pairs in events.items():
        key, created = doomed[item_id]
        for event, source_id in pairs:
            record_exclusions(conn, event, source_id, [ExcludedItem(key, REASON, created)], now)
    purge_items(conn, list(doomed), now)
    return len(doomed)
