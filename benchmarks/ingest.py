"""Ingest benchmark: Mastodon-shaped statuses parsed, sanitized, normalized and upserted
into SQLite through the store, against a raw ``sqlite3.executemany`` of the same rows
measured in the same run.

    python -m benchmarks.ingest                 # 100,000 statuses, 3 repeats, medians
    python -m benchmarks.ingest --count 1000000 --repeat 1 --no-baseline   # peak memory

Targets (issue #2): at least 1/3 of the raw rate; under 200 MB peak RSS for 1,000,000.
Machines here are noisy: read the ratio, and the median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from aggregator.models import FetchResult, ItemData, SourceSpec
from aggregator.sources.mastodon_parse import parse_status
from aggregator.store import EventRecord, Store
from aggregator.store.ingest import author_row, item_row
from aggregator.store.schema import sqlite_text

TEMPLATE_PATH = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "mastodon" / "timeline_tag_hoot.json"
)
BATCH = 800  # a fetch of 20 pages of 40 statuses
T0 = datetime(2026, 11, 20, tzinfo=UTC)
WORDS = [
    "coproduction",
    "resources",
    "launch",
    "care",
    "people",
    "services",
    "evidence",
    "together",
    "films",
    "guide",
]


PAGE = 40


def pages(count: int) -> Iterator[bytes]:
    """Tag-timeline pages as the wire carries them (JSON bytes, 40 statuses each)."""
    page: list[dict[str, Any]] = []
    for status in statuses(count):
        page.append(status)
        if len(page) == PAGE:
            yield json.dumps(page).encode()
            page = []
    if page:
        yield json.dumps(page).encode()


def statuses(count: int) -> Iterator[dict[str, Any]]:
    """Distinct statuses: unique ids, uris, authors (2,000 of them), texts and links."""
    template = json.loads(TEMPLATE_PATH.read_text("utf-8"))[0]
    for n in range(count):
        s = dict(template)
        s["account"] = dict(template["account"])
        created = T0 + timedelta(seconds=n)
        s["id"] = str(((int(created.timestamp() * 1000)) << 16) | (n & 0xFFFF))
        s["uri"] = f"https://bench.example/users/u{n % 2000}/statuses/{n}"
        s["url"] = f"https://bench.example/@u{n % 2000}/{n}"
        s["created_at"] = created.isoformat().replace("+00:00", "Z")
        words = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(12))
        s["content"] = (
            f'<p>{words} <a href="https://bench.example/tags/coproduction" class="mention hashtag" '
            f'rel="tag">#<span>coproduction</span></a> '
            f'<a href="https://link.example/{n % 500}?utm_source=x" '
            f'rel="nofollow noopener" target="_blank"><span class="invisible">https://</span>'
            f'<span class="">link.example/{n % 500}</span></a></p>'
        )
        s["account"]["uri"] = f"https://bench.example/users/u{n % 2000}"
        s["account"]["url"] = f"https://bench.example/@u{n % 2000}"
        s["account"]["username"] = f"u{n % 2000}"
        s["account"]["acct"] = f"u{n % 2000}@bench.example"
        s["tags"] = [{"name": "coproduction", "url": "https://bench.example/tags/coproduction"}]
        yield s


def run_ours(count: int, db: Path) -> float:
    store = Store.open(f"sqlite:///{db}")
    spec = SourceSpec(
        "bench/mastodon:bench.example", "bench", "mastodon", "bench.example", ("coproduction",)
    )
    store.sync_event(
        EventRecord("bench", "Bench", ("coproduction",), "UTC", T0.date(), T0.date(), 0), [spec], T0
    )
    (source,) = store.sources()
    elapsed = 0.0  # only parsing and storing are timed, not making the input
    batch: list[ItemData] = []
    for body in pages(count):
        start = time.perf_counter()
        batch.extend(parse_status(raw, "https://bench.example") for raw in orjson.loads(body))
        if len(batch) >= BATCH:
            store.record_success(
                source, FetchResult(tuple(batch), {}), started_at=T0, now=T0, next_check_at=T0
            )
            batch = []
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    if batch:
        store.record_success(
            source, FetchResult(tuple(batch), {}), started_at=T0, now=T0, next_check_at=T0
        )
    elapsed += time.perf_counter() - start
    store.close()
    return elapsed


def _sql_value(value: Any) -> Any:
    """What the store hands SQLite for a value (see store.schema.UTCDateTime)."""
    if isinstance(value, datetime):
        return sqlite_text(value)
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return value


def _statement(table: str, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    cols = list(rows[0])
    marks = ", ".join("?" * len(cols))
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({marks})"
    return sql, [tuple(_sql_value(r[c]) for c in cols) for r in rows]


def run_raw(count: int, db: Path) -> float:
    """The same rows in the same schema (made by the migrations) and the same batches,
    written with plain ``sqlite3.executemany``: the floor for what the store does.
    Each batch's rows, ids and serialized values are prepared off the clock."""
    Store.open(f"sqlite:///{db}").close()
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        "INSERT INTO events (slug, title, hashtags, timezone, starts, ends, lookback_days,"
        " updated_at) VALUES ('bench', 'Bench', '[]', 'UTC', '2026-11-20', '2026-11-20', 0, ?)",
        (_sql_value(T0),),
    )
    conn.execute(
        "INSERT INTO sources (id, event_slug, platform, target, options, hashtags, enabled, state,"
        " error_count, created_at) VALUES ('bench/mastodon:bench.example', 'bench', 'mastodon',"
        " 'bench.example', '{}', '[]', 1, '{}', 0, ?)",
        (_sql_value(T0),),
    )
    authors: set[str] = set()
    link_ids: dict[str, int] = {}
    item_id = 0
    elapsed = 0.0

    def prepare(items: list[ItemData]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        nonlocal item_id
        tables: dict[str, list[dict[str, Any]]] = {
            t: []
            for t in ("authors", "items", "item_sources", "links", "item_links", "item_aliases")
        }
        for it in items:
            item_id += 1
            if it.author.key not in authors:
                authors.add(it.author.key)
                tables["authors"].append(author_row(it.author))
            tables["items"].append({"id": item_id, **item_row(it, T0), "fetched_at": T0})
            tables["item_sources"].append(
                {
                    "item_id": item_id,
                    "source_id": "bench/mastodon:bench.example",
                    "event_slug": "bench",
                    "item_created_at": it.created_at,
                    "first_seen_at": T0,
                    "last_seen_at": T0,
                }
            )
            for url in it.links:
                if url not in link_ids:
                    link_ids[url] = len(link_ids) + 1
                    tables["links"].append({"id": link_ids[url], "url": url, "first_seen_at": T0})
                tables["item_links"].append({"item_id": item_id, "link_id": link_ids[url]})
            for alias in it.aliases:
                tables["item_aliases"].append({"alias": alias, "item_id": item_id})
        return [_statement(t, rows) for t, rows in tables.items() if rows]

    def write(statements: list[tuple[str, list[tuple[Any, ...]]]]) -> float:
        start = time.perf_counter()
        conn.execute("BEGIN")  # one transaction per fetch, as the store does
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - start

    batch: list[ItemData] = []
    for body in pages(count):
        batch.extend(parse_status(raw, "https://bench.example") for raw in orjson.loads(body))
        if len(batch) >= BATCH:
            elapsed += write(prepare(batch))
            batch = []
    if batch:
        elapsed += write(prepare(batch))
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw sqlite3 run")
    args = parser.parse_args()
    ours, raw = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(run_ours(args.count, Path(tmp) / "ours.db"))
            if not args.no_baseline:
                raw.append(run_raw(args.count, Path(tmp) / "raw.db"))
    ours_rate = args.count / statistics.median(ours)
    print(f"statuses: {args.count:,}  repeats: {args.repeat}")
    print(
        f"aggregator ingest (parse+sanitize+normalize+upsert): {ours_rate:,.0f} posts/s "
        f"(median {statistics.median(ours):.2f} s; runs {', '.join(f'{t:.2f}' for t in ours)})"
    )
    if raw:
        raw_rate = args.count / statistics.median(raw)
        print(
            f"raw sqlite3 executemany, same rows/schema/batches: {raw_rate:,.0f} rows/s "
            f"(median {statistics.median(raw):.2f} s)"
        )
        print(f"ratio ours/raw: {ours_rate / raw_rate:.2f}  (target >= 0.33)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS of this process: {peak_mb:.0f} MB"
        + ("" if raw else "  (target < 200 MB for 1,000,000)")
    )


if __name__ == "__main__":
    main()
