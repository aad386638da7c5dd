"""The feed fetcher against real HTTP on 127.0.0.1: conditional GET, body hash, failures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.exceptions import ParseError, RateLimited, SourceError, TemporaryError
from aggregator.http import make_client
from aggregator.models import FetchResult, SourceSpec, SourceState
from aggregator.sources import FetchContext, keys
from aggregator.sources.feeds import SOURCE, FeedOptions, FeedSource
from aggregator.sources.feeds_parse import FeedKind, ParsedFeed, parse_feed
from tests.golden import DATA

NOW = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)
RSS = (DATA / "feeds" / "wp_post_comments_feed.rss.xml").read_bytes()
ATOM = (DATA / "feeds" / "wp_site_comments_feed.atom.xml").read_bytes()
PATH = "/2026/02/velo-cargo-hiver/feed/"
WP = "https://blog.example.fr"


@dataclass
class FeedApp:
    """Serves one feed the way WordPress does: validators, and 304 when they match."""

    body: bytes = RSS
    content_type: str = "application/rss+xml; charset=UTF-8"
    etag: str | None = '"5f1e8c0a"'
    last_modified: str | None = "Wed, 11 Feb 2026 08:03:51 GMT"
    served: list[int] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        if request.path != PATH:
            return Response(404, {"Content-Type": "text/html"}, b"<h1>Not found</h1>")
        validators = {"ETag": self.etag, "Last-Modified": self.last_modified}
        headers = {k: v for k, v in validators.items() if v}
        inm, ims = request.headers.get("if-none-match"), request.headers.get("if-modified-since")
        if (self.etag and inm == self.etag) or (
            not inm and self.last_modified and ims == self.last_modified
        ):
            self.served.append(304)
            return Response(304, headers)
        self.served.append(200)
        return Response(200, {"Content-Type": self.content_type, **headers}, self.body)


@dataclass
class CountingParser:
    calls: int = 0

    def __call__(
        self,
        body: bytes,
        *,
        feed_url: str,
        content_type: str | None = None,
        kind: FeedKind = "auto",
        now: datetime | None = None,
    ) -> ParsedFeed:
        self.calls += 1
        return parse_feed(body, feed_url=feed_url, content_type=content_type, kind=kind, now=now)


def source_state(server: LoopbackServer, state: dict[str, Any] | None = None) -> SourceState:
    url = server.base_url + PATH
    spec = SourceSpec(id="ev-feed", event="ev", platform="feed", target=url, options={"url": url})
    return SourceState(spec=spec, state=state or {})


def fetch(
    server: LoopbackServer,
    state: dict[str, Any] | None = None,
    *,
    source: FeedSource = SOURCE,
    timeout: float = 5.0,
    horizon: datetime | None = None,
) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(timeout=httpx.Timeout(timeout)) as client:
            ctx = FetchContext(client=client, now=NOW, horizon=horizon)
            return await source.fetch(source_state(server, state), ctx)

    return asyncio.run(go())


def test_first_fetch_returns_items_and_validators() -> None:
    with LoopbackServer(FeedApp()) as server:
        result = fetch(server)
    assert [i.key for i in result.items] == [
        keys.wordpress_comment(WP, n) for n in (5812, 5809, 5807)
    ]
    assert result.state["etag"] == '"5f1e8c0a"'
    assert result.state["last_modified"] == "Wed, 11 Feb 2026 08:03:51 GMT"
    assert isinstance(result.state["body_hash"], str)
    assert result.listing is None, "a feed is a window: absence means nothing"
    assert not result.not_modified
    assert result.requests == 1


def test_second_fetch_sends_validators_and_takes_304() -> None:
    app = FeedApp()
    with LoopbackServer(app) as server:
        first = fetch(server)
        second = fetch(server, dict(first.state))
        sent = server.requests[-1].headers
    assert sent["if-none-match"] == '"5f1e8c0a"'
    assert sent["if-modified-since"] == "Wed, 11 Feb 2026 08:03:51 GMT"
    assert app.served == [200, 304]
    assert second.not_modified
    assert second.items == ()
    assert second.state == first.state


def test_last_modified_alone_is_enough() -> None:
    app = FeedApp(etag=None)
    with LoopbackServer(app) as server:
        first = fetch(server)
        second = fetch(server, dict(first.state))
        assert "if-none-match" not in server.requests[-1].headers
    assert app.served == [200, 304]
    assert second.not_modified


def test_same_body_without_validators_is_not_parsed_again() -> None:
    app = FeedApp(etag=None, last_modified=None)
    parser = CountingParser()
    source = FeedSource(parse=parser)
    with LoopbackServer(app) as server:
        first = fetch(server, source=source)
        second = fetch(server, dict(first.state), source=source)
    assert app.served == [200, 200]
    assert parser.calls == 1
    assert second.not_modified
    assert second.items == ()
    assert second.state["body_hash"] == first.state["body_hash"]


def test_same_body_under_new_site_global_validators_is_not_parsed_again() -> None:
    # WordPress's ETag changes whenever anything on the site changes.
    app = FeedApp()
    parser = CountingParser()
    source = FeedSource(parse=parser)
    with LoopbackServer(app) as server:
        first = fetch(server, source=source)
        app.etag, app.last_modified = '"new"', "Thu, 12 Feb 2026 09:00:00 GMT"
        second = fetch(server, dict(first.state), source=source)
    assert parser.calls == 1
    assert second.not_modified
    assert second.state["etag"] == '"new"', "so that the next poll can get a 304"


def test_changed_body_gives_new_items() -> None:
    app = FeedApp(etag=None, last_modified=None)
    with LoopbackServer(app) as server:
        first = fetch(server)
        app.body, app.content_type = ATOM, "application/atom+xml; charset=UTF-8"
        second = fetch(server, dict(first.state))
    assert not second.not_modified
    assert second.state["body_hash"] != first.state["body_hash"]
    new = {i.key for i in second.items} - {i.key for i in first.items}
    assert new == {keys.wordpress_comment(WP, 5790)}


def test_items_before_the_horizon_are_left_out() -> None:
    with LoopbackServer(FeedApp()) as server:
        result = fetch(server, horizon=datetime(2026, 2, 10, 20, 0, tzinfo=UTC))
    assert [i.key for i in result.items] == [keys.wordpress_comment(WP, n) for n in (5812, 5809)]
    assert result.excluded == {}, "excluded counts what consent left out, not age"


def test_429_with_retry_after_is_rate_limited() -> None:
    with LoopbackServer(FeedApp()) as server:
        server.inject(Fault("status", status=429, headers={"Retry-After": "120"}))
        with pytest.raises(RateLimited) as caught:
            fetch(server)
    assert caught.value.retry_after == timedelta(seconds=120)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=503),
        Fault("status", status=500),
        Fault("timeout", seconds=1.5),
        Fault("reset"),
    ],
    ids=["503", "500", "timeout", "reset"],
)
def test_transient_failures_are_temporary(fault: Fault) -> None:
    with LoopbackServer(FeedApp()) as server:
        server.inject(fault)
        with pytest.raises(TemporaryError) as caught:
            fetch(server, timeout=1.0)
    assert not isinstance(caught.value, RateLimited)


def test_malformed_body_is_a_parse_error() -> None:
    with LoopbackServer(FeedApp()) as server:
        server.inject(Fault("malformed"))
        with pytest.raises(ParseError):
            fetch(server)


def test_html_error_page_with_200_is_a_parse_error() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"
    )
    app = FeedApp(body=page, content_type="text/html; charset=UTF-8", etag=None, last_modified=None)
    with LoopbackServer(app) as server, pytest.raises(ParseError):
        fetch(server)


def test_a_failed_parse_leaves_no_hash_behind() -> None:
    # The pipeline keeps the old state on error; the next good body is parsed.
    app = FeedApp(etag=None, last_modified=None)
    with LoopbackServer(app) as server:
        server.inject(Fault("malformed"))
        with pytest.raises(SourceError):
            fetch(server)
        result = fetch(server)
    assert len(result.items) == 3


def test_options_are_documented_and_validated() -> None:
    for name, info in FeedOptions.model_fields.items():
        assert info.description, name
    assert SOURCE.target(FeedOptions(url=" https://blog.example.fr/feed/ ")) == (
        "https://blog.example.fr/feed/"
    )
    FeedOptions(url="http://127.0.0.1:8080/feed/")
    for bad in ("http://blog.example.fr/feed/", "ftp://x.example/", "feed/", "https://[x"):
        with pytest.raises(ValueError, match="url"):
            FeedOptions(url=bad)
    with pytest.raises(ValueError, match="extra"):
        FeedOptions.model_validate({"url": "https://x.example/f", "hashtag": "x"})
