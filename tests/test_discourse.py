"""Discourse: the parser on golden files, the fetcher against a simulated forum on
127.0.0.1 (real HTTP, real client, a clock that moves only when told to)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.demo.discourse_sim import DiscourseSim, SimTopic
from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
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
    ItemData,
    RecheckResult,
    SourceSpec,
    SourceState,
    StoredRef,
)
from aggregator.sources import Rechecker, Source, keys
from aggregator.sources.discourse import SOURCE, DiscourseOptions
from aggregator.sources.discourse_parse import (
    TopicRef,
    is_conversation,
    parse_post,
    parse_posts,
    parse_topic,
    parse_topic_list,
    removal,
)
from tests.golden import DATA, assert_golden
from tests.support import Clock, as_stored, mutations, run_fetch, run_recheck

DC = DATA / "discourse"
FORUM = "https://forum.example.org"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def load(case: str) -> Any:
    return json.loads((DC / f"{case}.json").read_text("utf-8"))


def items_of(posts: Any, topic: TopicRef, forum: str = FORUM) -> list[ItemData]:
    """What the fetcher keeps of a chunk of posts."""
    return [
        parse_post(p, forum=forum, topic=topic)
        for p in posts
        if is_conversation(p) and removal(p) is None
    ]


def fields(item: ItemData) -> dict[str, Any]:
    return {n: getattr(item, n) for n in item.__dataclass_fields__ if n != "raw"}


def topic_4242() -> list[ItemData]:
    topic = parse_topic(load("topic_4242"))
    posts = [*topic.posts, *parse_posts(load("topic_4242_posts"))]
    return items_of(posts, topic.ref)


# --- the parser ------------------------------------------------------------------------


def test_golden_topic() -> None:
    topic = parse_topic(load("topic_4242"))
    assert topic.ref == TopicRef(
        4242,
        "coproweek-2026-wer-kommt-mit",
        "CoproWeek 2026: wer kommt mit?",
        ("coproweek", "lyon"),
    )
    assert topic.stream == (51700, 51702, 51703, 51705, 51706, 51707, 51708)
    items = topic_4242()
    assert [i.raw["post_number"] for i in items] == [1, 2, 3, 8]
    assert_golden([fields(i) for i in items], DC / "topic_4242.expected.json")


def test_golden_latest_posts() -> None:
    posts = load("posts_latest_discourse_api_spec")["latest_posts"]
    items = [
        parse_post(
            p,
            forum="http://localhost",
            topic=TopicRef(p["topic_id"], p["topic_slug"], p["topic_title"]),
        )
        for p in posts
    ]
    assert [i.raw for i in items] == posts
    assert_golden([fields(i) for i in items], DC / "posts_latest_discourse_api_spec.expected.json")


def test_golden_search_post_and_tag_list() -> None:
    payload = load("search_query_response_docs")
    (topic,) = payload["topics"]
    ref = TopicRef(topic["id"], topic["slug"], topic["title"])
    (item,) = items_of(payload["posts"], ref, "https://try.discourse.org")
    assert_golden(fields(item), DC / "search_query_response_docs.expected.json")
    assert_golden(parse_topic_list(load("tag_coproweek")), DC / "tag_coproweek.expected.json")


def test_the_first_post_is_the_article_and_replies_hang_off_it() -> None:
    article, to_op, to_reply, late = topic_4242()
    topic_url = f"{FORUM}/t/coproweek-2026-wer-kommt-mit/4242"
    assert (article.kind, article.url, article.title) == (
        "article",
        topic_url,
        "CoproWeek 2026: wer kommt mit?",
    )
    assert (
        article.key == keys.discourse_post(FORUM, 51700) == "discourse:forum.example.org:post:51700"
    )
    assert {to_op.context_url, to_reply.context_url} == {topic_url}
    assert to_op.url == f"{topic_url}/2"
    assert to_op.in_reply_to is None  # replying to the first post is top level
    assert to_reply.in_reply_to == keys.discourse_post_alias(FORUM, 4242, 2) == to_op.aliases[0]
    assert late.in_reply_to == to_reply.aliases[0]
    assert article.hashtags == ("coproweek", "lyon")


def test_cooked_html_becomes_text_and_links() -> None:
    article, to_op, to_reply, late = topic_4242()
    assert article.text.startswith("Wer fährt zur coproweek nach Lyon? :train:")
    assert article.links == ("https://coproweek.example/programm",)  # no tag page, no upload
    assert "<img" not in article.html
    assert "<aside" not in to_reply.html
    assert to_reply.links == ("https://forum.example.org/t/anreise-tipps/4100/3",)
    assert to_op.links == ()  # the @mention
    assert late.text == "Dann 9:42 :+1:"


def test_authors_times_and_counts() -> None:
    article, to_op, to_reply, _ = topic_4242()
    assert article.author.name == "Ana Núñez"
    assert article.author.handle == "@ana"
    assert article.author.url == f"{FORUM}/u/ana"
    assert article.author.avatar_url == f"{FORUM}/user_avatar/forum.example.org/ana/96/12_2.png"
    assert to_op.author.name == "ben_t"  # name "" falls back to the username
    assert to_op.author.avatar_url == (
        "https://forum.example.org/letter_avatar_proxy/v4/letter/b/e9a140/96.png"
    )
    assert (
        to_reply.author.avatar_url == "https://avatars.discourse-cdn.com/v4/letter/c/3be4f8/96.png"
    )
    assert to_op.created_at == datetime(2026, 11, 18, 10, 30, 5, 500000, tzinfo=UTC)
    assert article.edited_at == datetime(2026, 11, 18, 10, 15, 42, 1000, tzinfo=UTC)
    assert to_op.edited_at is None
    assert (article.engagement.likes, article.engagement.replies) == (5, 2)


def test_deleted_hidden_and_small_action_posts() -> None:
    posts = [
        *load("topic_4242")["post_stream"]["posts"],
        *load("topic_4242_posts")["post_stream"]["posts"],
    ]
    by_number = {p["post_number"]: p for p in posts}
    assert not is_conversation(by_number[4])
    assert removal(by_number[5]) == "deleted"
    assert removal(by_number[6]) == "hidden"
    assert removal({**by_number[2], "deleted_at": "2026-11-19T00:00:00Z"}) == "deleted"
    assert removal(by_number[2]) is None


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"post_stream": []},
        {"post_stream": {"posts": [], "stream": ["1"]}, "id": 1, "slug": "x", "title": "x"},
        {"post_stream": {"posts": [5], "stream": []}, "id": 1, "slug": "x", "title": "x"},
        {"post_stream": {"posts": [], "stream": []}, "id": "1", "slug": "x", "title": "x"},
        {"post_stream": {"posts": [], "stream": []}, "id": 1, "slug": "x"},
    ],
)
def test_malformed_topics_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_topic(payload)


@pytest.mark.parametrize(
    "changes",
    [
        {"id": None},
        {"post_number": 0},
        {"username": None},
        {"cooked": None},
        {"created_at": "yesterday"},
        {"reply_to_post_number": "2"},
        {"cooked": "\ud83d"},
    ],
)
def test_malformed_posts_raise_parse_error(changes: dict[str, Any]) -> None:
    post = {**load("topic_4242")["post_stream"]["posts"][1], **changes}
    with pytest.raises(ParseError):
        parse_post(post, forum=FORUM, topic=TopicRef(4242, "x", "x"))


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"topic_list": []},
        {"topic_list": {"topics": {}}},
        {"topic_list": {"topics": [{"id": 1}]}},
    ],
)
def test_malformed_topic_lists_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_topic_list(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(load("topic_4242")))
def test_mutated_topics_parse_or_raise_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        topic = parse_topic(payload)
        for item in items_of(topic.posts, topic.ref):
            assert item.created_at.tzinfo is UTC
            assert item.key.startswith("discourse:forum.example.org:post:")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(load("tag_coproweek")))
def test_mutated_topic_lists_parse_or_raise_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        parse_topic_list(payload)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 20000))
def test_truncated_bodies_raise_parse_error(cut: int) -> None:
    body = (DC / "topic_4242.json").read_bytes()
    request = httpx.Request("GET", FORUM)
    response = httpx.Response(200, content=body[: cut % len(body)], request=request)
    with pytest.raises(ParseError):
        parse_topic(json_body(response))


# --- the fetcher -----------------------------------------------------------------------


@dataclass
class Collector:
    """Runs the real fetcher repeatedly, carrying its state like the pipeline does."""

    server: LoopbackServer
    clock: Clock
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    hashtags: tuple[str, ...] = ("coproweek",)

    def spec(self) -> SourceState:
        options = {"forum": self.server.base_url, **self.options}
        spec = SourceSpec("d", "copro", "discourse", "forum", self.hashtags, options)
        return SourceState(spec=spec, state=self.state)

    def run(self, *, max_pages: int = 20, horizon: datetime | None = None) -> FetchResult:
        self.server.requests.clear()
        result = run_fetch(
            SOURCE,
            self.spec(),
            now=self.clock.now,
            env=self.env,
            max_pages=max_pages,
            horizon=horizon,
            timeout=1.0,
        )
        self.state = as_stored(result.state)
        return result

    def recheck(self, items: list[ItemData]) -> RecheckResult:
        refs = [StoredRef(i.key, i.aliases, i.url, i.created_at, str(i.raw["id"])) for i in items]
        self.server.requests.clear()
        return run_recheck(SOURCE, self.spec(), refs, now=self.clock.now, env=self.env, horizon=NOW)

    def paths(self) -> list[str]:
        return [r.path for r in self.server.requests]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def forum(clock: Clock) -> DiscourseSim:
    return DiscourseSim(clock=clock)


@pytest.fixture
def server(loopback: LoopbackServer, forum: DiscourseSim) -> LoopbackServer:
    loopback.app = forum
    loopback.requests.clear()
    return loopback


@pytest.fixture
def collector(server: LoopbackServer, clock: Clock) -> Collector:
    return Collector(server, clock)


def thread(
    forum: DiscourseSim, replies: int, *, at: datetime = NOW - timedelta(hours=5)
) -> SimTopic:
    topic = forum.topic("Who is going?", "<p>Tell us</p>", tags=["coproweek"], author="ana", at=at)
    for i in range(replies):
        forum.reply(
            topic.id, f"<p>reply {i}</p>", author=f"user{i % 3}", at=at + timedelta(minutes=i + 1)
        )
    return topic


def keys_of(result: FetchResult) -> set[int]:
    return {int(i.raw["id"]) for i in result.items}


def test_the_source_object() -> None:
    assert SOURCE.platform == "discourse"
    assert isinstance(SOURCE, Source)
    assert isinstance(SOURCE, Rechecker)
    for name, f in DiscourseOptions.model_fields.items():
        assert f.description, name
    assert (
        SOURCE.target(DiscourseOptions(forum="https://Forum.example.org/")) == "forum.example.org"
    )
    options = DiscourseOptions(forum="https://forum.example.org/community", tag="#CoproWeek")
    assert SOURCE.target(options) == "forum.example.org/community/tag/CoproWeek"


@pytest.mark.parametrize(
    "options",
    [
        {"forum": "forum.example.org"},
        {"forum": "http://forum.example.org"},
        {"forum": "https://forum.example.org/?x=1"},
        {"forum": "https://forum.example.org", "tag": "two words"},
        {"forum": "https://forum.example.org", "api_key_env": "abc-123-secret"},
        {"forum": "https://forum.example.org", "extra": 1},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - pydantic's ValidationError
        DiscourseOptions(**options)
    assert "abc-123-secret" not in str(caught.value)


def test_first_fetch_reads_tagged_topics(collector: Collector, forum: DiscourseSim) -> None:
    topic = thread(forum, 3)
    forum.topic("Other", "<p>untagged</p>", tags=["misc"])
    result = collector.run()
    assert collector.paths() == ["/tag/coproweek.json", f"/t/{topic.id}.json"]
    assert all(r.headers["accept"] == "application/json" for r in collector.server.requests)
    assert [i.kind for i in result.items] == ["article", "comment", "comment", "comment"]
    assert keys_of(result) == {p.id for p in topic.posts}
    entry = collector.state["topics"][str(topic.id)]
    assert entry == {
        "posts": 4,
        "highest": 4,
        "last": "2026-11-20T07:03:00+00:00",
        "max_id": topic.posts[-1].id,
    }
    assert collector.state["tags"] == {"coproweek": "2026-11-20T07:03:00+00:00"}
    assert result.query == "tags: coproweek"


def test_later_fetches_read_only_topics_with_news(
    collector: Collector, forum: DiscourseSim, clock: Clock
) -> None:
    quiet, busy = thread(forum, 2), thread(forum, 2)
    collector.run()
    assert collector.run().items == ()
    assert collector.paths() == ["/tag/coproweek.json"]
    clock.now += timedelta(minutes=5)
    new = forum.reply(busy.id, "<p>news</p>", author="ben", reply_to=2)
    result = collector.run()
    assert collector.paths() == ["/tag/coproweek.json", f"/t/{busy.id}.json"]
    assert new.id in keys_of(result)
    assert not keys_of(result) & {p.id for p in quiet.posts}


def test_big_topics_fetch_only_new_posts_20_at_a_time(
    collector: Collector, forum: DiscourseSim, clock: Clock
) -> None:
    topic = thread(forum, 44)
    assert len(collector.run().items) == 45
    posts_requests = [r for r in collector.server.requests if r.path.endswith("/posts.json")]
    assert [len(r.query["post_ids[]"]) for r in posts_requests] == [20, 5]
    clock.now += timedelta(minutes=1)
    new = forum.reply(topic.id, "<p>late</p>", author="zed")
    result = collector.run()
    (more,) = [r for r in collector.server.requests if r.path.endswith("/posts.json")]
    assert more.query["post_ids[]"] == [str(new.id)]
    assert new.id in keys_of(result)


def test_follows_more_topics_url_with_the_accept_header(
    server: LoopbackServer, clock: Clock
) -> None:
    forum = DiscourseSim(clock=clock, per_page=2)
    server.app = forum
    for i in range(5):
        thread(forum, 0, at=NOW - timedelta(hours=i + 1))
    result = Collector(server, clock).run()
    lists = [r for r in server.requests if r.path.startswith("/tag/")]
    assert [(r.path, r.arg("page")) for r in lists] == [
        ("/tag/coproweek.json", None),
        ("/tag/coproweek", "1"),
        ("/tag/coproweek", "2"),
    ]
    assert len(result.items) == 5


def test_left_out_posts_are_counted(collector: Collector, forum: DiscourseSim) -> None:
    topic = thread(forum, 5)
    _, deleted, by_author, hidden, kept, _ = topic.posts
    forum.delete(deleted.id)
    forum.delete_by_author(by_author.id)
    forum.hide(hidden.id)
    forum.reply(topic.id, "", author="system", post_type=3)  # "closed this topic"
    result = collector.run()
    assert keys_of(result) == {topic.posts[0].id, kept.id, topic.posts[5].id}
    assert result.excluded == {"deleted": 1, "hidden": 1}


def test_the_horizon_leaves_out_old_replies_and_quiet_topics(
    collector: Collector, forum: DiscourseSim
) -> None:
    old = thread(forum, 0, at=NOW - timedelta(days=30))
    topic = thread(forum, 2, at=NOW - timedelta(days=10))
    recent = forum.reply(topic.id, "<p>new</p>", at=NOW - timedelta(hours=1))
    result = collector.run(horizon=NOW - timedelta(days=3))
    assert keys_of(result) == {topic.posts[0].id, recent.id}  # the article titles the thread
    assert f"/t/{old.id}.json" not in collector.paths()


def test_the_request_cap_leaves_no_gap(collector: Collector, forum: DiscourseSim) -> None:
    topics = [thread(forum, 25, at=NOW - timedelta(hours=h)) for h in (1, 2, 3)]
    first = collector.run(max_pages=4)  # the list, then one topic of 2 + 1 of 2 requests
    assert collector.state["tags"] == {}
    seen = keys_of(first)
    for _ in range(3):
        seen |= keys_of(collector.run(max_pages=4))
    assert seen == {p.id for t in topics for p in t.posts}
    assert collector.state["tags"] != {}


def test_429_on_the_first_request_fails_with_retry_after(
    collector: Collector, server: LoopbackServer, forum: DiscourseSim
) -> None:
    thread(forum, 1)
    headers = {"Retry-After": "37", "Discourse-Rate-Limit-Error-Code": "ip_10_secs_limit"}
    server.inject(Fault("status", 429, headers))
    with pytest.raises(RateLimited, match="ip_10_secs_limit") as caught:
        collector.run()
    assert caught.value.retry_after == timedelta(seconds=37)


def test_429_later_keeps_what_was_read(server: LoopbackServer, clock: Clock) -> None:
    forum = DiscourseSim(clock=clock, max_per_10s=2)
    server.app = forum
    topics = [thread(forum, 1, at=NOW - timedelta(hours=h)) for h in (1, 2)]
    collector = Collector(server, clock)
    result = collector.run()
    assert keys_of(result) == {p.id for p in topics[0].posts}
    assert result.next_check_hint == NOW + timedelta(seconds=10)
    assert collector.state["tags"] == {}
    clock.now += timedelta(seconds=10)
    assert keys_of(collector.run()) == {p.id for p in topics[1].posts}
    assert collector.state["tags"] != {}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 500), TemporaryError),
        (Fault("status", 502, {"Retry-After": "5"}), RateLimited),
        (Fault("timeout", seconds=1.5), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
        (Fault("status", 403), PermanentError),
    ],
)
def test_failures_become_source_errors(
    collector: Collector,
    server: LoopbackServer,
    forum: DiscourseSim,
    fault: Fault,
    error: type[SourceError],
) -> None:
    thread(forum, 1)
    server.inject(fault)
    with pytest.raises(error):
        collector.run()
    assert collector.state == {}


def test_an_unknown_tag_is_permanent(collector: Collector) -> None:
    with pytest.raises(PermanentError, match="no tag 'coproweek'"):
        collector.run()


def test_a_login_required_forum_needs_an_api_key(server: LoopbackServer, clock: Clock) -> None:
    forum = DiscourseSim(clock=clock, api_key="k3y-never-shown")
    server.app = forum
    thread(forum, 1)
    collector = Collector(server, clock)
    with pytest.raises(PermanentError, match="api_key_env"):
        collector.run()
    collector.options = {"api_key_env": "FORUM_KEY", "api_username": "digest"}
    with pytest.raises(PermanentError, match="FORUM_KEY is not set"):
        collector.run()
    collector.env = {"FORUM_KEY": "k3y-never-shown"}
    result = collector.run()
    assert len(result.items) == 2
    assert server.requests[0].headers["api-username"] == "digest"
    assert "k3y-never-shown" not in json.dumps(collector.state)
    collector.env = {"FORUM_KEY": "wrong"}
    with pytest.raises(PermanentError, match="refused") as caught:
        collector.run()
    assert "wrong" not in str(caught.value)


def test_redirects_are_followed_on_the_forum_only(
    collector: Collector, server: LoopbackServer, forum: DiscourseSim
) -> None:
    topic = thread(forum, 1)
    collector.options = {"api_key_env": "FORUM_KEY"}
    collector.env = {"FORUM_KEY": "k3y"}
    port = server.base_url.rsplit(":", 1)[1]
    target = {"where": f"/t/{topic.slug}/{topic.id}.json"}

    def redirecting(request: Request) -> Response:
        if request.path == f"/t/{topic.id}.json":
            return Response(301, {"Location": target["where"]})
        return forum(request)

    server.app = redirecting
    assert len(collector.run().items) == 2  # same origin: followed
    collector.state = {}
    target["where"] = f"http://localhost:{port}/t/{topic.id}.json"  # another origin
    with pytest.raises(PermanentError, match="redirects off the forum"):
        collector.run()
    assert all(r.headers.get("host", "").startswith("127.0.0.1") for r in server.requests)


def test_recheck_sees_edits_and_removals(
    collector: Collector, forum: DiscourseSim, clock: Clock
) -> None:
    topic = thread(forum, 25, at=NOW - timedelta(days=10))
    gone_topic = thread(forum, 1)
    items = {int(i.raw["id"]): i for i in collector.run().items}
    first, edited, deleted, by_author, hidden = topic.posts[:5]
    far = topic.posts[24]  # outside the first chunk
    clock.now += timedelta(hours=1)
    forum.edit(edited.id, "<p>changed</p>")
    forum.edit(far.id, "<p>changed too</p>")
    forum.delete(deleted.id)
    forum.delete_by_author(by_author.id)
    forum.hide(hidden.id)
    forum.delete_topic(gone_topic.id)
    wanted = [first, edited, deleted, by_author, hidden, far, *gone_topic.posts]
    result = collector.recheck([items[p.id] for p in wanted])
    assert {int(i.raw["id"]): i.text for i in result.items} == {
        first.id: "Tell us",
        edited.id: "changed",
        far.id: "changed too",
    }
    assert {int(k.rsplit(":", 1)[1]) for k in result.gone} == {
        deleted.id,
        by_author.id,
        hidden.id,
        *(p.id for p in gone_topic.posts),
    }
    assert collector.paths() == [
        f"/t/{topic.id}.json",
        f"/t/{topic.id}/posts.json",
        f"/t/{gone_topic.id}.json",
    ]
