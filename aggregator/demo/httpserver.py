"""A small threaded HTTP/1.1 server on 127.0.0.1 with scriptable faults.

It speaks real HTTP over a real socket, so fetchers are exercised exactly as against
a platform: status codes, headers, keep-alive, timeouts and resets included.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    """Header names lower-cased."""
    base_url: str
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    """Seconds to wait before answering (latency, or a timeout for a short-timeout client)."""


FaultKind = Literal["status", "timeout", "reset", "malformed"]


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 5.0
    path_prefix: str = ""
    """Only requests whose path starts with this are hit."""


App = Callable[[Request], Response]


class LoopbackServer:
    """Serve ``app`` on 127.0.0.1 (an ephemeral port unless one is given).

    ``inject(fault, times)`` makes the next matching requests fail; every request is
    logged in ``requests``; ``latency`` is added to every response.
    """

    def __init__(self, app: App, *, port: int = 0, latency: float = 0.0) -> None:
        self.app = app
        self.latency = latency
        self.requests: list[Request] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without TCP_NODELAY every keep-alive response stalls ~40 ms (Nagle +
            # delayed ACK), which makes any client look slow.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                outer._handle(self)

            def do_HEAD(self) -> None:
                outer._handle(self)

            def do_POST(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        # A short poll interval makes stop() quick (the default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Injected faults not yet met by a request."""
        with self._lock:
            return len(self._faults)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if path.startswith(fault.path_prefix):
                    del self._faults[i]
                    return fault
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        split = urlsplit(h.path)
        request = Request(
            method=h.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in h.headers.items()},
            base_url=self.base_url,
            body=body,
        )
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(split.path)
        if fault is not None and fault.kind == "reset":
            # SO_LINGER 0 makes close() send RST instead of FIN.
            h.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            h.close_connection = True
            h.connection.close()
            return
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.seconds)
            h.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            response = Response(fault.status, dict(fault.headers), b'{"error":"injected"}')
            response.headers.setdefault("Content-Type", "application/json")
        else:
            try:
                response = self.app(request)
            except Exception as e:  # a bug in a simulator must show, not hang the client
                response = Response(500, {"Content-Type": "text/plain"}, repr(e).encode())
            if fault is not None and fault.kind == "malformed":
                response.body = response.body[: max(1, len(response.body) // 2)] + b"\x00<{]"
        delay = self.latency + response.delay
        if delay:
            time.sleep(delay)
        h.send_response(response.status)
        for name, value in response.headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(response.body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(response.body)
