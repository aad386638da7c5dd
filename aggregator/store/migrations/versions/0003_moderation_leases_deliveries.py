"""moderation decisions, source leases and failing notices, digest deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.store.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = aggregator.store.schema.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "moderation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("decided_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_slug"], ["events.slug"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_moderation_target", "moderation", ["event_slug", "target_kind", "target"])
    op.create_table(
        "deliveries",
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", UTC(timezone=True), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTC(timezone=True), nullable=True),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_slug"], ["events.slug"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_slug", "day", "channel"),
    )
    op.create_index("ix_items_author_created", "items", ["author_key", "created_at"])
    op.create_index("ix_items_kind", "items", ["kind"])
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_until", UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failing_notice_at", UTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("failing_notice_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
    op.drop_table("deliveries")
    op.drop_index("ix_items_kind", table_name="items")
    op.drop_index("ix_items_author_created", table_name="items")
    op.drop_index("ix_moderation_target", table_name="moderation")
    op.drop_table("moderation")
