"""Pure decisions of an update: what to insert, update or tombstone, and when to look
again. No I/O here; the store and the pipeline carry the decisions out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aggregator.exceptions import PermanentError, RateLimited, SourceError
from aggregator.models import Engagement, ItemData, RateLimit, SourceSpec


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
        # What merge() would give, compared field by field: an unchanged item (the
        # common case) is not copied. The content hash does not read merged fields.
        e, o = item.engagement, old.engagement
        edited = item.content_hash != old.content_hash
        if (
            edited
            or old.deleted
            or (old.in_reply_to or item.in_reply_to) != old.in_reply_to
            or (old.context_url or item.context_url) != old.context_url
            or (e.replies is not None and e.replies != o.replies)
            or (e.reposts is not None and e.reposts != o.reposts)
            or (e.likes is not None and e.likes != o.likes)
        ):
            merged = merge(item, old)
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
    rate_limit: RateLimit | None = None,
) -> datetime:
    """The interval plus jitter; later when the source asks for it (``hint``) or when its
    rate-limit budget is nearly spent (then just past the reset, see :func:`headroom_wait`)."""
    rng = rng or random.Random()
    when = now + schedule.interval * (1 + rng.uniform(0, schedule.jitter))
    if hint is not None and hint > when:
        when = hint
    reset = headroom_wait(rate_limit, now)
    if reset is not None and reset > when:
        when = reset
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


PAST_RESET = timedelta(seconds=1)
"""Checked this long after a reset, so two clocks a little apart never meet before it."""


def headroom_wait(rate: RateLimit | None, now: datetime) -> datetime | None:
    """When a nearly spent budget comes back: just past its reset, or ``None`` when there
    is headroom (or the platform did not say)."""
    if rate is None or rate.reset_at is None or not rate.nearly_spent or rate.reset_at <= now:
        return None
    return rate.reset_at + PAST_RESET


@dataclass(frozen=True, slots=True)
class Budget:
    """A rate-limit reading: which shared budget (:func:`budget_key`), what was left,
    and when it was read."""

    key: str
    rate_limit: RateLimit
    seen_at: datetime


def budget_holds(budgets: Iterable[Budget], now: datetime) -> dict[str, datetime]:
    """Budget key -> when sources sharing that budget may be fetched again.

    Several sources can spend one budget (two X searches on one bearer token, several
    events on one Mastodon server): the latest reading of each budget speaks for all of
    them, so a source whose own last reading looked healthy still waits for the reset."""
    latest: dict[str, Budget] = {}
    for b in budgets:
        if b.key not in latest or b.seen_at > latest[b.key].seen_at:
            latest[b.key] = b
    holds = {}
    for key, b in latest.items():
        until = headroom_wait(b.rate_limit, now)
        if until is not None:
            holds[key] = until
    return holds


_ADDRESS_OPTIONS = ("api", "api_root", "instance", "service", "forum", "url", "post")
"""Options naming where a platform's requests go, most specific first (a WordPress.com
source names its post on the blog, but its requests go to ``api``)."""


def host_key(spec: SourceSpec) -> str:
    """The host a source's requests go to (``host:port``), for the per-host cap; the
    platform name where no option names an address."""
    for name in _ADDRESS_OPTIONS:
        value = spec.options.get(name)
        if isinstance(value, str):
            netloc = urlsplit(value).netloc.lower()
            if netloc:
                return netloc
    return spec.platform


def budget_key(spec: SourceSpec) -> str:
    """Which rate-limit budget a source spends: per platform, host and credential (the
    environment variable naming a token is the token's identity here; anonymous
    requests share the host's per-address budget)."""
    credential = ",".join(
        f"{k}={v}" for k, v in sorted(spec.options.items()) if k.endswith("_env") and v
    )
    return f"{spec.platform}|{host_key(spec)}|{credential}"


@dataclass(frozen=True, slots=True)
class EventWindow:
    """An event's phases as instants (UTC): live from local midnight of its first day to
    local midnight after its last; then a follow-up, when replies and write-ups arrive."""

    live_from: datetime
    live_until: datetime
    follow_up_until: datetime


@dataclass(frozen=True, slots=True)
class Polling:
    """How the interval adapts to an event's phase and to a source's activity."""

    live_factor: float = 1 / 3
    """During the event: the conversation is fastest, so are we."""
    after_factor: float = 4
    """After the follow-up: late replies trickle in."""
    quiet_after: int = 3
    """This many fetches in a row without a new item make a source quiet; each further
    such run doubles its interval again (0: never)."""
    quiet_cap: int = 8
    """At most this factor for quietness."""
    longest: timedelta = timedelta(days=1)
    """No source waits longer than this (or its base interval, if that is longer)."""


def poll_interval(
    base: timedelta,
    now: datetime,
    window: EventWindow | None,
    quiet_runs: int,
    polling: Polling = Polling(),
) -> timedelta:
    """The interval before a source's next check (before jitter, hints and budgets).

    ``quiet_runs``: how many of its latest fetches in a row stored no new item, this one
    included. Normal before the event (its look-back) and in the follow-up; faster while
    it is live; slower after it; slower still while a source is quiet."""
    factor = 1.0
    if window is not None:
        if window.live_from <= now < window.live_until:
            factor = polling.live_factor
        elif now >= window.follow_up_until:
            factor = polling.after_factor
    if polling.quiet_after > 0 and quiet_runs >= polling.quiet_after:
        factor *= min(2 ** min(quiet_runs // polling.quiet_after, 16), polling.quiet_cap)
    return min(base * factor, max(base, polling.longest))


RECHECK_MIN = timedelta(minutes=10)
RECHECK_MAX = timedelta(days=1)


def recheck_due(created_at: datetime, checked_at: datetime | None, now: datetime) -> bool:
    """Whether a stored item should be looked at again now.

    The interval grows with the item's age (a quarter of it, between 10 minutes and a
    day): fresh posts are edited and deleted most, old ones rarely."""
    interval = min(max((now - created_at) / 4, RECHECK_MIN), RECHECK_MAX)
    last = checked_at or created_at
    return now - last >= interval
