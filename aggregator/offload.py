"""Where a fetched body is parsed: in the fetching process, or in worker processes.

Parsing and sanitizing a page is pure CPU work on bytes (lxml, nh3, JSON), and in a
cold collection pass it is more than half of what the fetching process does. The event
loop cannot use a second core, and threads would contend for the GIL, so with
``fetch.parse_workers`` set the parse of each large body runs in a pool of worker
processes while the loop goes on fetching and writing. Only pure functions of their
arguments are sent (a :func:`functools.partial` of a module-level parser): what comes
back is the same value the inline call would have returned, or the same exception.

Small bodies are parsed inline: sending them would cost more than parsing them. So is
every JSON API page (a Mastodon timeline, say): its items carry the decoded statuses
as ``raw``, and unpickling those costs the fetching process half of what parsing the
page would (measured: 22 of 48 µs a status), while the work moved to a worker competes
for the same cores. A feed entry's parse costs eight times its unpickling.

The pool starts with :meth:`ProcessOffload.start` (the service does it once, at
startup) and its workers come from a fork server, not from a fork of this process,
which holds an event loop, sockets and a database connection. A worker that dies takes
its pool with it: the work in hand is parsed inline and a new pool takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_SIZE = 16_384
"""Bytes below which a body is parsed inline: pickling it there and its items back
costs about what parsing it does."""

# Imported once by the fork server, so each worker starts with them loaded.
_PRELOAD = ["aggregator.sources.feeds_parse"]


class Offload(Protocol):
    async def __call__(self, work: Callable[[], T], *, size: int) -> T:
        """``work()``, somewhere; ``size``: the bytes it reads (what sending it costs)."""
        ...


async def inline(work: Callable[[], T], *, size: int) -> T:
    """Parse in the fetching process (``fetch.parse_workers = 0``, and every test that
    injects a parser)."""
    return work()


class ProcessOffload:
    """Large bodies parsed in ``workers`` processes. ``work`` must pickle: a partial of
    a module-level function with plain arguments."""

    def __init__(self, workers: int, *, min_size: int = MIN_SIZE) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.min_size = min_size
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers and wait until each has imported the parsers, so the first
        pass does not pay for it (idempotent)."""
        if self._pool is not None:
            return
        context: BaseContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(_PRELOAD)
            context = server
        else:  # Windows: each worker starts afresh and imports what it is sent
            context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        # One task per worker is not enough to reach every worker; a few more are.
        list(self._pool.map(_ready, range(self.workers * 4)))

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    async def __call__(self, work: Callable[[], T], *, size: int) -> T:
        pool = self._pool
        if pool is None or size < self.min_size:
            return work()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, work)
        except BrokenProcessPool:
            # A worker was killed (out of memory, say): this body is parsed here, and
            # the next ones in a new pool. The items are not lost either way.
            log.error("a parse worker died; starting new ones")
            if self._pool is pool:
                self._pool = None
                with contextlib.suppress(Exception):
                    pool.shutdown(wait=False, cancel_futures=True)
                self.start()
            return work()


def _ready(n: int) -> int:
    return n
