"""The web benchmark's stores: the digest benchmark's generated event
(benchmarks/_digest_data.py) in a SQLite file kept in the work folder, and the same
rows copied into a PostgreSQL database created for the run and dropped after it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, select, text

from aggregator.store import Store
from aggregator.store.engine import make_engine
from aggregator.store.statements import executemany
from benchmarks import _digest_data as data

# In the order the foreign keys need; the event and its sources come from sync_event.
TABLES = (
    data.AUTHORS,
    data.ITEMS,
    data.ITEM_SOURCES,
    data.EVENT_AUTHORS,
    data.LINKS,
    data.ITEM_LINKS,
    data.EXCLUSIONS,
)


@contextmanager
def postgres_store(admin_url: str, name: str, source: Path) -> Iterator[str]:
    """A database ``name`` on ``admin_url``'s server holding ``source``'s rows; its URL.
    Dropped on exit (and first, if an interrupted run left it)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        start = time.perf_counter()
        copy(source, url)
        print(
            f"copied the store into {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr
        )
        yield url
    finally:
        drop()
        admin.dispose()


def copy(source: Path, url: str) -> None:
    """The schema by the store's migrations, then every generated row of ``source``."""
    store = Store.open(url)
    store.sync_event(data.event(), data.specs(), data.CREATED)
    src = make_engine(f"sqlite:///{source}")
    with src.connect() as read, store.engine.begin() as write:
        for table in TABLES:
            rows = read.execution_options(yield_per=20_000).execute(select(table))
            for part in rows.mappings().partitions():
                executemany(write, table.insert(), [dict(r) for r in part])
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))  # as autovacuum would soon after a bulk load
    src.dispose()
    store.close()
