"""Every page of the web app is well-formed HTML5 with the basics of accessible
markup: one h1, unique ids, every label and reference pointing at something, every
form field labelled."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from aggregator.demo.run import SLUG
from tests.test_digest_html_valid import parse
from tests.web_support import client, sign_in, site

DAY = "2026-11-20"
PUBLIC = ["/", f"/{SLUG}/", "/admin/login", "/nope/"]
ADMIN = [
    "/admin/",
    "/admin/events/new",
    f"/admin/events/{SLUG}",
    f"/admin/events/{SLUG}/moderation?day={DAY}",
    f"/admin/events/{SLUG}/embed",
    f"/admin/events/{SLUG}/embed?day={DAY}",
    "/admin/optouts",
]


def test_every_page_is_valid_and_labelled(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        asyncio.run(s.app.fetch())

        async def pages() -> dict[str, str]:
            out = {}
            async with client(s.web) as c:
                for path in PUBLIC:
                    out[path] = (await c.get(path, headers={"accept": "text/html"})).text
                await sign_in(c)
                for path in ADMIN:
                    r = await c.get(path)
                    assert r.status_code == 200, path
                    out[path] = r.text
            return out

        for path, text in asyncio.run(pages()).items():
            tree, errors = parse(text)
            assert errors == [], path
            assert len(tree.findall(".//h1")) == 1, path
            ids = Counter(el.get("id") for el in tree.iter() if el.get("id") is not None)
            assert [i for i, n in ids.items() if n > 1] == [], path
            for el in tree.iter():
                for attr in ("for", "aria-labelledby", "aria-describedby"):
                    for ref in (el.get(attr) or "").split():
                        assert ref in ids, (path, attr, ref)
            labelled = {el.get("for") for el in tree.iter("label")}
            for field in [*tree.iter("input"), *tree.iter("select"), *tree.iter("textarea")]:
                if field.get("type") in ("hidden", "submit", "button"):
                    continue
                inside_label = any(field in list(label.iter()) for label in tree.iter("label"))
                assert (
                    field.get("id") in labelled
                    or inside_label
                    or field.get("aria-labelledby")
                    or field.get("aria-label")
                ), (path, field.get("name"))
