"""Digest benchmark: one day's digest of an event whose store holds 1,000,000 items,
10,000 of them on that day, against the same day in a store of 100,000 items.

    python -m benchmarks.digest                          # medians of 3, temp dir
    python -m benchmarks.digest --workdir ~/.cache/agg   # keep the built stores for re-runs

``build_context`` (the store reads and the context) is timed apart from each template
render, for every format ``aggregator.digest.render.FORMATS`` holds when it runs, as
published under a base URL (the ``oembed`` format needs one).

Each timed step starts with the garbage collector settled (``gc.collect()``, not
timed). Otherwise a full collection, which walks every object in the process (both
stores' contexts included: 0.1 to 0.25 s on a small machine), falls in whichever step
happens to cross the collector's threshold, and one format of one store looks slow.
``--cpu`` times the process's CPU instead of the clock: steadier on a shared machine,
and the same on an idle one (the work is single-threaded and the pages are cached).

Targets (issue #5): under 1 s per format (context + render) at 1,000,000 items, and a
ratio big/small of at most 1.2: the cost must follow the day's items, not the store's
size. The stores are written in bulk (benchmarks/_digest_data.py), not through ingest.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _digest_data as data

Timer = Callable[[], None]
BASE_URL = "https://digests.example.org/"


@dataclass
class Timings:
    items: int
    context: list[float]
    formats: dict[str, list[float]]
    errors: dict[str, str]


def measure(paths: list[Path], repeat: int, clock: Callable[[], float]) -> list[Timings]:
    """Time each store in turn within every repeat, so a burst of load on a shared
    machine falls on both sides of the ratio rather than on one."""
    from aggregator.digest.context import build_context, day_period
    from aggregator.digest.render import FORMATS, make_environment, render
    from aggregator.store import Store

    env = make_environment()
    now = data.CREATED
    stores = [Store.open(f"sqlite:///{path}", upgrade=False) for path in paths]
    timings = [Timings(0, [], {fmt: [] for fmt in FORMATS}, {}) for _ in paths]
    for round_ in range(repeat + 1):
        for store, t in zip(stores, timings, strict=True):
            event = store.event(data.SLUG)
            assert event is not None
            period = day_period(event, data.MEASURED_DAY)
            gc.collect()
            start = clock()
            context = build_context(store, event, period, now=now)
            elapsed = clock() - start
            # Round 0 is not timed: template compilation and the OS page cache are
            # paid once, as in a long-running service.
            if round_:
                t.context.append(elapsed)
            t.items = context.totals.items
            for fmt in FORMATS:
                if fmt in t.errors:
                    continue
                gc.collect()
                start = clock()
                try:
                    render(context, fmt, env, base_url=BASE_URL)
                except Exception as e:  # a format that needs more than a context
                    t.errors[fmt] = f"{type(e).__name__}: {e}"
                    continue
                if round_:
                    t.formats[fmt].append(clock() - start)
            del context  # one context alive at a time: the peak RSS below is one day's
    for store in stores:
        store.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000, help="items in the big store")
    parser.add_argument("--baseline", type=int, default=100_000, help="items in the small store")
    parser.add_argument("--day", type=int, default=10_000, help="items on the measured day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where built stores are kept (default: temp)")
    parser.add_argument(
        "--cpu", action="store_true", help="time the process's CPU, not the clock (see above)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        paths = [data.store_file(workdir, n, args.day) for n in (args.count, args.baseline)]
        clock = time.process_time if args.cpu else time.perf_counter
        big, small = measure(paths, args.repeat, clock)
    report(args, big, small)


def report(args: argparse.Namespace, big: Timings, small: Timings) -> None:
    med = statistics.median
    print(
        f"day digest of {big.items:,} live items ({args.day:,} stored that day); "
        f"stores of {args.count:,} and {args.baseline:,} items; medians of {args.repeat}"
        f"{' (CPU time)' if args.cpu else ''}"
    )
    head = f"{'step':<22}{args.count:>12,}{args.baseline:>12,}{'ratio':>8}"
    print(head)
    print("-" * len(head))
    ctx_big, ctx_small = med(big.context), med(small.context)
    print(f"{'build_context':<22}{ctx_big:>11.3f}s{ctx_small:>11.3f}s{ctx_big / ctx_small:>8.2f}")
    worst_time, worst_ratio = ctx_big, ctx_big / ctx_small
    for fmt, runs in big.formats.items():
        if fmt in big.errors or fmt in small.errors:
            print(f"{'render ' + fmt:<22} not timed: {big.errors.get(fmt) or small.errors[fmt]}")
            continue
        r_big, r_small = med(runs), med(small.formats[fmt])
        print(f"{'render ' + fmt:<22}{r_big:>11.3f}s{r_small:>11.3f}s{r_big / r_small:>8.2f}")
        t_big, t_small = ctx_big + r_big, ctx_small + r_small
        print(
            f"{'  = ' + fmt + ' digest':<22}{t_big:>11.3f}s{t_small:>11.3f}s{t_big / t_small:>8.2f}"
        )
        worst_time, worst_ratio = max(worst_time, t_big), max(worst_ratio, t_big / t_small)
    print(
        f"slowest digest: {worst_time:.3f} s (target < 1 s); worst ratio: {worst_ratio:.2f} "
        "(target <= 1.2)"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
