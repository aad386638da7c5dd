"""Reddit: the parser on a recorded listing, the fetcher against a simulated Reddit on
127.0.0.1 (real HTTP, real client, a clock that moves only when told to)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.demo.reddit_sim import RedditSim
from aggregator.exceptions import (
    ParseError,
    PermanentError,
    RateLimited,
    SourceError,
    TemporaryError,
)
from aggregator.http import json_body
from aggregator.models import (
    FetchResult,
    RateLimit,
    RecheckResult,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.sources import Rechecker, Source
from aggregator.sources.reddit import SOURCE, RedditOptions, RedditSource
from aggregator.sources.reddit_parse import (
    parse_listing,
    parse_rate_limit,
    parse_token,
    removal,
    search_query,
)
from tests.golden import DATA, assert_golden
from tests.support import Clock, as_stored, mutations, run_fetch, run_recheck

RD = DATA / "reddit"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UA = "server:org.example.digest:1.0 (by /u/digestbot)"
SECRET = "s3cret-value-never-shown"


def load(case: str = "listing_t3_trimmed") -> Any:
    return json.loads((RD / f"{case}.json").read_text("utf-8"))


def things() -> list[dict[str, Any]]:
    return [c["data"] for c in load()["data"]["children"]]


def listing(*datas: dict[str, Any], after: str | None = None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {"after": after, "children": [{"kind": "t3", "data": d} for d in datas]},
    }


# --- the parser ------------------------------------------------------------------------


def test_golden_listing() -> None:
    payload = load()
    page = parse_listing(payload)
    assert [i.raw for i in page.items] == things()
    assert (page.after, page.count, page.removed) == ("t3_1skgdzx", 3, {})
    expected = [
        {n: getattr(i, n) for n in i.__dataclass_fields__ if n != "raw"} for i in page.items
    ]
    assert_golden(expected, RD / "listing_t3_trimmed.expected.json")


def test_self_and_link_posts() -> None:
    loo, baseball, image = parse_listing(load()).items
    assert loo.key == "reddit:t3_1skad85"
    assert loo.url == (
        "https://www.reddit.com/r/GoodNewsUK/comments/1skad85/"
        "i_built_a_free_app_to_help_people_avoid_buying_a/"
    )
    assert loo.title is not None
    assert loo.title.startswith("I built a free app")
    assert "SC_OFF" not in loo.html
    assert '<div class="md">' not in loo.html
    assert "&quot;Reddit Hug of Death&quot;" not in loo.text
    assert '"Reddit Hug of Death"' in loo.text
    assert loo.edited_at == datetime.fromtimestamp(1776087008, UTC)
    assert (loo.engagement.replies, loo.engagement.likes) == (112, 1901)
    assert baseball.links == ("https://www.youtube.com/watch?v=IgWzMaX8gKE",)
    assert baseball.edited_at is None
    assert image.links == ("https://i.redd.it/wpe0j2tykzug1.jpeg",)
    assert (image.html, image.text) == ("", "")
    assert image.author.key == "reddit:user:junior-swordfish-245"
    assert image.author.url == "https://www.reddit.com/user/Junior-Swordfish-245/"
    assert image.created_at == datetime.fromtimestamp(1776098585, UTC)


def test_hashtags_come_from_title_and_body() -> None:
    data = {**things()[1], "title": "Going to #CoproWeek?", "selftext": "see #coproweek &#39;x"}
    (item,) = parse_listing(listing(data)).items
    assert item.hashtags == ("coproweek",)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"author": "[deleted]", "selftext": "[deleted]"}, "deleted"),
        ({"selftext": "[removed]"}, "removed"),
        ({"removed_by_category": "moderator"}, "removed"),
        ({"removed_by_category": "deleted"}, "deleted"),
        ({}, None),
    ],
)
def test_deleted_and_removed_submissions_are_left_out(
    changes: dict[str, Any], reason: str | None
) -> None:
    data = {**things()[0], **changes}
    assert removal(data) == reason
    page = parse_listing(listing(data))
    assert len(page.items) == (0 if reason else 1)
    assert page.removed == ({"reddit:t3_1skad85": reason} if reason else {})


def test_submissions_before_since_move_the_window_but_are_not_returned() -> None:
    since = datetime.fromtimestamp(1776090000, UTC)
    page = parse_listing(load(), since=since)
    assert [i.key for i in page.items] == ["reddit:t3_1skh9xm", "reddit:t3_1skgdzx"]
    assert page.oldest_at == datetime.fromtimestamp(1776085763, UTC)
    assert page.newest_at == datetime.fromtimestamp(1776100378, UTC)


def test_rate_limit_headers() -> None:
    headers = json.loads((RD / "listing_t3_trimmed.headers.json").read_text())
    assert parse_rate_limit(headers, NOW) == RateLimit(1000, 996, NOW + timedelta(seconds=11))
    assert parse_rate_limit({}, NOW) is None
    assert parse_rate_limit({"X-Ratelimit-Remaining": "lots"}, NOW) is None


def test_token_response() -> None:
    assert parse_token({"access_token": "abc", "expires_in": 86400}) == (
        "abc",
        timedelta(days=1),
    )
    bad: Any
    for bad in ({"error": "invalid_grant"}, {"access_token": "abc"}, [], {"expires_in": 5}):
        with pytest.raises(ParseError) as caught:
            parse_token(bad)
        assert "abc" not in str(caught.value)


def test_search_query() -> None:
    assert search_query(("coproweek", "#copro26")) == "#coproweek OR #copro26"


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"kind": "t3"},
        {"kind": "Listing", "data": {"children": {}}},
        {"kind": "Listing", "data": {"children": [], "after": 5}},
        listing({**things()[0], "name": "t1_abc"}),
        listing({**things()[0], "created_utc": "yesterday"}),
        listing({**things()[0], "created_utc": 1e300}),
        listing({**things()[0], "title": None}),
        listing({**things()[0], "permalink": "https://evil.example/"}),
        listing({**things()[0], "selftext_html": 5}),
        listing({**things()[0], "title": "\ud83d"}),
    ],
)
def test_malformed_listings_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_listing(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(load()))
def test_mutated_listings_parse_or_raise_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        for item in parse_listing(payload, since=NOW - timedelta(days=400)).items:
            assert item.created_at.tzinfo is UTC
            assert item.url is not None
            assert item.url.startswith("https://www.reddit.com/")


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 20000))
def test_truncated_bodies_raise_parse_error(cut: int) -> None:
    body = (RD / "listing_t3_trimmed.json").read_bytes()
    request = httpx.Request("GET", "https://oauth.reddit.com/")
    response = httpx.Response(200, content=body[: cut % len(body)], request=request)
    with pytest.raises(ParseError):
        parse_listing(json_body(response))


# --- the fetcher -----------------------------------------------------------------------


@dataclass
class Collector:
    """Runs the real fetcher repeatedly, carrying its state like the pipeline does."""

    server: LoopbackServer
    clock: Clock
    source: RedditSource = field(default_factory=RedditSource)
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(
        default_factory=lambda: {"REDDIT_ID": "client-id", "REDDIT_SECRET": SECRET}
    )
    state: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> SourceState:
        base = self.server.base_url
        options = {
            "subreddit": "CoproUK",
            "client_id_env": "REDDIT_ID",
            "client_secret_env": "REDDIT_SECRET",
            "user_agent": UA,
            "api": base,
            "auth_url": f"{base}/api/v1/access_token",
            **self.options,
        }
        spec = SourceSpec("r", "copro", "reddit", "r/CoproUK", ("coproweek",), options)
        return SourceState(spec=spec, state=self.state)

    def run(self, *, max_pages: int = 20, horizon: datetime | None = None) -> FetchResult:
        self.server.requests.clear()
        result = run_fetch(
            self.source,
            self.spec(),
            now=self.clock.now,
            env=self.env,
            max_pages=max_pages,
            horizon=horizon,
            timeout=1.0,
        )
        self.state = as_stored(result.state)
        return result

    def recheck(self, *fullnames: str) -> RecheckResult:
        refs = [StoredRef(f"reddit:{n}", (), None, NOW, n[3:]) for n in fullnames]
        self.server.requests.clear()
        return run_recheck(self.source, self.spec(), refs, now=self.clock.now, env=self.env)

    def searches(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.endswith("/search")]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sim(clock: Clock) -> RedditSim:
    return RedditSim(clock=clock, client_id="client-id", client_secret=SECRET)


@pytest.fixture
def server(loopback: LoopbackServer, sim: RedditSim) -> LoopbackServer:
    loopback.app = sim
    loopback.requests.clear()
    return loopback


@pytest.fixture
def collector(server: LoopbackServer, clock: Clock) -> Collector:
    return Collector(server, clock)


def series(sim: RedditSim, n: int, *, newest: datetime = NOW, every: float = 10) -> list[str]:
    """``n`` submissions with the hashtag, ``every`` minutes apart; newest first."""
    return [
        sim.submit(
            "CoproUK", f"Post {i} #CoproWeek", f"Body {i}", at=newest - i * timedelta(minutes=every)
        )["name"]
        for i in range(n)
    ]


def test_the_source_object() -> None:
    assert SOURCE.platform == "reddit"
    assert isinstance(SOURCE, Source)
    assert isinstance(SOURCE, Rechecker)
    for name, f in RedditOptions.model_fields.items():
        assert f.description, name


@pytest.mark.parametrize(
    "changes",
    [
        {"user_agent": "python-requests/2.31"},
        {"user_agent": "digest 1.0 by alice"},
        {"client_secret_env": SECRET},
        {"subreddit": "r/no spaces"},
        {"api": "http://oauth.reddit.com"},
        {"auth_url": "https://www.reddit.com/api/v1/access_token?x=1"},
    ],
)
def test_bad_options(changes: dict[str, Any]) -> None:
    options = {
        "subreddit": "r/CoproUK",
        "client_id_env": "A",
        "client_secret_env": "B",
        "user_agent": UA,
    }
    assert RedditOptions(**options).subreddit == "CoproUK"
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - pydantic's ValidationError
        RedditOptions(**{**options, **changes})
    assert SECRET not in str(caught.value)


def test_first_fetch_authenticates_and_searches(collector: Collector, sim: RedditSim) -> None:
    names = series(sim, 3)
    sim.submit("CoproUK", "Unrelated", "nothing here")
    sim.submit("Elsewhere", "#CoproWeek too", "other sub")
    result = collector.run()
    token, search = collector.server.requests
    assert (token.method, token.path) == ("POST", "/api/v1/access_token")
    assert token.body == b"grant_type=client_credentials"
    assert token.headers["user-agent"] == UA
    assert search.path == "/r/CoproUK/search"
    assert {k: v[0] for k, v in search.query.items()} == {
        "q": "#coproweek",
        "restrict_sr": "1",
        "sort": "new",
        "limit": "100",
        "raw_json": "1",
    }
    assert search.headers["user-agent"] == UA
    assert search.headers["authorization"].startswith("bearer ")
    assert [i.key for i in result.items] == [f"reddit:{n}" for n in names]
    assert result.requests == 2
    assert result.query == "r/CoproUK search: #coproweek"
    assert collector.state["newest"] == NOW.isoformat()
    assert result.rate_limit == RateLimit(1000, 999, datetime(2026, 11, 20, 12, 10, tzinfo=UTC))


def test_the_token_is_kept_in_process_until_it_expires(
    collector: Collector, sim: RedditSim, clock: Clock
) -> None:
    series(sim, 1)
    collector.run()
    collector.run()
    assert sim.token_requests == 1
    clock.now += timedelta(hours=24)
    collector.run()
    assert sim.token_requests == 2
    sim.expire_tokens()  # revoked early: a 401, then one new token
    collector.run()
    assert sim.token_requests == 3


def test_secrets_stay_out_of_state_results_and_errors(collector: Collector, sim: RedditSim) -> None:
    series(sim, 2)
    result = collector.run()
    token = next(iter(sim.tokens))
    dumped = json.dumps([collector.state, [dict(i.raw) for i in result.items]])
    assert SECRET not in dumped
    assert token not in dumped
    collector.env["REDDIT_SECRET"] = "wrong-" + SECRET
    collector.source = RedditSource()
    with pytest.raises(PermanentError, match="REDDIT_ID/REDDIT_SECRET") as caught:
        collector.run()
    assert SECRET not in str(caught.value)


def test_missing_credentials_name_the_variable(collector: Collector) -> None:
    del collector.env["REDDIT_SECRET"]
    with pytest.raises(PermanentError, match="REDDIT_SECRET is not set"):
        collector.run()


def test_pages_back_and_then_reads_only_what_is_new(
    collector: Collector, sim: RedditSim, clock: Clock
) -> None:
    series(sim, 250)
    assert len(collector.run().items) == 250
    assert next(r.arg("after") for r in collector.searches()) is None
    assert len(collector.searches()) == 3
    clock.now += timedelta(minutes=15)
    fresh = sim.submit("CoproUK", "New #coproweek", "x", at=clock.now)
    late = sim.submit("CoproUK", "Indexed late #coproweek", "x", at=NOW - timedelta(minutes=30))
    result = collector.run()
    assert len(collector.searches()) == 1  # the overlap fits in one page
    assert {f"reddit:{fresh['name']}", f"reddit:{late['name']}"} <= {i.key for i in result.items}


def test_stops_at_the_horizon(collector: Collector, sim: RedditSim) -> None:
    series(sim, 250)
    horizon = NOW - timedelta(minutes=10 * 49 + 5)
    result = collector.run(horizon=horizon)
    assert len(result.items) == 50
    assert len(collector.searches()) == 1


def test_a_capped_walk_backfills_without_a_gap(
    collector: Collector, sim: RedditSim, clock: Clock
) -> None:
    everything = set(series(sim, 250))
    seen: set[str] = set()
    seen |= {i.raw["name"] for i in collector.run(max_pages=1).items}
    assert collector.state["backfill"]["after"] is not None
    clock.now += timedelta(minutes=5)
    new = sim.submit("CoproUK", "Meanwhile #coproweek", "x", at=clock.now)["name"]
    for _ in range(4):
        seen |= {i.raw["name"] for i in collector.run(max_pages=1).items}
    assert seen == everything | {new}
    assert collector.state["backfill"] is None


def test_deleted_and_removed_posts_are_counted_not_collected(
    collector: Collector, sim: RedditSim
) -> None:
    kept, deleted, removed = series(sim, 3)
    sim.delete(deleted)
    sim.remove(removed)
    result = collector.run()
    assert [i.key for i in result.items] == [f"reddit:{kept}"]


def test_low_headroom_stops_paging_until_the_reset(collector: Collector, sim: RedditSim) -> None:
    series(sim, 250)
    sim.set_remaining(51)
    result = collector.run()
    assert len(collector.searches()) == 1
    assert result.next_check_hint == datetime(2026, 11, 20, 12, 10, tzinfo=UTC)
    assert collector.state["backfill"] is not None


def test_429_before_anything_is_read_fails_with_the_reset(
    collector: Collector, sim: RedditSim
) -> None:
    series(sim, 3)
    sim.set_remaining(0)
    with pytest.raises(RateLimited) as caught:
        collector.run()
    assert caught.value.retry_after == timedelta(minutes=10)
    assert collector.state == {}


def test_429_mid_walk_keeps_what_was_read(
    collector: Collector, server: LoopbackServer, sim: RedditSim
) -> None:
    series(sim, 250)
    searches = 0

    def second_search_refused(request: Request) -> Response:
        nonlocal searches
        searches += request.path.endswith("/search")
        if searches == 2:
            return Response(429, {"Retry-After": "90"}, b"{}")
        return sim(request)

    server.app = second_search_refused
    result = collector.run()
    assert len(result.items) == 100
    assert result.next_check_hint == NOW + timedelta(seconds=90)
    assert collector.state["backfill"]["after"] == result.items[-1].raw["name"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 500), TemporaryError),
        (Fault("status", 503), TemporaryError),
        (Fault("timeout", seconds=1.5), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
        (Fault("status", 403), PermanentError),
        (Fault("status", 404), PermanentError),
    ],
)
@pytest.mark.parametrize("where", ["/api/v1/access_token", "/r/"])
def test_failures_become_source_errors(
    collector: Collector,
    server: LoopbackServer,
    sim: RedditSim,
    fault: Fault,
    error: type[SourceError],
    where: str,
) -> None:
    series(sim, 2)
    server.inject(Fault(fault.kind, fault.status, fault.headers, fault.seconds, where))
    with pytest.raises(error) as caught:
        collector.run()
    assert SECRET not in str(caught.value)
    assert collector.state == {}


def test_recheck_finds_edits_and_removals(collector: Collector, sim: RedditSim) -> None:
    edited, deleted, removed, purged = series(sim, 4)
    collector.run()
    sim.edit(edited, "Now with more detail")
    sim.delete(deleted)
    sim.remove(removed)
    sim.purge(purged)
    result = collector.recheck(edited, deleted, removed, purged)
    (item,) = result.items
    assert (item.key, item.text) == (f"reddit:{edited}", "Now with more detail")
    assert item.edited_at == NOW
    assert result.gone == {f"reddit:{n}" for n in (deleted, removed, purged)}
    (info,) = [r for r in collector.server.requests if r.path == "/api/info"]
    assert info.arg("id") == ",".join((edited, deleted, removed, purged))


def test_recheck_asks_100_at_a_time(collector: Collector, sim: RedditSim) -> None:
    names = series(sim, 150)
    result = collector.recheck(*names)
    assert len(result.items) == 150
    assert [len((r.arg("id") or "").split(",")) for r in collector.server.requests[1:]] == [
        100,
        50,
    ]
    assert result.requests == 3  # the token, then two look-ups


def test_simulator_escapes_without_raw_json(server: LoopbackServer, sim: RedditSim) -> None:
    sim.submit("CoproUK", "Fish & chips #coproweek", "a < b")
    token = "t"
    sim.tokens[token] = NOW + timedelta(hours=1)
    with httpx.Client(base_url=server.base_url) as client:
        headers = {"Authorization": f"bearer {token}"}
        escaped = client.get("/r/CoproUK/search", params={"q": "#coproweek"}, headers=headers)
        assert (
            escaped.json()["data"]["children"][0]["data"]["title"] == "Fish &amp; chips #coproweek"
        )
        assert client.get("/r/CoproUK/search").status_code == 401
