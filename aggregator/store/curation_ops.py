"""The store's curation side, mixed into :class:`aggregator.store.Store`: organisers'
moderation, finding what they name, and consent (opt-outs, exclusions, removals)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from aggregator.models import Moderation, ModerationRecord
from aggregator.optouts import OptOutRule
from aggregator.store import lookup, moderation, optouts
from aggregator.store.schema import Exclusion, Item, ItemSource, OptOut


class CurationOps:
    engine: Engine

    # -- moderation ---------------------------------------------------------------

    def moderate(self, record: ModerationRecord) -> None:
        """Record one organiser decision; it applies to every output from now on."""
        with self.engine.begin() as conn:
            moderation.decide(conn, record)

    def moderation(self, event: str) -> Moderation:
        with self.engine.connect() as conn:
            return moderation.current(conn, event)

    def moderation_log(self, event: str) -> list[ModerationRecord]:
        with self.engine.connect() as conn:
            return moderation.log(conn, event)

    def find_items(self, event: str, target: str) -> list[str]:
        """Keys of the event's items whose key, alias or address is ``target``."""
        with self.engine.connect() as conn:
            return lookup.item_keys(conn, event, target)

    def find_authors(self, event: str, who: str) -> list[str]:
        """Keys of the event's authors named by ``who``: an author key, a handle
        (``@name@server``, ``name.bsky.social``) or a profile address."""
        with self.engine.connect() as conn:
            return lookup.author_keys(conn, event, who)

    # -- consent ------------------------------------------------------------------

    def optout_rules(self) -> list[OptOutRule]:
        with self.engine.connect() as conn:
            return optouts.rules(conn)

    def optout_list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(optouts.optouts_t).order_by(OptOut.id)).mappings()
            return [dict(r) for r in rows]

    def add_optout(self, rule: OptOutRule, *, reason: str | None, by: str, now: datetime) -> int:
        """Add ``rule`` and purge what it covers, in one transaction; returns the count
        of items removed."""
        with self.engine.begin() as conn:
            return optouts.add_rule(conn, rule, reason, by, now)

    def remove_optout(self, rule: OptOutRule) -> bool:
        with self.engine.begin() as conn:
            return optouts.remove_rule(conn, rule)

    def exclusions(
        self, event: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """Items left out of ``event`` (created in [since, until)), counted by reason."""
        query = select(Exclusion.reason, func.count()).where(Exclusion.event_slug == event)
        # Counted in SQL: a day's digest must not read every exclusion of the event.
        # Without a creation time an exclusion belongs to the whole event only.
        if since is not None:
            query = query.where(Exclusion.item_created_at >= since)
        if until is not None:
            query = query.where(Exclusion.item_created_at < until)
        with self.engine.connect() as conn:
            return {reason: n for reason, n in conn.execute(query.group_by(Exclusion.reason))}

    def removed_count(self, event: str, *, since: datetime, until: datetime) -> int:
        """Items of ``event`` created in [since, until) that their platform no longer
        shows (deleted, trashed, made private), not counting opt-out purges."""
        with self.engine.connect() as conn:
            keys = conn.execute(
                select(Item.key)
                .join(ItemSource, ItemSource.item_id == Item.id)
                .where(
                    ItemSource.event_slug == event,
                    ItemSource.item_created_at >= since,
                    ItemSource.item_created_at < until,
                    Item.deleted_at.is_not(None),
                )
                .distinct()
            ).scalars()
            by_hash = {optouts.key_hash(key): key for key in keys}
            # Only this period's tombstones are looked up, not every exclusion of the event.
            purged: set[str] = set()
            wanted = sorted(by_hash)
            for start in range(0, len(wanted), 500):
                purged.update(
                    conn.execute(
                        select(Exclusion.key_hash).where(
                            Exclusion.event_slug == event,
                            Exclusion.key_hash.in_(wanted[start : start + 500]),
                        )
                    ).scalars()
                )
            return len(by_hash.keys() - purged)
