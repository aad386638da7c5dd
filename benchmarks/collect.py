"""Collection benchmark: one cycle of ``App.fetch`` (fetch, parse, sanitize, store into a
fresh SQLite file) over WordPress comment feeds and Mastodon tag timelines served from
loopback with 50 ms of latency per response, against the ``reader`` library
(``update_feeds(workers=16)`` into a fresh database) on the same feeds in the same run;
then the cycle in which nothing changed (every feed answers 304, every timeline an
empty page).

    python -m benchmarks.collect                  # 200 feeds x 50, 1,000 timelines, 3 repeats
    python -m benchmarks.collect --repeat 1 --no-reader --concurrency 8 --parse-workers 0

Ours runs as configured for this size: ``fetch.concurrency`` 128 (the 50 blogs' per-host
cap of 2 allows 100 fetches at once) and ``fetch.parse_workers`` 2 (feed bodies parsed
in two worker processes, started before the cycles as ``aggregator run`` starts them).

Targets (issue #4): the cold feed cycle at least 10x reader's items per second, the
nothing-changed cycle at least 3x faster than reader's, 1,000 timelines under 5 s.
The servers run in a process of their own (``benchmarks/_collect_server.py``), started
afresh for each repeat. Machines here are noisy: read the ratios, and the medians.
Needs the ``bench`` extra (``reader``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aggregator.app import App, build_app
from aggregator.config import Settings
from aggregator.models import RunReport
from aggregator.offload import Offload
from benchmarks import _collect_data as data
from benchmarks._collect_server import HOST, Plan, Ports, ServerProcess, default_newest

FEEDS_EVENT = "bench-feeds"
MASTODON_EVENT = "bench-mastodon"


@dataclass(frozen=True, slots=True)
class Cycle:
    seconds: float
    items: int
    failed: int = 0
    cpu: float = 0.0
    """CPU seconds of this process (every thread) during the cycle: where it nears
    ``seconds``, the client, not the network, sets the pace."""


def feed_urls(plan: Plan, ports: Ports) -> list[str]:
    return [
        f"http://{HOST}:{ports.sites[f % plan.sites]}{data.feed_path(f)}" for f in range(plan.feeds)
    ]


def settings(
    plan: Plan, ports: Ports, db: Path, concurrency: int, parse_workers: int = 0
) -> Settings:
    day = plan.newest.date()
    event = {
        "title": "Bench",
        "timezone": "UTC",
        "starts": (day - timedelta(days=3)).isoformat(),
        "ends": day.isoformat(),
        "lookback_days": 0,
    }
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{db}"},
            "fetch": {
                "concurrency": concurrency,
                "parse_workers": parse_workers,
                "timeout_seconds": 60,
            },
            "events": [
                {
                    **event,
                    "slug": FEEDS_EVENT,
                    "hashtags": ["launch"],
                    "sources": [{"platform": "feed", "url": u} for u in feed_urls(plan, ports)],
                },
                {
                    **event,
                    "slug": MASTODON_EVENT,
                    "hashtags": list(data.hashtags(plan.tags)),
                    "sources": [
                        {"platform": "mastodon", "instance": f"http://{HOST}:{port}"}
                        for port in ports.instances
                    ],
                },
            ],
        }
    )


def run_ours(
    plan: Plan, ports: Ports, db: Path, concurrency: int, parse_workers: int, event: str
) -> list[Cycle]:
    """The cold cycle, then the cycle in which nothing changed. The parse workers are
    started first, as ``aggregator run`` starts them once for its lifetime; each cycle
    opens its own HTTP client, as the service's connections would have gone idle
    between passes minutes apart."""
    app = build_app(settings(plan, ports, db, concurrency, parse_workers), env={})
    try:
        with app.offload() as offload:
            return [asyncio.run(_cycle(app, event, offload)) for _ in range(2)]
    finally:
        app.store.close()


async def _cycle(app: App, event: str, offload: Offload) -> Cycle:
    start, cpu = time.perf_counter(), time.process_time()
    reports: list[RunReport] = await app.fetch(event=event, offload=offload)
    elapsed = time.perf_counter() - start
    return Cycle(
        elapsed,
        sum(r.counts.new for r in reports),
        sum(1 for r in reports if r.error is not None),
        time.process_time() - cpu,
    )


def run_reader(urls: list[str], db: Path, workers: int) -> list[Cycle]:
    from reader import make_reader  # the bench extra, needed only here

    reader = make_reader(str(db))
    try:
        for url in urls:
            reader.add_feed(url)
        cycles = []
        before = 0
        for _ in range(2):
            start, cpu = time.perf_counter(), time.process_time()
            # scheduled=False: the second cycle checks every feed again now, as ours does,
            # rather than skipping feeds whose next update is an hour away.
            reader.update_feeds(workers=workers, scheduled=False)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            total = reader.get_entry_counts().total or 0
            broken = sum(1 for f in reader.get_feeds() if f.last_exception is not None)
            cycles.append(Cycle(elapsed, total - before, broken, cpu))
            before = total
        return cycles
    finally:
        reader.close()


def median_of(runs: list[Cycle], pick: Callable[[Cycle], float]) -> float:
    return statistics.median(pick(r) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--comments", type=int, default=50, help="items per feed")
    parser.add_argument("--sites", type=int, default=50, help="blogs (hosts) the feeds are on")
    parser.add_argument("--instances", type=int, default=250, help="Mastodon servers (hosts)")
    parser.add_argument("--tags", type=int, default=4, help="hashtags followed on each server")
    parser.add_argument("--statuses", type=int, default=20, help="statuses per tag timeline")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per response")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=128, help="our fetch.concurrency (sources at once)"
    )
    parser.add_argument(
        "--parse-workers",
        type=int,
        default=2,
        help="our fetch.parse_workers (0: parse in the fetching process)",
    )
    parser.add_argument("--workers", type=int, default=16, help="reader's update_feeds workers")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader runs")
    parser.add_argument("--no-mastodon", action="store_true", help="skip the Mastodon runs")
    parser.add_argument("--no-feeds", action="store_true", help="skip the feed runs")
    args = parser.parse_args()

    runs: dict[str, list[list[Cycle]]] = {"ours": [], "reader": [], "mastodon": []}
    mine = (args.concurrency, args.parse_workers)
    for n in range(args.repeat):
        plan = Plan(
            feeds=args.feeds,
            sites=args.sites,
            comments=args.comments,
            instances=args.instances,
            tags=args.tags,
            statuses=args.statuses,
            latency=args.latency,
            newest=default_newest(),
        )
        with ServerProcess(plan) as ports, tempfile.TemporaryDirectory() as tmp:
            # Alternate who goes first, so neither always meets a warmer machine.
            order = ["ours", "reader"] if n % 2 == 0 else ["reader", "ours"]
            for who in [] if args.no_feeds else order:
                if who == "ours":
                    runs["ours"].append(
                        run_ours(plan, ports, Path(tmp) / "ours.db", *mine, FEEDS_EVENT)
                    )
                elif not args.no_reader:
                    urls = feed_urls(plan, ports)
                    runs["reader"].append(run_reader(urls, Path(tmp) / "reader.db", args.workers))
            if not args.no_mastodon:
                runs["mastodon"].append(
                    run_ours(plan, ports, Path(tmp) / "masto.db", *mine, MASTODON_EVENT)
                )
        print(
            f"repeat {n + 1}/{args.repeat}: "
            + "; ".join(_brief(k, v[-1]) for k, v in runs.items() if v)
        )

    print()
    print(
        f"{args.feeds} WordPress comment feeds x {args.comments} comments on {args.sites} hosts; "
        f"{args.instances * args.tags:,} Mastodon timelines ({args.instances} servers x "
        f"{args.tags} tags, {args.statuses} statuses each); {args.latency * 1000:.0f} ms per "
        f"response; our concurrency {args.concurrency} and parse workers {args.parse_workers}, "
        f"reader workers {args.workers}; "
        f"medians of {args.repeat}"
    )
    rows: list[tuple[str, ...]] = [
        ("cycle", "client", "wall s", "cpu s", "items", "items/s", "runs (s)")
    ]
    table: dict[tuple[str, int], tuple[float, float]] = {}
    for who, label in (("ours", "aggregator"), ("reader", "reader"), ("mastodon", "aggregator")):
        if not runs[who]:
            continue
        for i, cycle in enumerate(("cold", "nothing changed")):
            per = [r[i] for r in runs[who]]
            wall = median_of(per, lambda c: c.seconds)
            items = median_of(per, lambda c: c.items)
            rate = statistics.median(c.items / c.seconds for c in per)
            table[who, i] = (wall, rate)
            what = "mastodon " if who == "mastodon" else "feeds "
            failed = sum(c.failed for c in per)
            rows.append(
                (
                    what + cycle,
                    label + (f" ({failed} failed)" if failed else ""),
                    f"{wall:.3f}",
                    f"{median_of(per, lambda c: c.cpu):.3f}",
                    f"{items:,.0f}",
                    f"{rate:,.0f}",
                    ", ".join(f"{c.seconds:.2f}" for c in per),
                )
            )
    _print_table(rows)
    if runs["reader"] and runs["ours"]:
        cold = [o[0].items / o[0].seconds / (r[0].items / r[0].seconds) for o, r in _pairs(runs)]
        warm = [r[1].seconds / o[1].seconds for o, r in _pairs(runs)]
        print()
        print(
            f"cold cycle, items/s ours/reader: {statistics.median(cold):.1f}x "
            f"(per repeat {', '.join(f'{x:.1f}' for x in cold)}; target >= 10)"
        )
        print(
            f"nothing-changed cycle, reader time/ours: {statistics.median(warm):.1f}x "
            f"(per repeat {', '.join(f'{x:.1f}' for x in warm)}; target >= 3)"
        )
    if runs["mastodon"]:
        wall = table["mastodon", 0][0]
        print(
            f"{args.instances * args.tags:,} Mastodon timelines, cold: {wall:.2f} s (target < 5 s)"
        )


def _pairs(runs: dict[str, list[list[Cycle]]]) -> list[tuple[list[Cycle], list[Cycle]]]:
    return list(zip(runs["ours"], runs["reader"], strict=False))


def _brief(who: str, cycles: list[Cycle]) -> str:
    return f"{who} " + " / ".join(f"{c.seconds:.2f} s {c.items:,}" for c in cycles)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
