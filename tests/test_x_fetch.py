"""The X fetcher against a simulated X API on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from aggregator.decisions import Schedule
from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.demo.x_sim import XSim, make_user, snowflake_id
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.http import make_client
from aggregator.models import (
    FetchResult,
    RecheckResult,
    RunReport,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.sources import Rechecker, Source
from aggregator.sources.x import SOURCE, XOptions, build_query
from aggregator.store import EventRecord, Store
from aggregator.update import Updater
from tests.support import Clock, run_fetch, run_recheck

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
TOKEN = "AAAA-s3cret-bearer-ZZZZ"
ANA = make_user("ana", name="Ana")
BOB = make_user("bob")


@dataclass
class Collector:
    """Runs the real fetcher repeatedly, carrying its state like the pipeline does."""

    server: LoopbackServer
    clock: Clock
    tags: tuple[str, ...] = ("coproweek",)
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: {"X_BEARER": TOKEN})
    state: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 5.0

    def spec(self) -> SourceSpec:
        return SourceSpec(
            id="test",
            event="launch",
            platform="x",
            target="127.0.0.1",
            hashtags=self.tags,
            options={"api": self.server.base_url, "bearer_token_env": "X_BEARER", **self.options},
        )

    def run(self, *, horizon: datetime | None = None, max_pages: int = 20) -> FetchResult:
        result = run_fetch(
            SOURCE,
            SourceState(spec=self.spec(), state=self.state),
            now=self.clock.now,
            env=self.env,
            horizon=horizon,
            max_pages=max_pages,
            timeout=self.timeout,
        )
        self.state = result.state
        return result

    def recheck(self, refs: list[StoredRef], max_pages: int = 20) -> RecheckResult:
        return run_recheck(
            SOURCE,
            SourceState(spec=self.spec()),
            refs,
            now=self.clock.now,
            env=self.env,
            max_pages=max_pages,
            timeout=self.timeout,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sim(clock: Clock) -> XSim:
    return XSim(token=TOKEN, clock=clock)


@pytest.fixture
def server(loopback: LoopbackServer, sim: XSim) -> LoopbackServer:
    loopback.app = sim
    loopback.requests.clear()
    return loopback


@pytest.fixture
def collector(server: LoopbackServer, clock: Clock) -> Collector:
    return Collector(server, clock)


def series(
    sim: XSim, count: int, *, newest: datetime, every: timedelta = timedelta(minutes=1)
) -> list[dict[str, Any]]:
    """``count`` posts ``every`` apart, the newest at ``newest``; newest first."""
    return [sim.post(f"post {i} #coproweek", user=ANA, at=newest - i * every) for i in range(count)]


def keys(result: FetchResult) -> set[str]:
    return {item.key for item in result.items}


def key_set(posts: list[dict[str, Any]]) -> set[str]:
    return {f"x:{p['id']}" for p in posts}


def queries(server: LoopbackServer) -> list[dict[str, str]]:
    wanted = ("since_id", "start_time", "next_token", "max_results")
    return [{k: v[-1] for k, v in r.query.items() if k in wanted} for r in server.requests]


# -- collecting ------------------------------------------------------------------


def test_the_request_asks_for_everything_an_item_needs(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    series(sim, 1, newest=NOW)
    collector.tags = ("coproweek", "copro")
    collector.options = {"query_extra": " -is:retweet   lang:en "}

    collector.run()

    (request,) = server.requests
    assert request.path == "/2/tweets/search/recent"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.arg("query") == "(#coproweek OR #copro) -is:retweet lang:en"
    assert request.arg("max_results") == "100"
    assert "edit_history_tweet_ids" in (request.arg("tweet.fields") or "")
    assert "note_tweet" in (request.arg("tweet.fields") or "")
    assert (
        request.arg("expansions") == "author_id,referenced_tweets.id,referenced_tweets.id.author_id"
    )
    assert "protected" in (request.arg("user.fields") or "")


def test_the_first_cycle_reads_back_to_the_horizon_and_pages_with_next_token(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    posts = series(sim, 25, newest=NOW - timedelta(minutes=1), every=timedelta(hours=1))
    collector.options = {"max_results": 10}

    result = collector.run(horizon=NOW - timedelta(hours=20, minutes=30))

    assert keys(result) == key_set(posts[:21])  # 11:59 back to 15:59 yesterday
    start = {"start_time": "2026-07-31T15:30:00Z", "max_results": "10"}
    first, *more = queries(server)
    assert first == start
    assert len(more) == 2
    assert all(q["start_time"] == start["start_time"] and "next_token" in q for q in more)
    assert result.state == {
        "version": 1, "query": "#coproweek", "since_id": posts[0]["id"], "cycle": None
    }  # fmt: skip
    assert (result.cursor_before, result.cursor_after) == ("(new)", f">{posts[0]['id']}")
    assert TOKEN not in json.dumps(result.state)


def test_a_horizon_older_than_seven_days_is_left_to_the_api_default(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    series(sim, 1, newest=NOW)
    collector.run(horizon=NOW - timedelta(days=30))
    assert queries(server) == [{"max_results": "100"}]


def test_since_id_is_held_for_the_whole_cycle_and_then_advances(
    sim: XSim, server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    old = series(sim, 3, newest=NOW - timedelta(minutes=5))
    collector.options = {"max_results": 10}
    collector.run()
    clock.advance(minutes=30)
    new = series(sim, 15, newest=clock.now - timedelta(seconds=5), every=timedelta(seconds=20))
    server.requests.clear()

    result = collector.run()

    assert keys(result) == key_set(new)
    first, second = queries(server)
    assert first == {"since_id": old[0]["id"], "max_results": "10"}
    assert second["since_id"] == old[0]["id"]
    assert "next_token" in second
    assert result.state["since_id"] == new[0]["id"]


def test_a_page_cap_resumes_the_cycle_without_gaps_while_posts_keep_arriving(
    sim: XSim, server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    first = series(sim, 2, newest=NOW - timedelta(hours=1))
    collector.options = {"max_results": 10}
    collector.run()
    clock.advance(minutes=5)
    burst = series(sim, 35, newest=clock.now, every=timedelta(seconds=2))
    server.requests.clear()

    seen: list[str] = []
    arrived: list[dict[str, Any]] = []
    for _ in range(6):
        result = collector.run(max_pages=1)
        seen += [item.key for item in result.items]
        clock.advance(seconds=30)
        arrived += series(sim, 1, newest=clock.now)  # lands above the running cycle

    assert sorted(seen) == sorted(key_set(burst + arrived[:5]))  # each once, none skipped
    since = [q.get("since_id") for q in queries(server)]
    assert since[:4] == [first[0]["id"]] * 4  # held while the cycle pages
    assert since[4] == burst[0]["id"]  # then the first page's newest id
    assert since[5] == arrived[3]["id"]
    assert collector.state["cycle"] is None


def test_an_unfinished_cycle_is_saved_in_the_state(sim: XSim, collector: Collector) -> None:
    posts = series(sim, 15, newest=NOW)
    collector.options = {"max_results": 10}

    result = collector.run(max_pages=1)

    assert result.state["since_id"] is None
    cycle = result.state["cycle"]
    assert cycle["newest_id"] == posts[0]["id"]
    assert cycle["next_token"]
    assert result.cursor_after == f"(new) paging below {posts[0]['id']}"


def test_an_empty_page_finishes_the_cycle_and_keeps_since_id(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    assert collector.run().items == ()
    assert collector.state["since_id"] is None
    assert collector.state["cycle"] is None
    posts = series(sim, 1, newest=NOW)
    collector.run()
    assert collector.run().items == ()
    assert collector.state["since_id"] == posts[0]["id"]


def test_a_since_id_older_than_the_window_starts_a_fresh_window(
    sim: XSim, server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    collector.state = {
        "version": 1,
        "query": "#coproweek",
        "since_id": snowflake_id(NOW - timedelta(days=9)),
        "cycle": None,
    }
    posts = series(sim, 2, newest=NOW)

    result = collector.run(horizon=NOW - timedelta(days=20))

    assert keys(result) == key_set(posts)  # the API would answer 400 to that since_id
    assert queries(server) == [{"max_results": "100"}]


def test_a_changed_query_starts_afresh(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    collector.state = {"version": 1, "query": "#other", "since_id": "1" * 19, "cycle": None}
    series(sim, 1, newest=NOW)
    collector.run()
    assert "since_id" not in queries(server)[0]


def test_retweets_collapse_onto_the_original_once(sim: XSim, collector: Collector) -> None:
    (original,) = series(sim, 1, newest=NOW - timedelta(minutes=10))
    sim.retweet(original["id"], user=BOB, at=NOW - timedelta(minutes=5))
    sim.retweet(original["id"], user=make_user("carol"), at=NOW - timedelta(minutes=4))

    (item,) = collector.run().items

    assert item.key == f"x:{original['id']}"
    assert item.author.handle == "@ana"
    assert collector.state["since_id"] > original["id"]  # the retweets moved it


def test_an_edit_updates_the_one_item(sim: XSim, clock: Clock, collector: Collector) -> None:
    (post,) = series(sim, 1, newest=NOW - timedelta(minutes=2))
    (before,) = collector.run().items
    edited_at = clock.advance(minutes=3)
    edit = sim.edit(post["id"], "post 0 #coproweek, with slides https://slides.example/a")

    (after,) = collector.run().items

    assert after.key == before.key == f"x:{post['id']}"
    assert after.aliases == (f"x:{edit['id']}",)
    assert after.links == ("https://slides.example/a",)
    assert after.created_at == before.created_at
    assert after.edited_at == edited_at.replace(microsecond=0)
    assert after.content_hash != before.content_hash


def test_authors_without_consent_are_counted_not_collected(sim: XSim, collector: Collector) -> None:
    quiet = make_user("quiet", description="no archiving please #NoArchive")
    shy = make_user("shy", protected=False)
    sim.post("hi #coproweek", user=quiet, at=NOW)
    sim.post("hello #coproweek", user=shy, at=NOW)
    sim.update_user(shy, protected=True)  # then hidden from search, as X does
    kept = series(sim, 1, newest=NOW)

    result = collector.run()

    assert keys(result) == key_set(kept)
    assert result.excluded == {"nobot": 1}
    (left_out,) = result.excluded_items
    assert (left_out.reason, left_out.created_at) == ("nobot", NOW)


# -- rate limits and failures ---------------------------------------------------------


def test_429_is_rate_limited_until_the_reset(sim: XSim, clock: Clock, collector: Collector) -> None:
    clock.advance(minutes=5)
    sim.set_remaining(0)

    with pytest.raises(RateLimited) as raised:
        collector.run()

    assert raised.value.retry_after == timedelta(minutes=10)  # the window ends at 12:15
    assert "Too Many Requests" in str(raised.value)


def test_low_remaining_budget_stops_paging_until_the_reset(sim: XSim, collector: Collector) -> None:
    series(sim, 60, newest=NOW)
    collector.options = {"max_results": 10}
    sim.set_remaining(25)  # stops at 22 (5 % of 450) after 3 requests

    result = collector.run()

    assert result.requests == 3
    assert len(result.items) == 30
    assert result.next_check_hint == datetime(2026, 8, 1, 12, 15, tzinfo=UTC)
    assert result.rate_limit is not None
    assert result.rate_limit.remaining == 22
    assert result.state["cycle"]["next_token"]


@pytest.mark.parametrize(
    ("refuse", "status", "says"),
    [
        (None, 401, "Unauthorized"),
        ("client-not-enrolled", 403, "Client Forbidden: When authenticating"),
        ("credits", 402, "CreditsDepleted"),
    ],
)
def test_refusals_are_permanent_with_the_apis_words_and_never_the_token(
    refuse: Any, status: int, says: str, sim: XSim, collector: Collector
) -> None:
    sim.refuse = refuse
    if refuse is None:
        sim.token = "another-token"

    with pytest.raises(PermanentError) as raised:
        collector.run()

    assert f"HTTP {status}" in str(raised.value)
    assert says in str(raised.value)
    for text in (str(raised.value), repr(raised.value.__cause__), json.dumps(collector.state)):
        assert TOKEN not in text


def test_an_echoed_token_is_scrubbed(server: LoopbackServer, collector: Collector) -> None:
    body = json.dumps({"title": "Unauthorized", "detail": f"bad token {TOKEN}"}).encode()
    server.app = lambda request: Response(401, {"Content-Type": "application/json"}, body)

    with pytest.raises(PermanentError) as raised:
        collector.run()

    assert TOKEN not in str(raised.value)
    assert "[token]" in str(raised.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", status=503), TemporaryError),
        (Fault("status", status=502, headers={"Retry-After": "30"}), RateLimited),
        (Fault("timeout", seconds=1.0), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
    ],
    ids=["503", "502-retry-after", "timeout", "reset", "malformed"],
)
def test_failures_become_source_errors_and_lose_nothing(
    fault: Fault, error: type[Exception], sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    series(sim, 3, newest=NOW)
    collector.timeout = 0.3
    server.inject(fault)

    with pytest.raises(error) as raised:
        collector.run()

    assert TOKEN not in str(raised.value)
    assert len(collector.run().items) == 3  # the state never moved


def test_a_body_that_is_not_a_response_is_a_parse_error(
    server: LoopbackServer, collector: Collector
) -> None:
    server.app = lambda request: Response(200, {"Content-Type": "application/json"}, b"[]")
    with pytest.raises(ParseError, match="search/recent"):
        collector.run()


def test_a_missing_token_variable_names_the_variable(collector: Collector) -> None:
    collector.env = {}
    with pytest.raises(PermanentError, match="X_BEARER"):
        collector.run()


def test_a_query_over_512_characters_is_refused_before_any_request(
    server: LoopbackServer, collector: Collector
) -> None:
    collector.tags = tuple(f"hashtag{i:03d}" for i in range(50))
    with pytest.raises(PermanentError, match="512"):
        collector.run()
    assert server.requests == []


# -- re-checks -----------------------------------------------------------------------


def ref(post: Mapping[str, Any]) -> StoredRef:
    return StoredRef(f"x:{post['id']}", (), None, NOW, post["id"])


def test_recheck_returns_present_posts_and_names_the_gone_ones(
    sim: XSim, clock: Clock, collector: Collector
) -> None:
    kept, deleted, hidden = series(sim, 3, newest=NOW - timedelta(minutes=1))
    shy = make_user("shy")
    private = sim.post("hi #coproweek", user=shy, at=NOW - timedelta(minutes=9))
    edit = sim.edit(kept["id"], "post 0 #coproweek (edited)")
    sim.delete(deleted["id"])
    sim.update_user(shy, protected=True)
    never = {"id": "1" * 19}

    result = collector.recheck([ref(kept), ref(deleted), ref(hidden), ref(private), ref(never)])

    items = {i.key: i for i in result.items}
    assert {k: i.text for k, i in items.items()} == {
        f"x:{kept['id']}": "post 0 #coproweek (edited)",
        f"x:{hidden['id']}": "post 2 #coproweek",
    }
    assert items[f"x:{kept['id']}"].aliases == (f"x:{edit['id']}",)
    assert result.gone == {f"x:{deleted['id']}", f"x:{private['id']}", f"x:{never['id']}"}
    assert result.requests == 1


def test_recheck_drops_authors_who_opted_out_since(sim: XSim, collector: Collector) -> None:
    (post,) = series(sim, 1, newest=NOW)
    sim.update_user(ANA, description="please leave me out #nobot")

    result = collector.recheck([ref(post)])

    assert result.items == ()
    assert result.gone == {f"x:{post['id']}"}
    assert result.excluded == {"nobot": 1}
    assert result.excluded_keys == {f"x:{post['id']}": "nobot"}


def test_recheck_asks_100_ids_a_request_within_the_page_budget(
    sim: XSim, server: LoopbackServer, collector: Collector
) -> None:
    posts = series(sim, 250, newest=NOW, every=timedelta(seconds=1))

    result = collector.recheck([ref(p) for p in posts], max_pages=2)

    assert [len((r.arg("ids") or "").split(",")) for r in server.requests] == [100, 100]
    assert len(result.items) == 200
    assert result.gone == frozenset()


def test_the_source_satisfies_both_protocols() -> None:
    assert isinstance(SOURCE, Source)
    assert isinstance(SOURCE, Rechecker)


# -- options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("https://API.x.com/", "https://api.x.com"),
        ("http://127.0.0.1:8702", "http://127.0.0.1:8702"),
    ],
)
def test_the_api_address_is_normalized(given: str, normalized: str) -> None:
    assert XOptions(bearer_token_env="X", api=given).api == normalized


@pytest.mark.parametrize(
    "bad", ["api.x.com", "http://api.x.com", "https://api.x.com/2", "https://u:p@api.x.com"]
)
def test_a_bad_api_address_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="api"):
        XOptions(bearer_token_env="X", api=bad)


def test_a_token_pasted_into_bearer_token_env_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="NAME") as raised:
        XOptions(bearer_token_env="AAAA%2Fsecret-token")
    assert "secret-token" not in str(raised.value)


def test_max_results_is_bounded() -> None:
    for bad in (9, 101):
        with pytest.raises(ValueError, match="max_results"):
            XOptions(bearer_token_env="X", max_results=bad)


def test_unknown_options_are_rejected_by_fetch(collector: Collector) -> None:
    collector.options = {"bearer_token": TOKEN}
    with pytest.raises(PermanentError, match="bearer_token") as raised:
        collector.run()
    assert TOKEN not in str(raised.value)


def test_target_is_the_api_host_and_the_extra_operators() -> None:
    assert SOURCE.target(XOptions(bearer_token_env="X")) == "api.x.com"
    assert (
        SOURCE.target(XOptions(bearer_token_env="X", query_extra="lang:en")) == "api.x.com lang:en"
    )
    assert build_query(["a"], None) == "#a"


# -- the simulator answers like X ------------------------------------------------------


def call(sim: XSim, path: str, **query: str) -> tuple[int, Any, dict[str, str]]:
    headers = {"authorization": f"Bearer {sim.token}"}
    response = sim(Request("GET", path, {k: [v] for k, v in query.items()}, headers, "http://sim"))
    return response.status, json.loads(response.body), response.headers


def test_sim_serves_the_real_envelope_with_escaped_text_and_entities(sim: XSim) -> None:
    post = sim.post("a & b <3 #CoproWeek https://example.org/x", user=ANA, at=NOW)
    status, body, headers = call(sim, "/2/tweets/search/recent", query="#coproweek")
    assert status == 200
    assert set(body) == {"data", "includes", "meta"}
    (got,) = body["data"]
    assert got["text"].startswith("a &amp; b &lt;3 #CoproWeek https://t.co/")
    (tag,) = got["entities"]["hashtags"]
    assert got["text"][tag["start"] : tag["end"]] == "#CoproWeek"
    assert body["meta"] == {"newest_id": post["id"], "oldest_id": post["id"], "result_count": 1}
    assert headers["x-rate-limit-limit"] == "450"


def test_sim_refuses_what_the_api_refuses(sim: XSim) -> None:
    old = snowflake_id(NOW - timedelta(days=8))
    assert call(sim, "/2/tweets/search/recent", query="#a", since_id=old)[0] == 400
    assert call(sim, "/2/tweets/search/recent", query="#a", max_results="5")[0] == 400
    assert call(sim, "/2/tweets/search/recent", query="#a", next_token="zz")[0] == 400
    status, body, _ = call(sim, "/2/tweets/search/recent", query="#a")
    assert (status, body) == (200, {"meta": {"result_count": 0}})


def test_sim_lookup_names_missing_posts_in_errors(sim: XSim) -> None:
    post = sim.post("hi #a", user=ANA, at=NOW)
    _, body, _ = call(sim, "/2/tweets", ids=f"{post['id']},123")
    assert [t["id"] for t in body["data"]] == [post["id"]]
    assert body["errors"][0]["type"].endswith("/resource-not-found")


# -- through the pipeline ----------------------------------------------------------------


def test_the_pipeline_stores_the_cycle_and_the_next_fetch_continues_it(
    sim: XSim, server: LoopbackServer, clock: Clock, sqlite_store: Store
) -> None:
    spec = Collector(server, clock).spec()
    sqlite_store.sync_event(
        EventRecord(
            "launch", "Launch", ("coproweek",), "UTC", date(2026, 8, 1), date(2026, 8, 2), 1
        ),
        [spec],
        clock.now,
    )
    posts = series(sim, 150, newest=NOW, every=timedelta(seconds=10))

    async def update() -> list[RunReport]:
        async with make_client(timeout=httpx.Timeout(5)) as client:
            updater = Updater(
                store=sqlite_store,
                client=client,
                clock=clock,
                schedule=Schedule(interval=timedelta(minutes=15), max_backoff=timedelta(hours=1)),
                env={"X_BEARER": TOKEN},
                max_pages=1,
                sources={"x": SOURCE},
            )
            return await updater.update(sqlite_store.sources())

    (first,) = asyncio.run(update())
    (second,) = asyncio.run(update())

    assert (first.counts.new, second.counts.new) == (100, 50)
    assert {v.item.key for v in sqlite_store.items("launch")} == key_set(posts)
    (state,) = [s.state for s in sqlite_store.sources()]
    assert state["since_id"] == posts[0]["id"]
    assert state["cycle"] is None
    assert TOKEN not in json.dumps(sqlite_store.fetch_runs(spec.id), default=str)
