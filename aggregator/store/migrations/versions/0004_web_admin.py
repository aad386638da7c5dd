"""the web admin: who manages an event, closed events, admin accounts, sessions and
failed sign-ins

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aggregator.store.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = aggregator.store.schema.UTCDateTime
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("managed_by", sa.String(length=16), server_default="config", nullable=False)
        )
        batch.add_column(sa.Column("closed_at", UTC(timezone=True), nullable=True))
        batch.add_column(sa.Column("consent", JSON, nullable=True))
    op.create_table(
        "admin_users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("last_login_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["admin_users.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_admin_sessions_username", "admin_sessions", ["username"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_key_at", "login_attempts", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_key_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_admin_sessions_username", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admin_users")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("consent")
        batch.drop_column("closed_at")
        batch.drop_column("managed_by")
