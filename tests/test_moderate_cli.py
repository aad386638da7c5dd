"""``aggregator moderate``, as README.md documents it: organisers hide, show, pin and
feature items and hide authors, naming them as a page or an export shows them; every
decision is logged with who, when and why. Run against the demo's sample conversation
collected into a real SQLite store, and the lookups on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aggregator.config import load_settings
from aggregator.models import AuthorData, FetchResult
from aggregator.store import EventRecord, Store
from tests.cli_support import SLUG, Sample, run_cli, sample_servers, table
from tests.fakes import item, spec


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # tables as wide as their content
    for name in ("AGGREGATOR_CONFIG", "AGGREGATOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def sample() -> Iterator[Sample]:
    with sample_servers() as s:
        yield s


@pytest.fixture
def config(sample: Sample, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The sample conversation, fetched into a fresh SQLite file."""
    path = sample.config(tmp_path)
    assert run_cli(capsys, "-c", path, "fetch").status == 0
    return path


@pytest.fixture
def items(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    result = run_cli(capsys, "-c", config, "export", SLUG)
    assert result.status == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def opened(config: Path) -> Store:
    return Store.open(load_settings(config).database.url)


def first(items: list[dict[str, str]], platform: str) -> dict[str, str]:
    return next(i for i in items if i["platform"] == platform and i["kind"] != "article")


def author_key(config: Path, item_key: str) -> str:
    store = opened(config)
    try:
        return next(v.item.author.key for v in store.items(SLUG) if v.item.key == item_key)
    finally:
        store.close()


# -- items ------------------------------------------------------------------------------


def test_hiding_an_item_by_key_records_who_when_and_why(
    capsys: pytest.CaptureFixture[str], config: Path, items: list[dict[str, str]]
) -> None:
    key = first(items, "mastodon")["key"]
    before = datetime.now(UTC)

    result = run_cli(
        capsys, "-c", config, "moderate", SLUG, "hide", key, "--reason", "spam", "--by", "ann"
    )

    assert result.status == 0, result.err
    assert key in result.out
    store = opened(config)
    assert store.moderation(SLUG).hidden_items == {key}
    (record,) = store.moderation_log(SLUG)
    store.close()
    assert (record.target_kind, record.target, record.action) == ("item", key, "hide")
    assert (record.reason, record.decided_by) == ("spam", "ann")
    assert before <= record.decided_at <= datetime.now(UTC)


def test_a_hidden_item_is_gone_from_the_export_and_every_digest_format(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    items: list[dict[str, str]],
    tmp_path: Path,
) -> None:
    hidden = first(items, "mastodon")
    words = hidden["text"][:40]
    before = tmp_path / "before.json"
    assert (
        run_cli(capsys, "-c", config, "digest", SLUG, "--format", "json", "-o", before).status == 0
    )
    assert words in before.read_text("utf-8")

    assert run_cli(capsys, "-c", config, "moderate", SLUG, "hide", hidden["key"]).status == 0

    exported = run_cli(capsys, "-c", config, "export", SLUG)
    keys = [json.loads(line)["key"] for line in exported.out.splitlines()]
    assert sorted(keys) == sorted(i["key"] for i in items if i is not hidden)
    for fmt in ("html", "email", "text", "markdown", "paste", "embed", "json"):
        out = tmp_path / f"digest.{fmt}"
        result = run_cli(capsys, "-c", config, "digest", SLUG, "--format", fmt, "-o", out)
        assert result.status == 0, result.err
        assert words not in out.read_text("utf-8"), fmt


@pytest.mark.parametrize("platform", ["mastodon", "wordpress"])
def test_an_item_is_found_by_its_address(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    items: list[dict[str, str]],
    platform: str,
) -> None:
    target = first(items, platform)

    result = run_cli(capsys, "-c", config, "moderate", SLUG, "pin", target["url"])

    assert result.status == 0, result.err
    store = opened(config)
    assert store.moderation(SLUG).pinned == (target["key"],)
    store.close()


def test_later_decisions_undo_earlier_ones(
    capsys: pytest.CaptureFixture[str], config: Path, items: list[dict[str, str]]
) -> None:
    a, b = [i["key"] for i in items if i["kind"] == "post"][:2]
    for action, key in [
        ("hide", a),
        ("show", a),
        ("pin", a),
        ("pin", b),
        ("unpin", a),
        ("feature", a),
        ("feature", b),
        ("unfeature", b),
    ]:
        assert run_cli(capsys, "-c", config, "moderate", SLUG, action, key).status == 0

    store = opened(config)
    state = store.moderation(SLUG)
    store.close()
    assert state.hidden_items == frozenset()
    assert state.pinned == (b,)
    assert state.featured == {a}


# -- authors ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["author_handle", "author_url", "key", "shouted handle"])
def test_an_author_is_hidden_by_handle_profile_address_or_key(
    capsys: pytest.CaptureFixture[str], config: Path, items: list[dict[str, str]], how: str
) -> None:
    post = first(items, "mastodon")
    key = author_key(config, post["key"])
    who = {"key": key, "shouted handle": post["author_handle"].upper()}.get(how) or post[how]

    result = run_cli(capsys, "-c", config, "moderate", SLUG, "hide-author", who)

    assert result.status == 0, result.err
    store = opened(config)
    state = store.moderation(SLUG)
    store.close()
    assert state.hidden_authors == {key}
    assert state.hidden_items == frozenset()  # the author's items, through the author


def test_show_author_undoes_hide_author(
    capsys: pytest.CaptureFixture[str], config: Path, items: list[dict[str, str]]
) -> None:
    handle = first(items, "mastodon")["author_handle"]
    assert run_cli(capsys, "-c", config, "moderate", SLUG, "hide-author", handle).status == 0
    assert run_cli(capsys, "-c", config, "moderate", SLUG, "show-author", handle).status == 0

    store = opened(config)
    assert store.moderation(SLUG).hidden_authors == frozenset()
    assert [r.action for r in store.moderation_log(SLUG)] == ["hide", "show"]
    store.close()


# -- what is not there ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "target", "looked_for"),
    [
        ("hide", "https://social.example/users/nobody/statuses/1", "item"),
        ("feature", "https://nowhere.example/@nobody/1", "item"),
        ("hide-author", "@nobody@social.example", "author"),
        ("hide-author", "https://social.example/@nobody", "author"),
        ("hide-author", "nobody.bsky.social", "author"),
    ],
)
def test_an_unknown_target_exits_2_says_what_was_looked_for_and_records_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, action: str, target: str, looked_for: str
) -> None:
    result = run_cli(capsys, "-c", config, "moderate", SLUG, action, target)

    assert result.status == 2
    assert target in result.err
    assert f"no {looked_for}" in result.err
    assert f"aggregator export {SLUG}" in result.err  # where the candidates are listed
    store = opened(config)
    assert store.moderation_log(SLUG) == []
    store.close()


def test_an_item_of_another_event_is_not_found(
    capsys: pytest.CaptureFixture[str], sample: Sample, tmp_path: Path, items: list[dict[str, str]]
) -> None:
    other = '\n[[events]]\nslug = "other"\ntitle = "Other"\nhashtags = ["other"]\n'
    other += "starts = 2026-11-20\nends = 2026-11-20\n"
    config = sample.config(tmp_path, extra=other)

    result = run_cli(capsys, "-c", config, "moderate", "other", "hide", items[0]["key"])

    assert result.status == 2, result.err
    assert "event other has no item" in result.err


def test_an_unknown_event_exits_1(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    result = run_cli(capsys, "-c", config, "moderate", "no-such-event", "hide", "x:1")
    assert result.status == 1
    assert "no-such-event" in result.err


@pytest.mark.parametrize("args", [["hide"], ["log", "x:1"]])
def test_a_missing_or_extra_target_exits_2(
    capsys: pytest.CaptureFixture[str], config: Path, args: list[str]
) -> None:
    result = run_cli(capsys, "-c", config, "moderate", SLUG, *args)
    assert result.status == 2
    assert "target" in result.err


# -- the log ----------------------------------------------------------------------------


def test_the_log_lists_when_who_action_target_and_why_in_order(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    items: list[dict[str, str]],
) -> None:
    post = first(items, "mastodon")
    monkeypatch.setenv("LOGNAME", "organiser-ann")  # the OS user name, as getpass sees it
    run_cli(capsys, "-c", config, "moderate", SLUG, "feature", post["key"], "--reason", "keynote")
    run_cli(capsys, "-c", config, "moderate", SLUG, "hide-author", post["author_handle"])

    result = run_cli(capsys, "-c", config, "moderate", SLUG, "log")

    assert result.status == 0, result.err
    rows = table(result.out)
    assert [(r["who"], r["action"], r["target"], r["why"]) for r in rows] == [
        ("organiser-ann", "feature", post["key"], "keynote"),
        ("organiser-ann", "hide-author", author_key(config, post["key"]), ""),
    ]
    assert all(r["when"].startswith(f"{datetime.now(UTC):%Y-%m-%d}") for r in rows)


def test_an_empty_log_is_an_empty_table(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    result = run_cli(capsys, "-c", config, "moderate", SLUG, "log")
    assert result.status == 0, result.err
    assert table(result.out) == []


# -- lookups in the store (SQLite and PostgreSQL) ---------------------------------------

EVENT = EventRecord(
    "ev", "Event", ("coproduction",), "UTC", date(2026, 11, 20), date(2026, 11, 20), 0
)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_store_lookups_find_a_bluesky_handle_with_or_without_at(store: Store) -> None:
    sky = AuthorData(
        "bluesky:did:plc:ana", "bluesky", "Ana", "@ana.bsky.social", "https://bsky.app/profile/ana"
    )
    store.sync_event(EVENT, [spec()], NOW)
    (source,) = store.sources()
    posts = (replace(item(1), author=sky), item(2, author="ben"))
    store.record_success(source, FetchResult(posts, {}), started_at=NOW, now=NOW, next_check_at=NOW)

    assert store.find_authors("ev", "ana.bsky.social") == ["bluesky:did:plc:ana"]
    assert store.find_authors("ev", "@ANA.bsky.social") == ["bluesky:did:plc:ana"]
    assert store.find_authors("ev", "https://BSKY.app/profile/ana/") == ["bluesky:did:plc:ana"]
    assert store.find_authors("ev", "fake:@ben") == ["fake:@ben"]
    assert store.find_authors("other", "fake:@ben") == []
    assert store.find_items("ev", "https://fake.example/2") == ["fake:2"]
    assert store.find_items("ev", "fake:1") == ["fake:1"]
    assert store.find_items("ev", "fake:3") == []
