"""Chromium for tests, driven through Playwright: one browser per session, a fresh
context (no cookies, no cache, no storage) for every page a test opens.

tests/conftest.py loads this module as a plugin, so any test can ask for ``browser``
or ``open_page``; the digest tests use it now and the web-app tests (issue #6) later.
Chromium is launched once, for all of them: they run after every other test (see
:class:`Chromium` for why).

The browser is Debian's chromium (``AGGREGATOR_CHROMIUM``, default ``/usr/bin/chromium``),
never one Playwright downloads. Without it the tests are skipped with the reason shown,
unless ``AGGREGATOR_REQUIRE_BROWSER`` is set (CI does), which makes that a failure.

Every request a page makes is recorded and anything not addressed to 127.0.0.1 is
aborted before it leaves, so a test can assert "no third-party requests" and a hostile
page can never reach the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Playwright, Route

CHROMIUM_ENV = "AGGREGATOR_CHROMIUM"
REQUIRE_ENV = "AGGREGATOR_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
LOOPBACK = "127.0.0.1"

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces for "only loopback traffic": the route handler below aborts
    # off-machine requests, but Chromium also resolves names on its own (DNS prefetch
    # of links) and may look for a proxy; neither may touch the network.
    "--no-proxy-server",
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
)

PHONE = (375, 740)
DESKTOP = (1280, 800)


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or ``None`` if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
        return (
            f"no Chromium at {path} (apt-get install chromium, or set {CHROMIUM_ENV} "
            "to a Chromium executable)"
        )
    return None


@dataclass
class Visit:
    """A page opened by :func:`open_page` and everything it did."""

    page: Page
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for (documents, images, styles, fonts, fetches)."""
    sockets: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    """alert/confirm/prompt messages: script ran."""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    """Uncaught exceptions: script ran and failed."""

    @property
    def off_machine(self) -> list[str]:
        """Requests addressed anywhere but 127.0.0.1 (data: and blob: never leave)."""
        return [u for u in self.requests + self.sockets if not is_local(u)]


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname == LOOPBACK


class Chromium:
    """Chromium, started on first use and kept for every browser test after it.

    While Playwright's sync API is up it marks an asyncio loop as running in the main
    thread, so ``asyncio.run`` (which the fetch tests use) refuses to start. Hence the
    browser tests run last (``pytest_collection_modifyitems``) and, should another
    test follow one anyway (``-p randomly``, ``--lf``), the browser is stopped first.
    """

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def get(self) -> Browser:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(
                    executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS)
                )
            except BaseException:
                self.stop()
                raise
        return self._browser

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last, in their collected order, so Chromium is launched once."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    manager = Chromium()
    yield manager
    manager.stop()


@pytest.fixture(autouse=True)
def _no_browser_outside_browser_tests(request: pytest.FixtureRequest, chromium: Chromium) -> None:
    if "browser" not in request.fixturenames:
        chromium.stop()


@pytest.fixture
def browser(chromium: Chromium) -> Browser:
    """The session's Chromium; skipped with the reason where there is none, a failure
    instead under ``AGGREGATOR_REQUIRE_BROWSER``."""
    reason = unavailable()
    if reason:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"a browser is required here ({REQUIRE_ENV}): {reason}")
        pytest.skip(reason)
    return chromium.get()


OpenPage = Callable[..., Visit]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """``open_page(url, width=, height=)``: the page at ``url`` in a new context,
    loaded, with its requests, dialogs and errors being recorded."""
    contexts = []

    def open_(url: str, *, width: int = DESKTOP[0], height: int = DESKTOP[1]) -> Visit:
        context = browser.new_context(
            viewport={"width": width, "height": height}, service_workers="block"
        )
        contexts.append(context)
        page = context.new_page()
        visit = Visit(page)

        def guard(route: Route) -> None:
            if is_local(route.request.url):
                route.continue_()
            else:
                route.abort("blockedbyclient")

        context.route("**/*", guard)
        page.on("request", lambda r: visit.requests.append(r.url))
        page.on("websocket", lambda ws: visit.sockets.append(ws.url))
        page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
        page.on(
            "console",
            lambda m: visit.console_errors.append(m.text) if m.type == "error" else None,
        )

        def dialog(d: Dialog) -> None:
            visit.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(url, wait_until="load")
        return visit

    yield open_
    for context in contexts:
        context.close()
