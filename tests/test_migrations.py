"""The Alembic migrations and the schema module describe the same database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from aggregator.store import Store, migrate
from aggregator.store.schema import Base


def test_migrations_produce_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_the_database_is_at_the_head_revision_and_upgrading_again_is_harmless(store: Store) -> None:
    head = migrate.head_revision(store.engine)
    assert migrate.current_revision(store.engine) == head
    store.upgrade()
    store.check_schema()
    assert migrate.current_revision(store.engine) == head
