"""The admin, driven in-process through httpx's ASGI transport: who may use it, what a
form refuses and why, and that what an organiser changes reaches collection and the
public pages without a restart."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from aggregator.config import load_settings
from aggregator.demo.run import SERVERS, SLUG
from aggregator.store.schema import AdminSession
from aggregator.web import admin, admin_curation, admin_events
from aggregator.web.auth import COOKIE
from tests.web_support import ADMIN, PASSWORD, client, csrf, hidden, sign_in, site

DAY = "2026-11-20"


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def _mastodon(sample_urls: dict[str, str]) -> str:
    return sample_urls[SERVERS[0]]


def test_every_admin_route_refuses_an_anonymous_request(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        routers = [admin.entry, admin.router, admin_events.router, admin_curation.router]
        routes = [
            (method, r.path)
            for router in routers
            for r in router.routes
            if isinstance(r, APIRoute)
            for method in sorted(r.methods)
        ]
        assert all(path.startswith("/admin/") for _, path in routes)
        open_routes = {
            ("GET", "/admin/login"),
            ("POST", "/admin/login"),
            ("GET", "/admin/static/{name}"),
        }
        guarded = [r for r in routes if r not in open_routes]
        assert len(guarded) >= 15

        async def go() -> None:
            async with client(s.web) as c:
                for method, path in guarded:
                    url = path.replace("{slug}", SLUG)
                    r = await c.request(
                        method, url, data={"csrf": "x"} if method == "POST" else None
                    )
                    if method == "GET":
                        assert r.status_code == 303, (method, path, r.status_code)
                        assert r.headers["location"].startswith("/admin/login?next=")
                    else:
                        assert r.status_code == 403, (method, path, r.status_code)
                # A forged or stale cookie is nobody.
                c.cookies.set(COOKIE, "not-a-session")
                assert (await c.get("/admin/")).status_code == 303

        run(go())


def test_sign_in_then_out(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                first = await c.get("/admin/events/new")
                assert first.status_code == 303
                form = await c.get(first.headers["location"])
                token = hidden(form.text, "token")
                nxt = unquote(first.headers["location"].split("next=")[1])
                r = await c.post(
                    "/admin/login",
                    data={"username": ADMIN, "password": PASSWORD, "token": token, "next": nxt},
                )
                assert r.status_code == 303
                assert r.headers["location"] == "/admin/events/new"
                cookie = r.headers["set-cookie"]
                assert "HttpOnly" in cookie
                assert "SameSite=lax" in cookie.replace("Lax", "lax")
                # The database keeps the token's hash, never the token.
                with s.app.store.engine.connect() as conn:
                    stored = list(conn.execute(select(AdminSession.token_hash)).scalars())
                assert stored == [hashlib.sha256(c.cookies[COOKIE].encode()).hexdigest()]
                assert (await c.get("/admin/events/new")).status_code == 200
                token = await csrf(c)
                r = await c.post("/admin/logout", data={"csrf": token})
                assert r.status_code == 303
                assert (await c.get("/admin/")).status_code == 303

        run(go())


def test_sign_in_never_redirects_off_the_admin(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                form = await c.get("/admin/login")
                r = await c.post(
                    "/admin/login",
                    data={
                        "username": ADMIN,
                        "password": PASSWORD,
                        "token": hidden(form.text, "token"),
                        "next": "https://evil.example/admin/",
                    },
                )
                assert r.headers["location"] == "/admin/"

        run(go())


def test_the_sign_in_form_needs_its_own_token(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                r = await c.post(
                    "/admin/login",
                    data={"username": ADMIN, "password": PASSWORD, "token": "guessed"},
                )
                assert r.status_code == 403
                assert COOKIE not in c.cookies

        run(go())


def test_failed_sign_ins_are_rate_limited_per_account(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                for _ in range(5):
                    r = await sign_in(c, password="wrong password!!")
                    assert r.status_code == 401
                    assert "Wrong name or password" in r.text
                # Now even the right password is refused, with when to come back.
                r = await sign_in(c)
                assert r.status_code == 429
                assert int(r.headers["retry-after"]) == 15 * 60
                assert COOKIE not in c.cookies
                s.clock.advance(minutes=16)
                r = await sign_in(c)
                assert r.status_code == 303
                assert COOKIE in c.cookies

        run(go())


def test_an_unknown_account_fails_like_a_wrong_password(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                form = await c.get("/admin/login")
                r = await c.post(
                    "/admin/login",
                    data={
                        "username": "nobody",
                        "password": PASSWORD,
                        "token": hidden(form.text, "token"),
                    },
                )
                assert r.status_code == 401
                assert "Wrong name or password" in r.text

        run(go())


def test_a_form_without_this_sessions_csrf_token_is_refused(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                data = {
                    "slug": "forged",
                    "title": "Forged",
                    "hashtags": "forged",
                    "starts": DAY,
                    "ends": DAY,
                }
                for token in (None, "", "x" * 43):
                    form = dict(data, csrf=token) if token is not None else data
                    r = await c.post("/admin/events", data=form)
                    assert r.status_code == 403
                assert s.app.store.event("forged") is None
                # Another admin's token is not this session's.
                other = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=s.web), base_url="http://testserver"
                )
                async with other:
                    await sign_in(other)
                    theirs = await csrf(other)
                r = await c.post("/admin/events", data=dict(data, csrf=theirs))
                assert r.status_code == 403
                r = await c.post("/admin/events", data=dict(data, csrf=await csrf(c)))
                assert r.status_code == 303
                assert s.app.store.event("forged") is not None

        run(go())


def test_event_form_explains_what_is_wrong(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                r = await c.post(
                    "/admin/events",
                    data={
                        "csrf": await csrf(c),
                        "slug": "Bad Slug",
                        "title": "",
                        "hashtags": "#co-pro",
                        "timezone": "Mars/Olympus",
                        "starts": DAY,
                        "ends": DAY,
                    },
                )
                assert r.status_code == 400
                alerts = re.findall(r'<p class="error" role="alert">([^<]*)</p>', r.text)
                text = " | ".join(alerts)
                assert "Short name: use 1-63 characters a-z" in text
                assert "Title: is required" in text
                assert "is not a hashtag" in text
                assert "is not an IANA time zone" in text
                r = await c.post(
                    "/admin/events",
                    data={
                        "csrf": await csrf(c),
                        "slug": "later",
                        "title": "Later",
                        "hashtags": "x",
                        "starts": "2026-11-22",
                        "ends": "2026-11-21",
                    },
                )
                assert r.status_code == 400
                assert "is before starts" in r.text
                r = await c.post(
                    "/admin/events",
                    data={
                        "csrf": await csrf(c),
                        "slug": SLUG,
                        "title": "Taken",
                        "hashtags": "x",
                        "starts": DAY,
                        "ends": DAY,
                    },
                )
                assert r.status_code == 409
                assert "is taken" in r.text

        run(go())


def test_an_event_the_file_manages_is_read_only_in_the_admin(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                page = await c.get(f"/admin/events/{SLUG}")
                assert "The configuration file manages this event" in page.text
                r = await c.post(
                    f"/admin/events/{SLUG}",
                    data={
                        "csrf": hidden(page.text, "csrf"),
                        "title": "Renamed",
                        "hashtags": "other",
                        "starts": DAY,
                        "ends": DAY,
                    },
                )
                assert r.status_code == 409
                event = s.app.store.event(SLUG)
                assert event is not None
                assert event.title != "Renamed"

        run(go())


def test_a_source_added_in_the_admin_is_collected_without_a_restart(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        instance = _mastodon(s.sample.urls)

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                token = await csrf(c)
                r = await c.post(
                    "/admin/events",
                    data={
                        "csrf": token,
                        "slug": "second",
                        "title": "Second launch",
                        "hashtags": "nothing-here-yet".replace("-", ""),
                        "timezone": "Europe/London",
                        "starts": DAY,
                        "ends": "2026-11-22",
                        "lookback_days": "1",
                    },
                )
                assert r.status_code == 303
                bad = await c.post(
                    "/admin/events/second/sources",
                    data={"csrf": token, "platform": "mastodon", "instance": "mastodon.social"},
                )
                assert bad.status_code == 400
                assert "must be an http(s) URL" in bad.text
                unknown = await c.post(
                    "/admin/events/second/sources",
                    data={"csrf": token, "platform": "myspace"},
                )
                assert unknown.status_code == 400
                assert "is not one of" in unknown.text
                r = await c.post(
                    "/admin/events/second/sources",
                    data={"csrf": token, "platform": "mastodon", "instance": instance},
                )
                assert r.status_code == 303
                # The hashtag the event follows is edited afterwards: the source follows.
                r = await c.post(
                    "/admin/events/second",
                    data={
                        "csrf": token,
                        "title": "Second launch",
                        "hashtags": "#coproduction",
                        "timezone": "Europe/London",
                        "starts": DAY,
                        "ends": "2026-11-22",
                        "lookback_days": "1",
                    },
                )
                assert r.status_code == 303

        run(go())
        # The collector's next pass (a running `aggregator run`, here run once) sees it.
        reports = asyncio.run(s.app.fetch(event="second"))
        assert [r.error for r in reports] == [None]
        assert reports[0].counts.new > 0
        assert s.app.store.counts("second")["items"] == reports[0].counts.new


def test_fetch_now_collects_and_the_public_page_shows_it(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        source = f"{SLUG}/mastodon:{s.sample.urls[SERVERS[0]].split('//')[1]}"

        async def go() -> None:
            async with client(s.web) as c:
                before = await c.get(f"/{SLUG}/{DAY}.html")
                assert before.status_code == 200
                await sign_in(c)
                r = await c.post(
                    "/admin/sources/fetch",
                    data={"csrf": await csrf(c), "source_id": source, "back": "/admin/"},
                )
                assert r.status_code == 303
                message = unquote(r.headers["location"])
                assert re.search(r"fetched \d+: [1-9]\d* new", message), message
                after = await c.get(f"/{SLUG}/{DAY}.html")
                assert after.text != before.text
                assert after.headers["etag"] != before.headers["etag"]
                # A worker holding the source's lease keeps it.
                s.app.store.claim_source(
                    source, "other-worker", now=s.clock(), lease=timedelta(minutes=5)
                )
                r = await c.post(
                    "/admin/sources/fetch",
                    data={"csrf": await csrf(c), "source_id": source, "back": "/admin/"},
                )
                assert "being fetched by a worker" in unquote(r.headers["location"])

        run(go())


def test_hiding_an_item_changes_the_public_page_and_embed_at_once(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        asyncio.run(s.app.fetch())

        async def go() -> None:
            async with client(s.web) as c:
                page = (await c.get(f"/{SLUG}/{DAY}.html")).text
                embed = (await c.get(f"/{SLUG}/embed/{DAY}.html")).text
                await sign_in(c)
                mod = await c.get(f"/admin/events/{SLUG}/moderation?day={DAY}")
                keys = re.findall(r'<tr data-item="([^"]+)"', mod.text)
                assert keys
                views = s.app.store.items(SLUG)
                target = next(v.item for v in views if v.item.key == keys[0])
                snippet = target.text[:40]
                assert snippet in page
                r = await c.post(
                    f"/admin/events/{SLUG}/moderate",
                    data={
                        "csrf": hidden(mod.text, "csrf"),
                        "target_kind": "item",
                        "target": target.key,
                        "action": "hide",
                        "reason": "off topic",
                    },
                )
                assert r.status_code == 303
                assert snippet not in (await c.get(f"/{SLUG}/{DAY}.html")).text
                assert (await c.get(f"/{SLUG}/embed/{DAY}.html")).text != embed
                log = s.app.store.moderation_log(SLUG)
                assert [(e.action, e.decided_by, e.reason) for e in log] == [
                    ("hide", ADMIN, "off topic")
                ]
                bad = await c.post(
                    f"/admin/events/{SLUG}/moderate",
                    data={
                        "csrf": hidden(mod.text, "csrf"),
                        "target_kind": "item",
                        "target": target.key,
                        "action": "delete-everything",
                    },
                )
                assert bad.status_code == 400

        run(go())


def test_a_closed_event_is_not_collected_and_reopens(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go(action: str) -> None:
            async with client(s.web) as c:
                await sign_in(c)
                r = await c.post(f"/admin/events/{SLUG}/{action}", data={"csrf": await csrf(c)})
                assert r.status_code == 303

        run(go("close"))
        assert s.app.store.claim_due("w", now=s.clock(), limit=10, lease=timedelta(minutes=1)) == []
        assert asyncio.run(s.app.fetch()) == []
        run(go("reopen"))
        claimed = s.app.store.claim_due("w", now=s.clock(), limit=10, lease=timedelta(minutes=1))
        assert {c.spec.id for c in claimed} == s.sample.source_ids


def test_the_exported_configuration_loads_and_holds_the_admins_events(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        instance = _mastodon(s.sample.urls)

        async def go() -> str:
            async with client(s.web) as c:
                await sign_in(c)
                token = await csrf(c)
                await c.post(
                    "/admin/events",
                    data={
                        "csrf": token,
                        "slug": "second",
                        "title": "Second launch",
                        "hashtags": "coproduction carers",
                        "timezone": "Europe/Paris",
                        "starts": DAY,
                        "ends": DAY,
                    },
                )
                await c.post(
                    "/admin/events/second/sources",
                    data={"csrf": token, "platform": "mastodon", "instance": instance},
                )
                r = await c.get("/admin/config.toml")
                assert r.status_code == 200
                assert "attachment" in r.headers["content-disposition"]
                return r.text

        text = run_text(go())
        path = tmp_path / "exported.toml"
        path.write_text(text, "utf-8")
        settings = load_settings(path, env={})
        events = {e.slug: e for e in settings.events}
        assert set(events) == {SLUG, "second"}
        second = events["second"]
        assert second.hashtags == ("coproduction", "carers")
        assert second.timezone == "Europe/Paris"
        assert [dict(src.model_extra or {}) for src in second.sources] == [{"instance": instance}]
        assert len(events[SLUG].sources) == len(s.sample.urls)
        assert tomllib.loads(text)["database"]["url"].startswith("sqlite:///")


def run_text(coro: object) -> str:
    return asyncio.run(coro)  # type: ignore[arg-type,no-any-return]


@pytest.mark.parametrize(
    ("path", "framable"),
    [
        (f"/{SLUG}/embed/{DAY}.html", True),
        (f"/{SLUG}/embed.html", True),
        (f"/{SLUG}/{DAY}.html", False),
        ("/", False),
        ("/admin/login", False),
    ],
)
def test_only_embeds_may_be_framed(tmp_path: Path, path: str, framable: bool) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                r = await c.get(path)
                assert r.status_code == 200
                policy = r.headers["content-security-policy"]
                if framable:
                    assert "frame-ancestors *" in policy
                    assert "x-frame-options" not in r.headers
                    assert "default-src 'none'" in policy
                else:
                    assert "frame-ancestors 'none'" in policy
                    assert r.headers["x-frame-options"] == "DENY"
                if path.startswith("/admin"):
                    assert r.headers["cache-control"] == "no-store"

        run(go())


def test_an_admin_event_gets_its_daily_digest_like_a_file_event(tmp_path: Path) -> None:
    from aggregator.deliver.jobs import deliver_due
    from aggregator.store import EventRecord

    with site(tmp_path) as s:
        s.app.store.save_admin_event(
            EventRecord(
                "second",
                "Second",
                ("carers",),
                "Europe/London",
                date(2026, 11, 20),
                date(2026, 11, 20),
                0,
            ),
            consent=None,
            now=s.clock(),
        )
        s.clock.advance(hours=20)  # 08:00 the next morning in London: yesterday is due
        outcomes = deliver_due(s.app, "w", channels=["archive"])
        assert {(o.event, o.day.isoformat(), o.status) for o in outcomes} >= {
            ("second", DAY, "sent")
        }
        assert (tmp_path / "second" / f"{DAY}.html").is_file()
        s.app.store.set_closed(SLUG, s.clock())
        s.clock.advance(days=1)
        assert SLUG not in {o.event for o in deliver_due(s.app, "w", channels=["archive"])}


def test_an_admin_events_consent_rules_are_edited_in_the_admin(tmp_path: Path) -> None:
    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                token = await csrf(c)
                event = {
                    "csrf": token,
                    "slug": "second",
                    "title": "Second",
                    "hashtags": "carers",
                    "timezone": "UTC",
                    "starts": DAY,
                    "ends": DAY,
                }
                assert (await c.post("/admin/events", data=event)).status_code == 303
                page = await c.get("/admin/events/second")
                # The defaults, as the file has them: respectful.
                assert re.search(r'name="respect_noindex" checked', page.text)
                assert not re.search(r'name="require_indexable" checked', page.text)
                edit = {k: v for k, v in event.items() if k != "slug"}
                r = await c.post(
                    "/admin/events/second",
                    data={
                        **edit,
                        "consent_form": "1",
                        "respect_noindex": "on",
                        "require_indexable": "on",
                        "optout_tags": "#nobot nocollect",
                    },
                )
                assert r.status_code == 303
                policy = s.app.consents()["second"]
                assert policy.require_indexable
                assert policy.respect_noindex
                assert not policy.allow_unlisted
                assert policy.optout_tags == ("nobot", "nocollect")
                # A form without the fieldset leaves the rules alone.
                assert (await c.post("/admin/events/second", data=edit)).status_code == 303
                assert s.app.consents()["second"] == policy

        run(go())


def test_the_moderation_page_lists_the_latest_and_finds_by_words(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        asyncio.run(s.app.fetch())
        views = sorted(
            (v for v in s.app.store.items(SLUG) if v.item.created_at.date().isoformat() == DAY),
            key=lambda v: v.item.created_at,
        )
        first = views[0].item

        async def go() -> None:
            async with client(s.web) as c:
                await sign_in(c)
                page = await c.get(f"/admin/events/{SLUG}/moderation?day={DAY}")
                listed = re.findall(r'<tr data-item="([^"]+)"', page.text)
                assert listed[0] == views[-1].item.key  # newest first
                assert f"{len(listed)} items" in page.text
                word = first.text.split()[0]
                found = await c.get(
                    f"/admin/events/{SLUG}/moderation", params={"day": DAY, "q": word}
                )
                keys = re.findall(r'<tr data-item="([^"]+)"', found.text)
                assert first.key in keys
                assert all(
                    word.casefold() in v.item.text.casefold() or v.item.key not in keys
                    for v in views
                )
                # A hidden item stays listed, to be shown again.
                await c.post(
                    f"/admin/events/{SLUG}/moderate",
                    data={
                        "csrf": hidden(page.text, "csrf"),
                        "target_kind": "item",
                        "target": first.key,
                        "action": "hide",
                    },
                )
                again = await c.get(f"/admin/events/{SLUG}/moderation?day={DAY}")
                assert first.key in again.text

        run(go())
