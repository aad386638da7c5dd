"""The WordPress REST parser: golden files, hostile input, and the discovery helpers."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.http import json_body
from aggregator.models import ItemData
from aggregator.sources import keys
from aggregator.sources.wordpress_parse import (
    discover,
    html_links,
    id_from_query,
    parse_comments,
    parse_link_header,
    parse_post,
    pick_post,
    rest_item_id,
    route_url,
    site_local,
    site_offset,
)
from tests.golden import DATA, assert_golden
from tests.support import JSON_VALUES, mutations

WP = DATA / "wordpress"
TRICKY_SITE = "https://blog.example.fr"
TRICKY_POST = "https://blog.example.fr/2026/02/velo-cargo-hiver/"
CASES = {
    # case: (site, post URL)
    "wp_v2_comments_core_fixture": ("http://example.org", "http://example.org/?p=4"),
    "wp_v2_comments_post_tricky": (TRICKY_SITE, TRICKY_POST),
}
POST_CASES = {
    # case: site
    "wp_v2_post_core_fixture": "http://example.org",
    "wp_v2_posts_1234_embed_author": TRICKY_SITE,
}


def load(case: str) -> Any:
    return json.loads((WP / f"{case}.json").read_text("utf-8"))


def tricky() -> dict[int, ItemData]:
    """The tricky page's comments by id."""
    items = parse_comments(
        load("wp_v2_comments_post_tricky"), site=TRICKY_SITE, post_url=TRICKY_POST
    )
    return {item.raw["id"]: item for item in items}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    site, post_url = CASES[case]
    payload = load(case)
    items = parse_comments(payload, site=site, post_url=post_url)
    assert [item.raw for item in items] == payload  # raw is the comment, untouched
    expected = [{k: v for k, v in _fields(item).items() if k != "raw"} for item in items]
    assert_golden(expected, WP / f"{case}.expected.json")


def _fields(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


@pytest.mark.parametrize("case", sorted(POST_CASES))
def test_golden_post(case: str) -> None:
    payload = load(case)
    item = parse_post(payload, site=POST_CASES[case])
    assert item.raw == payload
    expected = {k: v for k, v in _fields(item).items() if k != "raw"}
    assert_golden(expected, WP / f"{case}.expected.json")


# --- the post itself -------------------------------------------------------------------


def tricky_post(**changes: Any) -> dict[str, Any]:
    return {**load("wp_v2_posts_1234_embed_author"), **changes}


def test_the_post_is_the_article_its_comments_hang_off() -> None:
    post = parse_post(tricky_post(), site=TRICKY_SITE)
    assert post.kind == "article"
    assert post.key == keys.wordpress_post(TRICKY_SITE, 1234)
    assert post.url == TRICKY_POST
    assert {c.context_url for c in tricky().values()} == {post.url}
    # Élodie writes the post and answers under it: one author.
    assert post.author.key == tricky()[5812].author.key


def test_post_title_entities_become_characters() -> None:
    assert parse_post(tricky_post(), site=TRICKY_SITE).title == (
        "L’hiver en vélo-cargo : pneus, froid & enfants"
    )
    marked_up = tricky_post(title={"rendered": "A <em>bold</em>\n move &lt;3"})
    assert parse_post(marked_up, site=TRICKY_SITE).title == "A bold move <3"
    assert parse_post(tricky_post(title={"rendered": ""}), site=TRICKY_SITE).title is None


def test_post_dates() -> None:
    post = parse_post(tricky_post(), site=TRICKY_SITE)
    assert post.created_at == datetime(2026, 2, 9, 17, 30, tzinfo=UTC)  # date_gmt
    assert post.edited_at == datetime(2026, 2, 11, 8, 10, 12, tzinfo=UTC)  # modified_gmt
    unedited = parse_post(tricky_post(modified_gmt="2026-02-09T17:30:00"), site=TRICKY_SITE)
    assert unedited.edited_at is None
    assert parse_post(tricky_post(modified_gmt=None), site=TRICKY_SITE).edited_at is None


def test_post_content_is_sanitized_with_its_links() -> None:
    post = parse_post(tricky_post(), site=TRICKY_SITE)
    assert "<img" not in post.html
    assert "<h2>Les pneus</h2>" in post.html
    assert post.links == (
        "https://www.example-shop.fr/pneus-clous",
        "https://blog.example.fr/2025/11/velotaf-nuit",
    )
    assert "Et on dégonfle un peu…" in post.text


def test_post_url_is_the_url_the_post_is_followed_by() -> None:
    # A ?p= URL (or another host name) names the post the comments carry as context.
    post = parse_post(tricky_post(), site=TRICKY_SITE, post_url="https://blog.example.fr/?p=1234")
    assert post.url == "https://blog.example.fr/?p=1234"
    assert post.raw["link"] == TRICKY_POST


@pytest.mark.parametrize(
    "embedded",
    [
        None,  # no author link: a site that hides its users
        {"author": [{"code": "rest_user_cannot_view", "data": {"status": 401}}]},
        {"author": []},
        {"author": [{"name": "   "}]},
        {"wp:featuredmedia": [{"id": 1240}]},
    ],
    ids=["absent", "error-object", "empty", "blank-name", "no-author"],
)
def test_post_without_a_readable_author_is_by_the_site(embedded: Any) -> None:
    payload = tricky_post()
    del payload["_embedded"]
    if embedded is not None:
        payload["_embedded"] = embedded
    author = parse_post(payload, site=TRICKY_SITE).author
    assert author.name == "blog.example.fr"
    assert author.key == keys.wordpress_author(TRICKY_SITE, "blog.example.fr")
    assert author.url == TRICKY_SITE
    assert author.avatar_url is None


def test_post_author_is_unescaped_once() -> None:
    payload = tricky_post()
    payload["_embedded"] = {
        "author": [{"name": "Zoë &amp; Max", "link": "javascript:alert(1)", "avatar_urls": 5}]
    }
    author = parse_post(payload, site=TRICKY_SITE).author
    assert author.name == "Zoë & Max"
    assert author.url is None
    assert author.avatar_url is None


def test_a_password_protected_post_keeps_its_title_only() -> None:
    payload = tricky_post(
        title={"rendered": "Protected: Nos vacances"},
        content={"rendered": "<p>Visible with the password</p>", "protected": True},
    )
    post = parse_post(payload, site=TRICKY_SITE)
    assert post.title == "Protected: Nos vacances"
    assert (post.html, post.text, post.links) == ("", "", ())


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"code": "rest_post_invalid_id", "message": "Invalid post ID.", "data": {"status": 404}},
        {**load("wp_v2_post_core_fixture"), "id": "4"},
        {**load("wp_v2_post_core_fixture"), "title": "REST API Client Fixture: Post"},
        {**load("wp_v2_post_core_fixture"), "content": {"protected": False}},
        {**load("wp_v2_post_core_fixture"), "link": None},
        {**load("wp_v2_post_core_fixture"), "date_gmt": None, "date": "soon"},
        {**load("wp_v2_post_core_fixture"), "title": {"rendered": "\ud83d"}},
    ],
    ids=[
        "array",
        "error",
        "string-id",
        "flat-title",
        "no-rendered",
        "no-link",
        "no-date",
        "surrogate",
    ],
)
def test_malformed_posts_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_post(payload, site="http://example.org")


def test_author_name_is_unescaped_once() -> None:
    zoe = tricky()[5807].author
    assert zoe.name == "Zoë & Max"
    assert zoe.key == keys.wordpress_author(TRICKY_SITE, "Zoë & Max")


def test_texturized_entities_become_characters() -> None:
    text = tricky()[5812].text
    assert "c’est" in text
    assert "20″" in text
    assert text.endswith("👍")  # stored as &#x1f44d; by a utf8 (not utf8mb4) database
    assert "&#" not in text


def test_replies_point_at_their_parent_comment() -> None:
    comments = tricky()
    assert comments[5812].in_reply_to == keys.wordpress_comment(TRICKY_SITE, 5807)
    assert comments[5807].in_reply_to is None
    assert comments[5812].key == keys.wordpress_comment(TRICKY_SITE, 5812)
    assert comments[5812].context_url == TRICKY_POST


def test_created_at_is_date_gmt_as_utc() -> None:
    # date is 09:03:51 site-local (UTC+1); date_gmt 08:03:51 is the moment.
    assert tricky()[5812].created_at == datetime(2026, 2, 11, 8, 3, 51, tzinfo=UTC)


def test_a_zero_date_gmt_falls_back_to_the_site_local_date() -> None:
    # Comments imported into WordPress can have comment_date_gmt 0000-00-00 00:00:00.
    comment = {**load("wp_v2_comments_post_tricky")[0], "date_gmt": "-0001-11-30T00:00:00"}
    (item,) = parse_comments([comment], site=TRICKY_SITE, post_url=TRICKY_POST)
    assert item.created_at == datetime(2026, 2, 11, 9, 3, 51, tzinfo=UTC)


def test_ugc_links_are_shared_links() -> None:
    comments = tricky()
    assert comments[5807].links == ("https://velotaf.example.org/hiver",)
    assert comments[5812].links == ("https://www.example-shop.fr/pneus-clous",)


def test_missing_avatars_and_blank_author_url() -> None:
    comment = load("wp_v2_comments_post_tricky")[1]
    del comment["author_avatar_urls"]  # the site turned avatars off
    (item,) = parse_comments([comment], site=TRICKY_SITE, post_url=TRICKY_POST)
    assert item.author.avatar_url is None
    assert item.author.url is None  # author_url was ""
    assert item.text.startswith("とても参考になりました")


def test_hostile_html_is_sanitized() -> None:
    comment = load("wp_v2_comments_core_fixture")[0]
    comment["content"]["rendered"] = (
        '<p onclick="steal()">Hi<script>alert(1)</script>'
        '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
        '<iframe src="https://evil.example/"></iframe><style>p{}</style>'
        '<a href="https://ok.example/" style="color:red">ok</a></p>'
    )
    comment["author_url"] = "javascript:alert(4)"
    comment["link"] = "javascript:alert(5)"
    (item,) = parse_comments([comment], site="http://example.org", post_url="http://example.org/")
    for bad in ("script", "alert", "onclick", "onerror", "iframe", "style", "javascript"):
        assert bad not in item.html
    assert item.links == ("https://ok.example/",)
    assert item.author.url is None
    assert item.url is None


def test_lone_surrogate_is_a_parse_error() -> None:
    payload = json.loads(
        (WP / "wp_v2_comments_core_fixture.json").read_text("utf-8").replace("a comment", "\\ud83d")
    )
    with pytest.raises(ParseError):
        parse_comments(payload, site="http://example.org", post_url="http://example.org/")


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "rest_no_route"},
        [None],
        [{"id": "2"}],
        [{**load("wp_v2_comments_core_fixture")[0], "date_gmt": "yesterday", "date": None}],
        [{**load("wp_v2_comments_core_fixture")[0], "content": "<p>x</p>"}],
        [{**load("wp_v2_comments_core_fixture")[0], "parent": True}],
        [{**load("wp_v2_comments_core_fixture")[0], "id": -1}],
    ],
    ids=["error-object", "null", "string-id", "bad-date", "flat-content", "bool-parent", "neg-id"],
)
def test_malformed_payloads_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_comments(payload, site="http://example.org", post_url="http://example.org/")


# --- Hypothesis: any mutation of a real payload parses or raises ParseError -----------

REAL_COMMENTS = [load(case) for case in sorted(CASES)]
REAL_POSTS = [load(case) for case in sorted(POST_CASES)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_COMMENTS).flatmap(mutations))
def test_mutated_payloads_raise_only_parse_error(payload: Any) -> None:
    try:
        items = parse_comments(payload, site=TRICKY_SITE, post_url=TRICKY_POST)
    except ParseError:
        return
    for item in items:
        assert item.created_at.tzinfo is UTC
        assert item.key.startswith("wordpress:")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_POSTS).flatmap(mutations))
def test_mutated_posts_raise_only_parse_error(payload: Any) -> None:
    try:
        item = parse_post(payload, site=TRICKY_SITE)
    except ParseError:
        return
    assert item.created_at.tzinfo is UTC
    assert item.edited_at is None or item.edited_at > item.created_at
    assert item.key.startswith("wordpress:")


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_parses_or_raises_parse_error(payload: Any) -> None:
    with contextlib.suppress(ParseError):
        parse_comments(payload, site=TRICKY_SITE, post_url=TRICKY_POST)
    with contextlib.suppress(ParseError):
        parse_post(payload, site=TRICKY_SITE)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2000))
def test_truncated_bodies_raise_parse_error(cut: int) -> None:
    body = (WP / "wp_v2_comments_post_tricky.json").read_bytes()
    cut = cut % len(body)
    response = httpx.Response(200, content=body[:cut], request=httpx.Request("GET", TRICKY_SITE))
    with pytest.raises(ParseError):
        parse_comments(json_body(response), site=TRICKY_SITE, post_url=TRICKY_POST)


# --- the site's clock ------------------------------------------------------------------


def test_site_offset_is_date_minus_date_gmt() -> None:
    assert site_offset(load("wp_v2_comments_post_tricky")[0]) == timedelta(hours=1)
    assert site_offset(load("wp_v2_comments_core_fixture")[0]) == timedelta(0)
    assert site_offset({"date": "2026-07-01T02:00:00", "date_gmt": "2026-06-30T21:30:00"}) == (
        timedelta(hours=4, minutes=30)
    )


@pytest.mark.parametrize(
    "comment",
    [
        {},
        {"date": "2026-07-01T02:00:00"},
        {"date": "2026-07-01T02:00:00", "date_gmt": "2026-06-29T02:00:00"},  # 48 h apart
        {"date": "2026-07-01T02:00:00", "date_gmt": "nonsense"},
        {"date": 5, "date_gmt": 6},
    ],
)
def test_site_offset_is_none_when_implausible(comment: dict[str, Any]) -> None:
    assert site_offset(comment) is None


def test_site_local_has_no_zone_suffix() -> None:
    when = datetime(2026, 2, 11, 8, 3, 51, tzinfo=UTC)
    assert site_local(when, timedelta(hours=1)) == "2026-02-11T09:03:51"
    assert site_local(when, timedelta(hours=-5)) == "2026-02-11T03:03:51"


# --- discovery helpers -----------------------------------------------------------------


def test_link_header_keeps_every_rel() -> None:
    header = (
        '<https://blog.example.fr/wp-json/>; rel="https://api.w.org/", '
        '<https://blog.example.fr/wp-json/wp/v2/posts/1234>; rel="alternate"; title="JSON"; '
        'type="application/json", <https://blog.example.fr/?p=1234>; rel=shortlink'
    )
    links = parse_link_header(header)
    assert [url for url, _ in links] == [
        "https://blog.example.fr/wp-json/",
        "https://blog.example.fr/wp-json/wp/v2/posts/1234",
        "https://blog.example.fr/?p=1234",
    ]
    assert links[1][1] == {"rel": "alternate", "title": "JSON", "type": "application/json"}
    assert discover(links, TRICKY_POST) == (1234, "https://blog.example.fr/wp-json/")


def test_html_head_links() -> None:
    page = (
        "<html><head><link rel='https://api.w.org/' "
        "href='https://s.example/index.php?rest_route=/' />"
        '<link rel="alternate" title="JSON" type="application/json" '
        'href="https://s.example/index.php?rest_route=/wp/v2/posts/77" /></head>'
        '<body><link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts/1"></body>'
    )
    assert discover(html_links(page), "https://s.example/?p=77") == (
        77,
        "https://s.example/index.php?rest_route=/",
    )


def test_broken_link_targets_are_skipped() -> None:
    links = parse_link_header(
        '<http://[oops/wp-json/>; rel="https://api.w.org/", '
        '<https://s.example/wp-json/wp/v2/posts/5>; rel="alternate"; type="application/json"'
    )
    assert discover(links, "https://s.example/x/") == (5, "https://s.example/wp-json/")


def test_api_root_falls_back_to_the_alternate_link() -> None:
    links = [
        (
            "https://s.example/blog/wp-json/wp/v2/pages/9",
            {"rel": "alternate", "type": "application/json"},
        )
    ]
    assert discover(links, "https://s.example/blog/about/") == (
        9,
        "https://s.example/blog/wp-json/",
    )


def test_rest_item_id_and_query_ids() -> None:
    assert rest_item_id("https://s.example/wp-json/wp/v2/posts/12") == 12
    assert rest_item_id("https://s.example/?rest_route=/wp/v2/posts/12") == 12
    assert rest_item_id("https://s.example/wp-json/wp/v2/posts") is None
    assert id_from_query("https://s.example/?p=1234") == 1234
    assert id_from_query("https://s.example/2026/02/slug/") is None
    assert id_from_query("https://s.example/?p=abc") is None


def test_route_url_for_both_api_styles() -> None:
    assert route_url("https://s.example/wp-json/", "wp/v2/comments") == (
        "https://s.example/wp-json/wp/v2/comments"
    )
    assert route_url("https://s.example/wp-json", "wp/v2/comments") == (
        "https://s.example/wp-json/wp/v2/comments"
    )
    assert route_url("https://s.example/index.php?rest_route=/", "wp/v2/comments") == (
        "https://s.example/index.php?rest_route=%2Fwp%2Fv2%2Fcomments"
    )


def test_pick_post_matches_the_link() -> None:
    posts = [
        {"id": 1, "link": "https://s.example/2025/01/01/launch/"},
        {"id": 2, "link": "https://s.example/2026/02/10/launch/"},
    ]
    assert pick_post(posts, "https://s.example/2026/02/10/launch") == 2
    assert pick_post(posts, "https://s.example/2027/launch/") is None
    assert pick_post(posts[:1], "http://www.s.example/launch/") == 1  # the only candidate
    assert pick_post([], "https://s.example/x/") is None
    with pytest.raises(ParseError):
        pick_post({"code": "rest_no_route"}, "https://s.example/x/")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>/=\"' alinkrefhtp:.&;#![]-x"), max_size=200))
def test_discovery_reads_any_page_without_raising(page: str) -> None:
    links = html_links(page) + parse_link_header(page)
    discover(links, "https://s.example/post/")
