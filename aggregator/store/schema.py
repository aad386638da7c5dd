"""The database schema (SQLAlchemy 2 typed declarative). Rows never leave the store.

Changes go through an Alembic migration in ``migrations/versions``; a test checks the
migrations and this module describe the same schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Date, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: it stores fixed-width
    ISO-8601 text in UTC, which sorts and compares like the instants it names and
    skips SQLAlchemy's per-value DATETIME formatting on the ingest path.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        # Returned directly (not via process_bind_param) because this runs for every
        # timestamp of every ingested row.
        return sqlite_text if dialect.name == "sqlite" else _aware

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).astimezone(UTC)
        return cast(datetime, value).astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value


def sqlite_text(value: datetime | None) -> str | None:
    """How SQLite stores an instant: ``2026-11-20 09:00:00.000000+00:00``, always UTC
    and always this width, so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")


Json = JSON().with_variant(JSONB(), "postgresql")
Key = String(1024)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


class Event(Base):
    __tablename__ = "events"
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    hashtags: Mapped[list[Any]]
    timezone: Mapped[str] = mapped_column(String(64))
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date] = mapped_column(Date)
    lookback_days: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime]
    managed_by: Mapped[str] = mapped_column(String(16), default="config", server_default="config")
    """``config`` (the file names it and wins on every start) or ``admin`` (created in
    the web admin, edited there)."""
    closed_at: Mapped[datetime | None]
    """Closed: its sources are no longer fetched; its digests stay."""
    consent: Mapped[dict[str, Any] | None]
    """An admin event's ``[events.consent]`` (a file's event keeps its own in the file)."""


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(1200), primary_key=True)
    event_slug: Mapped[str] = mapped_column(ForeignKey("events.slug", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]]
    hashtags: Mapped[list[Any]]
    enabled: Mapped[bool] = mapped_column(default=True)
    state: Mapped[dict[str, Any]]
    next_check_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    rate_limit: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(16), default="config", server_default="config")
    """``config`` (the file), ``admin`` (added in the web admin; a reload of the file
    leaves it alone), ``discovered`` (found by another source) or ``import``."""
    discovered_from: Mapped[str | None] = mapped_column(String(1200))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    """The worker fetching this source now (several ``aggregator run`` on one database)."""
    lease_until: Mapped[datetime | None]
    """When that lease lapses: a dead worker's sources go back to the pool then."""
    failing_notice_at: Mapped[datetime | None]
    """When the admins were told this source keeps failing (cleared on success)."""


class Author(Base):
    __tablename__ = "authors"
    key: Mapped[str] = mapped_column(Key, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    handle: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(Key, unique=True)
    platform: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    author_key: Mapped[str] = mapped_column(ForeignKey("authors.key"))
    title: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    in_reply_to: Mapped[str | None] = mapped_column(Key)
    context_url: Mapped[str | None] = mapped_column(Text)
    replies_count: Mapped[int | None]
    reposts_count: Mapped[int | None]
    likes_count: Mapped[int | None]
    hashtags: Mapped[list[Any]]
    links: Mapped[list[Any]]
    raw: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    """Last time a re-check confirmed the item (edits, deletions)."""

    __table_args__ = (
        Index("ix_items_created_at", "created_at"),
        # "New voices": has this author spoken before the period? One index probe each.
        Index("ix_items_author_created", "author_key", "created_at"),
        # Blog posts are few among many posts and comments: found without a scan.
        Index("ix_items_kind", "kind"),
    )


class ItemSource(Base):
    """Which sources returned an item: provenance, and the scope of deletion checks."""

    __tablename__ = "item_sources"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    event_slug: Mapped[str] = mapped_column(String(64))
    item_created_at: Mapped[datetime]
    """Copied from the item so a day's items of an event are one index range scan."""
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_item_sources_source", "source_id"),
        Index("ix_item_sources_event_created", "event_slug", "item_created_at"),
    )


class EventAuthor(Base):
    """When each author first spoke in each event: the ``created_at`` of their earliest
    live item there. Kept up to date by the writes that can change it
    (``store/first_seen.py``), so a digest's "new voices" are a lookup per author
    rather than a walk through each author's items."""

    __tablename__ = "event_authors"
    event_slug: Mapped[str] = mapped_column(
        ForeignKey("events.slug", ondelete="CASCADE"), primary_key=True
    )
    author_key: Mapped[str] = mapped_column(Key, primary_key=True)
    first_item_at: Mapped[datetime]

    # The authors who first spoke in a period: one range (``first_seen.newcomers``).
    __table_args__ = (Index("ix_event_authors_first", "event_slug", "first_item_at"),)


class ItemAlias(Base):
    """Other names of an item, so a reply that knows its parent only by a
    platform-local id (Mastodon's ``in_reply_to_id``) still finds it."""

    __tablename__ = "item_aliases"
    alias: Mapped[str] = mapped_column(Key, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)


class Link(Base):
    __tablename__ = "links"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    url: Mapped[str] = mapped_column(Key, unique=True)
    first_seen_at: Mapped[datetime]
    shortener: Mapped[bool] = mapped_column(default=False, server_default=false())
    """A known link shortener's URL: where it leads is not known without a request."""


class OptOut(Base):
    """People or whole servers the organisers excluded (``aggregator optout add``)."""

    __tablename__ = "optouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    """handle | url | author | domain"""
    value: Mapped[str] = mapped_column(Key)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("kind", "value"),)


class Exclusion(Base):
    """One left-out item, counted once per event. Only a hash of its key is kept:
    enough to count it once however often it is seen, not enough to name anyone."""

    __tablename__ = "exclusions"
    event_slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(1200))
    item_created_at: Mapped[datetime | None]
    """So a day's digest can count the day's exclusions."""
    first_seen_at: Mapped[datetime]


class ItemLink(Base):
    __tablename__ = "item_links"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_item_links_link", "link_id"),)


class FetchRun(Base):
    """Provenance: one row per fetch of one source."""

    __tablename__ = "fetch_runs"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    """ok | not_modified | error"""
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[dict[str, Any]]
    requests: Mapped[int] = mapped_column(Integer, default=0)
    query: Mapped[str | None] = mapped_column(Text)
    """What was asked, for provenance: the server or page, and the hashtags."""
    cursor_before: Mapped[str | None] = mapped_column(Text)
    cursor_after: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_fetch_runs_source_started", "source_id", "started_at"),)


class ModerationDecision(Base):
    """One organiser's decision (hide, pin, feature an item; hide an author), kept forever:
    the current state of a target is its latest decision, and the log says who, when, why."""

    __tablename__ = "moderation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_slug: Mapped[str] = mapped_column(ForeignKey("events.slug", ondelete="CASCADE"))
    target_kind: Mapped[str] = mapped_column(String(16))
    """item | author"""
    target: Mapped[str] = mapped_column(Key)
    """The item's or the author's natural key."""
    action: Mapped[str] = mapped_column(String(16))
    """hide | show | pin | unpin | feature | unfeature"""
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]

    __table_args__ = (Index("ix_moderation_target", "event_slug", "target_kind", "target"),)


class Delivery(Base):
    """One digest delivery (an e-mail, an archive page) for one event and day: claimed by
    one worker, sent once, retried on failure."""

    __tablename__ = "deliveries"
    event_slug: Mapped[str] = mapped_column(
        ForeignKey("events.slug", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    """email | archive"""
    status: Mapped[str] = mapped_column(String(16))
    """claimed | sent | failed"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class AdminUser(Base):
    __tablename__ = "admin_users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    """argon2id, with its parameters (``argon2-cffi``)."""
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept,
    so a copy of the database signs nobody in."""

    __tablename__ = "admin_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("admin_users.username", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    """A failed sign-in, by account and by client address: the rate limit counts these."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]

    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)
