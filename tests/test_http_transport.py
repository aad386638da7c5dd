"""make_client's transport (HostPools, on aiohttp) against real sockets on 127.0.0.1.

Every failure a platform can produce must reach ``aggregator.http`` as the httpx
exception httpcore would raise, and every response feature the fetchers read (final
URL, repeated headers, gzip, status) must look the same as it does through httpcore.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from aggregator import http
from aggregator.exceptions import ParseError, RateLimited, TemporaryError
from aggregator.http import HostPools, make_client

NOW = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    """Raw HTTP/1.1 on an ephemeral port: each handler writes its own bytes."""

    handler: Handler
    seen: list[Seen] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0
    base_url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)
        try:
            while not writer.is_closing():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *lines = head.decode("latin-1").split("\r\n")[:-2]
                method, target, _ = line.split(" ")
                headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.seen.append(Seen(method, target, headers, body))
                await self.handler(self.seen[-1], writer)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    server.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    async with listener:
        yield server


def reply(
    status: int = 200,
    body: bytes = b"{}",
    headers: list[tuple[str, str]] | None = None,
    *,
    delay: float = 0.0,
) -> Handler:
    async def handler(_: Seen, writer: asyncio.StreamWriter) -> None:
        if delay:
            await asyncio.sleep(delay)
        writer.write(raw(status, body, headers))

    return handler


def raw(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers or [("Content-Type", "application/json")]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


async def fetch(server: Server, path: str = "/", timeout: float = 5.0, **kw: Any) -> Any:
    async with make_client(timeout=httpx.Timeout(timeout)) as client:
        return await http.get(client, server.base_url + path, now=NOW, **kw)


def test_make_client_uses_host_pools_and_can_be_made_outside_a_loop() -> None:
    client = make_client()
    assert isinstance(client._transport, HostPools)
    run(client.aclose())


def test_behind_a_proxy_httpx_transports_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = make_client()
    assert not isinstance(client._transport, HostPools)
    run(client.aclose())


def test_an_injected_transport_is_used() -> None:
    async def main() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": 1}))
        async with make_client(transport) as client:
            response = await http.get(client, "https://example.org/x", now=NOW)
        assert http.json_body(response) == {"ok": 1}

    run(main())


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "httpx_error"),
    [
        pytest.param(reply(delay=2.0), httpx.ReadTimeout, id="no-answer"),
        pytest.param(lambda _, w: _stall_mid_body(w), httpx.ReadTimeout, id="stalls-mid-body"),
        pytest.param(lambda _, w: _reset_now(w), httpx.ReadError, id="reset-before-answer"),
        pytest.param(lambda _, w: _reset_mid_body(w), httpx.TransportError, id="reset-mid-body"),
        pytest.param(
            lambda _, w: _write(w, b"HTTP/1.1 2OO OK\r\n\r\n"),
            httpx.RemoteProtocolError,
            id="malformed-status",
        ),
        pytest.param(
            lambda _, w: _write(w, b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            httpx.RemoteProtocolError,
            id="malformed-header",
        ),
        pytest.param(lambda _, w: _close(w), httpx.RemoteProtocolError, id="closes-without-answer"),
    ],
)
def test_transport_failures_arrive_as_httpx_errors_and_become_temporary(
    handler: Handler, httpx_error: type[httpx.HTTPError]
) -> None:
    async def main() -> None:
        async with serve(handler) as server, make_client(timeout=httpx.Timeout(0.3)) as client:
            with pytest.raises(httpx_error) as raw:
                await client.get(server.base_url + "/?token=secret")
            assert "secret" not in str(raw.value)
            with pytest.raises(TemporaryError) as caught:
                await http.get(client, server.base_url + "/?token=secret", now=NOW)
        assert "secret" not in str(caught.value)
        assert caught.value.__cause__ is None

    run(main())


def test_a_timeout_is_named_as_one() -> None:
    async def main() -> None:
        async with serve(reply(delay=2.0)) as server:
            with pytest.raises(TemporaryError, match=r"^timeout fetching"):
                await fetch(server, timeout=0.2)

    run(main())


def test_a_reset_is_not_retried() -> None:
    """httpcore sends nothing twice; a reset is the source's failure to record."""

    async def main() -> None:
        async with serve(lambda _, w: _reset_now(w)) as server:
            with pytest.raises(TemporaryError):
                await fetch(server)
        assert len(server.seen) == 1

    run(main())


def test_a_refused_connection_is_a_connect_error() -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: refused
            async with make_client(timeout=httpx.Timeout(2.0)) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(f"http://127.0.0.1:{port}/")
                with pytest.raises(TemporaryError, match="ConnectError"):
                    await http.get(client, f"http://127.0.0.1:{port}/", now=NOW)

    run(main())


def test_a_bad_gzip_body_is_a_parse_error() -> None:
    handler = reply(body=b"not gzip at all", headers=[("Content-Encoding", "gzip")])

    async def main() -> None:
        async with serve(handler) as server:
            with pytest.raises(ParseError):
                await fetch(server)

    run(main())


# -- responses ---------------------------------------------------------------------------


def test_429_carries_retry_after() -> None:
    handler = reply(429, b'{"error":"slow down"}', [("Retry-After", "30")])

    async def main() -> None:
        async with serve(handler) as server:
            with pytest.raises(RateLimited) as caught:
                await fetch(server)
        assert caught.value.retry_after == timedelta(seconds=30)

    run(main())


def test_redirects_are_followed_across_origins_and_the_final_url_kept() -> None:
    async def main() -> None:
        async with serve(reply(body=b'{"at":"b"}')) as b:
            moved = reply(301, b"", [("Location", b.base_url + "/new?x=1")])
            async with serve(moved) as a:
                response = await fetch(a, "/old")
        assert str(response.url) == b.base_url + "/new?x=1"
        assert [r.status_code for r in response.history] == [301]
        assert http.json_body(response) == {"at": "b"}

    run(main())


def test_gzip_is_decoded_and_repeated_headers_kept() -> None:
    body = json.dumps([{"id": str(i)} for i in range(500)]).encode()
    links = [
        '<https://m.example/?max_id=1>; rel="next"',
        '<https://m.example/?min_id=9>; rel="prev"',
    ]
    headers = [("Content-Encoding", "gzip"), ("Content-Type", "application/json")]
    handler = reply(body=gzip.compress(body), headers=headers + [("Link", v) for v in links])

    async def main() -> None:
        async with serve(handler) as server:
            response = await fetch(server)
        assert response.content == body
        assert response.headers.get_list("link") == links
        assert response.http_version == "HTTP/1.1"
        assert response.reason_phrase == "Whatever"
        assert "gzip" in server.seen[0].headers["accept-encoding"]

    run(main())


def test_requests_carry_the_headers_httpx_built_and_no_cookies() -> None:
    cookie = [("Set-Cookie", "__cf_bm=abc; Path=/"), ("Content-Type", "application/json")]

    async def main() -> None:
        async with (
            serve(reply(body=b"{}", headers=cookie)) as server,
            make_client(timeout=httpx.Timeout(5)) as client,
        ):
            await http.get(client, server.base_url + "/a", now=NOW)
            await http.send(client, "POST", server.base_url + "/b", json={"k": "v"})
            await http.send(client, "POST", server.base_url + "/c", content=b"raw")
            assert not client.cookies
        first, post, raw_post = server.seen
        assert first.headers["user-agent"] == http.USER_AGENT
        assert "cookie" not in post.headers
        assert post.headers["content-type"] == "application/json"
        assert json.loads(post.body) == {"k": "v"}
        assert "content-type" not in raw_post.headers
        assert raw_post.body == b"raw"

    run(main())


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "40", "max_id": "123"},
        {"id[]": ["1", "2"], "local": True, "n": 1.5, "none": None},
        {"q": "ü %41 +&=/?#"},
        [("a", "1"), ("a", "2")],
    ],
)
def test_params_make_the_url_httpx_would(params: Any) -> None:
    async def main() -> None:
        async with serve(reply()) as server, make_client(timeout=httpx.Timeout(5)) as client:
            for url in (server.base_url + "/p", server.base_url + "/p?keep=1&limit=9"):
                expected = client.build_request("GET", url, params=params).url
                response = await http.get(client, url, now=NOW, params=params)
                assert response.url == expected
                assert server.seen[-1].target == expected.raw_path.decode()

    run(main())


# -- pools -------------------------------------------------------------------------------


def test_many_origins_concurrently_with_connections_capped_per_origin() -> None:
    async def main() -> None:
        async with serve(reply(body=b'{"n":1}', delay=0.02)) as one:
            others = [serve(reply(body=b'{"n":2}', delay=0.01)) for _ in range(30)]
            servers = [await cm.__aenter__() for cm in others]
            try:
                async with httpx.AsyncClient(transport=HostPools(per_origin=3)) as client:
                    urls = [one.base_url + f"/{i}" for i in range(20)]
                    urls += [s.base_url + f"/{i}" for s in servers for i in range(4)]
                    responses = await asyncio.gather(*(client.get(u) for u in urls))
            finally:
                for cm in others:
                    await cm.__aexit__(None, None, None)
        assert [r.status_code for r in responses] == [200] * len(urls)
        assert sum(r.json()["n"] == 1 for r in responses) == 20
        assert 1 <= one.open_max <= 3
        assert len(one.seen) == 20

    run(main())


def test_connections_are_kept_alive_and_all_closed_with_the_client() -> None:
    async def main() -> None:
        async with serve(reply()) as server:
            transport = HostPools()
            async with httpx.AsyncClient(transport=transport) as client:
                for _ in range(5):
                    await client.get(server.base_url + "/")
                assert server.open_now == 1
            await asyncio.sleep(0.05)
            assert server.open_now == 0

    run(main())
    gc.collect()  # an unclosed aiohttp session would warn here (warnings are errors)


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A certificate for 127.0.0.1 and its key, in one PEM file; the same file is the
    CA that signed it (trustme: a throwaway CA made for tests)."""
    ca = trustme.CA()
    pem = tmp_path / "cert.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca.cert_pem.write_to_path(str(pem), append=True)
    return pem


def test_tls_is_verified(certificate: Path) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate)
    trusting = ssl.create_default_context(cafile=certificate)

    async def main() -> None:
        async with serve(reply(body=b'{"tls":true}'), tls=tls) as server:
            with pytest.raises(TemporaryError, match="ConnectError"):
                await fetch(server)  # the CA bundle does not know this certificate
            async with httpx.AsyncClient(transport=HostPools(verify=trusting)) as client:
                responses = [await client.get(server.base_url + "/") for _ in range(3)]
            assert [r.json() for r in responses] == [{"tls": True}] * 3
            assert server.open_max == 1

    run(main())
    gc.collect()


# -- server behaviours -------------------------------------------------------------------


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
    writer.close()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _reset_now(writer: asyncio.StreamWriter) -> None:
    reset(writer)


async def _reset_mid_body(writer: asyncio.StreamWriter) -> None:
    writer.write(raw(200, b"x" * 5000)[:-2000])
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def _stall_mid_body(writer: asyncio.StreamWriter) -> None:
    writer.write(raw(200, b"x" * 5000)[:-2000])
    await writer.drain()
    await asyncio.sleep(2.0)
