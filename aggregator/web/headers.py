"""Security headers on every response, as plain ASGI (no per-request task or copy).

Embeds are made to sit in other sites' iframes: any site may frame them, and their
policy lets them load nothing at all beyond their own inline style. Every other page
refuses to be framed (clickjacking on the admin) and loads only from this origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
EMBED_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors *"
)
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
_PAGE = [
    *_COMMON,
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]
# Admin pages hold a CSRF token and private state: never kept by any cache.
_ADMIN = [*_PAGE, (b"cache-control", b"no-store")]
# The read-only API (its OpenAPI document and its errors included) is for any site.
_API = [
    *_PAGE,
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Link"),
]
_EMBED = [*_COMMON, (b"content-security-policy", EMBED_POLICY.encode())]


def is_embed(path: str) -> bool:
    """``/<slug>/embed.html`` and ``/<slug>/embed/<day>.html`` (:mod:`aggregator.digest.render`)."""
    parts = path.strip("/").split("/")
    return (len(parts) == 2 and parts[1] == "embed.html") or (
        len(parts) == 3 and parts[1] == "embed" and parts[2].endswith(".html")
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if is_embed(path):
            extra = _EMBED
        elif path.startswith("/admin/"):
            extra = _ADMIN
        elif path.startswith("/api/"):
            extra = _API
        else:
            extra = _PAGE

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in names),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
