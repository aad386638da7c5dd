"""The loopback platforms benchmarks/collect.py collects from, in a process of their own
(so serving costs no CPU time under the measured client's GIL).

Each blog and each Mastodon server is a listening port on 127.0.0.1 (hosts differ by
port, so per-host connection pools behave as they would against separate sites).
Every response waits ``latency`` seconds first (``asyncio.sleep``: a slow network,
not a busy server). Feeds answer conditional GETs with 304 (``ETag`` and
``Last-Modified``, compared as WordPress does); timelines page like Mastodon's
(``max_id``/``min_id``/``limit``, ``Link`` with ``next``/``prev``, none on an empty
page). Bodies are rendered once, before the first request.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.connection
import socket
from asyncio import StreamReader, StreamWriter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from benchmarks import _collect_data as data

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Plan:
    feeds: int
    sites: int
    comments: int
    instances: int
    tags: int
    statuses: int
    latency: float
    newest: datetime


@dataclass(frozen=True, slots=True)
class Ports:
    sites: list[int]
    instances: list[int]


class _Timeline:
    """One tag on one server: (id order, id, JSON) newest first."""

    def __init__(self, statuses: Sequence[dict[str, object]]) -> None:
        self.rows = [(_order(str(s["id"])), str(s["id"]), json.dumps(s).encode()) for s in statuses]

    def page(self, query: dict[str, list[str]]) -> list[tuple[tuple[int, str], str, bytes]]:
        limit = min(int(query.get("limit", ["20"])[-1]), 40)
        rows = self.rows
        if "max_id" in query:
            top = _order(query["max_id"][-1])
            rows = [r for r in rows if r[0] < top]
        if "min_id" in query:
            floor = _order(query["min_id"][-1])
            # The chunk immediately above min_id (oldest first), served newest first.
            return [r for r in rows if r[0] > floor][-limit:]
        return rows[:limit]


def _order(status_id: str) -> tuple[int, str]:
    return (len(status_id), status_id)


class Platforms:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.feeds: list[dict[str, data.FeedDoc]] = [{} for _ in range(plan.sites)]
        for f, doc in enumerate(
            data.wordpress_feeds(plan.feeds, plan.sites, plan.comments, plan.newest)
        ):
            self.feeds[f % plan.sites][doc.path] = doc
        self.timelines: list[dict[str, _Timeline]] = []
        for i in range(plan.instances):
            domain = f"mastodon{i:03d}.example"
            self.timelines.append(
                {
                    tag: _Timeline(
                        data.mastodon_statuses(domain, tag, plan.statuses, plan.newest, i * 97 + t)
                    )
                    for t, tag in enumerate(data.hashtags(plan.tags))
                }
            )

    def answer(
        self, kind: str, index: int, port: int, target: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urlsplit(target)
        if kind == "site":
            doc = self.feeds[index].get(split.path)
            if doc is None:
                return 404, [("Content-Type", "text/plain")], b"not found"
            validators = [("ETag", doc.etag), ("Last-Modified", doc.last_modified)]
            if _not_modified(headers, doc.etag, doc.last_modified):
                return 304, validators, b""
            return (
                200,
                [("Content-Type", "application/rss+xml; charset=UTF-8"), *validators],
                doc.body,
            )
        prefix = "/api/v1/timelines/tag/"
        timeline = self.timelines[index].get(unquote(split.path.removeprefix(prefix)))
        if not split.path.startswith(prefix) or timeline is None:
            return 404, [("Content-Type", "application/json")], b'{"error":"Record not found"}'
        query = parse_qs(split.query)
        rows = timeline.page(query)
        out = [("Content-Type", "application/json; charset=utf-8")]
        if rows:
            base = f"http://{HOST}:{port}{split.path}?limit={query.get('limit', ['20'])[-1]}"
            out.append(
                (
                    "Link",
                    f'<{base}&max_id={rows[-1][1]}>; rel="next", <{base}&min_id={rows[0][1]}>; '
                    'rel="prev"',
                )
            )
        return 200, out, b"[" + b",".join(r[2] for r in rows) + b"]"


def _not_modified(headers: dict[str, str], etag: str, last_modified: str) -> bool:
    # WP::send_headers(): both validators must match when both are sent, else either.
    client_etag = headers.get("if-none-match", "")
    client_since = headers.get("if-modified-since", "")
    etag_ok = bool(client_etag) and client_etag == etag
    since_ok = bool(client_since) and client_since == last_modified
    if client_etag and client_since:
        return etag_ok and since_ok
    return etag_ok or since_ok


async def _serve(platforms: Platforms, conn: multiprocessing.connection.Connection) -> None:
    latency = platforms.plan.latency

    def handler(kind: str, index: int) -> Callable[[StreamReader, StreamWriter], Awaitable[None]]:
        async def handle(reader: StreamReader, writer: StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            port = writer.get_extra_info("sockname")[1]
            if sock is not None:
                # Nagle plus delayed ACK would stall each keep-alive response ~40 ms.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    _method, target, _version = lines[0].split(" ", 2)
                    headers = {}
                    for line in lines[1:]:
                        if ":" in line:
                            name, value = line.split(":", 1)
                            headers[name.strip().lower()] = value.strip()
                    await asyncio.sleep(latency)
                    status, extra, body = platforms.answer(kind, index, port, target, headers)
                    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                    out = [f"HTTP/1.1 {status} {reason}"]
                    out += [f"{k}: {v}" for k, v in extra]
                    out.append(f"Content-Length: {len(body)}")
                    writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
                    await writer.drain()
                    if headers.get("connection", "").lower() == "close":
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return handle

    servers = []
    ports: dict[str, list[int]] = {"site": [], "instance": []}
    for kind, count in (("site", platforms.plan.sites), ("instance", platforms.plan.instances)):
        for index in range(count):
            server = await asyncio.start_server(handler(kind, index), HOST, 0, backlog=512)
            ports[kind].append(server.sockets[0].getsockname()[1])
            servers.append(server)
    conn.send(Ports(ports["site"], ports["instance"]))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def _main(plan: Plan, conn: multiprocessing.connection.Connection) -> None:
    asyncio.run(_serve(Platforms(plan), conn))


class ServerProcess:
    """``with ServerProcess(plan) as ports:`` the platforms, served until the block ends."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_main, args=(plan, child), daemon=True)

    def __enter__(self) -> Ports:
        self._process.start()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("the loopback server did not start")
        ports: Ports = self._conn.recv()
        return ports

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def default_newest() -> datetime:
    # A few seconds ago: Mastodon statuses this fresh are not yet due for a re-check
    # (that starts at 10 minutes of age), so a cycle is the timelines alone.
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
