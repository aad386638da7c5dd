"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aggregator.store.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "events",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column(
            "hashtags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug"),
    )
    op.create_table(
        "links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column(
            "first_seen_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("author_key", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("created_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("in_reply_to", sa.String(length=1024), nullable=True),
        sa.Column("context_url", sa.Text(), nullable=True),
        sa.Column("replies_count", sa.Integer(), nullable=True),
        sa.Column("reposts_count", sa.Integer(), nullable=True),
        sa.Column("likes_count", sa.Integer(), nullable=True),
        sa.Column(
            "hashtags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "links",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_key"],
            ["authors.key"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_created_at", ["created_at"], unique=False)

    op.create_table(
        "sources",
        sa.Column("id", sa.String(length=1200), nullable=False),
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "hashtags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "next_check_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_attempt_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_success_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "last_error_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column(
            "rate_limit",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_slug"], ["events.slug"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "fetch_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_id", sa.String(length=1200), nullable=False),
        sa.Column("started_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "finished_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column(
            "excluded",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("cursor_before", sa.Text(), nullable=True),
        sa.Column("cursor_after", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fetch_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fetch_runs_source_started", ["source_id", "started_at"], unique=False
        )

    op.create_table(
        "item_aliases",
        sa.Column("alias", sa.String(length=1024), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alias"),
    )
    with op.batch_alter_table("item_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_aliases_item_id"), ["item_id"], unique=False)

    op.create_table(
        "item_links",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "link_id"),
    )
    with op.batch_alter_table("item_links", schema=None) as batch_op:
        batch_op.create_index("ix_item_links_link", ["link_id"], unique=False)

    op.create_table(
        "item_sources",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.String(length=1200), nullable=False),
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column(
            "item_created_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "first_seen_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "source_id"),
    )
    with op.batch_alter_table("item_sources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_item_sources_event_created", ["event_slug", "item_created_at"], unique=False
        )
        batch_op.create_index("ix_item_sources_source", ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_item_sources_source")
        batch_op.drop_index("ix_item_sources_event_created")

    op.drop_table("item_sources")
    with op.batch_alter_table("item_links", schema=None) as batch_op:
        batch_op.drop_index("ix_item_links_link")

    op.drop_table("item_links")
    with op.batch_alter_table("item_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_aliases_item_id"))

    op.drop_table("item_aliases")
    with op.batch_alter_table("fetch_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_fetch_runs_source_started")

    op.drop_table("fetch_runs")
    op.drop_table("sources")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_created_at")

    op.drop_table("items")
    op.drop_table("links")
    op.drop_table("events")
    op.drop_table("authors")
