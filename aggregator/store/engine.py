"""Engines for the two supported databases, configured the way the store needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from aggregator.exceptions import StoreError


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Raw payloads are the bulk of every row; orjson serializes them ~10x faster.
    kwargs.setdefault("json_serializer", _dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:") and not parsed.database.startswith(
            "file:"
        ):
            # A configured path like demo-output/demo.db should just work.
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the database folder {folder}: {e}") from e
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets digests read while a fetch writes; foreign keys are off by
            # default in SQLite; busy_timeout turns lock contention into waiting.
            if parsed.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            # A checkpoint every 64 MiB of WAL rather than every 4 MiB: a cycle's
            # commits otherwise spend more time copying (and fsyncing) pages back
            # than writing rows, the same index pages over and over. The WAL file
            # is cut back to that size after each checkpoint.
            cur.execute("PRAGMA wal_autocheckpoint=16384")
            cur.execute("PRAGMA journal_size_limit=67108864")
            # Up to 64 MiB of pages cached per connection (2 MiB by default): the
            # items' key index and the newest rows stay in memory through a cycle.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)
