"""The public side in-process: every digest format at its published address, the
feed, the embeds and oEmbed with their discovery links, caching headers, and 404s
that say what is missing."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from aggregator.demo.run import SLUG
from tests.web_support import BASE, client, site

DAY = "2026-11-20"
FORMATS = {
    f"{DAY}.html": "text/html; charset=utf-8",
    f"{DAY}.paste.html": "text/html; charset=utf-8",
    f"{DAY}.md": "text/markdown; charset=utf-8",
    f"{DAY}.json": "application/json",
    f"{DAY}.email.html": "text/html; charset=utf-8",
    f"{DAY}.txt": "text/plain; charset=utf-8",
    "event.html": "text/html; charset=utf-8",
    "event.json": "application/json",
    f"embed/{DAY}.html": "text/html; charset=utf-8",
    "embed.html": "text/html; charset=utf-8",
    "digests.atom": "application/atom+xml",
}


@pytest.fixture(scope="module")
def responses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Each public address of the fetched sample event, asked once (two days after it)."""
    with site(tmp_path_factory.mktemp("public")) as s:
        asyncio.run(s.app.fetch())
        s.clock.advance(days=3)

        async def go() -> dict[str, object]:
            out: dict[str, object] = {}
            async with client(s.web) as c:
                for name in FORMATS:
                    out[name] = await c.get(f"/{SLUG}/{name}")
                out["index"] = await c.get("/")
                out["home"] = await c.get(f"/{SLUG}/")
                etag = out[f"{DAY}.html"].headers["etag"]  # type: ignore[attr-defined]
                out["304"] = await c.get(f"/{SLUG}/{DAY}.html", headers={"if-none-match": etag})
                out["future"] = await c.get(f"/{SLUG}/2026-12-30.html")
                out["nonsense"] = await c.get(f"/{SLUG}/yesterday.html")
                out["unknown format"] = await c.get(f"/{SLUG}/{DAY}.docx")
                out["no event"] = await c.get("/nothing-here/", headers={"accept": "text/html"})
                embed = f"{BASE}/{SLUG}/embed/{DAY}.html"
                out["oembed"] = await c.get("/oembed", params={"url": embed})
                out["oembed small"] = await c.get(
                    "/oembed", params={"url": embed, "maxwidth": 300, "maxheight": 200}
                )
                out["oembed xml"] = await c.get("/oembed", params={"url": embed, "format": "xml"})
                out["oembed page"] = await c.get(
                    "/oembed", params={"url": f"{BASE}/{SLUG}/{DAY}.html"}
                )
                out["oembed elsewhere"] = await c.get(
                    "/oembed", params={"url": "https://evil.example/x/2026-11-20.html"}
                )
            return out

        return asyncio.run(go())


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_is_served_where_it_is_published(
    responses: dict[str, object], name: str
) -> None:
    r = responses[name]
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == FORMATS[name]  # type: ignore[attr-defined]
    assert r.headers["cache-control"] == "public, max-age=0, must-revalidate"  # type: ignore[attr-defined]
    assert re.fullmatch(r'"[0-9a-f]{32}(-gzip)?"', r.headers["etag"])  # type: ignore[attr-defined]


def test_a_current_etag_gets_a_304_without_a_body(responses: dict[str, object]) -> None:
    r = responses["304"]
    assert r.status_code == 304  # type: ignore[attr-defined]
    assert r.content == b""  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [f"{DAY}.html", f"embed/{DAY}.html", "embed.html"])
def test_pages_and_embeds_advertise_their_oembed_and_feed(
    responses: dict[str, object], name: str
) -> None:
    html = responses[name].text  # type: ignore[attr-defined]
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', html)
    assert link
    query = parse_qs(urlsplit(unescape(link.group(1))).query)
    embed = f"embed/{DAY}.html" if DAY in name else "embed.html"
    assert query == {"url": [f"{BASE}/{SLUG}/{embed}"], "format": ["json"]}
    assert f'type="application/atom+xml" href="{BASE}/{SLUG}/digests.atom"' in html


def test_oembed_answers_for_an_embed_within_the_bounds_asked(
    responses: dict[str, object],
) -> None:
    full = responses["oembed"].json()  # type: ignore[attr-defined]
    assert full["type"] == "rich"
    assert full["version"] == "1.0"
    assert f'src="{BASE}/{SLUG}/embed/{DAY}.html"' in full["html"]
    small = responses["oembed small"].json()  # type: ignore[attr-defined]
    assert (small["width"], small["height"]) == (300, 200)
    assert 'width="300" height="200"' in small["html"]
    # A page's address gives the same embed as the embed's own.
    assert responses["oembed page"].json() == full  # type: ignore[attr-defined]
    assert responses["oembed xml"].status_code == 501  # type: ignore[attr-defined]
    assert responses["oembed elsewhere"].status_code == 404  # type: ignore[attr-defined]


def test_the_feed_lists_the_days_that_are_over(responses: dict[str, object]) -> None:
    feed = ElementTree.fromstring(responses["digests.atom"].content)  # type: ignore[attr-defined]
    ns = {"a": "http://www.w3.org/2005/Atom"}
    links = [e.find("a:link", ns).get("href") for e in feed.findall("a:entry", ns)]  # type: ignore[union-attr]
    assert f"{BASE}/{SLUG}/{DAY}.html" in links


def test_missing_things_are_404s_that_say_what_is_missing(responses: dict[str, object]) -> None:
    assert responses["future"].status_code == 404  # type: ignore[attr-defined]
    assert "has no digest for 2026-12-30" in responses["future"].text  # type: ignore[attr-defined]
    assert responses["nonsense"].status_code == 404  # type: ignore[attr-defined]
    assert responses["unknown format"].status_code == 404  # type: ignore[attr-defined]
    page = responses["no event"]
    assert page.status_code == 404  # type: ignore[attr-defined]
    assert "no event 'nothing-here'" in unescape(page.text)  # type: ignore[attr-defined]
    assert page.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]


def test_the_index_and_the_event_page_link_every_day(responses: dict[str, object]) -> None:
    assert f'href="/{SLUG}/"' in responses["index"].text  # type: ignore[attr-defined]
    home = responses["home"].text  # type: ignore[attr-defined]
    for day in ("2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"):
        assert f'href="/{SLUG}/{day}.html"' in home
    assert f'href="/{SLUG}/digests.atom"' in home


def test_a_rendered_page_is_reused_until_the_admin_changes_its_event(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        calls = []
        original = s.web.state.web.env.get_template

        async def go() -> None:
            async with client(s.web) as c:
                first = await c.get(f"/{SLUG}/{DAY}.html")
                # New items arrive (another process, say): the cached page stands
                # until it expires or the event changes here.
                await s.app.fetch()
                assert (await c.get(f"/{SLUG}/{DAY}.html")).text == first.text
                s.web.state.web.cache.invalidate(SLUG)
                assert (await c.get(f"/{SLUG}/{DAY}.html")).text != first.text

        asyncio.run(go())
        assert calls == []
        assert original is not None


def test_pages_go_compressed_to_those_who_take_it_with_their_own_etag(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        asyncio.run(s.app.fetch())

        async def go() -> None:
            async with client(s.web) as c:
                plain = await c.get(f"/{SLUG}/{DAY}.html", headers={"accept-encoding": "identity"})
                packed = await c.get(f"/{SLUG}/{DAY}.html", headers={"accept-encoding": "gzip"})
                assert "content-encoding" not in plain.headers
                assert packed.headers["content-encoding"] == "gzip"
                assert plain.headers["vary"] == packed.headers["vary"] == "Accept-Encoding"
                assert packed.text == plain.text  # httpx decodes it
                assert int(packed.headers["content-length"]) < len(plain.content) / 2
                assert packed.headers["etag"] != plain.headers["etag"]
                again = await c.get(
                    f"/{SLUG}/{DAY}.html",
                    headers={"accept-encoding": "gzip", "if-none-match": packed.headers["etag"]},
                )
                assert again.status_code == 304

        asyncio.run(go())


def test_the_page_cache_keeps_a_bounded_number_of_pages() -> None:
    from aggregator.web.pages import PageCache, page

    now = [0.0]
    cache = PageCache(ttl=60, clock=lambda: now[0], limit=3)

    async def fill() -> None:
        for n in range(5):
            await cache.get("ev", n, lambda n=n: page(f"page {n}", "text/plain"))

    asyncio.run(fill())
    assert [k for _, k in cache._pages] == [2, 3, 4]
    now[0] = 61.0
    asyncio.run(cache.get("ev", 9, lambda: page("late", "text/plain")))
    # Over the limit again: the expired go first.
    assert [k for _, k in cache._pages] == [9]
    assert cache._locks == {}
