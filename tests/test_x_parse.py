"""The X parser: real payloads against golden files, then the rules one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.models import RateLimit
from aggregator.sources.x_parse import (
    ParsedPage,
    parse_page,
    parse_rate_limit,
    problem_message,
    snowflake_time,
)
from aggregator.sources.x_text import Span, render
from tests.golden import DATA, assert_golden, to_jsonable
from tests.support import mutations

X = DATA / "x"
CASES = ("search_recent_page", "tweet_lookup_reply_ja_edit_fields")
OPTOUT = ("nobot", "noindex", "nosearch", "noarchive")


def load(case: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((X / f"{case}.json").read_text("utf-8"))
    return payload


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
        "newest_id": page.newest_id,
        "next_token": page.next_token,
        "result_count": page.result_count,
    }


@pytest.mark.parametrize("case", CASES)
def test_real_payloads_parse_as_recorded_in_golden_files(case: str) -> None:
    page = parse_page(load(case))
    assert_golden(golden_view(page), X / f"{case}.expected.json")


# -- building blocks -----------------------------------------------------------------

USER = {"id": "42", "username": "ana", "name": "Ana", "profile_image_url": "https://p/a.jpg"}


def tweet(tid: str = "1618628579440619521", **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": tid,
        "text": "hello #CoproWeek",
        "author_id": "42",
        "created_at": "2023-01-26T15:15:00.000Z",
        "entities": {"hashtags": [{"start": 6, "end": 16, "tag": "CoproWeek"}]},
        "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3, "quote_count": 4},
        "lang": "en",
    }
    obj.update(changes)
    return obj


def page_of(*tweets: dict[str, Any], users: list[dict[str, Any]] | None = None, **more: Any) -> Any:
    return {"data": list(tweets), "includes": {"users": users or [USER], **more}}


def one(*tweets: dict[str, Any], **kwargs: Any) -> Any:
    (item,) = parse_page(page_of(*tweets, **kwargs)).items
    return item


# -- the rules -----------------------------------------------------------------------


def test_a_retweet_collapses_to_the_original_from_includes_counted_once() -> None:
    page = load("search_recent_page")
    keys = [item.key for item in parse_page(page).items]
    assert keys.count("x:1383031438912548865") == 1  # the RT of #WhereIsPM
    assert "x:1383054948208766985" not in keys  # the retweet itself is no item
    (original,) = [i for i in parse_page(page).items if i.key == "x:1383031438912548865"]
    assert original.text.endswith("#Covidiot andh-bhakts.")  # not the truncated RT text


def test_two_retweets_and_the_original_on_one_page_are_one_item() -> None:
    original = tweet("100000000000000001")
    rts = [
        tweet(
            tid,
            text="RT @ana: hello",
            referenced_tweets=[{"type": "retweeted", "id": original["id"]}],
        )
        for tid in ("100000000000000002", "100000000000000003")
    ]
    page = parse_page(page_of(*rts, original, tweets=[original]))
    assert [i.key for i in page.items] == ["x:100000000000000001"]
    assert page.newest_id == "100000000000000003"


def test_a_retweet_whose_original_is_missing_is_counted_unavailable() -> None:
    rt = tweet(referenced_tweets=[{"type": "retweeted", "id": "7"}])
    page = parse_page(page_of(rt))
    assert page.items == ()
    assert page.excluded == {"unavailable": 1}


def test_an_edit_is_keyed_on_the_first_id_with_later_ids_as_aliases() -> None:
    first, second = "1618628579440619521", "1618629837895393280"
    item = one(tweet(second, edit_history_tweet_ids=[first, second],
                     created_at="2023-01-26T15:20:00.000Z"))  # fmt: skip
    assert item.key == f"x:{first}"
    assert item.aliases == (f"x:{second}",)
    assert item.url == f"https://x.com/ana/status/{second}"
    assert item.created_at == datetime(2023, 1, 26, 15, 15, tzinfo=UTC)  # from the first id
    assert item.edited_at == datetime(2023, 1, 26, 15, 20, tzinfo=UTC)


def test_of_two_versions_on_one_page_the_latest_wins() -> None:
    first, second = "1618628579440619521", "1618629837895393280"
    old = tweet(first, text="v1 #x", edit_history_tweet_ids=[first, second])
    new = tweet(second, text="v2 #x", edit_history_tweet_ids=[first, second])
    assert one(new, old).text == "v2 #x"
    assert one(old, new).text == "v2 #x"


def test_snowflake_ids_carry_the_creation_time() -> None:
    assert snowflake_time("1618628579440619521") == datetime(2023, 1, 26, 15, 15, tzinfo=UTC)
    assert snowflake_time("12345") is None
    assert snowflake_time("not an id") is None


def test_entities_become_links_mentions_and_hashtags() -> None:
    text = "@bob see https://t.co/abc &amp; #CoproWeek #coproweek"
    item = one(tweet(text=text, entities={
        "mentions": [{"start": 0, "end": 4, "username": "bob"}],
        "urls": [{"start": 9, "end": 25, "url": "https://t.co/abc",
                  "expanded_url": "https://Example.org/a?utm_source=x&id=1",
                  "display_url": "example.org/a…"}],
        "hashtags": [{"start": 32, "end": 42, "tag": "CoproWeek"},
                     {"start": 43, "end": 53, "tag": "coproweek"}],
    }))  # fmt: skip
    assert item.text == "@bob see example.org/a… & #CoproWeek #coproweek"
    assert item.links == ("https://example.org/a?id=1",)
    assert item.hashtags == ("coproweek",)
    assert 'href="https://x.com/bob" class="u-url mention"' in item.html
    assert 'href="https://x.com/hashtag/CoproWeek" class="mention hashtag"' in item.html
    assert "&amp; <a" in item.html


def test_own_media_and_quoted_permalinks_are_not_shared_links() -> None:
    text = "look https://t.co/a https://t.co/b https://t.co/c"
    item = one(tweet("100000000000000009", text=text,
        referenced_tweets=[{"type": "quoted", "id": "100000000000000005"}],
        entities={"urls": [
            {"start": 5, "end": 19, "url": "https://t.co/a",
             "expanded_url": "https://twitter.com/ana/status/100000000000000009/photo/1"},
            {"start": 20, "end": 34, "url": "https://t.co/b",
             "expanded_url": "https://x.com/bob/status/100000000000000005"},
            {"start": 35, "end": 49, "url": "https://t.co/c",
             "expanded_url": "https://x.com/carol/status/100000000000000001"},
        ]}))  # fmt: skip
    assert item.links == ("https://x.com/carol/status/100000000000000001",)


def test_offsets_may_count_the_escaped_or_the_unescaped_text() -> None:
    spans = [Span(8, 12, "hashtag", "tag")]
    escaped = render("a &amp; #tag", [Span(8, 12, "hashtag", "tag")])
    plain = render("a &amp; #tag", [Span(4, 8, "hashtag", "tag")])
    assert escaped == plain
    assert escaped.text == "a & #tag"
    assert '<a href="https://x.com/hashtag/tag"' in render("a &amp; #tag", spans).html


def test_an_entity_whose_offsets_do_not_fit_stays_plain_text() -> None:
    out = render("hello #tag", [Span(0, 4, "hashtag", "tag"), Span(3, 99, "url", "x")])
    assert out.html == "<p>hello #tag</p>"
    assert out.hashtags == ("tag",)


def test_escaped_markup_in_text_is_text_never_markup() -> None:
    item = one(tweet(text="&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;hi", entities={}))
    assert "<script" not in item.html
    assert "<b>" not in item.html
    assert item.text == "<script>alert(1)</script> <b>hi"


def test_paragraphs_and_line_breaks() -> None:
    item = one(tweet(text="one\ntwo\n\nthree", entities={}))
    assert item.html == "<p>one<br>two</p><p>three</p>"


def test_a_long_post_reads_its_note_tweet() -> None:
    note = {
        "text": "the whole long text #Tag",
        "entities": {"hashtags": [{"start": 20, "end": 24, "tag": "Tag"}]},
    }
    item = one(tweet(text="the whole…", note_tweet=note))
    assert item.text == "the whole long text #Tag"
    assert item.hashtags == ("tag",)


def test_reply_language_engagement_and_author() -> None:
    item = one(tweet(lang="und", referenced_tweets=[{"type": "replied_to", "id": "99"}]))
    assert item.in_reply_to == "x:99"
    assert item.language is None
    assert (item.engagement.replies, item.engagement.reposts, item.engagement.likes) == (2, 5, 3)
    assert (item.author.key, item.author.handle, item.author.name) == ("x:42", "@ana", "Ana")
    assert item.author.url == "https://x.com/ana"


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ({"protected": True}, "not_public"),
        ({"description": "Please no bots #NoBot"}, "nobot"),
        ({"description": "#noarchive, thanks"}, "nobot"),
    ],
)
def test_authors_without_consent_are_counted_not_returned(
    user: dict[str, Any], reason: str
) -> None:
    page = parse_page(page_of(tweet(), users=[USER | user]), optout_tags=OPTOUT)
    assert page.items == ()
    assert page.excluded == {reason: 1}


def test_consenting_authors_are_returned() -> None:
    bio = {"description": "I study #nobotany", "protected": False}
    assert len(parse_page(page_of(tweet(), users=[USER | bio]), optout_tags=OPTOUT).items) == 1


def test_a_post_without_its_author_is_unavailable() -> None:
    assert parse_page(page_of(tweet(author_id="7"))).excluded == {"unavailable": 1}


def test_posts_before_since_are_neither_returned_nor_counted_but_move_newest_id() -> None:
    page = parse_page(page_of(tweet()), since=datetime(2024, 1, 1, tzinfo=UTC))
    assert page.items == ()
    assert page.excluded == {}
    assert page.newest_id == "1618628579440619521"


def test_an_empty_page_has_no_data_key() -> None:
    page = parse_page({"meta": {"result_count": 0}})
    assert page == ParsedPage((), {}, None, None, 0)


def test_lookup_errors_name_gone_and_unknown_ids() -> None:
    errors = [
        {"resource_id": "1", "parameter": "ids", "resource_type": "tweet",
         "type": "https://api.twitter.com/2/problems/resource-not-found"},
        {"value": "2", "parameter": "ids", "resource_type": "tweet",
         "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"},
        {"resource_id": "3", "parameter": "ids", "type": "https://api.twitter.com/2/problems/other"},
        {"resource_id": "4", "parameter": "referenced_tweets.id",
         "type": "https://api.twitter.com/2/problems/resource-not-found"},
        "not an object",
    ]  # fmt: skip
    page = parse_page({"errors": errors})
    assert page.gone_ids == {"1", "2"}
    assert page.error_ids == {"3"}


def test_rate_limit_headers_reset_in_epoch_seconds() -> None:
    headers = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "449",
               "x-rate-limit-reset": "1785592800"}  # fmt: skip
    assert parse_rate_limit(headers) == RateLimit(450, 449, datetime(2026, 8, 1, 14, tzinfo=UTC))
    assert parse_rate_limit({"content-type": "application/json"}) is None
    assert parse_rate_limit({"x-rate-limit-reset": "soon"}) == RateLimit(None, None, None)


def test_problem_messages() -> None:
    problem = {"title": "Client Forbidden", "detail": "attach the App\nto a Project", "type": "x"}
    assert problem_message(problem, "Forbidden") == "Client Forbidden: attach the App to a Project"
    v1 = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
    assert problem_message(v1, "Unauthorized") == "Could not authenticate you."
    assert problem_message(None, "Forbidden") == "Forbidden"
    assert len(problem_message({"title": "x" * 999}, "")) == 300


# -- malformed input: only ParseError may escape ---------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "{}",
        {"data": "x"},
        {"data": [1]},
        {"includes": []},
        {"meta": []},
        {"meta": {"newest_id": "abc"}},
        {"meta": {"result_count": "3"}},
        page_of(tweet(id=None)),
        page_of(tweet(id=1618628579440619521)),
        page_of(tweet(id="12a")),
        page_of(tweet(created_at=None)),
        page_of(tweet(created_at="yesterday")),
        page_of(tweet(text=None)),
        page_of(tweet(text=["x"])),
        page_of(tweet(entities=[])),
        page_of(tweet(entities={"hashtags": [{"start": "6", "end": 16, "tag": "x"}]})),
        page_of(tweet(entities={"urls": {"start": 0}})),
        page_of(tweet(public_metrics=[])),
        page_of(tweet(public_metrics={"like_count": "3"})),
        page_of(tweet(edit_history_tweet_ids="1")),
        page_of(tweet(referenced_tweets=[{"type": "replied_to", "id": 5}])),
        page_of(tweet(note_tweet="long")),
        page_of(tweet(lang=3)),
        page_of(tweet(), users=[{"id": "42"}]),
        page_of(tweet(), users=[USER | {"protected": "no"}]),
    ],
    ids=repr,
)
def test_malformed_payloads_raise_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_page(payload, optout_tags=OPTOUT)


REAL = [load(case) for case in CASES]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL).flatmap(mutations))
def test_mutated_real_payloads_parse_or_raise_parse_error(payload: Any) -> None:
    try:
        page = parse_page(payload, since=datetime(2020, 1, 1, tzinfo=UTC), optout_tags=OPTOUT)
    except ParseError:
        return
    for item in page.items:
        assert item.created_at.tzinfo is not None
        assert "<script" not in item.html
        assert item.key.startswith("x:")
