"""when each author first spoke in each event (a digest's new voices), filled from the
items already stored

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC = aggregator.store.schema.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "event_authors",
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("author_key", sa.String(length=1024), nullable=False),
        sa.Column("first_item_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_slug"], ["events.slug"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_slug", "author_key"),
    )
    op.create_index("ix_event_authors_first", "event_authors", ["event_slug", "first_item_at"])
    # Each author's earliest live item in each event (items may be in several events).
    # Timestamps are copied as stored, so they compare equal to the items' own.
    op.execute(
        "INSERT INTO event_authors (event_slug, author_key, first_item_at) "
        "SELECT s.event_slug, i.author_key, MIN(i.created_at) "
        "FROM items i JOIN item_sources s ON s.item_id = i.id "
        "WHERE i.deleted_at IS NULL AND s.event_slug IN (SELECT slug FROM events) "
        "GROUP BY s.event_slug, i.author_key"
    )


def downgrade() -> None:
    op.drop_index("ix_event_authors_first", table_name="event_authors")
    op.drop_table("event_authors")
