"""The store's side of moderation: an append-only log of organiser decisions, and the
current state it implies (each target's latest decision wins)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, insert, select

from aggregator.models import MODERATION_ACTIONS, Moderation, ModerationRecord
from aggregator.store.schema import ModerationDecision

moderation_t = cast(Table, ModerationDecision.__table__)


def decide(conn: Connection, record: ModerationRecord) -> None:
    allowed = MODERATION_ACTIONS.get(record.target_kind)
    if allowed is None:
        raise ValueError(f"cannot moderate a {record.target_kind!r}; choose item or author")
    if record.action not in allowed:
        raise ValueError(
            f"an {record.target_kind} can be {', '.join(allowed)}, not {record.action!r}"
        )
    conn.execute(
        insert(moderation_t).values(
            event_slug=record.event,
            target_kind=record.target_kind,
            target=record.target,
            action=record.action,
            reason=record.reason,
            decided_by=record.decided_by,
            decided_at=record.decided_at,
        )
    )


def log(conn: Connection, event: str) -> list[ModerationRecord]:
    rows = conn.execute(
        select(moderation_t).where(moderation_t.c.event_slug == event).order_by(moderation_t.c.id)
    ).mappings()
    return [
        ModerationRecord(
            event=r["event_slug"],
            target_kind=r["target_kind"],
            target=r["target"],
            action=r["action"],
            reason=r["reason"],
            decided_by=r["decided_by"],
            decided_at=r["decided_at"],
        )
        for r in rows
    ]


def current(conn: Connection, event: str) -> Moderation:
    hidden: dict[tuple[str, str], bool] = {}
    pinned: dict[str, int] = {}
    featured: set[str] = set()
    # In log order, so a later decision overrides an earlier one on the same target.
    for order, record in enumerate(log(conn, event)):
        target = (record.target_kind, record.target)
        match record.action:
            case "hide":
                hidden[target] = True
            case "show":
                hidden[target] = False
            case "pin":
                pinned[record.target] = order
            case "unpin":
                pinned.pop(record.target, None)
            case "feature":
                featured.add(record.target)
            case "unfeature":
                featured.discard(record.target)
    return Moderation(
        hidden_items=frozenset(t for (kind, t), on in hidden.items() if on and kind == "item"),
        hidden_authors=frozenset(t for (kind, t), on in hidden.items() if on and kind == "author"),
        pinned=tuple(sorted(pinned, key=lambda k: -pinned[k])),
        featured=frozenset(featured),
    )
