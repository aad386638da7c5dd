"""Web benchmark (issue #6): requests per second and p50/p99 latency of ``aggregator
serve`` (uvicorn) under 50 concurrent clients on loopback, with SQLite and PostgreSQL.

    pip install -e '.[bench,postgres]'                        # locust, psycopg
    python -m benchmarks.web --workdir ~/.cache/aggregator-bench
    python -m benchmarks.web --backend sqlite --run-time 10 --workers 2

For each backend a real server process is started on a free port of 127.0.0.1 over a
store of the digest benchmark's event (benchmarks/_digest_data.py: --count items,
--day of them on the measured day; the SQLite file is kept in --workdir). For
PostgreSQL the rows are copied into a database created on the --postgres server for
the run and dropped after it. Then locust (headless, FastHttpUser: one keep-alive
connection per client, no pause between requests, ``Accept-Encoding: gzip, deflate,
br`` like a browser; benchmarks/_web_locustfile.py) runs --users clients for
--run-time seconds against each endpoint in turn:

- baseline: ``GET /api/openapi.json``, a small document FastAPI keeps in memory, served
  through the same uvicorn, middleware and locust: measured in the same run, so the
  ratios against it show what the app adds;
- page: ``GET /bench/<day>.html``, the day's digest from the page cache (warmed first);
- items: ``GET /api/v1/events/bench/items?limit=50``, when the app has that route.

server/client CPU is the share of one core the server process(es) and locust used in
the middle of the run (near 100%: that side is saturated; the machine has 2 cores).
Locust rounds latencies to 1 ms below 100 ms, to 10 ms below 1 s. --workers N runs
``uvicorn --workers N`` on the same app (benchmarks/_web_app.py) instead of
``aggregator serve``; each worker then has its own page cache.

Target (issue #6): p99 under 100 ms at 50 concurrent clients on the cached day page.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks import _digest_data as data
from benchmarks import _web_data

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("_web_locustfile.py")
ITEMS_ROUTE = "/api/v1/events/{slug}/items"
TARGET_P99_MS = 100.0


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    failures: int
    rps: float
    p50: float
    p99: float
    server_cpu: float
    client_cpu: float


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    first_seconds: float
    """The first request's time: for the page, the render that fills the cache."""
    size: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@contextmanager
def server(config: Path, port: int, workers: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``aggregator serve`` (or uvicorn --workers) on 127.0.0.1:``port``, until ready;
    its process group is terminated on exit."""
    if workers > 1:
        cmd = [
            *(sys.executable, "-m", "uvicorn", "--factory", "benchmarks._web_app:create"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--log-level", "warning", "--no-access-log"),
        ]
    else:
        cmd = [sys.executable, "-m", "aggregator", "-c", str(config), "serve"]
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "AGGREGATOR_CONFIG": str(config)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
            try:
                if get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def endpoints(base: str, users: int, workers: int) -> list[Endpoint]:
    """The endpoints this build serves, each checked and warmed."""
    paths = {"baseline": "/api/openapi.json", "page": f"/{data.SLUG}/{data.MEASURED_DAY}.html"}
    openapi = json.loads(get(base + paths["baseline"])[1])
    if ITEMS_ROUTE in openapi.get("paths", {}):
        paths["items"] = ITEMS_ROUTE.format(slug=data.SLUG) + "?limit=50"
    out = []
    for name, path in paths.items():
        start = time.perf_counter()
        status, body = get(base + path)
        first = time.perf_counter() - start
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        # Concurrent requests, so that with --workers each worker fills its own cache.
        with ThreadPoolExecutor(users) as pool:
            for _ in range(3 if workers > 1 else 1):
                list(pool.map(get, [base + path] * users))
        out.append(Endpoint(name, path, first, len(body)))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` and its children so far."""
    import psutil  # locust's dependency

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def load(base: str, path: str, args: argparse.Namespace, server_pid: int, tmp: Path) -> Load:
    """One locust run against ``path``; CPU is sampled from 30% to 85% of the run."""
    prefix = tmp / "locust"
    cmd = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
        *("-u", str(args.users), "-r", str(args.users), "--run-time", f"{args.run_time}s"),
        *("--host", base, "--csv", str(prefix), "--reset-stats", "--only-summary"),
        *("--loglevel", "WARNING", "--stop-timeout", "5"),
    ]
    env = {**os.environ, "WEB_BENCH_PATH": path}
    log = tmp / "locust.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        start = time.monotonic()
        window = (0.3 * args.run_time, 0.85 * args.run_time)
        time.sleep(window[0])
        s0, c0, t0 = cpu_seconds(server_pid), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(max(0.0, start + window[1] - time.monotonic()))
        s1, c1, t1 = cpu_seconds(server_pid), cpu_seconds(proc.pid), time.monotonic()
        proc.wait(timeout=args.run_time + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with prefix.with_name(prefix.name + "_stats.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
    if proc.returncode not in (0, 1) or not rows:  # 1: some requests failed
        raise RuntimeError(f"locust failed ({proc.returncode}): {log.read_text()[-2000:]}")
    r = rows[0]
    return Load(
        requests=int(r["Request Count"]),
        failures=int(r["Failure Count"]),
        rps=float(r["Requests/s"]),
        p50=float(r["50%"]),
        p99=float(r["99%"]),
        server_cpu=(s1 - s0) / (t1 - t0),
        client_cpu=(c1 - c0) / (t1 - t0),
    )


def measure(
    backend: str, url: str, args: argparse.Namespace, tmp: Path
) -> tuple[list[Endpoint], dict[str, list[Load]]]:
    config = tmp / f"{backend}.toml"
    config.write_text(
        f"[database]\nurl = {json.dumps(url)}\n\n[web]\ncache_seconds = 3600\n", "utf-8"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server(config, port, args.workers, tmp / f"{backend}-server.log") as proc:
        eps = endpoints(base, args.users, args.workers)
        loads: dict[str, list[Load]] = {e.name: [] for e in eps}
        # Endpoints alternate within each repeat, so a burst of load from elsewhere on
        # the machine falls on both sides of a ratio.
        for _ in range(args.repeat):
            for e in eps:
                loads[e.name].append(load(base, e.path, args, proc.pid, tmp))
    return eps, loads


def report(backend: str, eps: list[Endpoint], loads: dict[str, list[Load]]) -> float:
    """Print the backend's table; return the page's median p99 in ms."""
    med = statistics.median
    print(f"\n{backend}")
    for e in eps:
        print(f"  {e.name:<9}{e.path}: {e.size:,} bytes, first request {e.first_seconds:.3f} s")
    head = (
        f"  {'endpoint':<10}{'requests':>9}{'rps':>9}{'p50 ms':>8}{'p99 ms':>8}{'failures':>9}"
        f"{'rps/base':>9}{'p99/base':>9}{'server CPU':>11}{'client CPU':>11}"
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    base = loads["baseline"]
    base_rps, base_p99 = med(x.rps for x in base), med(x.p99 for x in base)
    for name, runs in loads.items():
        rps, p99 = med(x.rps for x in runs), med(x.p99 for x in runs)
        print(
            f"  {name:<10}{sum(x.requests for x in runs):>9,}{rps:>9.0f}"
            f"{med(x.p50 for x in runs):>8.0f}{p99:>8.0f}{sum(x.failures for x in runs):>9,}"
            f"{rps / base_rps:>9.3f}{p99 / base_p99:>9.1f}"
            f"{med(x.server_cpu for x in runs):>11.0%}{med(x.client_cpu for x in runs):>11.0%}"
        )
    return med(x.p99 for x in loads["page"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server to connect to (the benchmark's database is created on it)",
    )
    parser.add_argument(
        "--pg-database", default="aggregator_bench_web", help="created and dropped by the run"
    )
    parser.add_argument("--count", type=int, default=100_000, help="items in the store")
    parser.add_argument("--day", type=int, default=10_000, help="items on the measured day")
    parser.add_argument("--users", type=int, default=50, help="concurrent clients")
    parser.add_argument("--run-time", type=int, default=20, help="seconds per endpoint and repeat")
    parser.add_argument("--repeat", type=int, default=1, help="runs per endpoint (medians)")
    parser.add_argument("--workers", type=int, default=1, help=">1: uvicorn --workers N")
    parser.add_argument(
        "--workdir", type=Path, help="where the built store is kept (default: temp)"
    )
    args = parser.parse_args()
    # A plain `kill` still stops the servers (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Not imported: locust monkeypatches the standard library with gevent.
    locust = metadata.version("locust")

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    server = "aggregator serve" if args.workers == 1 else f"uvicorn --workers {args.workers}"
    print(
        f"web benchmark: {server} on 127.0.0.1; locust {locust} FastHttpUser, "
        f"{args.users} clients, {args.run_time} s per endpoint, medians of {args.repeat}"
    )
    print(
        f"store: {args.count:,} items, {args.day:,} of them on {data.MEASURED_DAY} "
        "(benchmarks/_digest_data.py)"
    )
    sys.stdout.flush()
    p99s = {}
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        workdir = args.workdir or tmp
        workdir.mkdir(parents=True, exist_ok=True)
        path = data.store_file(workdir, args.count, args.day)
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{path.resolve()}"
            else:
                url = stack.enter_context(
                    _web_data.postgres_store(args.postgres, args.pg_database, path)
                )
            eps, loads = measure(backend, url, args, tmp)
            p99s[backend] = report(backend, eps, loads)
            sys.stdout.flush()
    ok = all(p99 < TARGET_P99_MS for p99 in p99s.values())
    verdict = "; ".join(f"{b} {p:.0f} ms" for b, p in p99s.items())
    print(
        f"\ntarget: cached day page p99 < {TARGET_P99_MS:.0f} ms at {args.users} clients: "
        f"{verdict}: {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
