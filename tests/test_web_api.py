"""The public JSON API (/api/v1), on SQLite and PostgreSQL, driven in-process through
httpx's ASGI transport: it lists what a reader of the public pages may see and nothing
the organisers hid; items page by keyset, each exactly once, however many sources found
them and however many share a time; digests are the ``json`` format with ETags; errors
are JSON; any origin may read it; and /api/openapi.json is a valid OpenAPI document that
every response matches."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from aggregator.app import App
from aggregator.config import Settings
from aggregator.models import FetchResult, ItemData, ModerationRecord
from aggregator.store import EventRecord, Store
from aggregator.web import create_app
from tests.fakes import item, spec
from tests.support import Clock

BASE = "https://digests.example/"
EVENT = EventRecord(
    "ev",
    "Coproduction launch",
    ("coproduction",),
    "Europe/London",
    date(2026, 11, 20),
    date(2026, 11, 21),
    1,
)
OTHER = EventRecord(
    "other", "Another event", ("other",), "UTC", date(2026, 12, 1), date(2026, 12, 1), 0
)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
"""09:00 in London on the event's first day (London is on UTC in November)."""
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DIGEST_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "docs" / "digest.schema.json").read_text("utf-8")
)


def conversation() -> list[ItemData]:
    """The event's items: several share a time; two platforms, posts and comments, the
    look-back day and the second day; a hidden item and a hidden author's posts."""
    same_hour = [item(n, created=T0 + timedelta(hours=n // 3)) for n in range(1, 10)]
    return [
        *same_hour,
        *(item(n, platform="mastodon", created=T0 + timedelta(hours=4)) for n in (10, 11, 12)),
        *(
            item(n, platform="wordpress", kind="comment", created=T0 + timedelta(days=1))
            for n in (20, 21)
        ),
        *(item(n, author="troll", created=T0 + timedelta(minutes=30)) for n in (30, 31)),
        item(40, text="the day before", created=T0 - timedelta(days=1)),
    ]


HIDDEN_ITEM = "fake:5"
HIDDEN_AUTHOR = "fake:@troll"
HIDDEN = {HIDDEN_ITEM, "fake:30", "fake:31"}
VISIBLE = {i.key for i in conversation()} - HIDDEN


def record(store: Store, source_id: str, items: list[ItemData]) -> None:
    (source,) = store.sources(source_id=source_id)
    store.record_success(
        source, FetchResult(items=tuple(items), state={}), started_at=T0, now=T0, next_check_at=T0
    )


def decide(store: Store, kind: str, target: str) -> None:
    store.moderate(
        ModerationRecord(
            event=EVENT.slug,
            target_kind=kind,
            target=target,
            action="hide",
            reason="test",
            decided_by="organiser@example.org",
            decided_at=T0,
        )
    )


def populate(store: Store) -> None:
    store.sync_event(EVENT, [spec("ev/fake:one"), spec("ev/fake:two")], T0)
    store.sync_event(OTHER, [spec("other/fake:one", event="other")], T0)
    items = conversation()
    record(store, "ev/fake:one", items)
    # A second source finds some of them again (one at another time): each is listed once.
    by_key = {i.key: i for i in items}
    again = [by_key["fake:1"], by_key["fake:2"], by_key["mastodon:10"]]
    record(store, "ev/fake:two", [*again, replace(by_key["fake:7"], created_at=T0)])
    record(store, "other/fake:one", [item(100, created=T0)])
    decide(store, "item", HIDDEN_ITEM)
    decide(store, "author", HIDDEN_AUTHOR)
    store.set_closed(OTHER.slug, T0)


@dataclass
class Api:
    """The web app's API, called synchronously (one event loop for the test)."""

    runner: asyncio.Runner
    client: httpx.AsyncClient

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.runner.run(self.client.get(path, headers=headers))

    def json(self, path: str) -> Any:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    populate(store)
    settings = Settings.model_validate({"web": {"base_url": BASE}})
    app = App(settings=settings, store=store, env={}, clock=Clock(NOW))
    transport = httpx.ASGITransport(app=create_app(app))
    with asyncio.Runner() as runner:
        client = httpx.AsyncClient(transport=transport, base_url=BASE)
        yield Api(runner, client)
        runner.run(client.aclose())


def walk(api: Api, url: str) -> list[dict[str, Any]]:
    """Every page from ``url`` on, following ``next_cursor``; checks the Link header."""
    items: list[dict[str, Any]] = []
    while True:
        r = api.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if body["next_cursor"] is None:
            assert "link" not in r.headers
            return items
        assert body["items"], "a page with a next page is never empty"
        link = r.links["next"]["url"]
        assert parse_qs(urlsplit(link).query)["cursor"] == [body["next_cursor"]]
        url = link


# -- events -------------------------------------------------------------------------------


def test_the_events_are_listed_with_their_addresses(api: Api) -> None:
    events = api.json("/api/v1/events")["events"]
    assert [e["slug"] for e in events] == ["ev", "other"]
    ev, other = events
    assert ev == {
        "slug": "ev",
        "title": "Coproduction launch",
        "hashtags": ["coproduction"],
        "timezone": "Europe/London",
        "starts": "2026-11-20",
        "ends": "2026-11-21",
        "closed": False,
        "links": {
            "html": f"{BASE}ev/",
            "atom": f"{BASE}ev/digests.atom",
            "embed": f"{BASE}ev/embed.html",
            "api": f"{BASE}api/v1/events/ev",
            "digests": f"{BASE}api/v1/events/ev/digests",
            "items": f"{BASE}api/v1/events/ev/items",
        },
    }
    assert other["closed"] is True


def test_an_event_has_its_begun_days_and_counts_only_what_readers_see(api: Api) -> None:
    ev = api.json("/api/v1/events/ev")
    assert ev["days"] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert ev["counts"] == {
        "items": len(VISIBLE),
        "by_platform": {"fake": 9, "mastodon": 3, "wordpress": 2},
        "by_kind": {"comment": 2, "post": 12},
    }
    assert api.json("/api/v1/events/other")["days"] == []


def test_the_digests_are_listed_per_day_and_for_the_whole_event(api: Api) -> None:
    digests = api.json("/api/v1/events/ev/digests")
    assert [d["day"] for d in digests["days"]] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert digests["days"][1] == {
        "day": "2026-11-20",
        "label": "Friday 20 November 2026",
        "html_url": f"{BASE}ev/2026-11-20.html",
        "json_url": f"{BASE}ev/2026-11-20.json",
        "embed_url": f"{BASE}ev/embed/2026-11-20.html",
        "api_url": f"{BASE}api/v1/events/ev/digests/2026-11-20",
    }
    assert digests["whole_event"]["api_url"] == f"{BASE}api/v1/events/ev/digest"
    assert digests["whole_event"]["html_url"] == f"{BASE}ev/event.html"


# -- digests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_path", "page_path"),
    [
        ("/api/v1/events/ev/digests/2026-11-20", "/ev/2026-11-20.json"),
        ("/api/v1/events/ev/digest", "/ev/event.json"),
    ],
)
def test_a_digest_is_the_json_format_revalidated_by_etag(
    api: Api, api_path: str, page_path: str
) -> None:
    r = api.get(api_path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert r.content == api.get(page_path).content
    jsonschema.validate(r.json(), DIGEST_SCHEMA)
    threads = {t["item"]["key"] for p in r.json()["platforms"] for t in p["threads"]}
    assert threads
    assert not any(f'"{key}"' in r.text for key in HIDDEN)

    again = api.get(api_path, **{"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == r.headers["etag"]
    assert again.headers["access-control-allow-origin"] == "*"
    assert api.get(api_path, **{"If-None-Match": '"stale"'}).status_code == 200


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/events/nope", "no event 'nope'"),
        ("/api/v1/events/nope/digests", "no event 'nope'"),
        ("/api/v1/events/nope/digest", "no event 'nope'"),
        ("/api/v1/events/nope/items", "no event 'nope'"),
        ("/api/v1/events/nope/digests/2026-11-20", "no event 'nope'"),
        # Before the look-back day, and a day that has not begun at NOW.
        (
            "/api/v1/events/ev/digests/2026-11-18",
            f"{EVENT.title} has no digest for 2026-11-18 (yet)",
        ),
        (
            "/api/v1/events/ev/digests/2026-11-22",
            f"{EVENT.title} has no digest for 2026-11-22 (yet)",
        ),
    ],
)
def test_an_unknown_event_or_day_is_a_json_404(api: Api, path: str, detail: str) -> None:
    # Even for a browser: the API never answers with an HTML page.
    r = api.get(path, accept="text/html,application/xhtml+xml")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": detail}
    assert r.headers["access-control-allow-origin"] == "*"


# -- items --------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 200])
def test_paging_walks_every_visible_item_exactly_once(api: Api, limit: int) -> None:
    everything = api.json("/api/v1/events/ev/items?limit=200")
    assert everything["next_cursor"] is None
    keys = [i["key"] for i in everything["items"]]
    assert len(keys) == len(set(keys)) == len(VISIBLE)
    assert set(keys) == VISIBLE

    paged = [i["key"] for i in walk(api, f"/api/v1/events/ev/items?limit={limit}")]
    assert paged == keys
    times = [i["created_at"] for i in everything["items"] if i["key"] != "fake:7"]
    assert times == sorted(times, reverse=True), "newest first"


def test_an_item_says_who_wrote_it_what_and_where(api: Api) -> None:
    items = api.json("/api/v1/events/ev/items?platform=fake&since=2026-11-19T00:00Z&limit=200")
    (first,) = [i for i in items["items"] if i["key"] == "fake:1"]
    assert first == {
        "key": "fake:1",
        "platform": "fake",
        "kind": "post",
        "url": "https://fake.example/1",
        "author": {"name": "Ana", "handle": "@ana", "url": None},
        "created_at": "2026-11-20T09:00:00Z",
        "edited_at": None,
        "title": None,
        "text": "post number 1",
        "html": "<p>post number 1</p>",
        "language": None,
        "in_reply_to": None,
        "context_url": None,
        "likes": None,
        "reposts": None,
        "replies": None,
        "hashtags": ["coproduction"],
        "links": [],
    }
    assert api.get("/api/v1/events/ev/items").headers["cache-control"] == "public, max-age=30"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("platform=mastodon", {"mastodon:10", "mastodon:11", "mastodon:12"}),
        ("kind=comment", {"wordpress:20", "wordpress:21"}),
        ("platform=nowhere", set()),
        # since inclusive, until exclusive: 10:00 has fake:3 and fake:4 (fake:5 is hidden).
        ("since=2026-11-20T10:00:00Z&until=2026-11-20T11:00:00Z", {"fake:3", "fake:4"}),
        # The same instant in another zone.
        ("since=2026-11-20T11:00:00%2B01:00&until=2026-11-20T11:00:00Z", {"fake:3", "fake:4"}),
        ("until=2026-11-20T00:00:00Z", {"fake:40"}),
        ("since=2026-11-21T00:00:00Z&kind=post", set()),
        (
            "since=2026-11-20T13:00:00Z&platform=mastodon&kind=post",
            {"mastodon:10", "mastodon:11", "mastodon:12"},
        ),
    ],
)
def test_filters_narrow_the_listing_and_its_pages(api: Api, query: str, expected: set[str]) -> None:
    keys = [i["key"] for i in walk(api, f"/api/v1/events/ev/items?limit=2&{query}")]
    assert len(keys) == len(set(keys))
    assert set(keys) == expected


def test_hidden_items_and_authors_are_nowhere(api: Api) -> None:
    keys = {i["key"] for i in walk(api, "/api/v1/events/ev/items?limit=3")}
    assert not keys & HIDDEN
    # Not even when asked for by time and platform exactly.
    narrow = "since=2026-11-20T09:30:00Z&until=2026-11-20T09:31:00Z&platform=fake"
    assert api.json(f"/api/v1/events/ev/items?{narrow}")["items"] == []
    digest = api.get("/api/v1/events/ev/digests/2026-11-20").text
    assert "troll" not in digest.lower()
    assert '"fake:5"' not in digest


def test_an_events_items_are_its_own(api: Api) -> None:
    assert [i["key"] for i in api.json("/api/v1/events/other/items")["items"]] == ["fake:100"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "zzz",
        _b64("{}"),
        _b64('["2026-11-20T09:00:00+00:00"]'),
        _b64('["yesterday", 1]'),
        _b64('["2026-11-20T09:00:00", 1]'),  # no offset
        _b64('["2026-11-20T09:00:00+00:00", "1"]'),
        _b64('["2026-11-20T09:00:00+00:00", true]'),
    ],
)
def test_a_cursor_the_api_did_not_give_is_refused_clearly(api: Api, cursor: str) -> None:
    r = api.get(f"/api/v1/events/ev/items?cursor={cursor}")
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["query", "cursor"]
    assert error["msg"] == "not a cursor this API gave out; use next_cursor as it is"
    assert r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("since=2026-11-20T09:00:00", "since"),  # a time without its offset is ambiguous
        ("until=tomorrow", "until"),
        ("kind=video", "kind"),
    ],
)
def test_bad_parameters_are_a_422_naming_them(api: Api, query: str, param: str) -> None:
    r = api.get(f"/api/v1/events/ev/items?{query}")
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", param]]


# -- the OpenAPI document -----------------------------------------------------------------

PATHS = {
    "/api/v1/events",
    "/api/v1/events/{slug}",
    "/api/v1/events/{slug}/digests",
    "/api/v1/events/{slug}/digests/{day}",
    "/api/v1/events/{slug}/digest",
    "/api/v1/events/{slug}/items",
}


def test_the_openapi_document_is_valid_and_describes_every_endpoint(api: Api) -> None:
    doc = api.json("/api/openapi.json")
    validate(doc)
    assert api.get("/api/openapi.json").headers["access-control-allow-origin"] == "*"
    assert {p for p in doc["paths"] if p.startswith("/api/")} == PATHS
    for path in PATHS:
        operation = doc["paths"][path]["get"]
        assert set(doc["paths"][path]) == {"get"}, "read-only"
        assert operation["summary"]
        assert operation["description"]
        assert operation["operationId"][0].islower()
        assert "404" in operation["responses"] or path == "/api/v1/events"
    html = doc["components"]["schemas"]["Item"]["properties"]["html"]
    assert "sanitized" in html["description"]


@pytest.mark.parametrize(
    ("template", "url", "status"),
    [
        ("/api/v1/events", "/api/v1/events", 200),
        ("/api/v1/events/{slug}", "/api/v1/events/ev", 200),
        ("/api/v1/events/{slug}", "/api/v1/events/nope", 404),
        ("/api/v1/events/{slug}/digests", "/api/v1/events/ev/digests", 200),
        ("/api/v1/events/{slug}/digests/{day}", "/api/v1/events/ev/digests/2026-11-20", 200),
        ("/api/v1/events/{slug}/digests/{day}", "/api/v1/events/ev/digests/2026-11-23", 404),
        ("/api/v1/events/{slug}/digests/{day}", "/api/v1/events/ev/digests/someday", 422),
        ("/api/v1/events/{slug}/digest", "/api/v1/events/other/digest", 200),
        ("/api/v1/events/{slug}/items", "/api/v1/events/ev/items?limit=5", 200),
        ("/api/v1/events/{slug}/items", "/api/v1/events/ev/items?limit=200", 200),
        ("/api/v1/events/{slug}/items", "/api/v1/events/ev/items?cursor=x", 422),
    ],
)
def test_every_response_matches_its_schema_in_the_document(
    api: Api, template: str, url: str, status: int
) -> None:
    doc = api.json("/api/openapi.json")
    r = api.get(url)
    assert r.status_code == status
    assert r.headers["access-control-allow-origin"] == "*"
    response = doc["paths"][template]["get"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(
        {**schema, "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(r.json())
    for header in response.get("headers", {}):
        if status == 200 and header != "Link":
            assert header.lower() in r.headers
