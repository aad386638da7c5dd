"""WordPress.com (REST API v1.1): the parser on golden files, the fetcher against a
simulated public-api.wordpress.com on 127.0.0.1 (real HTTP, real client, fixed clock)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.demo.wpcom_sim import SimComment, WpcomSim, WpcomSite
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
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
from aggregator.sources.wpcom import SOURCE, WpcomOptions
from aggregator.sources.wpcom_parse import parse_comment, parse_post, parse_replies, post_ref
from tests.golden import DATA, assert_golden
from tests.support import as_stored, mutations, run_fetch, run_recheck

WP = DATA / "wpcom"
SITE = "https://fliegerblog.wordpress.com"
POST_URL = "https://fliegerblog.wordpress.com/2026/03/01/uber-den-wolken/"
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
WRITTEN = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


def load(case: str) -> Any:
    return json.loads((WP / f"{case}.json").read_text("utf-8"))


def fields(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__ if name != "raw"}


# --- the parser ------------------------------------------------------------------------


def test_golden_replies() -> None:
    payload = load("wpcom_v1_1_post_replies")
    page = parse_replies(payload, site=SITE, post_url=POST_URL)
    assert [item.raw for item in page.items] == payload["comments"]
    assert (page.found, page.listed) == (2, 2)
    assert_golden([fields(i) for i in page.items], WP / "wpcom_v1_1_post_replies.expected.json")


def test_golden_post() -> None:
    payload = load("wpcom_v1_1_post_slug")
    item = parse_post(payload, site=SITE)
    assert item.raw == {k: v for k, v in payload.items() if k != "password"}
    assert_golden(fields(item), WP / "wpcom_v1_1_post_slug.expected.json")


def test_keys_are_the_self_hosted_and_feed_keys() -> None:
    page = parse_replies(load("wpcom_v1_1_post_replies"), site=SITE, post_url=POST_URL)
    for item in page.items:
        assert item.platform == "wordpress"
        assert item.key == keys.wordpress_comment_from_url(item.raw["URL"])
        assert item.author.key == keys.wordpress_author(SITE, item.author.name)
    post = parse_post(load("wpcom_v1_1_post_slug"), site=SITE)
    assert post.key == keys.wordpress_post(SITE, 305)
    assert {i.context_url for i in page.items} == {post.url}


def test_replies_point_at_their_parent_and_dates_are_utc() -> None:
    reply, top = parse_replies(load("wpcom_v1_1_post_replies"), site=SITE, post_url=POST_URL).items
    assert reply.in_reply_to == top.key
    assert top.in_reply_to is None
    assert reply.created_at == datetime(2026, 3, 2, 7, 15, 2, tzinfo=UTC)  # +01:00 on the site
    assert reply.text == "Wunderschöne Bilder! Welche Kamera? 📷"
    assert top.text == "Toller Bericht — danke fürs Teilen!"
    assert (reply.engagement.likes, top.author.url) == (2, "http://skyfan.wordpress.com")
    assert reply.author.url is None  # URL was ""


def test_post_title_content_and_edit() -> None:
    post = parse_post(load("wpcom_v1_1_post_slug"), site=SITE)
    assert post.kind == "article"
    assert post.title == "Über den Wolken – unser Alpenflug"
    assert post.created_at == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert post.edited_at == datetime(2026, 3, 1, 18, 30, 12, tzinfo=UTC)
    assert post.links == ("https://www.flugroute.example/alpen?ref=x",)
    assert "<img" not in post.html
    assert post.text.endswith("Danke an alle 👋")
    assert (post.engagement.replies, post.engagement.likes) == (2, 7)


def test_a_password_protected_post_keeps_its_title_and_never_its_password() -> None:
    payload = {**load("wpcom_v1_1_post_slug"), "password": "geheim"}
    post = parse_post(payload, site=SITE)
    assert (post.html, post.text, post.links) == ("", "", ())
    assert post.title
    assert "geheim" not in json.dumps(dict(post.raw))


def test_pingbacks_and_unapproved_comments_are_left_out() -> None:
    payload = load("wpcom_v1_1_post_replies")
    payload["comments"][0]["type"] = "pingback"
    payload["comments"][1]["status"] = "unapproved"
    page = parse_replies(payload, site=SITE, post_url=POST_URL)
    assert (page.items, page.listed) == ((), 2)


def test_found_minus_one_is_unknown() -> None:
    payload = {**load("wpcom_v1_1_post_replies"), "found": -1}
    assert parse_replies(payload, site=SITE, post_url=POST_URL).found is None


def test_author_names_are_unescaped_once() -> None:
    comment = load("wpcom_v1_1_post_replies")["comments"][1]
    comment["author"]["name"] = "Zoë &amp; Max"
    item = parse_comment(comment, site=SITE, post_url=POST_URL)
    assert item is not None
    assert item.author.name == "Zoë & Max"


def test_hostile_html_is_sanitized() -> None:
    comment = load("wpcom_v1_1_post_replies")["comments"][1]
    comment["content"] = (
        '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(2)">x</a>'
        '<a href="https://ok.example/">ok</a></p>'
    )
    comment["URL"] = "javascript:alert(3)"
    comment["author"]["URL"] = "javascript:alert(4)"
    item = parse_comment(comment, site=SITE, post_url=POST_URL)
    assert item is not None
    for bad in ("script", "alert", "onclick", "javascript"):
        assert bad not in item.html
    assert (item.links, item.url, item.author.url) == (("https://ok.example/",), None, None)


@pytest.mark.parametrize(
    ("url", "site", "slug", "post_id"),
    [
        (POST_URL, "fliegerblog.wordpress.com", "uber-den-wolken", None),
        ("https://Blog.Example.org/2026/11/20/%C3%BCber/", "blog.example.org", "über", None),
        (
            "https://x.wordpress.com/2026/11/20/slug/comment-page-2/",
            "x.wordpress.com",
            "slug",
            None,
        ),
        ("https://x.wordpress.com/slug/amp/", "x.wordpress.com", "slug", None),
        ("https://x.wordpress.com/?p=305", "x.wordpress.com", None, 305),
        ("https://x.wordpress.com/", "x.wordpress.com", None, None),
    ],
)
def test_post_ref(url: str, site: str, slug: str | None, post_id: int | None) -> None:
    ref = post_ref(url)
    assert (ref.site, ref.slug, ref.post_id) == (site, slug, post_id)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"error": "unknown_post", "message": "Unknown post"},
        {"found": 1, "comments": {}},
        {"found": "2", "comments": []},
        {"found": 1, "comments": [None]},
        {"found": 1, "comments": [{**load("wpcom_v1_1_post_replies")["comments"][0], "ID": "41"}]},
        {"found": 1, "comments": [{**load("wpcom_v1_1_post_replies")["comments"][0], "parent": 3}]},
        {"found": 1, "comments": [{**load("wpcom_v1_1_post_replies")["comments"][0], "date": "x"}]},
        {
            "found": 1,
            "comments": [
                {**load("wpcom_v1_1_post_replies")["comments"][0], "date": "2026-03-02T08:15:02"}
            ],
        },
        {"found": 1, "comments": [{**load("wpcom_v1_1_post_replies")["comments"][0], "author": 1}]},
    ],
)
def test_malformed_replies_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_replies(payload, site=SITE, post_url=POST_URL)


@pytest.mark.parametrize(
    "changes",
    [{"ID": 0}, {"title": None}, {"content": 5}, {"date": None}, {"URL": 3}, {"title": "\ud83d"}],
)
def test_malformed_posts_raise_parse_error(changes: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        parse_post({**load("wpcom_v1_1_post_slug"), **changes}, site=SITE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(load("wpcom_v1_1_post_replies")))
def test_mutated_replies_parse_or_raise_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        for item in parse_replies(payload, site=SITE, post_url=POST_URL).items:
            assert item.created_at.tzinfo is UTC
            assert item.key.startswith(f"wordpress:{SITE}:comment:")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(load("wpcom_v1_1_post_slug")))
def test_mutated_posts_parse_or_raise_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        item = parse_post(payload, site=SITE)
        assert item.edited_at is None or item.edited_at > item.created_at


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 4000))
def test_truncated_bodies_raise_parse_error(cut: int) -> None:
    body = (WP / "wpcom_v1_1_post_replies.json").read_bytes()
    response = httpx.Response(
        200, content=body[: cut % len(body)], request=httpx.Request("GET", SITE)
    )
    with pytest.raises(ParseError):
        parse_replies(json_body(response), site=SITE, post_url=POST_URL)


# --- the fetcher -----------------------------------------------------------------------


class Blog:
    """One post on a simulated WordPress.com site, and a fetcher carrying its state."""

    def __init__(self, server: LoopbackServer, *, domains: tuple[str, ...] = ()) -> None:
        self.sim = WpcomSim()
        self.site: WpcomSite = self.sim.add_site(
            "fliegerblog.wordpress.com", utc_offset=timedelta(hours=1), domains=domains
        )
        self.post = self.site.add_post(
            "uber-den-wolken", "Über den Wolken", "<p>Bericht</p>", date=WRITTEN, author="Anna"
        )
        self.server = server
        server.app = self.sim
        server.requests.clear()
        self.url = self.site.post_url(self.post)
        self.state: dict[str, Any] = {}
        self.written = 0

    def comment(self, *, parent: int = 0, **options: Any) -> SimComment:
        self.written += 1
        options.setdefault("date", WRITTEN + timedelta(minutes=3 * self.written))
        return self.site.add_comment(
            self.post.id,
            f"Leser {self.written}",
            f"Kommentar {self.written}",
            parent=parent,
            **options,
        )

    def comments(self, n: int, every: timedelta | None = None) -> list[SimComment]:
        if every is None:
            return [self.comment() for _ in range(n)]
        return [self.comment(date=WRITTEN + i * every) for i in range(n)]

    def key(self, c: SimComment) -> str:
        return keys.wordpress_comment(self.site.url, c.id)

    @property
    def post_key(self) -> str:
        return keys.wordpress_post(self.site.url, self.post.id)

    def spec(self, **options: Any) -> SourceState:
        spec = SourceSpec(
            id="wpcom-1",
            event="flug",
            platform="wpcom",
            target=self.url,
            options={"post": self.url, "api": self.server.base_url, **options},
        )
        return SourceState(spec=spec, state=self.state)

    def fetch(self, *, max_pages: int = 20, now: datetime = NOW, **options: Any) -> FetchResult:
        self.server.requests.clear()
        result = run_fetch(SOURCE, self.spec(**options), now=now, max_pages=max_pages, timeout=1.0)
        self.state = as_stored(result.state)
        return result

    def recheck(self, *refs: str) -> RecheckResult:
        stored = [StoredRef(k, (), None, WRITTEN, None) for k in refs]
        return run_recheck(SOURCE, self.spec(), stored, now=NOW)

    def paths(self) -> list[str]:
        return [r.path for r in self.server.requests]

    def replies(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.endswith("/replies/")]


def comments(result: FetchResult) -> list[ItemData]:
    return [i for i in result.items if i.kind == "comment"]


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: Response(404)) as running:
        yield running


@pytest.fixture
def blog(server: LoopbackServer) -> Blog:
    return Blog(server)


def test_the_source_object() -> None:
    assert SOURCE.platform == "wpcom"
    assert isinstance(SOURCE, Source)
    assert isinstance(SOURCE, Rechecker)
    options = WpcomOptions(post=POST_URL + "#comments")
    assert SOURCE.target(options) == POST_URL
    assert options.api == "https://public-api.wordpress.com"
    for name, field in WpcomOptions.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    "options",
    [
        {"post": "fliegerblog.wordpress.com/x/"},
        {"post": "ftp://fliegerblog.wordpress.com/x/"},
        {"post": POST_URL, "api": "http://public-api.wordpress.com"},
        {"post": POST_URL, "api": "https://public-api.wordpress.com/?x=1"},
        {"post": POST_URL, "unknown": 1},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
        WpcomOptions(**options)


def test_resolves_by_slug_then_by_id(blog: Blog) -> None:
    first, _ = blog.comments(2)
    blog.comment(parent=first.id)
    result = blog.fetch()
    site_path = "/rest/v1.1/sites/fliegerblog.wordpress.com"
    assert blog.paths() == [
        f"{site_path}/posts/slug:uber-den-wolken",
        f"{site_path}/posts/{blog.post.id}/replies/",
    ]
    assert blog.replies()[0].query == {"number": ["100"], "order": ["ASC"], "page": ["1"]}
    assert (blog.state["host"], blog.state["post_id"]) == (
        "fliegerblog.wordpress.com",
        blog.post.id,
    )
    assert result.requests == 2
    assert len(comments(result)) == 3
    blog.fetch()
    assert blog.paths()[0] == f"{site_path}/posts/{blog.post.id}"


def test_items_are_the_post_and_its_threaded_comments(blog: Blog) -> None:
    first = blog.comment()
    reply = blog.comment(parent=first.id)
    result = blog.fetch()
    article, *rest = result.items
    assert (article.kind, article.key, article.url) == ("article", blog.post_key, blog.url)
    by_key = {i.key: i for i in rest}
    assert by_key[blog.key(reply)].in_reply_to == blog.key(first)
    assert by_key[blog.key(first)].context_url == blog.url
    assert result.listing == frozenset({blog.post_key, blog.key(first), blog.key(reply)})


def test_a_custom_domain_keys_on_the_permalink_host(server: LoopbackServer) -> None:
    b = Blog(server, domains=("flieger.example",))
    c = b.comment()
    b.url = POST_URL  # followed under the wordpress.com name; the permalink is the domain
    result = b.fetch()
    assert keys.wordpress_comment("https://flieger.example", c.id) in {i.key for i in result.items}
    assert comments(result)[0].context_url.startswith("https://flieger.example/")  # type: ignore[union-attr]


def test_p_urls_resolve_by_id(blog: Blog) -> None:
    blog.comment()
    blog.url = f"https://fliegerblog.wordpress.com/?p={blog.post.id}"
    assert len(comments(blog.fetch())) == 1
    assert blog.paths()[0].endswith(f"/posts/{blog.post.id}")


def test_pages_through_250_comments(blog: Blog) -> None:
    blog.comments(250)
    result = blog.fetch()
    assert len(comments(result)) == 250
    assert [r.arg("page") for r in blog.replies()] == ["1", "2", "3"]
    assert result.listing is not None
    assert len(result.listing) == 251


def test_removed_comments_leave_the_listing_and_pingbacks_never_enter(blog: Blog) -> None:
    a, b = blog.comments(2)
    blog.comment(type="pingback")
    assert len(comments(blog.fetch())) == 2
    blog.site.set_status(a.id, "trash")
    blog.site.edit_comment(b.id, "Korrigiert")
    result = blog.fetch()
    assert result.listing == frozenset({blog.post_key, blog.key(b)})
    assert comments(result)[0].text == "Korrigiert"


def test_big_threads_poll_recent_comments_and_relist_periodically(blog: Blog) -> None:
    blog.comments(120, every=timedelta(hours=1))
    blog.fetch(full_relist_pages=1)
    assert blog.state["total_pages"] == 2
    result = blog.fetch(full_relist_pages=1, now=NOW + timedelta(hours=1))
    assert result.listing is None
    (poll,) = blog.replies()  # the last day: one page
    newest = WRITTEN + timedelta(hours=119)
    assert datetime.fromisoformat(poll.arg("after") or "") == newest - timedelta(days=1)
    assert len(comments(result)) == 25
    later = blog.fetch(full_relist_pages=1, now=NOW + timedelta(hours=7))
    assert later.listing is not None
    assert len(later.listing) == 121


def test_the_page_cap_resumes_and_never_lists(blog: Blog) -> None:
    blog.comments(250)
    first = blog.fetch(max_pages=2)
    assert first.listing is None
    assert blog.state["walk"] == {"page": 2, "after": None}  # one page back
    second = blog.fetch(max_pages=2)
    assert [r.arg("page") for r in blog.replies()] == ["2", "3"]
    assert second.listing is None
    assert blog.state["walk"] is None
    assert blog.fetch().listing is not None


def test_no_listing_when_found_disagrees(blog: Blog, server: LoopbackServer) -> None:
    blog.comments(3)

    def undercount(request: Request) -> Response:
        response = blog.sim(request)
        if request.path.endswith("/replies/"):
            body = json.loads(response.body)
            response.body = json.dumps({**body, "found": 2}).encode()
        return response

    server.app = undercount
    assert blog.fetch().listing is None


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 429, {"Retry-After": "30"}), RateLimited),
        (Fault("status", 500), TemporaryError),
        (Fault("status", 503), TemporaryError),
        (Fault("timeout", seconds=1.5), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
        (Fault("status", 403), PermanentError),
        (Fault("status", 404), PermanentError),
    ],
)
@pytest.mark.parametrize("where", ["/posts/", "/replies/"])
def test_failures_become_source_errors(
    blog: Blog, server: LoopbackServer, fault: Fault, error: type[Exception], where: str
) -> None:
    blog.comments(2)
    blog.fetch()
    state = blog.state
    prefix = "/rest/v1.1/sites/fliegerblog.wordpress.com/posts/"
    prefix += f"{blog.post.id}" + ("/replies/" if where == "/replies/" else "")
    server.inject(Fault(fault.kind, fault.status, fault.headers, fault.seconds, prefix))
    with pytest.raises(error) as caught:
        blog.fetch()
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == timedelta(seconds=30)
    assert blog.state == state


def test_unknown_posts_and_private_sites_are_permanent(blog: Blog) -> None:
    blog.url = "https://fliegerblog.wordpress.com/2026/03/01/gibt-es-nicht/"
    with pytest.raises(PermanentError, match="unknown_post"):
        blog.fetch()
    blog.url = blog.site.post_url(blog.post)
    blog.site.private = True
    with pytest.raises(PermanentError, match="unauthorized"):
        blog.fetch()


def test_recheck_sees_edits_and_removals(blog: Blog) -> None:
    kept, trashed, deleted = blog.comments(3)
    blog.fetch()
    blog.site.edit_comment(kept.id, "Neu")
    blog.site.set_status(trashed.id, "spam")
    blog.site.delete_comment(deleted.id)
    other_site = keys.wordpress_comment("https://other.example", 1)
    result = blog.recheck(*map(blog.key, (kept, trashed, deleted)), blog.post_key, other_site)
    assert {i.key: i.text for i in result.items} == {
        blog.key(kept): "Neu",
        blog.post_key: "Bericht",
    }
    assert result.gone == {blog.key(trashed), blog.key(deleted)}
    assert result.requests == 2  # the post, then the thread listed whole


def test_recheck_of_a_thread_it_cannot_list_whole_removes_nothing(blog: Blog) -> None:
    first, *_ = blog.comments(150)
    blog.fetch()
    blog.site.delete_comment(first.id)

    refs = [StoredRef(blog.key(first), (), None, NOW, None)]
    result = run_recheck(SOURCE, blog.spec(), refs, now=NOW, max_pages=1)
    assert (result.items, result.gone) == ((), frozenset())


def test_recheck_of_a_deleted_post_removes_everything(blog: Blog) -> None:
    c = blog.comment()
    blog.fetch()
    del blog.site.posts[blog.post.id]
    assert blog.recheck(blog.key(c), blog.post_key).gone == {blog.key(c), blog.post_key}


def test_recheck_without_state_does_nothing(blog: Blog) -> None:
    assert blog.recheck(blog.post_key) == RecheckResult()


def test_simulator_quirks(blog: Blog) -> None:
    blog.comments(3)
    api = f"{blog.server.base_url}/rest/v1.1/sites/fliegerblog.wordpress.com/posts/{blog.post.id}"
    with httpx.Client() as client:
        assert client.get(api + "/replies/", params={"number": 101}).status_code == 400
        counted = client.get(api + "/replies/").json()
        after = client.get(api + "/replies/", params={"after": WRITTEN.isoformat()}).json()
    assert counted["found"] == 3
    assert after["found"] == -1
    assert len(after["comments"]) == 3  # after is inclusive
