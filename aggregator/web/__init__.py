"""The web app (``aggregator serve``): public digests, embeds and the JSON API, and the
admin where organisers configure what is tracked, moderate and watch collection.

One ASGI app (FastAPI), built around the same :class:`~aggregator.app.App` as the CLI
and the collector: the store, the clock and the HTTP transport are injected, so tests
drive it in-process through httpx's ASGI transport.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aggregator.app import App
from aggregator.digest.render import make_environment
from aggregator.web.headers import SecurityHeaders
from aggregator.web.pages import PageCache
from aggregator.web.state import WebState


def create_app(app: App) -> FastAPI:
    from aggregator.web import admin, admin_curation, admin_events, api, public

    web = FastAPI(
        title="aggregator",
        summary="Digests of the conversation around events, across the social web.",
        version="1",
        # The interactive docs would load their scripts from a CDN; the document is
        # what clients need.
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    web.state.web = WebState(
        app=app,
        env=make_environment(app.settings.digest.templates),
        cache=PageCache(ttl=app.settings.web.cache_seconds),
    )
    web.include_router(api.router)
    web.include_router(admin.entry)
    web.include_router(admin.router)
    web.include_router(admin_events.router)
    web.include_router(admin_curation.router)
    web.include_router(public.router)

    @web.exception_handler(StarletteHTTPException)
    async def _error(request: Request, exc: StarletteHTTPException) -> Response:
        # People get a page; the API and machines get JSON.
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return await http_exception_handler(request, exc)
        state: WebState = request.app.state.web
        html = state.env.get_template("web/error.html").render(
            status=exc.status_code, detail=exc.detail
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)

    web.add_middleware(SecurityHeaders)
    return web
