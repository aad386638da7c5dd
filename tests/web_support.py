"""The web app in-process for tests: the demo's sample conversation on loopback
servers, an app on a fresh database, an httpx client over the ASGI transport, and an
admin who can sign in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from aggregator.app import App, build_app
from aggregator.config import load_settings
from aggregator.web import create_app
from aggregator.web.auth import hash_password
from tests.cli_support import Sample, sample_servers
from tests.support import Clock

BASE = "http://testserver"
ADMIN = "organiser"
PASSWORD = "a long enough passphrase"


@dataclass
class Site:
    app: App
    web: FastAPI
    sample: Sample
    clock: Clock


@contextmanager
def site(tmp_path: Path, *, extra: str = "", database: str | None = None) -> Iterator[Site]:
    """The sample event (from a configuration file), an admin account, nothing fetched."""
    with sample_servers() as sample:
        path = sample.config(tmp_path, extra=extra)
        settings = load_settings(path, env={})
        if database is not None:
            settings = settings.model_copy(
                update={"database": settings.database.model_copy(update={"url": database})}
            )
        clock = Clock()
        app = build_app(settings, env={}, clock=clock)
        app.store.create_admin(ADMIN, hash_password(PASSWORD), now=clock())
        try:
            yield Site(app, create_app(app), sample, clock)
        finally:
            app.store.close()


@asynccontextmanager
async def client(web: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r} in the page"
    return match.group(1)


async def sign_in(c: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    form = await c.get("/admin/login")
    return await c.post(
        "/admin/login",
        data={"username": ADMIN, "password": password, "token": hidden(form.text, "token")},
    )


async def csrf(c: httpx.AsyncClient, page: str = "/admin/") -> str:
    response = await c.get(page)
    assert response.status_code == 200, response.text
    return hidden(response.text, "csrf")
