"""Domain types: plain, immutable and typed.

Named for the direction data flows:

* ``SourceSpec``    what the configuration asks to be collected;
* ``ItemData`` / ``AuthorData``  what a source produced;
* ``SourceState``   what the store hands an update (incremental state, schedule);
* ``FetchResult``   what a fetcher hands back to the pipeline (items + new state);
* ``IngestCounts``  what the store did with them.

Nothing here imports SQLAlchemy, httpx or Jinja. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ItemKind = Literal["post", "comment", "article"]

JSONValue = Any
"""A value that ``json.dumps`` accepts; payloads and states are stored as JSON."""


@dataclass(frozen=True, slots=True)
class AuthorData:
    """A person (or account) as one platform knows them.

    ``key`` is the natural key, unique across platforms (``mastodon:<actor uri>``,
    ``wordpress:<site>:<name>|<url>``, ...).
    """

    key: str
    platform: str
    name: str
    handle: str = ""
    url: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """Counts as the platform reports them; ``None`` where it does not report one."""

    replies: int | None = None
    reposts: int | None = None
    likes: int | None = None


@dataclass(frozen=True, slots=True)
class ItemData:
    """A post or a comment, as a source produced it, already sanitized.

    ``key`` is the global natural key: an item reached through several sources
    (a Mastodon post on three servers; a WordPress comment seen through the REST
    API and the post's comment feed) has one key and is stored once.
    """

    key: str
    platform: str
    kind: ItemKind
    url: str | None
    author: AuthorData
    html: str
    """Sanitized HTML, safe to show."""
    text: str
    """Plain text, entities decoded."""
    created_at: datetime
    language: str | None = None
    edited_at: datetime | None = None
    in_reply_to: str | None = None
    """Natural key of the parent item (a reply's status, a comment's parent comment)."""
    context_url: str | None = None
    """The page the conversation hangs off (a comment's blog post), if any."""
    title: str | None = None
    engagement: Engagement = field(default_factory=Engagement)
    hashtags: tuple[str, ...] = ()
    """Lower-cased, without '#'."""
    links: tuple[str, ...] = ()
    """Outbound links shared in the item (not mentions, not hashtag links)."""
    raw: Mapping[str, JSONValue] = field(default_factory=dict, compare=False)
    via: str | None = None
    """Set when this is a copy reached through a bridge (``bridgy-fed``): it names the
    original (same key) but never overwrites what the original's platform said."""
    aliases: tuple[str, ...] = ()
    """Other keys that name this item (a Mastodon status's id on the instance that
    served it). ``in_reply_to`` may use an alias; the store resolves it on reading."""

    @property
    def content_hash(self) -> str:
        """Changes when what the author wrote changes (an edit), not when counts move,
        markup is re-rendered or a source without threading reports the item."""
        h = hashlib.blake2b(digest_size=16)
        for part in (" ".join(self.text.split()), self.title or "", *self.links):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One configured source of one event.

    ``id`` is stable across runs (derived from the event, platform and target), so the
    store can keep its state when the configuration is reloaded.
    """

    id: str
    event: str
    platform: str
    target: str
    """What is followed, for people: an instance URL, a post URL, a feed URL."""
    hashtags: tuple[str, ...] = ()
    options: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store knows of a source when an update starts."""

    spec: SourceSpec
    state: Mapping[str, JSONValue] = field(default_factory=dict)
    """Opaque to everything but the source's own fetcher."""
    next_check_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Headroom a platform reported on its last response."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @property
    def nearly_spent(self) -> bool:
        """At most 5 % of the limit (or 2 requests) left: sources stop paging here, so
        what is left absorbs requests already in flight, and come back after the reset."""
        if self.remaining is None:
            return False
        return self.remaining <= max(2, (self.limit or 0) * 5 // 100)


@dataclass(frozen=True, slots=True)
class ExcludedItem:
    """An item left out (consent, opt-out list): counted once, never stored or named."""

    key: str
    reason: str
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DiscoveredSource:
    """A source another source found (a new blog post's comments): followed from now
    on without anyone configuring it."""

    platform: str
    options: Mapping[str, JSONValue]
    why: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of one source produced.

    The fetcher never writes its state: the pipeline stores ``state`` in the same
    transaction as ``items``, so a crash between the two cannot skip items.
    """

    items: tuple[ItemData, ...]
    state: Mapping[str, JSONValue]
    listing: frozenset[str] | None = None
    """When not ``None``, every key the source currently lists. Items this source
    stored earlier and no longer lists were deleted, trashed or unapproved."""
    not_modified: bool = False
    excluded: Mapping[str, int] = field(default_factory=dict)
    """Items left out, counted by reason (never named)."""
    excluded_items: tuple[ExcludedItem, ...] = ()
    """The same, one by one, so the store can count each once per event."""
    rate_limit: RateLimit | None = None
    requests: int = 0
    next_check_hint: datetime | None = None
    """The source asks not to be polled before this (a rate-limit reset, say)."""
    cursor_before: str | None = None
    cursor_after: str | None = None
    discovered: tuple[DiscoveredSource, ...] = ()
    query: str | None = None
    """What was asked (for provenance); the pipeline fills in target and hashtags."""


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """Whose posts an event collects. On by default; set per event (``[events.consent]``).

    Sources apply what only they can see (profile flags, labels); the pipeline applies
    the organisers' opt-out list to every source. Exclusions are counted by reason,
    never named.
    """

    respect_noindex: bool = True
    """Mastodon ``noindex: true`` (the author opted out of search indexing)."""
    require_indexable: bool = False
    """Mastodon: collect only accounts that opted in with ``indexable: true``."""
    respect_discoverable: bool = False
    """Mastodon: leave out accounts with ``discoverable: false``."""
    optout_tags: tuple[str, ...] = ("nobot", "noindex", "nosearch", "noarchive")
    """Hashtags in a profile's bio that mean "do not collect me"."""
    respect_no_unauthenticated: bool = True
    """Bluesky: leave out accounts labelled ``!no-unauthenticated``."""
    allow_unlisted: bool = True
    """Mastodon ``unlisted`` posts (public but kept off public timelines)."""


@dataclass(frozen=True, slots=True)
class StoredRef:
    """An item as a source needs it to check it again (edits, deletions)."""

    key: str
    aliases: tuple[str, ...]
    url: str | None
    created_at: datetime
    platform_id: str | None
    """The platform's own id as stored in the raw payload (``raw["id"]``), if any."""


@dataclass(frozen=True, slots=True)
class RecheckResult:
    """What a re-check of stored items found."""

    items: tuple[ItemData, ...] = ()
    """Still there, as they are now (edits show as changed content)."""
    gone: frozenset[str] = frozenset()
    """Keys the platform no longer shows (deleted, made private) or that consent now
    excludes: they are tombstoned and their content purged."""
    excluded: Mapping[str, int] = field(default_factory=dict)
    """Of ``gone``, how many by consent reason."""
    excluded_keys: Mapping[str, str] = field(default_factory=dict)
    """Of ``gone``, key -> consent reason, so each is counted once per event."""
    requests: int = 0


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.deleted + other.deleted,
            self.restored + other.restored,
        )


@dataclass(frozen=True, slots=True)
class RunReport:
    """The outcome of one fetch of one source, as shown to people."""

    source_id: str
    platform: str
    target: str
    started_at: datetime
    finished_at: datetime
    counts: IngestCounts
    fetched: int = 0
    excluded: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    not_modified: bool = False
    next_check_at: datetime | None = None
    discovered: int = 0
    """Sources this fetch started following."""


ModerationAction = Literal["hide", "show", "pin", "unpin", "feature", "unfeature"]
MODERATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "item": ("hide", "show", "pin", "unpin", "feature", "unfeature"),
    "author": ("hide", "show"),
}


@dataclass(frozen=True, slots=True)
class ModerationRecord:
    """One organiser decision, as the log shows it."""

    event: str
    target_kind: str
    """item | author"""
    target: str
    """The item's or the author's natural key."""
    action: str
    reason: str | None
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Moderation:
    """An event's moderation now: each target's latest decision wins."""

    hidden_items: frozenset[str] = frozenset()
    hidden_authors: frozenset[str] = frozenset()
    pinned: tuple[str, ...] = ()
    """Item keys, most recently pinned first."""
    featured: frozenset[str] = frozenset()

    def hides(self, item: ItemData) -> bool:
        return item.key in self.hidden_items or item.author.key in self.hidden_authors
