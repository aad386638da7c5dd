"""The opt-out list: who can be named, what a rule covers, and that adding one removes
what was stored and keeps it out of every later fetch, counted but never named."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from aggregator.decisions import Schedule
from aggregator.models import AuthorData, FetchResult
from aggregator.optouts import BadRule, OptOutRule, filter_items, matches, parse_rule
from aggregator.store import EventRecord, Store
from aggregator.update import Updater
from tests.conftest import Clock
from tests.fakes import FakeSource, item, spec

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 22), 1
)
ALICE = AuthorData(
    "mastodon:https://social.example/users/alice",
    "mastodon",
    "Alice",
    "@alice@social.example",
    "https://social.example/@alice",
)
BOB_BSKY = AuthorData(
    "bluesky:did:plc:bob",
    "bluesky",
    "Bob",
    "@bob.bsky.social",
    "https://bsky.app/profile/bob.bsky.social",
)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("@Alice@Social.Example", OptOutRule("handle", "@alice@social.example")),
        ("https://Social.example/@alice/", OptOutRule("url", "https://social.example/@alice")),
        ("bluesky:did:plc:bob", OptOutRule("author", "bluesky:did:plc:bob")),
        ("Social.Example", OptOutRule("domain", "social.example")),
    ],
)
def test_what_people_type_becomes_a_rule(text: str, rule: OptOutRule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize("text", ["", "alice", "javascript:alert(1)x y", "http://"])
def test_anything_else_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(BadRule, match=r"handle|address"):
        parse_rule(text)


@pytest.mark.parametrize(
    ("rule", "author", "hit"),
    [
        ("@alice@social.example", ALICE, True),
        ("https://social.example/@alice", ALICE, True),
        ("social.example", ALICE, True),
        ("cial.example", ALICE, False),
        ("other.example", ALICE, False),
        ("bsky.social", BOB_BSKY, True),
        ("bluesky:did:plc:bob", BOB_BSKY, True),
        ("@bob.bsky.social", ALICE, False),
    ],
)
def test_a_rule_covers_its_author_or_server(rule: str, author: AuthorData, hit: bool) -> None:
    assert matches(parse_rule(rule), author) is hit


def test_filtering_returns_what_is_kept_and_counts_what_is_not() -> None:
    keep, drop = item(1), replace(item(2), author=ALICE)
    kept, dropped = filter_items([keep, drop], [parse_rule("social.example")])
    assert kept == (keep,)
    assert [(d.key, d.reason) for d in dropped] == [("fake:2", "optout")]


def _stored(store: Store, *items):
    store.sync_event(EVENT, [spec()], NOW)
    (source,) = store.sources()
    store.record_success(
        source,
        FetchResult(items=tuple(items), state={}),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )
    return source


def test_adding_a_rule_removes_what_was_stored_and_counts_it(store: Store) -> None:
    _stored(store, item(1), replace(item(2), author=ALICE), replace(item(3), author=ALICE))
    removed = store.add_optout(
        parse_rule("@alice@social.example"), reason="asked by email", by="organiser", now=NOW
    )
    assert removed == 2
    assert [v.item.key for v in store.items("ev")] == ["fake:1"]
    gone = [v for v in store.items("ev", include_deleted=True) if v.deleted]
    assert all(v.item.text == "" and dict(v.item.raw) == {} for v in gone)
    assert store.exclusions("ev") == {"optout": 2}
    (row,) = store.optout_list()
    assert (row["value"], row["reason"], row["created_by"]) == (
        "@alice@social.example",
        "asked by email",
        "organiser",
    )


def test_adding_the_same_rule_twice_is_harmless(store: Store) -> None:
    _stored(store, replace(item(2), author=ALICE))
    store.add_optout(parse_rule("social.example"), reason=None, by="a", now=NOW)
    assert store.add_optout(parse_rule("social.example"), reason=None, by="a", now=NOW) == 0
    assert len(store.optout_list()) == 1
    assert store.exclusions("ev") == {"optout": 1}


def test_later_fetches_leave_opted_out_authors_out_and_count_them_once(
    store: Store, clock: Clock
) -> None:
    store.sync_event(EVENT, [spec()], clock())
    store.add_optout(parse_rule("social.example"), reason=None, by="a", now=clock())
    alice = replace(item(2), author=ALICE)
    fake = FakeSource().returns(item(1), alice).returns(item(1), alice)

    async def go():
        async with httpx.AsyncClient() as client:
            updater = Updater(
                store=store,
                client=client,
                clock=clock,
                schedule=Schedule(timedelta(minutes=15), timedelta(hours=1)),
                sources={"fake": fake},
                optouts=store.optout_rules(),
            )
            first = await updater.update(store.sources())
            second = await updater.update(store.sources())
            return first + second

    reports = asyncio.run(go())
    assert [dict(r.excluded) for r in reports] == [{"optout": 1}, {"optout": 1}]
    assert [v.item.key for v in store.items("ev", include_deleted=True)] == ["fake:1"]
    assert store.exclusions("ev") == {"optout": 1}


def test_a_days_exclusions_are_those_created_that_day(store: Store) -> None:
    _stored(
        store,
        replace(item(2, created=NOW), author=ALICE),
        replace(item(3, created=NOW + timedelta(days=1)), author=ALICE),
    )
    store.add_optout(parse_rule("social.example"), reason=None, by="a", now=NOW)
    day = datetime(2026, 11, 20, tzinfo=UTC)
    assert store.exclusions("ev", since=day, until=day + timedelta(days=1)) == {"optout": 1}


def test_removing_a_rule(store: Store) -> None:
    store.add_optout(parse_rule("social.example"), reason=None, by="a", now=NOW)
    assert store.remove_optout(parse_rule("social.example")) is True
    assert store.remove_optout(parse_rule("social.example")) is False
    assert store.optout_rules() == []


def test_a_digest_counts_left_out_posts_apart_from_deleted_ones(store: Store) -> None:
    from aggregator.digest.context import build_context, day_period
    from aggregator.digest.render import render

    source = _stored(store, item(1), replace(item(2), author=ALICE), item(3))
    store.add_optout(parse_rule("social.example"), reason=None, by="a", now=NOW)
    store.record_success(
        source,
        FetchResult(items=(item(1),), state={}, listing=frozenset({"fake:1"})),
        started_at=NOW,
        now=NOW,
        next_check_at=NOW,
    )  # item 3 deleted
    ctx = build_context(store, EVENT, day_period(EVENT, date(2026, 11, 20)), now=NOW)
    assert (ctx.excluded, ctx.removed) == ({"optout": 1}, 1)
    page = render(ctx, "html")
    assert "1 post was left out at its author&#39;s request or the organisers'." in page
    assert "1 item was removed by their authors" in page
    assert "Alice" not in page
