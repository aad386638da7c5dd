"""The Bluesky parser: real payloads against golden files, then the rules one by one."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.models import ConsentPolicy, RateLimit
from aggregator.sources.bluesky_parse import (
    ParsedPosts,
    exclusion_reason,
    format_time,
    parse_post,
    parse_posts,
    parse_rate_limit,
    parse_time,
    render_html,
)
from aggregator.sources.bluesky_xrpc import base_url, parse_session, pds_endpoint
from tests.golden import DATA, assert_golden, to_jsonable
from tests.support import mutations

BLUESKY = DATA / "bluesky"
CASES = ["searchPosts_tag_HCERES_latest", "getPosts_root_and_reply"]
CONSENT = ConsentPolicy()
LINK = "app.bsky.richtext.facet#link"
TAG = "app.bsky.richtext.facet#tag"
MENTION = "app.bsky.richtext.facet#mention"


def load(case: str) -> Any:
    return json.loads((BLUESKY / f"{case}.json").read_text("utf-8"))


def golden_view(page: ParsedPosts) -> dict[str, Any]:
    """The parse minus ``raw`` (the input itself)."""
    items = []
    for item in page.items:
        view = to_jsonable(item)
        view["raw"] = {"uri": item.raw["uri"], "cid": item.raw["cid"]}
        items.append(view)
    return {
        "items": items,
        "excluded": page.excluded,
        "uris": page.uris,
        "cursor": page.cursor,
        "oldest_sort_at": page.oldest_sort_at,
        "newest_indexed_at": page.newest_indexed_at,
    }


@pytest.mark.parametrize("case", CASES)
def test_real_payloads_parse_as_recorded_in_golden_files(case: str) -> None:
    page = parse_posts(load(case), CONSENT, paged=case.startswith("search"))
    assert_golden(golden_view(page), BLUESKY / f"{case}.expected.json")


# -- the rules, one by one ----------------------------------------------------------


def post(index: int = 1, **record: Any) -> dict[str, Any]:
    """A real PostView from the search fixture, with ``record`` fields replaced."""
    obj: dict[str, Any] = copy.deepcopy(load(CASES[0])["posts"][index])
    obj["record"].update(record)
    return obj


def facet(start: int, end: int, **feature: Any) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


def test_facet_offsets_are_utf8_bytes_not_characters() -> None:
    item = parse_post(post(1))  # emoji and accents before #HCERES (source-apis.md §2)
    assert '<a href="https://bsky.app/hashtag/HCERES" class="hashtag"' in item.html
    assert ">#HCERES</a> pour dénoncer" in item.html
    assert 'class="mention"' in item.html
    assert ">@fsu-nationale.bsky.social</a>" in item.html
    assert item.text.startswith("📢📢‼️Appel intersyndical")


def test_a_link_after_emoji_and_accents_becomes_a_link_and_a_shared_link() -> None:
    text = "Café 🎉 déjà vu: https://example.org/a?utm_source=x done"
    start = len("Café 🎉 déjà vu: ".encode())
    end = start + len(b"https://example.org/a?utm_source=x")
    item = parse_post(
        post(
            1,
            text=text,
            facets=[
                facet(start, end, **{"$type": LINK, "uri": "https://example.org/a?utm_source=x"})
            ],
        )
    )
    assert item.html == (
        '<p>Café 🎉 déjà vu: <a href="https://example.org/a?utm_source=x" '
        'rel="nofollow noopener noreferrer ugc">https://example.org/a?utm_source=x</a> done</p>'
    )
    assert item.links == ("https://example.org/a",)


def test_a_shortened_link_text_keeps_the_full_uri_of_its_facet() -> None:
    text = "read example.org/long..."
    uri = "https://example.org/long/path"
    item = parse_post(post(1, text=text, facets=[facet(5, 24, **{"$type": LINK, "uri": uri})]))
    assert f'href="{uri}"' in item.html
    assert item.links == (uri,)


@pytest.mark.parametrize(
    "bad",
    [
        facet(0, 999, **{"$type": TAG, "tag": "x"}),  # past the end
        facet(5, 3, **{"$type": TAG, "tag": "x"}),  # backwards
        facet(1, 4, **{"$type": TAG, "tag": "x"}),  # starts inside 📢 (4 bytes)
        facet(0, 4, **{"$type": LINK, "uri": "javascript:alert(1)"}),
        facet(0, 4, **{"$type": LINK, "uri": "https://x.example/\nq"}),
        facet(0, 4, **{"$type": MENTION, "did": "not a did"}),
        facet(0, 4, **{"$type": "app.bsky.richtext.facet#unknown"}),
        {"index": "0-4", "features": []},
        {"index": {"byteStart": True, "byteEnd": 4}, "features": [{"$type": TAG, "tag": "x"}]},
        "not a facet",
    ],
    ids=repr,
)
def test_unusable_facets_leave_plain_escaped_text(bad: Any) -> None:
    item = parse_post(post(1, text="📢 <b>hi</b> & bye", facets=[bad]))
    assert item.html == "<p>📢 &lt;b&gt;hi&lt;/b&gt; &amp; bye</p>"
    assert item.text == "📢 <b>hi</b> & bye"


def test_overlapping_facets_keep_the_first_and_paragraphs_and_breaks_follow_the_text() -> None:
    facets = [
        facet(0, 4, **{"$type": TAG, "tag": "one"}),
        facet(2, 6, **{"$type": TAG, "tag": "two"}),
    ]
    html = render_html("#one two\nthree\n\n four", facets)
    assert html == (
        '<p><a href="https://bsky.app/hashtag/one" class="hashtag">#one</a> two<br>three</p>'
        "<p>four</p>"
    )


def test_hostile_text_is_escaped_and_sanitized() -> None:
    item = parse_post(post(1, text='<script>alert(1)</script><img src=x onerror="y">', facets=[]))
    assert "<script" not in item.html
    assert "<img" not in item.html
    assert item.text == '<script>alert(1)</script><img src=x onerror="y">'


def test_hashtags_come_from_tag_facets_and_record_tags_lower_cased_once() -> None:
    item = parse_post(post(2, tags=["Extra", "#esr", " "]))
    assert item.hashtags == ("hceres", "esr", "extra")


def test_identity_url_author_language_and_counts() -> None:
    item = parse_post(post(3))
    assert item.key == "at://did:plc:7g4ic3vzf6ts42dmpy5usg4l/app.bsky.feed.post/3lkgnjzh6ec2g"
    assert (
        item.url == "https://bsky.app/profile/did:plc:7g4ic3vzf6ts42dmpy5usg4l/post/3lkgnjzh6ec2g"
    )
    assert item.author.key == "bluesky:did:plc:7g4ic3vzf6ts42dmpy5usg4l"
    assert item.author.handle == "@p4bl0.net"
    assert item.author.name == "🏴‍☠️ MC Pablo ∴ #SyndiquezVous"
    assert item.language == "fr"
    assert (item.engagement.replies, item.engagement.reposts, item.engagement.likes) == (4, 30, 20)


def test_display_name_falls_back_to_the_handle() -> None:
    obj = post(1)
    obj["author"]["displayName"] = "  "
    assert parse_post(obj).author.name == "snesupfsu.bsky.social"


def test_a_reply_names_its_parent_uri() -> None:
    root, reply = (parse_post(p) for p in load(CASES[1])["posts"])
    assert reply.in_reply_to == root.key
    assert root.in_reply_to is None


def test_external_embeds_are_canonical_links_and_quotes_stay_in_raw() -> None:
    card = {"uri": "https://news.example/story?utm_medium=social", "title": "t"}
    item = parse_post(post(0, embed={"$type": "app.bsky.embed.external", "external": card}))
    quoted = parse_post(post(0))
    with_media = parse_post(
        post(0, embed={"$type": "app.bsky.embed.recordWithMedia", "media": {"external": card}})
    )
    assert item.links == with_media.links == ("https://news.example/story",)
    assert quoted.links == ()
    assert quoted.raw["record"]["embed"]["record"]["uri"].startswith("at://")


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2025-03-15T17:27:52.605Z", datetime(2025, 3, 15, 17, 27, 52, 605000, tzinfo=UTC)),
        ("2025-03-15T17:27:52.605123456Z", datetime(2025, 3, 15, 17, 27, 52, 605123, tzinfo=UTC)),
        ("2025-03-15T18:27:52+01:00", datetime(2025, 3, 15, 17, 27, 52, tzinfo=UTC)),
        ("2025-03-15T17:27:52", datetime(2025, 3, 15, 17, 27, 52, tzinfo=UTC)),
        ("2019-01-01T00:00:00z", datetime(2019, 1, 1, tzinfo=UTC)),  # backdated: as claimed
        ("2099-01-01T00:00:00Z", datetime(2025, 3, 15, 17, 27, 47, 701000, tzinfo=UTC)),
        ("yesterday", datetime(2025, 3, 15, 17, 27, 47, 701000, tzinfo=UTC)),
        (None, datetime(2025, 3, 15, 17, 27, 47, 701000, tzinfo=UTC)),
    ],
)
def test_created_at_is_tolerant_and_a_future_or_unreadable_one_falls_back_to_indexed_at(
    created: Any, expected: datetime
) -> None:
    assert parse_post(post(3, createdAt=created)).created_at == expected


def test_sort_bounds_use_sort_at_and_indexed_at() -> None:
    page = parse_posts(load(CASES[0]), CONSENT)
    assert page.newest_indexed_at == datetime(2025, 3, 17, 9, 15, 22, 218000, tzinfo=UTC)
    # sortAt = min(createdAt, indexedAt): the oldest post was indexed before its createdAt
    assert page.oldest_sort_at == datetime(2025, 3, 15, 17, 27, 47, 701000, tzinfo=UTC)
    assert page.cursor == "4"


# -- consent -------------------------------------------------------------------------


def label(val: str, **extra: Any) -> dict[str, Any]:
    return {
        "src": "did:plc:x",
        "uri": "at://did:plc:x/app.bsky.actor.profile/self",
        "val": val,
        "cts": "2025-01-01T00:00:00Z",
        **extra,
    }


def with_author(**author: Any) -> dict[str, Any]:
    obj = post(1)
    obj["author"].update(author)
    return obj


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (with_author(labels=[label("!no-unauthenticated")]), "no_unauthenticated"),
        ({**post(1), "labels": [label("!no-unauthenticated")]}, "no_unauthenticated"),
        (with_author(labels=[label("!takedown")]), "hidden_account"),
        ({**post(1), "labels": [label("!hide")]}, "hidden_post"),
        (with_author(description="Researcher. #NoBot please"), "nobot"),
        (with_author(displayName="Ann #noarchive"), "nobot"),
    ],
)
def test_posts_without_consent_are_counted_not_returned(obj: dict[str, Any], reason: str) -> None:
    page = parse_posts({"posts": [obj]}, CONSENT)
    assert page.items == ()
    assert page.excluded == {reason: 1}
    assert page.uris == (obj["uri"],)


@pytest.mark.parametrize(
    ("obj", "policy"),
    [
        (
            with_author(labels=[label("!no-unauthenticated")]),
            ConsentPolicy(respect_no_unauthenticated=False),
        ),
        (
            with_author(
                labels=[label("!no-unauthenticated"), label("!no-unauthenticated", neg=True)]
            ),
            CONSENT,
        ),
        (with_author(labels=[label("!no-unauthenticated", exp="2025-06-01T00:00:00Z")]), CONSENT),
        (with_author(description="I study #nobotany"), CONSENT),
        (with_author(description="#nobot"), ConsentPolicy(optout_tags=("noarchive",))),
        (with_author(description="#nobot"), ConsentPolicy(optout_tags=())),
    ],
)
def test_consenting_posts_are_returned(obj: dict[str, Any], policy: ConsentPolicy) -> None:
    page = parse_posts({"posts": [obj]}, policy, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(page.items) == 1
    assert page.excluded == {}


def test_custom_opt_out_tags_of_the_policy_apply() -> None:
    policy = ConsentPolicy(optout_tags=("#KeepOut",))
    assert exclusion_reason(with_author(description="#keepout"), policy) == "nobot"


# -- sessions, rate limits, times ------------------------------------------------------


def test_the_session_names_the_accounts_pds_and_hides_its_tokens() -> None:
    session = parse_session(load("createSession_response"))
    assert session.pds == "https://morel.us-east.host.bsky.network"
    assert session.did == "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    assert "FAKE" not in repr(session)


@pytest.mark.parametrize(
    ("endpoint", "doc_id", "expected"),
    [
        ("https://pds.example", "did:plc:a", "https://pds.example"),
        ("https://PDS.example:443/", "did:plc:a", "https://pds.example"),
        ("http://127.0.0.1:2583", "did:plc:a", "http://127.0.0.1:2583"),
        ("http://pds.example", "did:plc:a", None),  # a token must not travel in clear
        ("https://pds.example", "did:plc:someone-else", None),
        ("javascript:x", "did:plc:a", None),
    ],
)
def test_pds_endpoint(endpoint: str, doc_id: str, expected: str | None) -> None:
    doc = {
        "id": doc_id,
        "service": [
            {
                "id": "did:plc:a#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": endpoint,
            }
        ],
    }
    assert pds_endpoint(doc, "did:plc:a") == expected


@pytest.mark.parametrize(
    "payload",
    [None, [], {}, {"did": "did:plc:a", "handle": "a", "accessJwt": "t"}, {"did": 1}],
    ids=repr,
)
def test_an_unreadable_session_is_a_parse_error_that_quotes_nothing(payload: Any) -> None:
    with pytest.raises(ParseError) as raised:
        parse_session(payload)
    assert "'t'" not in str(raised.value)


def test_rate_limit_headers_reset_in_unix_seconds() -> None:
    headers = {
        "RateLimit-Limit": "3000",
        "ratelimit-remaining": "2999",
        "RateLimit-Reset": "1785592800",
        "RateLimit-Policy": "3000;w=300",
    }
    assert parse_rate_limit(headers) == RateLimit(3000, 2999, datetime(2026, 8, 1, 14, tzinfo=UTC))
    assert parse_rate_limit({}) is None
    assert parse_rate_limit({"RateLimit-Reset": "soon"}) == RateLimit(None, None, None)


def test_times_round_trip_in_the_form_since_and_until_take() -> None:
    when = datetime(2025, 3, 17, 4, 0, 25, 83000, tzinfo=UTC)
    assert format_time(when) == "2025-03-17T04:00:25.083Z"
    assert parse_time(format_time(when)) == when
    assert format_time(datetime(1, 1, 1, tzinfo=UTC) + timedelta(0)) == "0001-01-01T00:00:00.000Z"
    assert base_url("https://bsky.social/") == "https://bsky.social"


# -- malformed input: only ParseError may escape -------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {},
        {"posts": {}},
        {"posts": [1]},
        {"posts": [post(1)], "cursor": 4},
        {"posts": [{**post(1), "uri": None}]},
        {"posts": [{**post(1), "uri": "https://bsky.app/x"}]},
        {"posts": [{**post(1), "indexedAt": "later"}]},
        {"posts": [{**post(1), "author": None}]},
        {"posts": [{**post(1), "record": []}]},
        {"posts": [post(1, text=["x"])]},
        {"posts": [{**post(1), "likeCount": "9"}]},
        {"posts": [{**post(1), "replyCount": -1}]},
        {"posts": [{**post(1), "labels": "!hide"}]},
        {"posts": [with_author(labels=[{"val": 1}])]},
        {"posts": [with_author(did="someone")]},
        {"posts": [with_author(handle=None)]},
    ],
    ids=repr,
)
def test_malformed_payloads_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_posts(payload, CONSENT)


REAL = [load(case) for case in CASES]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL).flatmap(mutations))
def test_mutated_real_payloads_parse_or_raise_parse_error(payload: Any) -> None:
    try:
        page = parse_posts(payload, CONSENT, now=datetime(2026, 1, 1, tzinfo=UTC))
    except ParseError:
        return
    for item in page.items:
        assert item.created_at.tzinfo is not None
        assert "<script" not in item.html


def test_a_lone_surrogate_in_text_becomes_a_replacement_character() -> None:
    item = parse_post(post(1, text="broken \ud800 text", facets=[]))
    assert item.text == "broken \ufffd text"
