"""Pure decisions of an update: what to insert, update or tombstone, and when to look
again. No I/O here; the store and the pipeline carry the decisions out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aggregator.exceptions import PermanentError, RateLimited, SourceError
from aggregator.models import Engagement, ItemData


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What the store already holds of an item, as far as decisions need it."""

    id: int
    content_hash: str
    deleted: bool
    in_reply_to: str | None
    context_url: str | None
    engagement: Engagement


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    item: ItemData
    """Incoming item merged with what was stored."""
    edited: bool
    restored: bool


@dataclass(frozen=True, slots=True)
class IngestPlan:
    new: list[ItemData] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)


def dedupe(items: Iterable[ItemData]) -> list[ItemData]:
    """One item per key; the last one a source returned wins (it is the freshest)."""
    return list({item.key: item for item in items}.values())


def plan_items(incoming: Sequence[ItemData], stored: Mapping[str, StoredItem]) -> IngestPlan:
    """Split incoming items into new, changed and unchanged.

    Two sources can describe one item with different detail (a WordPress comment's
    RSS entry has no parent, its REST twin does; a feed has no like counts). What one
    source does not know never erases what another told us.
    """
    plan = IngestPlan()
    for item in dedupe(incoming):
        old = stored.get(item.key)
        if old is None:
            plan.new.append(item)
            continue
        if item.via is not None:
            # A bridged copy's rendering differs from the original's: it must not look
            # like an edit every time both are seen.
            plan.unchanged.append(old.id)
            continue
        merged = merge(item, old)
        edited = merged.content_hash != old.content_hash
        if (
            edited
            or old.deleted
            or merged.engagement != old.engagement
            or merged.in_reply_to != old.in_reply_to
            or merged.context_url != old.context_url
        ):
            plan.changed.append(Change(old.id, merged, edited=edited, restored=old.deleted))
        else:
            plan.unchanged.append(old.id)
    return plan


def merge(item: ItemData, old: StoredItem) -> ItemData:
    """A reply's parent never changes, but two servers name it by different local
    aliases: the first one stored is kept, so they do not rewrite it in turn."""
    e, o = item.engagement, old.engagement
    return replace(
        item,
        in_reply_to=old.in_reply_to or item.in_reply_to,
        context_url=old.context_url or item.context_url,
        engagement=Engagement(
            replies=o.replies if e.replies is None else e.replies,
            reposts=o.reposts if e.reposts is None else e.reposts,
            likes=o.likes if e.likes is None else e.likes,
        ),
    )


def tombstones(listing: frozenset[str], stored: Mapping[str, tuple[int, bool]]) -> list[int]:
    """Ids of live items a source returned before and no longer lists (deleted,
    trashed, unapproved). ``stored`` maps key -> (id, already deleted)."""
    return [id_ for key, (id_, deleted) in stored.items() if not deleted and key not in listing]


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: timedelta
    max_backoff: timedelta
    jitter: float = 0.1
    """Fraction of the interval added at random, so sources do not fire in lock-step."""


def next_check_after_success(
    now: datetime,
    schedule: Schedule,
    hint: datetime | None = None,
    rng: random.Random | None = None,
) -> datetime:
    rng = rng or random.Random()
    when = now + schedule.interval * (1 + rng.uniform(0, schedule.jitter))
    if hint is not None and hint > when:
        when = hint
    return when


def next_check_after_failure(
    now: datetime,
    schedule: Schedule,
    error: SourceError,
    error_count: int,
    rng: random.Random | None = None,
) -> datetime:
    """Exponential back-off from the normal interval, capped; a platform's own
    Retry-After wins when it asks for longer. ``error_count`` includes this failure."""
    rng = rng or random.Random()
    factor: int = 2 ** min(error_count, 16)
    if isinstance(error, PermanentError):
        factor *= 4  # needs a person; do not hammer
    wait = min(schedule.interval * factor, schedule.max_backoff)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        wait = max(wait if error_count > 1 else timedelta(0), error.retry_after)
        wait = max(wait, timedelta(seconds=1))
    return now + wait * (1 + rng.uniform(0, schedule.jitter))


RECHECK_MIN = timedelta(minutes=10)
RECHECK_MAX = timedelta(days=1)


def recheck_due(created_at: datetime, checked_at: datetime | None, now: datetime) -> bool:
    """Whether a stored item should be looked at again now.

    The interval grows with the item's age (a quarter of it, between 10 minutes and a
    day): fresh posts are edited and deleted most, old ones rarely."""
    interval = min(max((now - created_at) / 4, RECHECK_MIN), RECHECK_MAX)
    last = checked_at or created_at
    return now - last >= interval
