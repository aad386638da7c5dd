"""The WordPress REST fetcher against a simulated WordPress site on 127.0.0.1.

Real HTTP, real client, a fixed clock. The site runs on UTC−5, so any confusion between
``date`` and ``date_gmt`` shows. Every fetch also returns the post itself as an
``article`` item; :func:`comments` and :func:`article` tell them apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aggregator.demo.httpserver import Fault, LoopbackServer, Request, Response
from aggregator.demo.wordpress_sim import SimComment, WordPressSite
from aggregator.exceptions import ParseError, PermanentError, RateLimited, TemporaryError
from aggregator.http import make_client
from aggregator.models import FetchResult, ItemData, SourceSpec, SourceState
from aggregator.sources import FetchContext, get_source, keys
from aggregator.sources.wordpress import SOURCE, WordPressOptions

SITE_OFFSET = timedelta(hours=-5)
WRITTEN = datetime(2026, 2, 1, 14, 0, tzinfo=UTC)
"""When the first comment was written."""
NOW = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)
COMMENTS = "/wp-json/wp/v2/comments"
POST = "/wp-json/wp/v2/posts/1"


class Blog:
    """One WordPress post on loopback, and a fetcher that keeps its state between fetches."""

    def __init__(
        self, server: LoopbackServer, app_wrapper: Any = None, **site_options: Any
    ) -> None:
        self.site = WordPressSite(utc_offset=SITE_OFFSET, **site_options)
        self.post = self.site.add_post(
            "our-launch",
            "Our launch",
            "<p>We launched.</p>",
            date=WRITTEN - timedelta(hours=2),
            author="Dana Écrit",
        )
        self.server = server
        server.app = app_wrapper(self.site) if app_wrapper else self.site
        server.requests.clear()
        self.url = self.site.post_url(self.server.base_url, self.post.id)
        self.state: dict[str, Any] = {}
        self.now = NOW
        self._written = 0
        self.spacing = timedelta(minutes=3)

    @property
    def key_site(self) -> str:
        return self.server.base_url

    def comment(self, text: str = "", *, parent: int = 0, **options: Any) -> SimComment:
        options.setdefault("date", WRITTEN + self.spacing * self._written)
        self._written += 1
        return self.site.add_comment(
            self.post.id,
            options.pop("author", f"Reader {self._written}"),
            text or f"Comment number {self._written}.",
            parent=parent,
            **options,
        )

    def comments(self, n: int, *, every: timedelta | None = None) -> Blog:
        self.spacing = every or self.spacing
        for _ in range(n):
            self.comment()
        return self

    def key(self, comment: SimComment) -> str:
        return keys.wordpress_comment(self.key_site, comment.id)

    @property
    def post_key(self) -> str:
        return keys.wordpress_post(self.key_site, self.post.id)

    def listed(self, *comments: SimComment) -> frozenset[str]:
        """The listing of a thread of these comments: theirs and the post's keys."""
        return frozenset({self.post_key, *map(self.key, comments)})

    def fetch(
        self,
        *,
        max_pages: int = 20,
        timeout: httpx.Timeout | None = None,
        later: timedelta = timedelta(0),
        **options: Any,
    ) -> FetchResult:
        self.now += later
        spec = SourceSpec(
            id="wp-1",
            event="launch",
            platform="wordpress",
            target=self.url,
            options={"post": self.url, **options},
        )

        async def go() -> FetchResult:
            client = make_client(timeout=timeout) if timeout else make_client()
            async with client:
                ctx = FetchContext(client=client, now=self.now, max_pages=max_pages)
                return await SOURCE.fetch(SourceState(spec=spec, state=self.state), ctx)

        self.server.requests.clear()
        result = asyncio.run(go())
        self.state = json.loads(json.dumps(result.state))  # as the store would keep it
        return result

    def requests(self, path: str = COMMENTS) -> list[Request]:
        return [r for r in self.server.requests if r.path == path]


def comments(result: FetchResult) -> tuple[ItemData, ...]:
    return tuple(i for i in result.items if i.kind == "comment")


def article(result: FetchResult) -> ItemData | None:
    found = [i for i in result.items if i.kind == "article"]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    # One server for the module: stopping one waits out its 0.5 s poll interval.
    with LoopbackServer(lambda request: Response(404)) as running:
        yield running


@pytest.fixture
def blog(server: LoopbackServer) -> Any:
    def make(*args: Any, **kwargs: Any) -> Blog:
        return Blog(server, *args, **kwargs)

    return make


# --- registration and options ----------------------------------------------------------


def test_registered_under_its_platform() -> None:
    assert get_source("wordpress") is SOURCE
    options = WordPressOptions(post="https://blog.example.org/2026/02/10/launch/#comments")
    assert SOURCE.target(options) == "https://blog.example.org/2026/02/10/launch/"


@pytest.mark.parametrize("post", ["ftp://blog.example.org/x/", "blog.example.org/x/", "https://"])
def test_options_want_an_http_url(post: str) -> None:
    with pytest.raises(ValueError, match="http"):
        WordPressOptions(post=post)


def test_every_option_is_documented() -> None:
    for name, field in WordPressOptions.model_fields.items():
        assert field.description, name


# --- discovery -------------------------------------------------------------------------


def test_discovers_the_post_id_from_the_link_header(blog: Any) -> None:
    b = blog().comments(3)
    result = b.fetch()
    assert len(comments(result)) == 3
    assert b.state["post_id"] == b.post.id
    assert b.state["api_root"] == f"{b.server.base_url}/wp-json/"
    assert [r.path for r in b.server.requests] == [b.site.post_path(b.post.id), COMMENTS, POST]
    assert result.requests == 3


def test_discovers_from_the_html_head_without_link_headers(blog: Any) -> None:
    b = blog(link_headers=False).comments(2)
    assert len(comments(b.fetch())) == 2
    assert b.state["post_id"] == b.post.id


def test_falls_back_to_a_slug_search(blog: Any) -> None:
    b = blog(link_headers=False, head_links=False).comments(2)
    b.site.add_post("our-launch-2", "Another", date=WRITTEN)  # a near miss
    assert len(comments(b.fetch())) == 2
    (search,) = b.requests("/wp-json/wp/v2/posts")
    assert search.arg("slug") == "our-launch"
    assert b.state["post_id"] == b.post.id


def test_discovery_happens_once(blog: Any) -> None:
    b = blog().comments(2)
    b.fetch()
    b.comment("A second thought.")
    result = b.fetch(later=timedelta(minutes=10))
    assert [r.path for r in b.server.requests] == [COMMENTS, POST]
    assert len(comments(result)) == 3


def test_p_urls_and_rest_route_sites(blog: Any) -> None:
    b = blog(pretty_permalinks=False)
    b.comment("Bonjour")
    result = b.fetch()
    assert b.url.endswith(f"/?p={b.post.id}")
    assert b.state["api_root"] == f"{b.server.base_url}/index.php?rest_route=/"
    (item,) = comments(result)
    assert item.text == "Bonjour"
    routes = [r.arg("rest_route") for r in b.requests("/index.php")]
    assert routes == ["/wp/v2/comments", f"/wp/v2/posts/{b.post.id}"]
    post = article(result)
    assert post is not None
    assert post.url == item.context_url == b.url


def test_p_urls_follow_the_redirect_to_the_permalink(blog: Any) -> None:
    b = blog().comments(1)
    result = b.fetch(post=f"{b.server.base_url}/?p={b.post.id}")
    (item,) = comments(result)
    assert b.state["post_url"] == b.url
    assert item.context_url == b.url
    post = article(result)
    assert post is not None
    assert post.url == b.url


def test_keys_match_the_comment_feed(blog: Any) -> None:
    # The feed source keys a comment from its guid, https://site/?p=ID#comment-N.
    b = blog()
    c = b.comment()
    (item,) = comments(b.fetch())
    guid = f"{b.server.base_url}/?p={b.post.id}#comment-{c.id}"
    assert item.key == keys.wordpress_comment_from_url(guid)


# --- listing ---------------------------------------------------------------------------


def test_pages_through_250_comments_100_at_a_time(blog: Any) -> None:
    b = blog().comments(250)
    result = b.fetch()
    pages = b.requests()
    assert [r.arg("page") for r in pages] == ["1", "2", "3"]
    assert {r.arg("per_page") for r in pages} == {"100"}
    assert {(r.arg("orderby"), r.arg("order")) for r in pages} == {("id", "asc")}
    assert len(comments(result)) == 250
    assert result.listing == b.listed(*b.site.comments.values())
    assert result.requests == 5


def test_replies_keep_their_thread(blog: Any) -> None:
    b = blog()
    question = b.comment("Which tyres?")
    answer = b.comment("Studded ones.", parent=question.id)
    items = {item.key: item for item in b.fetch().items}
    assert items[b.key(answer)].in_reply_to == b.key(question)
    assert items[b.key(question)].in_reply_to is None


def test_items_carry_the_comment(blog: Any) -> None:
    b = blog()
    c = b.comment(
        "It's 20\" wide -- see https://tyres.example/studded for more\n\nBye 👍",
        author="Zoë & Max",
        author_url="https://zoe.example/",
    )
    (item,) = comments(b.fetch())
    assert item.author.name == "Zoë & Max"
    assert item.author.url == "https://zoe.example/"
    assert item.text == "It’s 20″ wide — see https://tyres.example/studded for more\n\nBye 👍"
    assert item.links == ("https://tyres.example/studded",)
    assert item.created_at == c.date_gmt
    assert item.url == f"{b.url}#comment-{c.id}"
    assert item.context_url == b.url


def test_listing_holds_exactly_the_approved_comments(blog: Any) -> None:
    b = blog()
    kept, trashed = b.comment(), b.comment()
    held = b.comment("Buy cheap watches", status="hold")
    first = b.fetch()
    assert first.listing == b.listed(kept, trashed)

    b.site.trash(trashed.id)
    b.site.approve(held.id)  # approved late: it keeps its old date
    second = b.fetch(later=timedelta(hours=1))
    assert second.listing == b.listed(kept, held)
    late = {i.key: i for i in second.items}[b.key(held)]
    assert late.created_at == held.date_gmt < NOW - timedelta(days=1)


def test_an_edit_changes_the_html(blog: Any) -> None:
    b = blog()
    c = b.comment("First draft")
    (before,) = comments(b.fetch())
    b.site.edit_comment(c.id, "Second *draft*, with <em>feeling</em>")
    (after,) = comments(b.fetch(later=timedelta(minutes=5)))
    assert after.key == before.key
    assert after.html == "<p>Second *draft*, with <em>feeling</em></p>"
    assert after.content_hash != before.content_hash


def test_an_empty_thread_lists_just_the_post(blog: Any) -> None:
    b = blog()
    result = b.fetch()
    assert [i.kind for i in result.items] == ["article"]
    assert result.listing == {b.post_key}


# --- the post itself ------------------------------------------------------------------


def test_the_post_comes_as_an_article(blog: Any) -> None:
    b = blog()
    b.site.posts[b.post.id].title = 'Rock & roll -- it\'s "done"...'
    c = b.comment()
    result = b.fetch()
    (request,) = b.requests(POST)
    assert request.arg("_embed") == "author"
    post = article(result)
    assert post is not None
    assert post.key == b.post_key
    assert post.title == "Rock & roll — it’s “done”…"  # texturized entities decoded
    assert post.url == b.url == comments(result)[0].context_url  # so digests pair them
    assert post.text == "We launched."
    assert post.created_at == b.post.date_gmt
    assert post.edited_at is None
    assert post.author.name == "Dana Écrit"
    assert post.author.key == keys.wordpress_author(b.key_site, "Dana Écrit")
    assert post.author.url == f"{b.server.base_url}/author/dana-ecrit/"
    assert post.author.avatar_url is not None
    assert "s=96" in post.author.avatar_url
    assert post.raw["id"] == b.post.id
    assert result.listing == b.listed(c)


def test_an_edited_post_says_when(blog: Any) -> None:
    b = blog()
    b.site.posts[b.post.id].modified_gmt = NOW - timedelta(hours=1)
    post = article(b.fetch())
    assert post is not None
    assert post.edited_at == NOW - timedelta(hours=1)


@pytest.mark.parametrize("users_api", ["unlinked", "refused"])
def test_a_site_that_hides_its_users_is_the_author(blog: Any, users_api: str) -> None:
    # "unlinked": the post has no author link, so no _embedded at all; "refused": the
    # embedded author is a rest_user_cannot_view error object.
    b = blog(users_api=users_api)
    post = article(b.fetch())
    assert post is not None
    assert post.author.name == "127.0.0.1"
    assert post.author.key == keys.wordpress_author(b.key_site, "127.0.0.1")
    assert post.author.url == b.server.base_url
    assert post.title == "Our launch"


def test_a_page_is_asked_for_under_pages_once_found(blog: Any) -> None:
    def served_as_a_page(site: WordPressSite) -> Any:
        def app(request: Request) -> Response:
            if request.path == POST:
                return site(dataclasses.replace(request, path="/wp-json/wp/v2/pages/1"))
            if request.path == "/wp-json/wp/v2/pages/1":
                return site(dataclasses.replace(request, path=POST))
            return site(request)

        return app

    b = blog(served_as_a_page)
    first = b.fetch()
    assert [r.path for r in b.server.requests][-2:] == [POST, "/wp-json/wp/v2/pages/1"]
    assert article(first) is not None
    assert b.state["post_type"] == "pages"
    second = b.fetch(later=timedelta(minutes=5))
    assert [r.path for r in b.server.requests] == [COMMENTS, "/wp-json/wp/v2/pages/1"]
    assert article(second) is not None


def test_a_state_from_before_the_post_was_fetched_still_loads(blog: Any) -> None:
    b = blog().comments(1)
    b.fetch()
    del b.state["post_type"]
    result = b.fetch(later=timedelta(minutes=5))
    assert [r.path for r in b.server.requests] == [COMMENTS, POST]  # no new discovery
    assert article(result) is not None


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", 500),
        Fault("status", 503),
        Fault("timeout", seconds=1.5),
        Fault("reset"),
        Fault("malformed"),
        Fault("status", 429),
    ],
    ids=["500", "503", "timeout", "reset", "malformed", "429"],
)
def test_a_passing_failure_of_the_post_request_keeps_the_comments_and_the_article(
    blog: Any, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    b = blog()
    c = b.comment()
    b.server.inject(Fault(fault.kind, fault.status, fault.headers, fault.seconds, POST))
    with caplog.at_level(logging.WARNING, logger="aggregator.sources.wordpress"):
        result = b.fetch(timeout=httpx.Timeout(1.0))
    assert [i.key for i in result.items] == [b.key(c)]
    assert result.listing == b.listed(c)  # a stored article stands
    assert "the post itself is not fetched this time" in caplog.text
    assert article(b.fetch(later=timedelta(minutes=5))) is not None


def test_a_rate_limited_post_request_asks_to_wait(blog: Any) -> None:
    b = blog()
    b.server.inject(Fault("status", 429, {"Retry-After": "120"}, path_prefix=POST))
    result = b.fetch()
    assert article(result) is None
    assert result.next_check_hint == b.now + timedelta(seconds=120)


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_a_refused_post_is_no_longer_listed(blog: Any, status: int) -> None:
    b = blog()
    c = b.comment()
    b.server.inject(Fault("status", status, path_prefix=POST))
    result = b.fetch()
    assert [i.key for i in result.items] == [b.key(c)]
    assert result.listing == {b.key(c)}  # a stored article is tombstoned


def test_a_failing_comment_walk_does_not_ask_for_the_post(blog: Any) -> None:
    b = blog().comments(1)
    b.server.inject(Fault("status", 503, path_prefix=COMMENTS))
    with pytest.raises(TemporaryError):
        b.fetch()
    assert b.requests(POST) == []


# --- big threads -----------------------------------------------------------------------


def test_big_threads_poll_with_a_site_local_after(blog: Any) -> None:
    b = blog().comments(250, every=timedelta(minutes=30))
    assert b.fetch(full_relist_pages=2).listing is not None  # the first fetch lists it all
    newest = max(c.date_gmt for c in b.site.comments.values())
    fresh = b.comment("Just in", date=NOW + timedelta(minutes=30))

    result = b.fetch(full_relist_pages=2, later=timedelta(hours=1))
    (request,) = b.requests()
    # after compares with comment_date, the site's wall clock (UTC−5), exclusively.
    site_local = (newest + SITE_OFFSET - timedelta(days=1)).replace(tzinfo=None)
    assert request.arg("after") == site_local.isoformat()
    assert result.listing is None
    assert b.key(fresh) in {i.key for i in result.items}
    assert result.cursor_after == fresh.date_gmt.isoformat()


def test_big_threads_are_relisted_periodically(blog: Any) -> None:
    b = blog().comments(250, every=timedelta(minutes=30))
    late = b.comment("Held for days", status="hold", date=WRITTEN + timedelta(days=1))
    b.fetch(full_relist_pages=2, full_relist_every_hours=6)
    b.site.approve(late.id)
    b.comments(1)

    polled = b.fetch(full_relist_pages=2, full_relist_every_hours=6, later=timedelta(hours=1))
    assert b.key(late) not in {i.key for i in polled.items}  # older than the overlap

    relisted = b.fetch(full_relist_pages=2, full_relist_every_hours=6, later=timedelta(hours=5))
    assert all(r.arg("after") is None for r in b.requests())
    assert relisted.listing is not None
    assert b.key(late) in relisted.listing
    assert len(relisted.listing) == 252 + 1  # and the post


def test_a_small_thread_is_listed_whole_every_time(blog: Any) -> None:
    b = blog().comments(150)
    b.fetch()
    again = b.fetch(later=timedelta(minutes=1))
    assert all(r.arg("after") is None for r in b.requests())
    assert again.listing == b.listed(*b.site.comments.values())
    assert len(again.listing) == 150 + 1


# --- page cap --------------------------------------------------------------------------


def test_the_page_cap_never_yields_a_partial_listing(blog: Any) -> None:
    b = blog().comments(250)
    seen: set[str] = set()
    for _ in range(2):
        result = b.fetch(max_pages=2, later=timedelta(minutes=1))
        assert result.listing is None
        assert len(b.requests()) <= 2
        seen |= {i.key for i in comments(result)}
    # The second fetch resumed the walk (one page back) and reached the end.
    assert seen == {b.key(c) for c in b.site.comments.values()}
    assert b.state["walk"] is None


def test_resumes_with_a_one_page_cap(blog: Any) -> None:
    b = blog().comments(250)
    pages = []
    for _ in range(3):
        b.fetch(max_pages=1, later=timedelta(minutes=1))
        pages += [r.arg("page") for r in b.requests()]
    assert pages == ["1", "2", "3"]


def test_no_listing_when_the_thread_moves_during_the_walk(blog: Any) -> None:
    def arrives_mid_walk(site: WordPressSite) -> Any:
        def app(request: Request) -> Response:
            response = site(request)
            if request.path == COMMENTS and request.arg("page") == "1":
                site.add_comment(1, "Quick", "Typed during the walk", date=NOW)
            return response

        return app

    b = blog(arrives_mid_walk).comments(150)
    result = b.fetch()
    assert result.listing is None
    assert len(comments(result)) == 151


# --- failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("status", 429, {"Retry-After": "30"}), RateLimited),
        (Fault("status", 500), TemporaryError),
        (Fault("status", 502), TemporaryError),
        (Fault("status", 503), TemporaryError),
        (Fault("timeout", seconds=1.5), TemporaryError),
        (Fault("reset"), TemporaryError),
        (Fault("malformed"), ParseError),
        (Fault("status", 401), PermanentError),
        (Fault("status", 403), PermanentError),
        (Fault("status", 404), PermanentError),
    ],
    ids=["429", "500", "502", "503", "timeout", "reset", "malformed", "401", "403", "404"],
)
def test_failures_become_source_errors(blog: Any, fault: Fault, error: type[Exception]) -> None:
    b = blog().comments(3)
    b.server.inject(Fault(fault.kind, fault.status, fault.headers, fault.seconds, COMMENTS))
    with pytest.raises(error):
        b.fetch(timeout=httpx.Timeout(1.0))


def test_rate_limit_carries_retry_after(blog: Any) -> None:
    b = blog().comments(3)
    b.server.inject(Fault("status", 429, {"Retry-After": "30"}, path_prefix=COMMENTS))
    with pytest.raises(RateLimited) as caught:
        b.fetch()
    assert caught.value.retry_after == timedelta(seconds=30)


def test_a_site_that_refuses_the_api_points_at_the_feed(blog: Any) -> None:
    b = blog(rest_api="login_required").comments(3)
    with pytest.raises(PermanentError, match=r"rest_not_logged_in.*comment feed"):
        b.fetch()


def test_a_missing_post_is_permanent(blog: Any) -> None:
    b = blog()
    b.site.posts.pop(b.post.id)
    with pytest.raises(PermanentError, match="post page"):
        b.fetch()


def test_a_failure_mid_walk_fails_the_whole_fetch(blog: Any) -> None:
    def page_two_fails_once(site: WordPressSite) -> Any:
        failed: list[Request] = []

        def app(request: Request) -> Response:
            if request.path == COMMENTS and request.arg("page") == "2" and not failed:
                failed.append(request)
                return Response(503)
            return site(request)

        return app

    b = blog(page_two_fails_once).comments(250)
    with pytest.raises(TemporaryError):
        b.fetch()
    assert b.state == {}  # no half-walked state: the pipeline keeps the old one
    assert len(comments(b.fetch())) == 250


# --- the simulator answers like core ---------------------------------------------------


def test_simulator_rest_quirks(blog: Any) -> None:
    b = blog()
    b.comments(3)
    base = b.server.base_url + COMMENTS
    with httpx.Client() as client:
        too_many = client.get(base, params={"per_page": 101})
        assert too_many.status_code == 400
        assert too_many.json()["code"] == "rest_invalid_param"
        past = client.get(base, params={"post": b.post.id, "page": 9})
        assert past.json() == []
        assert past.headers["x-wp-totalpages"] == "1"
        first = b.site.comments[1]
        local = (first.date_gmt + SITE_OFFSET).replace(tzinfo=None).isoformat()
        after = client.get(base, params={"post": b.post.id, "after": local, "orderby": "id"})
        assert [c["id"] for c in after.json()] == [3, 2]  # exclusive, default order desc
        assert "\\/" in after.text  # slashes escaped like PHP's json_encode


def test_simulator_embeds_the_author_like_core(blog: Any) -> None:
    b = blog(pretty_permalinks=False)
    b.comment()
    url = b.server.base_url + "/index.php"
    with httpx.Client() as client:
        plain = client.get(url, params={"rest_route": "/wp/v2/posts/1"}).json()
        assert "_embedded" not in plain
        assert list(plain)[:13] == [
            "id", "date", "date_gmt", "guid", "modified", "modified_gmt", "slug", "status",
            "type", "link", "title", "content", "excerpt",
        ]  # fmt: skip
        assert plain["link"] == b.url
        assert plain["content"]["protected"] is False
        one = client.get(url, params={"rest_route": "/wp/v2/posts/1", "_embed": "author"}).json()
        assert list(one["_embedded"]) == ["author"]
        (user,) = one["_embedded"]["author"]
        assert user["name"] == "Dana Écrit"
        assert user["link"] == f"{b.server.base_url}/?author={one['author']}"
        # the user schema's embed context, plus _links
        assert list(user) == [
            "id", "name", "url", "description", "link", "slug", "avatar_urls", "_links",
        ]  # fmt: skip
        every = client.get(url + "?rest_route=/wp/v2/posts/1&_embed").json()
        assert list(every["_embedded"]) == ["author", "replies"]
        assert "post" not in every["_embedded"]["replies"][0][0]  # embed context


def test_simulator_feeds_answer_304(blog: Any) -> None:
    b = blog()
    b.comment("Hello", author="Zoë & Max")
    with httpx.Client() as client:
        feed = client.get(b.url + "feed/")
        assert feed.status_code == 200
        assert "<dc:creator><![CDATA[Zoë &#38; Max]]></dc:creator>" in feed.text
        again = client.get(b.url + "feed/", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
        atom = client.get(b.url + "feed/atom/")
        assert "thr:in-reply-to" in atom.text
