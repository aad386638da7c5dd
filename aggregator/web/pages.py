"""Rendered digests kept in memory, each with its ETag.

A day page costs a database read and a render (about a second for a busy day,
``benchmarks/digest.py``); readers ask for the same few pages over and over. A page is
reused for ``ttl`` seconds and dropped at once when the admin changes its event in
this process; one request renders a missing page while the others wait for it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
# Below this, compressing saves less than it costs.
GZIP_FROM = 1024


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    media_type: str
    etag: str
    """A strong validator: the body's hash, quoted."""
    gzipped: bytes | None = None
    """The body compressed once, when it was cached: a busy day's page is megabytes,
    and sending them (not rendering) is what limits a server under load."""
    headers: tuple[tuple[str, str], ...] = ()
    """Sent with the body (an API page's ``Link`` to the next)."""

    @property
    def gzip_etag(self) -> str:
        # Another representation, another strong validator (RFC 9110, 8.8.3).
        return self.etag[:-1] + '-gzip"'


def page(body: str | bytes, media_type: str, headers: tuple[tuple[str, str], ...] = ()) -> Page:
    data = body.encode() if isinstance(body, str) else body
    etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    packed = gzip.compress(data, compresslevel=6, mtime=0) if len(data) >= GZIP_FROM else None
    return Page(data, media_type, etag, packed, headers)


@dataclass
class PageCache:
    ttl: float
    clock: Callable[[], float] = time.monotonic
    limit: int = 2000
    """Pages kept at most: a crawler walking every page of the items API must not
    grow the process without bound. The oldest go first."""
    _pages: dict[tuple[str, Hashable], tuple[float, Page]] = field(default_factory=dict)
    _locks: dict[tuple[str, Hashable], asyncio.Lock] = field(default_factory=dict)
    _values: dict[tuple[str, Hashable], tuple[float, Any]] = field(default_factory=dict)

    def remember(self, event: str, key: Hashable, compute: Callable[[], T | None]) -> T | None:
        """``compute()`` (a quick read, like the event's own row), kept like a page so
        that a cached page is served without touching the database. ``None`` (not
        found) is not kept: something created meanwhile is found next time."""
        full = (event, key)
        entry = self._values.get(full)
        if entry is not None and entry[0] > self.clock():
            value: T = entry[1]
            return value
        found = compute()
        if found is not None and self.ttl > 0:
            self._values[full] = (self.clock() + self.ttl, found)
        return found

    async def get(self, event: str, key: Hashable, build: Callable[[], Page]) -> Page:
        """The cached page, or ``build()`` run off the event loop (it reads the
        database and renders)."""
        full = (event, key)
        hit = self._fresh(full)
        if hit is not None:
            return hit
        lock = self._locks.setdefault(full, asyncio.Lock())
        async with lock:
            hit = self._fresh(full)
            if hit is not None:
                return hit
            built = await asyncio.to_thread(build)
            if self.ttl > 0:
                self._pages[full] = (self.clock() + self.ttl, built)
                self._prune()
            self._locks.pop(full, None)
            return built

    def _prune(self) -> None:
        if len(self._pages) <= self.limit:
            return
        now = self.clock()
        for full in [k for k, (until, _) in self._pages.items() if until <= now]:
            del self._pages[full]
        # Insertion order is age order: drop the oldest beyond the limit.
        for full in list(self._pages)[: max(0, len(self._pages) - self.limit)]:
            del self._pages[full]

    def _fresh(self, full: tuple[str, Hashable]) -> Page | None:
        entry = self._pages.get(full)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._pages[full]
            return None
        return entry[1]

    def invalidate(self, event: str) -> None:
        """Drop every page of ``event`` (the admin changed what it shows)."""
        for full in [k for k in self._pages if k[0] == event]:
            del self._pages[full]
        for full in [k for k in self._values if k[0] == event]:
            del self._values[full]
