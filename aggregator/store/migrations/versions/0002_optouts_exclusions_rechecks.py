"""opt-outs, exclusions, re-checks, discovered sources

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.store.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exclusions",
        sa.Column("event_slug", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=1200), nullable=False),
        sa.Column(
            "item_created_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "first_seen_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("event_slug", "key_hash"),
    )
    op.create_table(
        "optouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value"),
    )
    with op.batch_alter_table("fetch_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query", sa.Text(), nullable=True))

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "checked_at", aggregator.store.schema.UTCDateTime(timezone=True), nullable=True
            )
        )

    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shortener", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), server_default="config", nullable=False)
        )
        batch_op.add_column(sa.Column("discovered_from", sa.String(length=1200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("discovered_from")
        batch_op.drop_column("origin")

    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("shortener")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("checked_at")

    with op.batch_alter_table("fetch_runs", schema=None) as batch_op:
        batch_op.drop_column("query")

    op.drop_table("optouts")
    op.drop_table("exclusions")
