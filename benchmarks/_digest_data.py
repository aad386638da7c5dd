"""A large event store for the digest benchmark, written in bulk.

The normal ingest path (parse, sanitize, plan, upsert) takes minutes for a million
items; what the digest benchmark needs is only the *schema* filled the way ingest
fills it. So the rows are made here and written with Core ``executemany`` in big
transactions, into a database the store's own migrations created.

Each day's items are generated from a seed that depends only on the day, never on
the store's size: the measured day is the same 10,000 items in every store, so a
ratio between two stores measures the store's size and nothing else.
"""

from __future__ import annotations

import random
import sys
import time as clock
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table

from aggregator.models import SourceSpec
from aggregator.store import EventRecord, Store
from aggregator.store.optouts import key_hash
from aggregator.store.schema import (
    Author,
    EventAuthor,
    Exclusion,
    Item,
    ItemLink,
    ItemSource,
    Link,
)
from aggregator.store.statements import executemany

SLUG = "bench"
TIMEZONE = "Europe/London"
FIRST_DAY = date(2026, 8, 1)
DAYS = 100
MEASURED_DAY = FIRST_DAY + timedelta(days=60)
ARTICLES_PER_DAY = 3
FORMAT_VERSION = 2
"""Bump when the rows change, so cached files from an older generator are not reused."""

WORDS = (
    "coproduction",
    "care",
    "people",
    "services",
    "evidence",
    "together",
    "films",
    "guide",
    "launch",
    "carers",
    "community",
    "support",
    "council",
    "housing",
    "health",
    "practice",
    "voices",
    "lived",
    "experience",
    "design",
    "budget",
    "training",
    "workshop",
    "session",
    "panel",
    "question",
    "answer",
    "thanks",
    "great",
    "slides",
    "video",
)
MASTODON_SERVERS = ("social.example", "mastodon.example", "toot.example", "fedi.example")
POOLS = {"mastodon": 30_000, "bluesky": 10_000, "x": 3_000, "wordpress": 5_000}
LINK_POOL = 3_000
CREATED = datetime(2026, 7, 1, tzinfo=UTC)


AUTHORS = cast(Table, Author.__table__)
ITEMS = cast(Table, Item.__table__)
ITEM_SOURCES = cast(Table, ItemSource.__table__)
LINKS = cast(Table, Link.__table__)
ITEM_LINKS = cast(Table, ItemLink.__table__)
EXCLUSIONS = cast(Table, Exclusion.__table__)
EVENT_AUTHORS = cast(Table, EventAuthor.__table__)


def event() -> EventRecord:
    last = FIRST_DAY + timedelta(days=DAYS - 1)
    return EventRecord(SLUG, "Benchmark event", ("coproduction",), TIMEZONE, FIRST_DAY, last, 0)


def specs() -> list[SourceSpec]:
    tags = ("coproduction",)
    out = [SourceSpec(f"{SLUG}/mastodon:{s}", SLUG, "mastodon", s, tags) for s in MASTODON_SERVERS]
    out += [
        SourceSpec(f"{SLUG}/bluesky:search", SLUG, "bluesky", "search", tags),
        SourceSpec(f"{SLUG}/x:search", SLUG, "x", "search", tags),
        SourceSpec(f"{SLUG}/wordpress:blog.example", SLUG, "wordpress", "blog.example", tags),
    ]
    return out


def day_counts(total: int, day_items: int) -> dict[date, int]:
    """Items per local day: ``day_items`` on the measured day and on the day before it
    (a day digest compares the two), the rest spread evenly over the other days."""
    dense = {MEASURED_DAY, MEASURED_DAY - timedelta(days=1)}
    others = [FIRST_DAY + timedelta(days=i) for i in range(DAYS)]
    others = [d for d in others if d not in dense]
    rest = total - day_items * len(dense)
    counts = {
        d: rest // len(others) + (1 if i < rest % len(others) else 0) for i, d in enumerate(others)
    }
    counts.update(dict.fromkeys(dense, day_items))
    return dict(sorted(counts.items()))


def author(platform: str, n: int) -> dict[str, Any]:
    if platform == "mastodon":
        server = MASTODON_SERVERS[n % len(MASTODON_SERVERS)]
        url = f"https://{server}/@user{n}"
        return _author(
            f"mastodon:https://{server}/users/user{n}",
            platform,
            f"User {n}",
            f"@user{n}@{server}",
            url,
        )
    if platform == "bluesky":
        return _author(
            f"bluesky:did:plc:user{n:08d}",
            platform,
            f"Sky {n}",
            f"@sky{n}.bsky.social",
            f"https://bsky.app/profile/sky{n}.bsky.social",
        )
    if platform == "x":
        return _author(
            f"x:{10_000 + n}", platform, f"Tweeter {n}", f"tweeter{n}", f"https://x.com/tweeter{n}"
        )
    return _author(f"wordpress:blog.example:commenter{n}", platform, f"Commenter {n}", "", None)


def _author(key: str, platform: str, name: str, handle: str, url: str | None) -> dict[str, Any]:
    return {
        "key": key,
        "platform": platform,
        "name": name,
        "handle": handle,
        "url": url,
        "avatar_url": f"https://img.example/{zlib.crc32(key.encode()) % 10_000}.png"
        if url
        else None,
    }


def authors() -> Iterator[dict[str, Any]]:
    for platform, size in POOLS.items():
        for n in range(size):
            yield author(platform, n)


def link_url(n: int) -> str:
    return f"https://news{n % 40}.example/story/{n}"


def article_url(day: date, n: int) -> str:
    return f"https://blog.example/{day:%Y/%m/%d}/post-{n}/"


@dataclass
class DayRows:
    items: list[dict[str, Any]]
    item_sources: list[dict[str, Any]]
    item_links: list[tuple[int, str]]
    exclusions: list[dict[str, Any]]


def day_rows(day: date, count: int, first_id: int) -> DayRows:
    """The rows of one local day's ``count`` items, ids from ``first_id``."""
    rng = random.Random(day.toordinal())
    tz = ZoneInfo(TIMEZONE)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    span = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC) - start
    out = DayRows([], [], [], [])
    keys: list[str] = []
    for j in range(count):
        id_ = first_id + j
        created = start + span * ((j + 0.5) / count)
        slot = j % 20
        platform = (
            "wordpress"
            if j < ARTICLES_PER_DAY or slot >= 18
            else "mastodon"
            if slot < 12
            else "bluesky"
            if slot < 17
            else "x"
        )
        kind = (
            "article" if j < ARTICLES_PER_DAY else "comment" if platform == "wordpress" else "post"
        )
        # Popular people post more: a skewed draw from the platform's pool.
        who = author(platform, int(POOLS[platform] * rng.random() ** 2))
        tag = f"{day:%Y%m%d}-{j}"
        key, url, source = _identity(platform, kind, who, day, j, tag)
        parent = context = title = None
        if kind == "comment":
            context = article_url(day if j % 4 else day - timedelta(days=1), (j // 20) % 3)
            if j >= 80 and j % 3:
                parent = keys[j - 60 * (1 + j % 3)] if j - 60 * (1 + j % 3) >= 20 else None
        elif kind == "post" and j >= 60 and j % 3 == 0:
            parent = keys[j - 20 * (1 + j % 2)]  # same slot, so the same platform
        elif kind == "article":
            title = f"Post {j} of {day:%-d %B}"
        words = " ".join(rng.choice(WORDS) for _ in range(12 + rng.randrange(30)))
        links: list[str] = []
        if kind != "article" and rng.random() < 0.4:
            links.append(link_url(int(LINK_POOL * rng.random() ** 3)))
        if kind == "post" and rng.random() < 0.05:
            links.append(article_url(day, rng.randrange(ARTICLES_PER_DAY)))
        html = f"<p>{words}</p>" + "".join(f'<p><a href="{u}">{u}</a></p>' for u in links)
        deleted = rng.random() < 0.005
        social = platform != "wordpress"
        out.items.append(
            {
                "id": id_,
                "key": key,
                "platform": platform,
                "kind": kind,
                "url": url,
                "author_key": who["key"],
                "title": title,
                "html": "" if deleted else html,
                "text": "" if deleted else words,
                "language": "en",
                "created_at": created,
                "edited_at": None,
                "fetched_at": created,
                "updated_at": created,
                "in_reply_to": parent,
                "context_url": context,
                "replies_count": rng.randrange(5) if social else None,
                "reposts_count": int(40 * rng.random() ** 4) if social else None,
                "likes_count": int(200 * rng.random() ** 4) if social else None,
                "hashtags": ["coproduction"] + (["socialcare"] if j % 5 == 0 else []),
                "links": links,
                "raw": {}
                if deleted
                else {
                    "id": tag,
                    "uri": key,
                    "content": html,
                    "visibility": "public",
                    "account": who["handle"],
                },
                "content_hash": f"{zlib.crc32((key + html).encode()):032x}",
                "deleted_at": created + timedelta(hours=1) if deleted else None,
                "checked_at": None,
            }
        )
        keys.append(key)
        seen_by = [source]
        if platform == "mastodon" and j % 5 == 0:  # federated: seen on a second server
            seen_by.append(f"{SLUG}/mastodon:{MASTODON_SERVERS[(j // 5) % 4]}")
        for s in dict.fromkeys(seen_by):
            out.item_sources.append(
                {
                    "item_id": id_,
                    "source_id": s,
                    "event_slug": SLUG,
                    "item_created_at": created,
                    "first_seen_at": created,
                    "last_seen_at": created,
                }
            )
        out.item_links.extend((id_, u) for u in links)
        if rng.random() < 0.002:  # someone's post left out at their request
            out.exclusions.append(
                {
                    "event_slug": SLUG,
                    "key_hash": key_hash(f"left-out:{tag}"),
                    "reason": "optout",
                    "source_id": source,
                    "item_created_at": created,
                    "first_seen_at": created,
                }
            )
    return out


def _identity(
    platform: str, kind: str, who: dict[str, Any], day: date, j: int, tag: str
) -> tuple[str, str, str]:
    """(key, url, source id) as the platform's parser would make them."""
    if platform == "mastodon":
        server = who["handle"].rsplit("@", 1)[-1]
        name = who["handle"].split("@")[1]
        return (
            f"https://{server}/users/{name}/statuses/{tag}",
            f"https://{server}/@{name}/{tag}",
            f"{SLUG}/mastodon:{server}",
        )
    if platform == "bluesky":
        did = who["key"].removeprefix("bluesky:")
        return (
            f"at://{did}/app.bsky.feed.post/{tag}",
            f"https://bsky.app/profile/{who['handle'].lstrip('@')}/post/{tag}",
            f"{SLUG}/bluesky:search",
        )
    if platform == "x":
        return (f"x:{tag}", f"https://x.com/{who['handle']}/status/{tag}", f"{SLUG}/x:search")
    source = f"{SLUG}/wordpress:blog.example"
    if kind == "article":
        return f"wordpress:blog.example:post:{tag}", article_url(day, j), source
    return (
        f"wordpress:blog.example:comment:{tag}",
        f"https://blog.example/?p=1#comment-{tag}",
        source,
    )


def build(path: Path, total: int, day_items: int) -> None:
    """Create ``path``: the schema by the store's migrations, then the rows in bulk."""
    store = Store.open(f"sqlite:///{path}")
    store.sync_event(event(), specs(), CREATED)
    link_ids: dict[str, int] = {}
    next_id = 1
    with store.engine.begin() as conn:
        executemany(conn, AUTHORS.insert(), list(authors()))
    batch = DayRows([], [], [], [])
    # When each author first spoke (store/first_seen.py): days come in order, and a
    # day's items in time order, so an author's first live item is the first seen.
    first: dict[str, datetime] = {}
    for day, count in day_counts(total, day_items).items():
        rows = day_rows(day, count, next_id)
        next_id += count
        for row in rows.items:
            if row["deleted_at"] is None:
                first.setdefault(row["author_key"], row["created_at"])
        for field in ("items", "item_sources", "item_links", "exclusions"):
            getattr(batch, field).extend(getattr(rows, field))
        if len(batch.items) >= 100_000:
            _write(store, batch, link_ids)
            batch = DayRows([], [], [], [])
    _write(store, batch, link_ids)
    with store.engine.begin() as conn:
        _insert(
            conn,
            EVENT_AUTHORS,
            [{"event_slug": SLUG, "author_key": a, "first_item_at": t} for a, t in first.items()],
        )
    store.close()


def _write(store: Store, rows: DayRows, link_ids: dict[str, int]) -> None:
    with store.engine.begin() as conn:
        _insert(conn, ITEMS, rows.items)
        _insert(conn, ITEM_SOURCES, rows.item_sources)
        new = [u for u in dict.fromkeys(u for _, u in rows.item_links) if u not in link_ids]
        for u in new:
            link_ids[u] = len(link_ids) + 1
        _insert(
            conn,
            LINKS,
            [
                {"id": link_ids[u], "url": u, "first_seen_at": CREATED, "shortener": False}
                for u in new
            ],
        )
        _insert(
            conn,
            ITEM_LINKS,
            [{"item_id": i, "link_id": link_ids[u]} for i, u in dict.fromkeys(rows.item_links)],
        )
        _insert(conn, EXCLUSIONS, rows.exclusions)


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        executemany(conn, table.insert(), rows)


def store_file(workdir: Path, total: int, day_items: int) -> Path:
    """The SQLite store for ``total`` items, built once per generator version and reused
    in ``workdir`` (benchmarks/digest.py and benchmarks/web.py share it)."""
    path = workdir / f"digest-{total}-{day_items}-v{FORMAT_VERSION}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in workdir.glob(partial.name + "*"):
            leftover.unlink()
        start = clock.perf_counter()
        build(partial, total, day_items)
        # Renamed only when complete, so an interrupted build is never reused.
        partial.rename(path)
        print(f"built {path.name} in {clock.perf_counter() - start:.0f} s", file=sys.stderr)
    else:
        # Built under an older schema: migrated (the rows are the same), not rebuilt.
        Store.open(f"sqlite:///{path}").close()
    return path
