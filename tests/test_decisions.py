"""Pure decisions: what is new, changed, deleted; no database, no network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aggregator.decisions import StoredItem, merge, plan_items, tombstones
from aggregator.models import Engagement
from tests.fakes import item


def stored(n: int, **kw) -> StoredItem:
    it = item(n)
    return StoredItem(
        id=100 + n,
        content_hash=kw.get("content_hash", it.content_hash),
        deleted=kw.get("deleted", False),
        in_reply_to=kw.get("in_reply_to"),
        context_url=None,
        engagement=kw.get("engagement", Engagement()),
    )


def test_unknown_keys_are_new_known_unchanged_ones_are_not_rewritten() -> None:
    plan = plan_items([item(1), item(2)], {"fake:2": stored(2)})
    assert [i.key for i in plan.new] == ["fake:1"]
    assert plan.changed == []
    assert plan.unchanged == [102]


def test_a_text_change_is_an_edit() -> None:
    plan = plan_items([item(2, text="new")], {"fake:2": stored(2)})
    (change,) = plan.changed
    assert change.edited
    assert not change.restored


def test_only_the_counts_moving_is_a_change_but_not_an_edit() -> None:
    plan = plan_items([item(2, likes=4)], {"fake:2": stored(2)})
    (change,) = plan.changed
    assert not change.edited
    assert change.item.engagement.likes == 4


def test_what_one_source_does_not_know_is_kept_from_another() -> None:
    old = stored(2, in_reply_to="fake:1", engagement=Engagement(replies=1, likes=3))
    plan = plan_items([item(2)], {"fake:2": old})
    assert plan.unchanged == [102]


@pytest.mark.parametrize("old_parent", [None, "", "fake:1"])
@pytest.mark.parametrize("old_likes", [None, 0, 3])
@pytest.mark.parametrize("parent", [None, "", "fake:1", "fake:9"])
@pytest.mark.parametrize("likes", [None, 0, 3])
def test_an_item_is_rewritten_exactly_when_merging_it_changes_what_was_stored(
    old_parent: str | None, old_likes: int | None, parent: str | None, likes: int | None
) -> None:
    old = replace(stored(2), in_reply_to=old_parent, engagement=Engagement(likes=old_likes))
    incoming = replace(item(2, likes=likes), in_reply_to=parent, context_url=parent)
    merged = merge(incoming, old)
    plan = plan_items([incoming], {"fake:2": old})
    if (merged.in_reply_to, merged.context_url, merged.engagement) == (
        old.in_reply_to,
        old.context_url,
        old.engagement,
    ):
        assert plan.unchanged == [102]
    else:
        (change,) = plan.changed
        assert (change.item, change.edited, change.restored) == (merged, False, False)


def test_a_deleted_item_seen_again_is_restored() -> None:
    plan = plan_items([item(2)], {"fake:2": stored(2, deleted=True)})
    (change,) = plan.changed
    assert change.restored


def test_duplicates_in_one_batch_collapse_to_the_last_seen() -> None:
    plan = plan_items([item(1, text="a"), item(1, text="b")], {})
    assert [i.text for i in plan.new] == ["b"]


def test_the_content_hash_ignores_counts_and_threading_but_not_words() -> None:
    base = item(1)
    assert replace(base, engagement=Engagement(likes=9)).content_hash == base.content_hash
    assert replace(base, in_reply_to="fake:0").content_hash == base.content_hash
    assert replace(base, html="<p>other</p>", text="other").content_hash != base.content_hash
    assert (
        replace(base, edited_at=datetime(2026, 1, 1, tzinfo=UTC)).content_hash == base.content_hash
    )


def test_tombstones_are_live_items_missing_from_the_listing() -> None:
    assert tombstones(frozenset({"a"}), {"a": (1, False), "b": (2, False), "c": (3, True)}) == [2]


def test_a_bridged_copy_never_rewrites_what_its_original_said() -> None:
    copy = replace(item(2, text="as the bridge rendered it"), via="bridgy-fed")
    plan = plan_items([copy], {"fake:2": stored(2)})
    assert plan.changed == []
    assert plan.unchanged == [102]
