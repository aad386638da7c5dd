"""Holding off Python's cyclic garbage collector while a burst of short-lived objects
is made and dropped.

A day's digest context and a collection pass are each made of tens of thousands of
small objects (rows, items, views; statuses, entries, requests) that live only until
the work is done, and take no part in reference cycles worth collecting: the
collector would walk the whole heap over and over and free almost nothing. Measured
with ``gc.callbacks``, that was a third of a digest build (benchmarks/digest.py) and
about 15 % of a 1,000-timeline collection pass (benchmarks/collect.py). Reference
counting frees garbage as usual meanwhile; the collector runs again afterwards.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pausing = 0
_paused_here = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector held off for the duration; pauses nest (across threads and
    coroutines: a count), and one already in force (the host application's) is left
    for its owner to end."""
    global _pausing, _paused_here
    with _lock:
        if _pausing == 0:
            # Only a pause this module started is ended by it: the web app builds
            # contexts in several threads at once, and the host may have its own.
            _paused_here = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _paused_here:
                gc.enable()
