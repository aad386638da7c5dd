"""The Bluesky fetcher against a simulated entryway and PDS on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aggregator.demo.bluesky_sim import BlueskySim, did_for, iso, make_post, make_profile
from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.exceptions import (
    ParseError,
    PermanentError,
    RateLimited,
    SourceError,
    TemporaryError,
)
from aggregator.models import (
    ConsentPolicy,
    FetchResult,
    RecheckResult,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.sources import Rechecker, Source
from aggregator.sources.bluesky import SOURCE, BlueskyOptions, BlueskySource
from aggregator.sources.bluesky_parse import format_time
from tests.support import Clock, Context

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
PASSWORD = "abcd-efgh-ijkl-mnop"
ALICE = make_profile("alice.example.com", display_name="Alice")
CAROL = make_profile("carol.example.com", display_name="Carol")
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
LOGIN = "/xrpc/com.atproto.server.createSession"
REFRESH = "/xrpc/com.atproto.server.refreshSession"


@dataclass
class Collector:
    """Runs the real source repeatedly, carrying its state like the pipeline does."""

    entry: LoopbackServer
    clock: Clock
    source: BlueskySource = field(default_factory=BlueskySource)
    tags: tuple[str, ...] = ("coproduction",)
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: {"BSKY_APP_PASSWORD": PASSWORD})
    state: Mapping[str, Any] = field(default_factory=dict)
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    timeout: float = 5.0
    transport: httpx.AsyncBaseTransport | None = None

    def spec(self) -> SourceSpec:
        options = {
            "handle": "collector.example.com",
            "app_password_env": "BSKY_APP_PASSWORD",
            "service": self.entry.base_url,
            **self.options,
        }
        return SourceSpec("test", "launch", "bluesky", "127.0.0.1", self.tags, options)

    def context(self, **settings: Any) -> Context:
        """What a run sees now; ``settings`` as :class:`Context`."""
        return Context(
            now=self.clock.now,
            env=self.env,
            consent=self.consent,
            timeout=self.timeout,
            transport=self.transport,
            **settings,
        )

    def run(self, *, horizon: datetime | None = None, max_pages: int = 20) -> FetchResult:
        state = SourceState(self.spec(), self.state)
        context = self.context(horizon=horizon, max_pages=max_pages)
        result = context.run(lambda ctx: self.source.fetch(state, ctx))
        self.state = result.state
        return result

    def recheck(self, uris: Sequence[str]) -> RecheckResult:
        refs = [StoredRef(uri, (), None, NOW, None) for uri in uris]
        state = SourceState(self.spec(), self.state)
        return self.context().run(lambda ctx: self.source.recheck(state, refs, ctx))


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(scope="module")
def entry_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: Response(500)) as server:
        yield server


@pytest.fixture(scope="module")
def pds_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: Response(500)) as server:
        yield server


@pytest.fixture
def sim(clock: Clock, entry_server: LoopbackServer, pds_server: LoopbackServer) -> BlueskySim:
    sim = BlueskySim(clock=clock, pds_url=pds_server.base_url)
    entry_server.app, pds_server.app = sim.entryway, sim
    entry_server.requests.clear()
    pds_server.requests.clear()
    return sim


@pytest.fixture
def collector(sim: BlueskySim, entry_server: LoopbackServer, clock: Clock) -> Collector:
    return Collector(entry_server, clock)


def post_series(
    sim: BlueskySim,
    count: int,
    *,
    newest: datetime,
    every: timedelta = timedelta(minutes=1),
    author: Mapping[str, Any] = ALICE,
    tag: str = "coproduction",
) -> list[dict[str, Any]]:
    """``count`` posts, ``every`` apart, the newest at ``newest``; newest first."""
    return [sim.post(author, f"post {i} #{tag}", at=newest - i * every) for i in range(count)]


def uris(posts: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(p["uri"]) for p in posts}


def keys(result: FetchResult | RecheckResult) -> set[str]:
    return {item.key for item in result.items}


def queries(server: LoopbackServer, path: str = SEARCH) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in server.requests if r.path == path]


# -- collecting -------------------------------------------------------------------


def test_first_run_searches_each_tag_on_the_pds_since_the_horizon(
    sim: BlueskySim, entry_server: LoopbackServer, pds_server: LoopbackServer, collector: Collector
) -> None:
    recent = post_series(sim, 3, newest=NOW - timedelta(minutes=1))
    post_series(sim, 1, newest=NOW - timedelta(days=3))
    horizon = NOW - timedelta(days=1)

    result = collector.run(horizon=horizon)

    assert keys(result) == uris(recent)
    assert [r.path for r in entry_server.requests] == [LOGIN]
    assert queries(pds_server) == [
        {
            "q": ["#coproduction"],
            "tag": ["coproduction"],
            "sort": ["latest"],
            "limit": ["100"],
            "since": [format_time(horizon)],
        }
    ]
    assert pds_server.requests[0].headers["authorization"].startswith("Bearer sim-access-")
    assert result.state == {
        "version": 1,
        "service": entry_server.base_url,
        "tags": {"coproduction": {"high_water": recent[0]["indexedAt"], "gaps": []}},
    }
    assert result.requests == 2
    assert result.rate_limit is not None
    assert result.rate_limit.remaining == 2999
    assert result.cursor_before == "#coproduction (new)"
    assert result.cursor_after == f"#coproduction>{recent[0]['indexedAt']}"


def test_items_are_parsed_posts(sim: BlueskySim, collector: Collector) -> None:
    (post,) = post_series(sim, 1, newest=NOW - timedelta(minutes=1))

    (item,) = collector.run().items

    assert item.key == post["uri"]
    assert item.author.handle == "@alice.example.com"
    assert item.text == "post 0 #coproduction"
    assert item.hashtags == ("coproduction",)


def test_the_session_is_reused_across_fetches_sources_and_tags(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    collector.tags = ("coproduction", "socialcare")
    for _ in range(5):
        collector.run()
        clock.advance(minutes=15)
    other_event = Collector(collector.entry, clock, source=collector.source)
    other_event.run()

    assert sim.logins == 1
    assert sim.refreshes == 0
    assert sim.calls["app.bsky.feed.searchPosts"] == 11


def test_concurrent_fetches_sign_in_once(sim: BlueskySim, collector: Collector) -> None:
    state = SourceState(collector.spec())
    collector.context().run(
        lambda ctx: asyncio.gather(*(collector.source.fetch(state, ctx) for _ in range(4)))
    )

    assert sim.logins == 1


@pytest.mark.parametrize("how", ["expired by the server", "access token lifetime"])
def test_an_expired_access_token_is_refreshed_on_the_entryway(
    how: str, sim: BlueskySim, entry_server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    collector.run()
    if how == "expired by the server":
        sim.expire_access_tokens()
    else:
        clock.advance(hours=2, minutes=1)
    (post,) = post_series(sim, 1, newest=clock.now)

    result = collector.run()

    assert keys(result) == {post["uri"]}
    assert (sim.logins, sim.refreshes) == (1, 1)
    assert [r.path for r in entry_server.requests] == [LOGIN, REFRESH]
    assert entry_server.requests[1].headers["authorization"].startswith("Bearer sim-refresh-")
    collector.run()
    assert (sim.logins, sim.refreshes) == (1, 1)  # the refreshed session is kept


def test_a_revoked_session_signs_in_again_once(sim: BlueskySim, collector: Collector) -> None:
    collector.run()
    sim.revoke_sessions()

    collector.run()

    assert sim.logins == 2


def test_a_spent_refresh_token_signs_in_again(sim: BlueskySim, collector: Collector) -> None:
    collector.run()
    sim.expire_access_tokens()
    sim.expire_refresh_tokens()

    collector.run()

    assert (sim.logins, sim.refreshes) == (2, 1)


def test_a_changed_app_password_drops_the_session(sim: BlueskySim, collector: Collector) -> None:
    collector.run()
    sim.password = "wxyz-wxyz-wxyz-wxyz"  # the account holder made a new app password
    collector.env = {"BSKY_APP_PASSWORD": "wxyz-wxyz-wxyz-wxyz"}

    collector.run()

    assert sim.logins == 2


def test_without_a_pds_in_the_did_document_calls_go_to_the_service(
    sim: BlueskySim, entry_server: LoopbackServer, pds_server: LoopbackServer, collector: Collector
) -> None:
    sim.pds_url = None
    entry_server.app = sim
    post_series(sim, 2, newest=NOW)

    assert len(collector.run().items) == 2
    assert [r.path for r in entry_server.requests] == [LOGIN, SEARCH]
    assert pds_server.requests == []


def test_later_runs_search_since_the_high_water_mark_minus_the_overlap(
    sim: BlueskySim, pds_server: LoopbackServer, clock: Clock, collector: Collector
) -> None:
    first = post_series(sim, 3, newest=NOW - timedelta(minutes=1))
    collector.run(horizon=NOW - timedelta(days=1))
    clock.advance(minutes=15)
    # Written half an hour ago, indexed only now: it sorts below the high-water mark.
    late = sim.add(
        make_post(
            CAROL,
            "late #coproduction",
            created_at=NOW - timedelta(minutes=30),
            indexed_at=clock.now,
        )
    )
    new = post_series(sim, 2, newest=clock.now)
    pds_server.requests.clear()

    result = collector.run(horizon=NOW - timedelta(days=1))

    high_water = datetime.fromisoformat(first[0]["indexedAt"])
    assert queries(pds_server)[0]["since"] == [format_time(high_water - timedelta(hours=1))]
    assert uris([late, *new]) <= keys(result)
    assert result.state["tags"]["coproduction"]["high_water"] == iso(clock.now)


def test_cursor_paging_follows_the_cursor_to_its_end(
    sim: BlueskySim, pds_server: LoopbackServer, collector: Collector
) -> None:
    posts = post_series(sim, 250, newest=NOW, every=timedelta(seconds=10))

    result = collector.run()

    assert keys(result) == uris(posts)
    assert [q.get("cursor") for q in queries(pds_server)] == [None, ["100"], ["200"]]


def test_a_page_cap_never_leaves_a_gap_over_several_runs(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    backlog = post_series(sim, 450, newest=NOW, every=timedelta(minutes=2))
    seen: set[str] = set()
    arrivals: list[dict[str, Any]] = []
    for run in range(6):
        result = collector.run(horizon=NOW - timedelta(days=1), max_pages=2)
        assert result.requests <= 3  # two pages, and the sign-in the first time
        if run == 0:
            assert len(result.state["tags"]["coproduction"]["gaps"]) == 1
        seen |= keys(result)
        clock.advance(minutes=5)
        arrivals += post_series(sim, 10, newest=clock.now, every=timedelta(seconds=20))

    assert collector.state["tags"]["coproduction"]["gaps"] == []
    assert uris(backlog) | uris(arrivals[:-10]) <= seen  # nothing skipped


def test_a_walk_paged_too_deep_is_split_with_until(
    sim: BlueskySim, pds_server: LoopbackServer, collector: Collector
) -> None:
    sim.max_offset = collector.source.max_offset = 200
    posts = post_series(sim, 700, newest=NOW, every=timedelta(seconds=30))

    result = collector.run()

    assert keys(result) == uris(posts)
    asked = queries(pds_server)
    assert all(int(q.get("cursor", ["0"])[0]) <= 200 for q in asked)  # never refused
    assert sum("until" in q for q in asked) >= 4
    assert result.state["tags"]["coproduction"]["gaps"] == []


def test_a_refused_deep_cursor_also_splits_the_window(
    sim: BlueskySim, pds_server: LoopbackServer, collector: Collector
) -> None:
    sim.max_offset = 150  # refuses cursor "200", which the source asks for
    posts = post_series(sim, 400, newest=NOW, every=timedelta(seconds=30))

    result = collector.run()

    assert keys(result) == uris(posts)
    assert any(q.get("cursor") == ["200"] for q in queries(pds_server))


def test_a_server_that_repeats_a_page_does_not_spin_the_budget(
    sim: BlueskySim, pds_server: LoopbackServer, collector: Collector
) -> None:
    post_series(sim, 150, newest=NOW)

    def ignoring_the_cursor(request: Request) -> Response:
        return sim(
            replace(request, query={k: v for k, v in request.query.items() if k != "cursor"})
        )

    pds_server.app = ignoring_the_cursor
    result = collector.run()

    assert result.requests == 3  # the sign-in, a page, the same page again
    assert len(result.items) == 100


def test_non_consenting_authors_are_counted_once_not_collected(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    mine = post_series(sim, 1, newest=NOW - timedelta(minutes=3))
    shy = make_profile("shy.example.com", labels=["!no-unauthenticated"])
    post_series(sim, 2, newest=NOW - timedelta(minutes=1), author=shy)
    collector.tags = ("coproduction", "socialcare")
    sim.post(shy, "both #coproduction #socialcare", at=NOW)

    result = collector.run()

    assert keys(result) == uris(mine)
    assert result.excluded == {"no_unauthenticated": 3}


def test_the_consent_policy_can_let_self_labelled_accounts_in(
    sim: BlueskySim, collector: Collector
) -> None:
    shy = make_profile("shy.example.com", labels=["!no-unauthenticated"])
    post_series(sim, 2, newest=NOW, author=shy)
    collector.consent = ConsentPolicy(respect_no_unauthenticated=False)

    assert len(collector.run().items) == 2


def test_the_language_option_is_sent(
    sim: BlueskySim, pds_server: LoopbackServer, collector: Collector
) -> None:
    collector.options = {"lang": "fr"}
    collector.run()
    assert queries(pds_server)[0]["lang"] == ["fr"]


# -- re-checks ------------------------------------------------------------------------


def test_recheck_sees_edits_deletions_and_new_opt_outs(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    edited, deleted, kept = post_series(sim, 3, newest=NOW)
    (shy,) = post_series(sim, 1, newest=NOW, author=CAROL)
    others = post_series(sim, 30, newest=NOW - timedelta(hours=1))
    collector.run()
    clock.advance(minutes=30)
    sim.edit(edited["uri"], "post 0, now with https://example.org #coproduction")
    sim.update(kept["uri"], likeCount=7, replyCount=2)
    sim.delete(deleted["uri"])
    sim.label_account(did_for("carol.example.com"), "!no-unauthenticated")
    asked = [p["uri"] for p in (edited, deleted, kept, shy, *others)]

    result = collector.recheck([*asked, "https://not-bluesky.example/1"])

    items = {item.key: item for item in result.items}
    assert set(items) == set(asked) - {deleted["uri"], shy["uri"]}
    assert items[edited["uri"]].links == ("https://example.org/",)
    assert (items[kept["uri"]].engagement.likes, items[kept["uri"]].engagement.replies) == (7, 2)
    assert result.gone == {deleted["uri"], shy["uri"]}
    assert result.excluded == {"no_unauthenticated": 1}
    assert sim.calls["app.bsky.feed.getPosts"] == 2  # 34 uris, 25 a call
    assert isinstance(SOURCE, Rechecker)


# -- rate limits ------------------------------------------------------------------------


def test_429_is_rate_limited_until_the_reset(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    clock.advance(minutes=1)
    sim.set_remaining(0)

    with pytest.raises(RateLimited) as raised:
        collector.run()

    assert raised.value.retry_after == timedelta(minutes=4)  # the window ends at 12:05


def test_low_remaining_budget_stops_paging_and_resumes_after_the_reset(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    posts = post_series(sim, 500, newest=NOW, every=timedelta(seconds=10))
    sim.set_remaining(153)  # stops at 150 (5 % of 3000): after three pages

    result = collector.run()

    assert len(result.items) == 300
    assert result.next_check_hint == datetime(2026, 8, 1, 12, 5, tzinfo=UTC)
    assert len(result.state["tags"]["coproduction"]["gaps"]) == 1
    clock.advance(minutes=5)
    assert keys(result) | keys(collector.run()) == uris(posts)


def test_a_rate_limited_sign_in_waits_for_the_login_reset(
    sim: BlueskySim, entry_server: LoopbackServer, collector: Collector
) -> None:
    reset = str(int((NOW + timedelta(minutes=3)).timestamp()))
    entry_server.inject(
        Fault("status", status=429, headers={"RateLimit-Reset": reset}, path_prefix=LOGIN)
    )

    with pytest.raises(RateLimited) as raised:
        collector.run()

    assert raised.value.retry_after == timedelta(minutes=3)


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", status=503, path_prefix=SEARCH), TemporaryError),
        (
            Fault("status", status=502, headers={"Retry-After": "30"}, path_prefix=SEARCH),
            RateLimited,
        ),
        (Fault("timeout", seconds=1.0, path_prefix=SEARCH), TemporaryError),
        (Fault("reset", path_prefix=SEARCH), TemporaryError),
        (Fault("malformed", path_prefix=SEARCH), ParseError),
        (Fault("status", status=404, path_prefix=SEARCH), PermanentError),
        (Fault("timeout", seconds=1.0, path_prefix=LOGIN), TemporaryError),
        (Fault("malformed", path_prefix=LOGIN), ParseError),
    ],
    ids=[
        "503",
        "502-retry-after",
        "timeout",
        "reset",
        "malformed",
        "404",
        "login-timeout",
        "login-malformed",
    ],
)
def test_failures_become_source_errors_and_lose_nothing(
    fault: Fault,
    error: type[Exception],
    sim: BlueskySim,
    entry_server: LoopbackServer,
    pds_server: LoopbackServer,
    collector: Collector,
) -> None:
    posts = post_series(sim, 3, newest=NOW)
    collector.timeout = 0.3
    (entry_server if fault.path_prefix == LOGIN else pds_server).inject(fault)

    with pytest.raises(error):
        collector.run()

    assert collector.state == {}
    assert keys(collector.run()) == uris(posts)


def test_an_html_403_says_the_host_serves_a_web_page(
    pds_server: LoopbackServer, collector: Collector
) -> None:
    pds_server.app = lambda request: Response(403, {"Content-Type": "text/html"}, b"<html>")

    with pytest.raises(PermanentError, match="web page"):
        collector.run()


def test_a_refused_sign_in_is_permanent_and_names_the_variable_not_the_password(
    sim: BlueskySim, collector: Collector
) -> None:
    sim.refuse_logins = True

    with pytest.raises(PermanentError, match="BSKY_APP_PASSWORD") as raised:
        collector.run()

    assert "Invalid identifier or password" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_a_server_echoing_a_secret_is_scrubbed(
    entry_server: LoopbackServer, collector: Collector
) -> None:
    body = json.dumps({"error": "AuthenticationRequired", "message": f"bad {PASSWORD}"})
    entry_server.app = lambda request: Response(
        401, {"Content-Type": "application/json"}, body.encode()
    )

    with pytest.raises(PermanentError) as raised:
        collector.run()

    assert "bad ***" in str(raised.value)


def test_a_missing_password_variable_names_the_variable(collector: Collector) -> None:
    collector.env = {}

    with pytest.raises(PermanentError, match="BSKY_APP_PASSWORD"):
        collector.run()


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=401, path_prefix=LOGIN),
        Fault("status", status=500, path_prefix=SEARCH),
        Fault("timeout", seconds=1.0, path_prefix=SEARCH),
        Fault("malformed", path_prefix=SEARCH),
    ],
    ids=["login-401", "500", "timeout", "malformed"],
)
def test_secrets_never_reach_state_errors_or_tracebacks(
    fault: Fault,
    sim: BlueskySim,
    entry_server: LoopbackServer,
    pds_server: LoopbackServer,
    collector: Collector,
) -> None:
    post_series(sim, 2, newest=NOW)
    state = json.dumps(collector.run().state)
    collector.source = BlueskySource()  # sign in again, so a login fault can bite
    collector.timeout = 0.3
    (entry_server if fault.path_prefix == LOGIN else pds_server).inject(fault)

    with pytest.raises(SourceError) as raised:
        collector.run()

    shown = "".join(traceback.format_exception(raised.value)) + repr(raised.value) + state
    for secret in (PASSWORD, "sim-access-", "sim-refresh-"):
        assert secret not in shown
    assert raised.value.__cause__ is None


def test_the_password_travels_only_in_the_create_session_body(
    sim: BlueskySim, clock: Clock, collector: Collector
) -> None:
    sent: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        query = {k: request.url.params.get_list(k) for k in request.url.params}
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = sim.respond(
            Request(request.method, request.url.path, query, headers, ""), request.content or None
        )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    collector.transport = httpx.MockTransport(transport)
    collector.run()
    sim.expire_access_tokens()
    collector.run()

    login, search, _, refresh, _ = sent
    assert json.loads(login.content) == {
        "identifier": "collector.example.com",
        "password": PASSWORD,
    }
    assert all(PASSWORD not in r.content.decode() + str(r.headers) for r in sent[1:])
    assert search.headers["authorization"].startswith("Bearer sim-access-")
    assert refresh.headers["authorization"].startswith("Bearer sim-refresh-")

    collector.env = {"BSKY_APP_PASSWORD": "wrong-wrong-wrong-wrong"}
    with pytest.raises(PermanentError, match="Invalid identifier or password"):
        collector.run()


# -- options -------------------------------------------------------------------------


def options(**changes: Any) -> BlueskyOptions:
    return BlueskyOptions.model_validate(
        {"handle": "collector.bsky.social", "app_password_env": "BSKY_PW", **changes}
    )


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ({}, ("collector.bsky.social", "https://bsky.social")),
        ({"handle": "@Collector.BSKY.social"}, ("collector.bsky.social", "https://bsky.social")),
        ({"handle": "did:plc:AbC123"}, ("did:plc:AbC123", "https://bsky.social")),
        ({"handle": "Ops@Example.com"}, ("ops@example.com", "https://bsky.social")),
        ({"service": "https://Bsky.Social:443/"}, ("collector.bsky.social", "https://bsky.social")),
        ({"service": "http://127.0.0.1:2583"}, ("collector.bsky.social", "http://127.0.0.1:2583")),
    ],
)
def test_options_are_normalized(given: dict[str, str], normalized: tuple[str, str]) -> None:
    opts = options(**given)
    assert (opts.handle, opts.service) == normalized


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ({"service": "http://bsky.social"}, "service"),
        ({"service": "https://bsky.social/xrpc"}, "service"),
        ({"service": "bsky.social"}, "service"),
        ({"handle": "not a handle"}, "handle"),
        ({"lang": "french!"}, "lang"),
        ({"password": "x"}, "password"),
    ],
)
def test_bad_options_are_rejected(given: dict[str, str], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        options(**given)


def test_a_password_pasted_into_app_password_env_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="NAME") as raised:
        options(app_password_env=PASSWORD)
    assert PASSWORD not in str(raised.value)


def test_unknown_options_are_rejected_by_fetch(collector: Collector) -> None:
    collector.options = {"app_pasword_env": "X"}

    with pytest.raises(PermanentError, match="app_pasword_env"):
        collector.run()


def test_the_source_is_registered_as_bluesky_and_targets_the_service() -> None:
    assert isinstance(SOURCE, Source)
    assert SOURCE.platform == "bluesky"
    assert SOURCE.target(options()) == "bsky.social"
    assert SOURCE.target(options(lang="fr")) == "bsky.social/lang:fr"


# -- the simulator behaves like Bluesky -------------------------------------------------


def call(sim: BlueskySim, path: str, token: str | None, **query: Any) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    params = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    response = sim(Request("GET", f"/xrpc/{path}", params, headers, "http://sim.test"))
    return response.status, json.loads(response.body)


def sign_in(sim: BlueskySim) -> str:
    body = json.dumps({"identifier": sim.handle, "password": sim.password}).encode()
    response = sim.respond(Request("POST", LOGIN, {}, {}, "http://sim.test"), body)
    return str(json.loads(response.body)["accessJwt"])


def test_sim_search_filters_by_tag_words_and_sort_at_window(sim: BlueskySim) -> None:
    token = sign_in(sim)
    posts = post_series(sim, 5, newest=NOW, every=timedelta(minutes=10))
    sim.post(ALICE, "other #elsewhere", at=NOW)
    window = {"since": iso(NOW - timedelta(minutes=30)), "until": iso(NOW - timedelta(minutes=10))}

    status, body = call(sim, "app.bsky.feed.searchPosts", token, q="#coproduction", **window)
    _, words = call(sim, "app.bsky.feed.searchPosts", token, q="post 4", tag="coproduction")
    _, paged = call(sim, "app.bsky.feed.searchPosts", token, q="#coproduction", limit="2")

    assert status == 200
    assert [p["uri"] for p in body["posts"]] == [p["uri"] for p in posts[2:4]]
    assert [p["uri"] for p in words["posts"]] == [posts[4]["uri"]]
    assert paged["cursor"] == "2"
    assert "cursor" not in body


def test_sim_refuses_deep_cursors_missing_q_and_missing_tokens(sim: BlueskySim) -> None:
    token = sign_in(sim)
    deep = call(sim, "app.bsky.feed.searchPosts", token, q="#x", cursor="10001")
    assert deep == (
        400,
        {
            "error": "InvalidRequest",
            "message": "invalid value for 'cursor' (can't paginate so deep)",
        },
    )
    assert call(sim, "app.bsky.feed.searchPosts", token)[0] == 400
    assert call(sim, "app.bsky.feed.searchPosts", None, q="#x")[1]["error"] == "AuthMissing"
    assert call(sim, "app.bsky.feed.getPosts", token, uris=["at://x"] * 26)[0] == 400


def test_sim_checks_credentials_when_it_gets_the_body(sim: BlueskySim) -> None:
    body = json.dumps({"identifier": sim.handle, "password": "nope"}).encode()
    response = sim.respond(Request("POST", LOGIN, {}, {}, "http://sim.test"), body)
    assert response.status == 401


def test_sim_limits_sign_ins_to_30_in_5_minutes(sim: BlueskySim, clock: Clock) -> None:
    statuses = []
    for _ in range(31):
        sign_in_request = Request("POST", LOGIN, {}, {}, "http://sim.test")
        statuses.append(sim.respond(sign_in_request, None).status)
    assert statuses == [200] * 30 + [429]
    clock.advance(minutes=5)
    assert sim.respond(Request("POST", LOGIN, {}, {}, "http://sim.test"), None).status == 200
