"""The Mastodon parser: real payloads against golden files, then the rules one by one."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.models import ConsentPolicy, RateLimit
from aggregator.sources.mastodon_parse import (
    ParsedPage,
    id_order,
    link_param,
    parse_rate_limit,
    parse_status,
    parse_timeline,
)
from tests.golden import DATA, assert_golden, to_jsonable
from tests.support import mutations

MASTODON = DATA / "mastodon"
# Each payload with the instance it was recorded from (local handles get its host).
CASES = {
    "timeline_tag_hoot": "http://localhost:3000",
    "statuses_edge_cases": "https://mastodon.social",
    "status_edited_remote_mention_emoji": "https://mastodon.social",
}


def load(case: str) -> list[dict[str, Any]]:
    payload = json.loads((MASTODON / f"{case}.json").read_text("utf-8"))
    return payload if isinstance(payload, list) else [payload]


def golden_view(page: ParsedPage) -> dict[str, Any]:
    """The parse minus ``raw`` (the input itself) and the transient excluded keys."""
    items = []
    for item in page.items:
        view = to_jsonable(item)
        view["raw"] = {"id": item.raw["id"]}
        items.append(view)
    return {
        "items": items,
        "excluded": page.excluded,
        "max_id": page.max_id,
        "min_id": page.min_id,
        "oldest_at": page.oldest_at,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_payloads_parse_as_recorded_in_golden_files(case: str) -> None:
    page = parse_timeline(load(case), CASES[case])
    assert_golden(golden_view(page), MASTODON / f"{case}.expected.json")


# -- the rules, one by one ----------------------------------------------------------


def status(**changes: Any) -> dict[str, Any]:
    """The real #hoot status, with ``changes`` applied (``account`` entries merge)."""
    obj = copy.deepcopy(load("timeline_tag_hoot")[0])
    account = changes.pop("account", {})
    obj.update(changes)
    obj["account"].update(account)
    return obj


def test_key_is_the_uri_and_url_falls_back_to_it() -> None:
    item = parse_status(status(url=None), "http://localhost:3000")
    assert item.key == item.url == status()["uri"]


def test_a_local_handle_gets_its_server_host_and_a_remote_one_keeps_its_own() -> None:
    local = parse_status(status(), "http://127.0.0.1:3000").author
    no_url = parse_status(status(account={"url": None, "uri": "x"}), "http://127.0.0.1:3000")
    remote = parse_status(status(account={"acct": "owl@birds.example"}), "http://x.test").author
    assert local.handle == "@mastodonpy_test_2@localhost:3000"
    assert no_url.author.handle == "@mastodonpy_test_2@127.0.0.1:3000"
    assert remote.handle == "@owl@birds.example"


def test_display_name_falls_back_to_username() -> None:
    author = parse_status(status(account={"display_name": "  "}), "http://x.test").author
    assert author.name == "mastodonpy_test_2"


def test_content_warning_is_a_visible_escaped_first_paragraph() -> None:
    item = parse_status(
        status(spoiler_text="<b>spoilers</b> & plot", sensitive=True), "http://x.test"
    )
    assert item.html.startswith(
        "<p><strong>CW: &lt;b&gt;spoilers&lt;/b&gt; &amp; plot</strong></p><p>"
    )
    assert item.text.startswith("CW: <b>spoilers</b> & plot\n\n#hoot")


def test_hostile_content_is_sanitized() -> None:
    hostile = (
        '<p>hi<script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)" onclick="alert(4)">click</a>'
        '<a href="https://ok.example/?utm_source=x" style="color:red">ok</a></p>'
    )
    item = parse_status(status(content=hostile), "http://x.test")
    lowered = item.html.lower()
    for bad in ("<script", "onerror", "onclick", "javascript:", "style=", "alert(1)"):
        assert bad not in lowered
    assert item.links == ("https://ok.example/",)


def test_shortened_links_keep_the_real_href_and_mentions_and_hashtags_are_not_links() -> None:
    content = (
        '<p><span class="h-card"><a href="https://a.example/@bob" class="u-url mention">'
        '@<span>bob</span></a></span> see <a href="https://www.example.org/a/very/long/path">'
        '<span class="invisible">https://www.</span><span class="ellipsis">example.org/a/very'
        '</span><span class="invisible">/long/path</span></a> '
        '<a href="https://a.example/tags/owls" class="mention hashtag">#<span>owls</span></a></p>'
    )
    item = parse_status(status(content=content), "http://x.test")
    assert item.links == ("https://www.example.org/a/very/long/path",)
    assert "https://www.example.org/a/very/long/path" in item.text


def test_times_are_aware_utc_and_edits_carry_edited_at() -> None:
    item = parse_status(
        status(created_at="2026-08-01T15:55:55+02:00", edited_at="2026-08-01T14:00:00.5Z"),
        "http://x.test",
    )
    assert item.created_at == datetime(2026, 8, 1, 13, 55, 55, tzinfo=UTC)
    assert item.edited_at == datetime(2026, 8, 1, 14, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-08-01T13:55:55.000Z",
        "2026-08-01T13:55:55+00:00",
        "2026-08-01T15:55:55+02:00",
        "2026-08-01T13:55:55",  # naive: taken as UTC
        " 2026-08-01T13:55:55Z ",
    ],
)
def test_every_iso_form_of_a_time_is_read_as_aware_utc(created_at: str) -> None:
    page = parse_timeline([status(created_at=created_at)], "http://x.test")
    (item,) = page.items
    assert item.created_at == page.oldest_at == datetime(2026, 8, 1, 13, 55, 55, tzinfo=UTC)
    assert item.created_at.utcoffset() == timedelta(0)


def test_an_account_is_read_afresh_when_it_changes() -> None:
    before = parse_status(status(), "http://x.test")
    again = parse_status(status(), "http://x.test")
    renamed = parse_status(status(account={"display_name": "Hoot Owl"}), "http://x.test")
    elsewhere = parse_status(status(), "http://y.test")
    assert again.author == before.author
    assert renamed.author.name == "Hoot Owl"
    assert before.author.name == "mastodonpy_test_2"
    assert elsewhere.author.handle == before.author.handle  # the account's own url names it


def test_hashtags_are_lower_cased_and_unique() -> None:
    tags = [{"name": "Hoot", "url": "u"}, {"name": "hoot", "url": "u"}, {"name": "Owl", "url": "u"}]
    item = parse_status(status(tags=tags), "http://x.test")
    assert item.hashtags == ("hoot", "owl")


def test_a_reply_names_its_parent_by_the_parents_alias_on_the_same_instance() -> None:
    parent = parse_status(status(id="41", uri="u:41"), "https://a.example")
    reply = parse_status(status(id="42", uri="u:42", in_reply_to_id="41"), "https://a.example")
    elsewhere = parse_status(status(id="7", uri="u:42"), "https://b.example")
    assert parent.aliases == ("mastodon-local:a.example/41",)
    assert reply.in_reply_to == "mastodon-local:a.example/41"
    assert elsewhere.aliases == ("mastodon-local:b.example/7",)
    assert parent.in_reply_to is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"visibility": "private"}, "not_public"),
        ({"visibility": "direct"}, "not_public"),
        ({"visibility": None}, "not_public"),
        ({"account": {"noindex": True}}, "noindex"),
        (
            {"account": {"note": "<p>hi <a class='mention hashtag'>#<span>NoBot</span></a></p>"}},
            "nobot",
        ),
        ({"account": {"note": "no crawling please #nosearch"}}, "nobot"),
        ({"account": {"note": "#noarchive, thanks"}}, "nobot"),
        ({"account": {"note": "&#35;noindex"}}, "nobot"),
        ({"account": {"suspended": True}}, "hidden_account"),
        ({"account": {"limited": True}}, "hidden_account"),
    ],
)
def test_statuses_without_consent_are_counted_not_returned(
    changes: dict[str, Any], reason: str
) -> None:
    page = parse_timeline([status(**changes)], "http://x.test")
    assert page.items == ()
    assert page.excluded == {reason: 1}
    assert page.max_id == page.min_id == status()["id"]


@pytest.mark.parametrize(
    "changes",
    [
        {"visibility": "unlisted"},
        {"account": {"noindex": None}},
        {"account": {"note": "I study #nobotany and #nobots"}},
    ],
)
def test_consenting_statuses_are_returned(changes: dict[str, Any]) -> None:
    page = parse_timeline([status(**changes)], "http://x.test")
    assert len(page.items) == 1
    assert page.excluded == {}


@pytest.mark.parametrize(
    ("policy", "changes", "reason"),
    [
        (ConsentPolicy(require_indexable=True), {"account": {"indexable": False}}, "not_indexable"),
        (ConsentPolicy(require_indexable=True), {"account": {"indexable": None}}, "not_indexable"),
        (
            ConsentPolicy(respect_discoverable=True),
            {"account": {"discoverable": False}},
            "not_discoverable",
        ),
        (ConsentPolicy(allow_unlisted=False), {"visibility": "unlisted"}, "not_public"),
        (ConsentPolicy(optout_tags=("nocollect",)), {"account": {"note": "#NoCollect"}}, "nobot"),
    ],
)
def test_an_events_stricter_policy_leaves_out_more(
    policy: ConsentPolicy, changes: dict[str, Any], reason: str
) -> None:
    assert parse_timeline([status(**changes)], "http://x.test").excluded == {}
    page = parse_timeline([status(**changes)], "http://x.test", consent=policy)
    assert page.items == ()
    assert page.excluded == {reason: 1}


def test_an_event_may_choose_not_to_honour_noindex_but_never_private_posts() -> None:
    loose = ConsentPolicy(respect_noindex=False, optout_tags=())
    assert (
        len(
            parse_timeline(
                [status(account={"noindex": True})], "http://x.test", consent=loose
            ).items
        )
        == 1
    )
    assert parse_timeline(
        [status(visibility="private")], "http://x.test", consent=loose
    ).excluded == {"not_public": 1}


def test_a_reblog_collapses_to_its_original_but_pages_by_its_own_id() -> None:
    original = status()
    boost = status(id="117020600000000000", uri="http://x.test/boost/1", reblog=original)
    page = parse_timeline([boost, original], "http://x.test")
    assert [item.key for item in page.items] == [original["uri"]]
    assert page.max_id == "117020600000000000"


def test_a_reblog_of_a_non_consenting_original_is_excluded() -> None:
    original = status(account={"noindex": True})
    boost = status(id="117020600000000000", reblog=original)
    assert parse_timeline([boost], "http://x.test").excluded == {"noindex": 1}


def test_a_reblog_is_dated_by_its_original_but_pages_by_its_own_time() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    old = status(id="1", uri="u:1", created_at="2020-01-01T00:00:00Z")
    old_noindex = status(
        id="2", uri="u:2", created_at="2024-06-01T00:00:00Z", account={"noindex": True}
    )
    boosts = [
        status(id="117020600000000001", uri="b:1", reblog=old),
        status(id="117020600000000002", uri="b:2", reblog=old_noindex),
    ]
    assert parse_timeline(boosts, "http://x.test", since=since).items == ()
    page = parse_timeline(boosts, "http://x.test")
    assert page.excluded_at == {"u:2": datetime(2024, 6, 1, tzinfo=UTC)}
    assert [item.created_at for item in page.items] == [datetime(2020, 1, 1, tzinfo=UTC)]
    assert page.oldest_at == datetime(2026, 8, 1, 13, 55, 55, 867000, tzinfo=UTC)


def test_ids_compare_by_length_then_text() -> None:
    page = parse_timeline(
        [status(id="99", uri="u:99"), status(id="100", uri="u:100")], "http://x.test"
    )
    assert (page.max_id, page.min_id) == ("100", "99")
    assert id_order("99") < id_order("100") < id_order("101")


def test_statuses_before_since_are_neither_returned_nor_counted() -> None:
    old = status(id="1", uri="u:1", created_at="2020-01-01T00:00:00Z")
    old_private = status(id="2", uri="u:2", created_at="2020-01-01T00:00:00Z", visibility="private")
    page = parse_timeline(
        [status(), old, old_private], "http://x.test", since=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert [item.key for item in page.items] == [status()["uri"]]
    assert page.excluded == {}
    assert page.min_id == "1"
    assert page.oldest_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_an_empty_page_has_no_ids() -> None:
    assert parse_timeline([], "http://x.test") == ParsedPage((), {}, None, None)


def test_rate_limit_headers_as_recorded() -> None:
    headers = json.loads((MASTODON / "timeline_tag_hoot.headers.json").read_text("utf-8"))
    assert parse_rate_limit(headers) == RateLimit(
        limit=300,
        remaining=299,
        reset_at=datetime(2026, 8, 1, 14, 0, 0, 70144, tzinfo=UTC),
    )


def test_rate_limit_headers_absent_or_unreadable() -> None:
    assert parse_rate_limit({"content-type": "application/json"}) is None
    assert parse_rate_limit({"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "soon"}) == (
        RateLimit(limit=None, remaining=None, reset_at=None)
    )
    assert parse_rate_limit({"X-RateLimit-Reset": "1785592800"}) == RateLimit(
        None, None, datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
    )


def test_link_ids_as_recorded() -> None:
    headers = json.loads((MASTODON / "timeline_tag_hoot.headers.json").read_text("utf-8"))
    links = httpx.Response(200, headers={"link": headers["link"]}).links
    assert link_param(links, "next", "max_id") == "117020593741189701"
    assert link_param(links, "prev", "min_id") == "117020593741189701"
    assert link_param(links, "next", "min_id") is None
    assert link_param({}, "next", "max_id") is None


# -- malformed input: only ParseError may escape -------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {},
        "[]",
        None,
        [1],
        [[]],
        [{}],
        [status(id=None)],
        [status(id=117020593741189701)],
        [status(uri="")],
        [status(created_at=None)],
        [status(created_at="yesterday")],
        [status(created_at=20260801)],
        [status(edited_at="later")],
        [status(content=["<p>"])],
        [{**status(), "account": None}],
        [status(account={"username": None})],
        [status(account={"uri": None, "url": None})],
        [status(account={"noindex": "yes"})],
        [status(account={"note": 7})],
        [status(favourites_count="3")],
        [status(reblogs_count=True)],
        [status(tags="hoot")],
        [status(tags=[{"name": None}])],
        [status(in_reply_to_id=41)],
        [status(visibility=3)],
        [status(spoiler_text=2)],
        [status(language=["en"])],
        [status(url=3)],
        [status(tags=[1])],
        [status(account={"limited": "no"})],
        [status(account={"acct": 4})],
        [status(account={"display_name": 5})],
        [status(account={"avatar_static": None, "avatar": 5})],
        [status(reblog=status(created_at="later"))],
        [status(reblog="117020593741189701")],
        [status(reblog=status(reblog=status()))],
    ],
    ids=repr,
)
def test_malformed_payloads_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_timeline(payload, "http://x.test")


REAL = [load(case) for case in sorted(CASES)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL).flatmap(mutations))
def test_mutated_real_payloads_parse_or_raise_parse_error(payload: Any) -> None:
    try:
        page = parse_timeline(payload, "https://mastodon.social")
    except ParseError:
        return
    for item in page.items:
        assert item.created_at.tzinfo is not None
        assert "<script" not in item.html


def test_a_lone_surrogate_in_content_becomes_a_replacement_character() -> None:
    item = parse_status(status(content="<p>broken \ud800 text</p>"), "http://x.test")
    assert item.text == "broken \ufffd text"


def test_a_bluesky_post_bridged_into_the_fediverse_is_one_item_with_its_original() -> None:
    statuses = json.loads((DATA / "mastodon" / "statuses_edge_cases.json").read_text("utf-8"))
    bridged = parse_status(statuses[1], "https://mastodon.social")
    assert bridged.key == "at://did:plc:5syfqzormjkutgo5hi2u2gpr/app.bsky.feed.post/3lwlunj3oqs22"
    assert (bridged.platform, bridged.via) == ("bluesky", "bridgy-fed")
    assert bridged.author.key == "bluesky:did:plc:5syfqzormjkutgo5hi2u2gpr"
    assert (
        bridged.url
        == "https://bsky.app/profile/did:plc:5syfqzormjkutgo5hi2u2gpr/post/3lwlunj3oqs22"
    )


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (None, "content"),
        (None, "in_reply_to_id"),
        ("account", "acct"),
        ("account", "avatar_static"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_parse_error_naming_it(
    where: str | None, field: str
) -> None:
    obj = status()
    (obj if where is None else obj[where])[field] = 42
    with pytest.raises(ParseError, match=f"{field} is int, expected a string"):
        parse_status(obj, "http://x.test")
