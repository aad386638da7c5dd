"""``GET /healthz`` on 127.0.0.1: a tiny asyncio HTTP/1.0 responder, enough for a
container probe or a load balancer; nothing else is served."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Says whether the service is healthy, and why, as JSON values."""

READ_TIMEOUT = 5.0


async def serve_healthz(probe: Probe, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            parts = head.split(b"\r\n", 1)[0].split()
            if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/healthz":
                ok, body = await probe()
                status = "200 OK" if ok else "503 Service Unavailable"
                payload = orjson.dumps({"ok": ok, **body})
            else:
                status, payload = "404 Not Found", b'{"error":"only GET /healthz"}'
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a half-open probe: nothing to answer
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
