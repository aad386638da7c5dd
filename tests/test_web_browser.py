"""The web app in Debian's Chromium, served by uvicorn on loopback: an organiser signs
in, creates an event, adds a hashtag and a Mastodon source, fetches it now from a
loopback Mastodon, hides a post, and sees the public page and the embed change; the
hostile post the server also sent runs nothing anywhere; a blogger copies the embed
code; the embed shows inside another site's frame.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from aggregator.demo.httpserver import LoopbackServer, Request, Response
from aggregator.demo.mastodon_sim import make_account
from aggregator.demo.run import SERVERS
from aggregator.web.auth import COOKIE
from tests.browser import PHONE, OpenPage, Visit
from tests.web_support import ADMIN, PASSWORD, Site, site

DAY = "2026-11-20"
CANARY = "window.__pwned=1"
HOSTILE = (
    f'<p onmouseover="{CANARY}">Hostile #coproduction <script>{CANARY}</script>'
    f'<img src="https://evil.example/x.png" onerror="{CANARY}">'
    f'<a href="javascript:{CANARY}">click me</a>'
    f'<iframe src="https://evil.example/"></iframe></p>'
)


@contextmanager
def served(s: Site) -> Iterator[str]:
    """uvicorn in a thread of its own (its own event loop: Playwright's sync API holds
    the main thread's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(s.web, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def harmless(visit: Visit) -> None:
    page = visit.page
    for element in page.query_selector_all("a, p, li, td, summary"):
        if element.is_visible():
            element.hover(timeout=2000)
    assert visit.dialogs == []
    assert visit.page_errors == []
    assert page.evaluate("window.__pwned") is None
    assert visit.off_machine == []


def test_an_organiser_adds_a_source_fetches_hides_and_the_public_side_follows(
    tmp_path: Path, open_page: OpenPage
) -> None:
    with site(tmp_path) as s:
        instance = s.sample.urls[SERVERS[0]]
        sim = s.sample.mastodon[SERVERS[0]]
        # The event's first hashtag is new: current Mastodon answers [] for it.
        sim.unknown_tag = "empty"
        mallory = make_account("mallory", domain=SERVERS[0], display_name="Mallory")
        sim.post(
            HOSTILE,
            account=mallory,
            tags=["coproduction"],
            at=datetime(2026, 11, 20, 15, tzinfo=UTC),
        )
        with served(s) as base:
            visit = open_page(f"{base}/admin/")
            page = visit.page
            # Anonymous: sent to sign in, and back afterwards.
            assert "/admin/login" in page.url
            page.get_by_label("Name").fill(ADMIN)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/admin/")
            cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
            assert cookie["httpOnly"]

            page.get_by_role("link", name="New event").click()
            page.get_by_label("Short name").fill("open-day")
            page.get_by_label("Title").fill("Open day")
            page.get_by_label("Hashtags").fill("opendaytbc")
            page.get_by_label("Time zone").fill("Europe/London")
            page.get_by_label("First day").fill(DAY)
            page.get_by_label("Last day").fill("2026-11-21")
            page.get_by_role("button", name="Create event").click()
            page.wait_for_url(re.compile(r"/admin/events/open-day"))
            assert "created" in page.get_by_role("status").inner_text()

            # Add the hashtag the conversation uses.
            page.get_by_label("Hashtags").fill("#opendaytbc #coproduction")
            page.get_by_role("button", name="Save").click()
            assert "Saved" in page.get_by_role("status").inner_text()

            # A Mastodon server: a wrong address first, explained, then the right one.
            page.locator("summary", has_text="mastodon:").click()
            form = page.get_by_role("form", name="Add a mastodon source")
            form.get_by_label("instance").fill("mastodon.social")
            form.get_by_role("button").click()
            assert "must be an http(s) URL" in page.get_by_role("alert").first.inner_text()
            form = page.get_by_role("form", name="Add a mastodon source")
            form.get_by_label("instance").fill(instance)
            form.get_by_role("button").click()
            assert "Added" in page.get_by_role("status").inner_text()

            source = f"open-day/mastodon:{instance.split('//')[1]}"
            page.get_by_role("button", name=f"Fetch {source} now").click()
            status = page.get_by_role("status").inner_text()
            assert re.search(r"fetched \d+: [1-9]\d* new", status), status

            public = open_page(f"{base}/open-day/{DAY}.html")
            embed = open_page(f"{base}/open-day/embed/{DAY}.html")
            assert "Mallory" in public.page.content()
            harmless(public)
            harmless(embed)
            # The post to hide: the first one the moderation page lists that is not
            # Mallory's, as a reader would see it.
            page.goto(f"{base}/admin/events/open-day/moderation?day={DAY}")
            harmless(visit)
            rows = page.locator("tr[data-item]")
            assert rows.count() >= 2
            row = rows.filter(has_not_text="Mallory").first
            words = row.locator("td").first.inner_text().split("\n")[1][:30]
            assert words in public.page.inner_text("body")
            before_embed = embed.page.inner_text("body")
            row.get_by_role("button", name="Hide", exact=True).click()
            assert "Done: hide item" in page.get_by_role("status").inner_text()

            public.page.reload()
            embed.page.reload()
            assert words not in public.page.inner_text("body")
            assert embed.page.inner_text("body") != before_embed

            # A blogger's copy of the embed code.
            page.goto(f"{base}/admin/events/open-day/embed?day={DAY}")
            page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            page.locator('button[data-copy="code-oembed"]').click()
            page.wait_for_selector('[data-copied="code-oembed"]:has-text("Copied.")')
            copied = page.evaluate("navigator.clipboard.readText()")
            assert copied == f"{base}/open-day/embed/{DAY}.html"
            iframe = page.locator("#code-iframe").input_value()
            assert f'src="{base}/open-day/embed/{DAY}.html"' in iframe


def test_the_embed_shows_inside_another_sites_frame_and_pages_do_not(
    tmp_path: Path, open_page: OpenPage
) -> None:
    with site(tmp_path) as s, served(s) as base:
        frames = {
            "embed": f"{base}/copro-launch/embed/{DAY}.html",
            "page": f"{base}/copro-launch/{DAY}.html",
        }
        blog = "".join(f'<iframe name="{k}" src="{v}"></iframe>' for k, v in frames.items())

        def blog_page(request: Request) -> Response:
            return Response(200, {"Content-Type": "text/html"}, blog.encode())

        # Another origin (another port): a blog embedding the roundup.
        with LoopbackServer(blog_page) as other:
            visit = open_page(other.base_url + "/")
            visit.page.wait_for_load_state("load")
            embedded = visit.page.frame(name="embed")
            assert embedded is not None
            assert "Coproduction resources launch" in embedded.inner_text("body")
            refused = visit.page.frame(name="page")
            body = refused.inner_text("body") if refused is not None else ""
            assert "Coproduction resources launch" not in body
            assert visit.off_machine == []


def test_public_pages_read_on_a_phone(tmp_path: Path, open_page: OpenPage) -> None:
    with site(tmp_path) as s, served(s) as base:
        for path in ("/", "/copro-launch/", "/admin/login"):
            visit = open_page(base + path, width=PHONE[0], height=PHONE[1])
            width = visit.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE[0], (path, width)
            assert visit.page_errors == []
            assert visit.off_machine == []


@pytest.fixture(autouse=True)
def _browser_marker(browser: object) -> None:
    """Every test here needs the browser (and runs with the other browser tests)."""
