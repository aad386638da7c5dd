"""Shared fixtures: a store on SQLite and on PostgreSQL, a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from aggregator.demo.httpserver import LoopbackServer, Response
from aggregator.store import Store
from aggregator.store.engine import make_engine
from tests.support import Clock

# The browser fixtures (``browser``, ``open_page``) for any test module that wants them.
pytest_plugins = ("tests.browser",)

POSTGRES_URL = os.environ.get(
    "AGGREGATOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    """One loopback server per test module; each test's ``server`` fixture sets its app."""
    with LoopbackServer(lambda request: Response(500)) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
        return None
    except OperationalError as e:
        return f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]}: {str(e.orig).strip()[:120]}"


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    reason = _postgres_available()
    if reason and os.environ.get("AGGREGATOR_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here (AGGREGATOR_REQUIRE_POSTGRES): {reason}")
    return reason


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards; yields its name."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_store(postgres_reason: str | None) -> Iterator[Store]:
    """A store in a fresh PostgreSQL schema, dropped afterwards."""
    if postgres_reason:
        pytest.skip(postgres_reason)
    with postgres_schema() as schema:
        store = Store(
            make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        )
        store.upgrade()
        try:
            yield store
        finally:
            store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'test.db'}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """The store suite runs against both engines."""
    name = "sqlite_store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
