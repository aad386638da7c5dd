"""The Mastodon fetcher against a simulated Mastodon on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.demo.mastodon_sim import MastodonSim, make_account, make_status, snowflake_id
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.models import FetchResult, SourceSpec, SourceState
from aggregator.sources.mastodon import SOURCE, MastodonOptions
from tests.support import Clock, run_fetch

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
ALICE = make_account("alice", display_name="Alice")
BOB = make_account("bob", home="other.example")
NOBOT = make_account("carol", note="<p>carer, writer. #<span>NoBot</span></p>")


@dataclass
class Collector:
    """Runs the real fetcher repeatedly, carrying its state like the pipeline does."""

    server: LoopbackServer
    clock: Clock
    tags: tuple[str, ...] = ("coproduction",)
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 5.0

    def run(self, *, horizon: datetime | None = None, max_pages: int = 20) -> FetchResult:
        spec = SourceSpec(
            id="test",
            event="launch",
            platform="mastodon",
            target="127.0.0.1",
            hashtags=self.tags,
            options={"instance": self.server.base_url, **self.options},
        )
        result = run_fetch(
            SOURCE,
            SourceState(spec=spec, state=self.state),
            now=self.clock.now,
            env=self.env,
            horizon=horizon,
            max_pages=max_pages,
            timeout=self.timeout,
        )
        self.state = result.state
        return result


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sim(clock: Clock) -> MastodonSim:
    return MastodonSim(clock=clock, known_tags=["coproduction", "socialcare"])


@pytest.fixture
def server(loopback: LoopbackServer, sim: MastodonSim) -> LoopbackServer:
    loopback.app = sim
    loopback.requests.clear()
    return loopback


@pytest.fixture
def collector(server: LoopbackServer, clock: Clock) -> Collector:
    return Collector(server, clock)


def post_series(
    sim: MastodonSim,
    count: int,
    *,
    newest: datetime,
    every: timedelta = timedelta(minutes=10),
    tags: tuple[str, ...] = ("coproduction",),
    account: Mapping[str, Any] = ALICE,
) -> list[dict[str, Any]]:
    """``count`` statuses, ``every`` apart, the newest at ``newest``; newest first."""
    return [
        sim.post(f"<p>post {i} #{tags[0]}</p>", account=account, tags=tags, at=newest - i * every)
        for i in range(count)
    ]


def uris(statuses: list[dict[str, Any]]) -> set[str]:
    return {s["uri"] for s in statuses}


def keys(result: FetchResult) -> set[str]:
    return {item.key for item in result.items}


def queries(server: LoopbackServer) -> list[dict[str, str]]:
    return [{k: v[-1] for k, v in r.query.items()} for r in server.requests]


# -- collecting ------------------------------------------------------------------


def test_first_run_walks_back_page_by_page_until_the_horizon(
    sim: MastodonSim, server: LoopbackServer, collector: Collector
) -> None:
    statuses = post_series(sim, 100, newest=NOW - timedelta(minutes=1), every=timedelta(hours=1))

    result = collector.run(horizon=NOW - timedelta(hours=50))

    assert keys(result) == uris(statuses[:50])
    assert result.requests == 2  # the second page reaches past the horizon
    first, second = queries(server)
    assert first == {"limit": "40"}
    assert second == {"limit": "40", "max_id": statuses[39]["id"]}
    assert result.state["tags"]["coproduction"] == {
        "min_id": statuses[0]["id"],
        "backfill_max_id": None,
        "rescanned_at": NOW.isoformat(),
    }
    assert result.cursor_before == "#coproduction (new)"
    assert result.cursor_after == f"#coproduction>{statuses[0]['id']}"


def test_a_short_page_is_not_taken_for_the_end_of_the_timeline(
    sim: MastodonSim, server: LoopbackServer, collector: Collector
) -> None:
    # A server may cap ``limit`` below 40, or drop a status from a page after the query
    # (Mastodon's cache_collection skips one deleted meanwhile): only an empty page
    # ends a walk.
    statuses = post_series(sim, 30, newest=NOW - timedelta(minutes=1))
    server.app = lambda request: sim(replace(request, query={**request.query, "limit": ["20"]}))

    result = collector.run()

    assert keys(result) == uris(statuses)
    assert result.requests == 3  # 20, 10, then the empty page
    assert queries(server)[1:] == [
        {"limit": "40", "max_id": statuses[19]["id"]},
        {"limit": "40", "max_id": statuses[29]["id"]},
    ]


def test_items_are_parsed_statuses(sim: MastodonSim, collector: Collector) -> None:
    (status,) = post_series(sim, 1, newest=NOW - timedelta(minutes=1))

    (item,) = collector.run().items

    assert item.key == status["uri"]
    assert item.author.handle == "@alice@mastodon.example"
    assert item.text == "post 0 #coproduction"
    assert item.hashtags == ("coproduction",)


def test_later_runs_ask_for_what_is_above_the_cursor_only(
    sim: MastodonSim, server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    old = post_series(sim, 5, newest=NOW - timedelta(minutes=1))
    collector.run()
    clock.advance(minutes=5)
    new = post_series(sim, 3, newest=clock.now - timedelta(seconds=10), every=timedelta(seconds=30))
    server.requests.clear()

    result = collector.run()

    assert keys(result) == uris(new)
    assert queries(server) == [
        {"limit": "40", "min_id": old[0]["id"]},
        {"limit": "40", "min_id": new[0]["id"]},  # from Link rel="prev"; answers []
    ]
    assert result.state["tags"]["coproduction"]["min_id"] == new[0]["id"]


def test_a_page_cap_never_leaves_a_gap_over_several_runs(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    post_series(sim, 2, newest=NOW - timedelta(hours=1))
    collector.run()
    clock.advance(minutes=5)
    burst = post_series(sim, 100, newest=clock.now, every=timedelta(seconds=2))

    seen: list[str] = []
    for _ in range(4):
        result = collector.run(max_pages=1)
        assert result.requests == 1
        seen += [item.key for item in result.items]

    assert sorted(seen) == sorted(uris(burst))  # every status once, none skipped


def test_a_capped_first_walk_resumes_back_to_the_horizon(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    statuses = post_series(sim, 150, newest=NOW - timedelta(minutes=1))
    horizon = NOW - timedelta(minutes=10 * 120)

    seen = keys(collector.run(horizon=horizon, max_pages=2))
    assert collector.state["tags"]["coproduction"]["backfill_max_id"] == statuses[79]["id"]
    while collector.state["tags"]["coproduction"]["backfill_max_id"] is not None:
        clock.advance(minutes=1)
        seen |= keys(collector.run(horizon=horizon, max_pages=2))

    assert seen == uris(statuses[:120])


def test_a_status_backfilled_below_the_cursor_is_found_by_the_overlap_rescan(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    post_series(sim, 3, newest=NOW - timedelta(minutes=1))
    collector.run()
    late_at = NOW - timedelta(minutes=30)
    late = sim.add(
        make_status(
            snowflake_id(late_at),
            created_at=late_at,
            content="<p>late</p>",
            account=BOB,
            tags=["coproduction"],
        )
    )

    clock.advance(minutes=10)
    assert keys(collector.run()) == set()  # min_id paging cannot see below the cursor

    clock.advance(minutes=51)
    result = collector.run()
    assert late["uri"] in keys(result)
    assert result.state["tags"]["coproduction"]["rescanned_at"] == clock.now.isoformat()


def test_an_edit_is_returned_with_its_new_content_by_the_rescan(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    (status,) = post_series(sim, 1, newest=NOW - timedelta(minutes=1))
    (before,) = collector.run().items
    edited_at = clock.advance(minutes=20)
    sim.edit(status["id"], content="<p>post 0, now with a link https://example.org</p>")

    clock.advance(minutes=41)
    (after,) = collector.run().items

    assert after.key == before.key
    assert after.text == "post 0, now with a link https://example.org"
    assert after.edited_at == edited_at
    assert after.content_hash != before.content_hash


def test_several_hashtags_keep_a_cursor_each_and_return_a_status_once(
    sim: MastodonSim, collector: Collector
) -> None:
    both = post_series(sim, 1, newest=NOW, tags=("coproduction", "socialcare"))
    only_care = post_series(sim, 2, newest=NOW - timedelta(minutes=3), tags=("socialcare",))
    collector.tags = ("coproduction", "socialcare")

    result = collector.run()

    assert [item.key for item in result.items].count(both[0]["uri"]) == 1
    assert keys(result) == uris(both + only_care)
    assert set(result.state["tags"]) == {"coproduction", "socialcare"}
    assert result.state["tags"]["socialcare"]["min_id"] == both[0]["id"]


def test_non_consenting_authors_are_counted_once_per_fetch(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    consenting = post_series(sim, 1, newest=NOW - timedelta(minutes=1))
    collector.run()
    clock.advance(hours=2)
    post_series(sim, 2, newest=clock.now, account=NOBOT)

    result = collector.run()  # forward paging and the rescan both see them

    assert keys(result) == uris(consenting)  # re-read by the rescan
    assert result.excluded == {"nobot": 2}


def test_local_only_asks_for_local_statuses(
    sim: MastodonSim, server: LoopbackServer, collector: Collector
) -> None:
    local = post_series(sim, 1, newest=NOW)
    post_series(sim, 1, newest=NOW - timedelta(minutes=1), account=BOB)
    collector.options = {"local_only": True}

    assert keys(collector.run()) == uris(local)
    assert all(q.get("local") == "true" for q in queries(server))


def test_a_reply_names_its_parent_by_an_alias_the_parent_carries(
    sim: MastodonSim, collector: Collector
) -> None:
    (parent,) = post_series(sim, 1, newest=NOW - timedelta(minutes=5))
    reply = sim.post(
        "<p>agreed #coproduction</p>",
        account=BOB,
        tags=["coproduction"],
        at=NOW - timedelta(minutes=1),
        in_reply_to_id=parent["id"],
    )

    items = {item.key: item for item in collector.run().items}

    assert items[reply["uri"]].in_reply_to in items[parent["uri"]].aliases


# -- authentication ---------------------------------------------------------------


def test_the_token_is_read_from_the_named_variable_and_sent_as_bearer(
    server: LoopbackServer, sim: MastodonSim, collector: Collector
) -> None:
    sim.token = "s3cret-token"
    collector.options = {"token_env": "MASTO_TOKEN"}
    collector.env = {"MASTO_TOKEN": "s3cret-token"}

    collector.run()

    assert server.requests[0].headers["authorization"] == "Bearer s3cret-token"


def test_a_rejected_token_is_permanent_and_never_named(
    sim: MastodonSim, collector: Collector
) -> None:
    sim.token = "the-right-one"
    collector.options = {"token_env": "MASTO_TOKEN"}
    collector.env = {"MASTO_TOKEN": "s3cret-token"}

    with pytest.raises(PermanentError, match="401") as raised:
        collector.run()

    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in repr(raised.value.__cause__)


def test_a_missing_token_variable_names_the_variable(collector: Collector) -> None:
    collector.options = {"token_env": "MASTO_TOKEN"}

    with pytest.raises(PermanentError, match="MASTO_TOKEN"):
        collector.run()


# -- rate limits --------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_after(sim: MastodonSim, collector: Collector) -> None:
    sim.set_remaining(0)

    with pytest.raises(RateLimited) as raised:
        collector.run()

    assert raised.value.retry_after == timedelta(minutes=5)  # the window ends at 12:05


def test_429_without_retry_after_waits_for_the_rate_limit_reset(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    sim.retry_after_header = False  # as real Mastodon answers
    clock.advance(minutes=1)
    sim.set_remaining(0)

    with pytest.raises(RateLimited) as raised:
        collector.run()

    assert raised.value.retry_after == timedelta(minutes=4)


def test_low_remaining_budget_stops_paging_and_asks_to_come_back_after_the_reset(
    sim: MastodonSim, clock: Clock, collector: Collector
) -> None:
    statuses = post_series(sim, 400, newest=NOW)
    sim.set_remaining(20)  # stops at 15 (5 % of 300) after 5 requests

    result = collector.run()

    assert result.requests == 5
    assert len(result.items) == 200
    assert result.next_check_hint == datetime(2026, 8, 1, 12, 5, tzinfo=UTC)
    assert result.rate_limit is not None
    assert result.rate_limit.remaining == 15
    assert collector.state["tags"]["coproduction"]["backfill_max_id"] == statuses[199]["id"]

    clock.advance(minutes=5)
    assert len(collector.run().items) == 200  # the rest, after the reset


def test_a_rate_limit_stop_keeps_the_other_tags_state(
    sim: MastodonSim, collector: Collector
) -> None:
    post_series(sim, 200, newest=NOW)
    collector.tags = ("coproduction", "socialcare")
    collector.state = {
        "version": 1,
        "instance": collector.server.base_url,
        "tags": {"socialcare": {"min_id": "5", "backfill_max_id": None, "rescanned_at": None}},
    }
    sim.set_remaining(3)

    result = collector.run()

    assert result.requests == 1
    assert result.state["tags"]["socialcare"]["min_id"] == "5"


# -- failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", status=503), TemporaryError),
        (Fault("status", status=502, headers={"Retry-After": "30"}), RateLimited),
        (Fault("timeout", seconds=1.0), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
        (Fault("status", status=404), PermanentError),
    ],
    ids=["503", "502-retry-after", "timeout", "reset", "malformed", "404"],
)
def test_failures_become_source_errors(
    fault: Fault,
    error: type[Exception],
    sim: MastodonSim,
    server: LoopbackServer,
    collector: Collector,
) -> None:
    post_series(sim, 3, newest=NOW)
    collector.timeout = 0.3
    server.inject(fault)

    with pytest.raises(error):
        collector.run()

    assert len(collector.run().items) == 3  # nothing lost: the state never moved


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Response(302, {"Location": "/api/v1/timelines/tag/coproduction"}), TemporaryError),
        (Response(200, {"Content-Encoding": "gzip"}, b"[] not gzip"), ParseError),
    ],
    ids=["redirect-loop", "bad-content-encoding"],
)
def test_request_errors_http_get_lets_through_become_source_errors(
    answer: Response, error: type[Exception], server: LoopbackServer, collector: Collector
) -> None:
    server.app = lambda request: answer

    with pytest.raises(error):
        collector.run()


def test_5xx_is_temporary_not_rate_limited(server: LoopbackServer, collector: Collector) -> None:
    server.inject(Fault("status", status=500))

    with pytest.raises(TemporaryError) as raised:
        collector.run()

    assert not isinstance(raised.value, RateLimited)


def test_an_unknown_tag_fails_the_whole_source(collector: Collector) -> None:
    collector.tags = ("coproduction", "no_such_tag")

    with pytest.raises(PermanentError, match="no_such_tag"):
        collector.run()


def test_a_body_that_is_not_a_timeline_is_a_parse_error(
    server: LoopbackServer, collector: Collector
) -> None:
    server.app = lambda request: Response(200, {"Content-Type": "application/json"}, b"{}")

    with pytest.raises(ParseError, match="coproduction"):
        collector.run()


# -- options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("https://Mastodon.Social/", "https://mastodon.social"),
        ("https://mastodon.social:443", "https://mastodon.social"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:3000/", "http://localhost:3000"),
    ],
)
def test_the_instance_is_normalized(given: str, normalized: str) -> None:
    assert MastodonOptions(instance=given).instance == normalized


@pytest.mark.parametrize(
    "bad",
    [
        "mastodon.social",
        "ftp://mastodon.social",
        "http://mastodon.social",
        "https://mastodon.social/@alice",
        "https://user:pw@mastodon.social",
    ],
)
def test_a_bad_instance_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="instance"):
        MastodonOptions(instance=bad)


def test_a_token_pasted_into_token_env_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="NAME") as raised:
        MastodonOptions(instance="https://mastodon.social", token_env="abc-DEF.123xyz")
    assert "abc-DEF.123xyz" not in str(raised.value)


def test_unknown_options_are_rejected_by_fetch(collector: Collector) -> None:
    collector.options = {"tokken_env": "X"}

    with pytest.raises(PermanentError, match="tokken_env"):
        collector.run()


def test_target_is_the_instance_host() -> None:
    options = MastodonOptions(instance="https://mastodon.social")
    assert SOURCE.target(options) == "mastodon.social"


# -- the simulator pages like Mastodon ------------------------------------------------


def call(sim: MastodonSim, path: str, **query: str) -> tuple[int, Any, dict[str, str]]:
    response = sim(Request("GET", path, {k: [v] for k, v in query.items()}, {}, "http://sim.test"))
    return response.status, json.loads(response.body), response.headers


def test_sim_min_id_returns_the_chunk_just_above_it_newest_first(sim: MastodonSim) -> None:
    statuses = post_series(sim, 10, newest=NOW)
    ids = [s["id"] for s in statuses]

    _, page, headers = call(sim, "/api/v1/timelines/tag/coproduction", min_id=ids[9], limit="3")

    assert [s["id"] for s in page] == ids[6:9]
    base = "http://sim.test/api/v1/timelines/tag/coproduction"
    assert headers["Link"] == (
        f'<{base}?limit=3&max_id={ids[8]}>; rel="next", '
        f'<{base}?limit=3&min_id={ids[6]}>; rel="prev"'
    )


def test_sim_since_id_returns_the_newest_and_max_id_pages_back(sim: MastodonSim) -> None:
    ids = [s["id"] for s in post_series(sim, 10, newest=NOW)]

    _, since, _ = call(sim, "/api/v1/timelines/tag/coproduction", since_id=ids[9], limit="3")
    _, older, _ = call(sim, "/api/v1/timelines/tag/Coproduction", max_id=ids[2], limit="99")

    assert [s["id"] for s in since] == ids[:3]
    assert [s["id"] for s in older] == ids[3:]


def test_sim_empty_pages_have_no_link_and_unknown_things_are_404(sim: MastodonSim) -> None:
    status, page, headers = call(sim, "/api/v1/timelines/tag/coproduction")
    assert (status, page, "Link" in headers) == (200, [], False)
    assert headers["X-RateLimit-Limit"] == "300"
    assert call(sim, "/api/v1/timelines/tag/nope")[:2] == (404, {"error": "Record not found"})
    assert call(sim, "/api/v1/statuses/1")[:2] == (404, {"error": "Record not found"})


def test_sim_serves_public_statuses_by_id_until_deleted(sim: MastodonSim) -> None:
    (status,) = post_series(sim, 1, newest=NOW)
    assert call(sim, f"/api/v1/statuses/{status['id']}")[:2] == (200, status)
    sim.delete(status["id"])
    assert call(sim, f"/api/v1/statuses/{status['id']}")[0] == 404
