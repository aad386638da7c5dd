"""Importing X archives and API exports: same keys as the live source, one item per post."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.demo.httpserver import LoopbackServer, Request
from aggregator.demo.x_sim import XSim, make_user
from aggregator.exceptions import ConfigError, ParseError
from aggregator.http import make_client
from aggregator.models import FetchResult, ItemData, SourceSpec, SourceState
from aggregator.optouts import OptOutRule
from aggregator.sources import FetchContext
from aggregator.sources.x import SOURCE
from aggregator.store import EventRecord, Store
from aggregator.x_import import (
    LoadedFile,
    archive_author,
    import_items,
    load_file,
    parse_archive_tweet,
    select,
)
from tests.golden import DATA, assert_golden, to_jsonable

X = DATA / "x"
ARCHIVE = X / "archive"
NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
EVENT = EventRecord("copro", "Co-production week", ("coproweek",), "UTC",
                    date(2026, 11, 20), date(2026, 11, 21), 3)  # fmt: skip
TOKEN = "import-test-bearer"
LIVE = SourceSpec(
    id="copro/x:127.0.0.1",
    event="copro",
    platform="x",
    target="127.0.0.1",
    hashtags=("coproweek",),
    options={"api": "http://127.0.0.1:1", "bearer_token_env": "X_BEARER"},
)


def view(loaded: LoadedFile) -> dict[str, Any]:
    items = []
    for item in loaded.items:
        v = to_jsonable(item)
        v["raw"] = {"id": item.raw["id"]}
        items.append(v)
    return {"format": loaded.format, "items": items, "skipped": loaded.skipped}


@pytest.mark.parametrize(
    ("path", "golden"),
    [(ARCHIVE / "data" / "tweets.js", "archive"), (X / "export_twarc2.jsonl", "export_twarc2")],
)
def test_samples_load_as_recorded_in_golden_files(path: Path, golden: str) -> None:
    assert_golden(view(load_file(path)), X / f"{golden}.expected.json")


def test_an_edited_archive_post_is_one_item_keyed_on_its_first_id() -> None:
    items = {i.key: i for i in load_file(ARCHIVE / "data" / "tweets.js").items}
    (edited,) = [i for i in items.values() if i.edited_at is not None]
    first = edited.key.removeprefix("x:")
    assert len(edited.aliases) == 1
    assert edited.aliases[0] != edited.key
    assert "slides.example/budgets" in edited.text  # the later version
    assert edited.url is not None
    assert edited.url.endswith(edited.aliases[0].removeprefix("x:"))
    assert first in edited.raw["edit_info"]["edit"]["initialTweetId"]


def test_archive_offsets_counting_the_unescaped_text_still_link_the_hashtag() -> None:
    items = load_file(ARCHIVE / "data" / "tweets.js").items
    (reply,) = [i for i in items if i.in_reply_to]
    assert 'class="mention hashtag"' in reply.html
    assert ">#CoProWeek</a>" in reply.html
    assert reply.text.startswith("@copro_team Agreed <3 the #CoProWeek crowd & the café")
    assert reply.links == ()  # the photo is the post's own, not a shared link


def test_a_zip_archive_reads_like_its_files(tmp_path: Path) -> None:
    zipped = tmp_path / "twitter-2026-11-22-0a1b2c.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for f in (ARCHIVE / "data").iterdir():
            z.write(f, f"twitter-2026-11-22-0a1b2c/data/{f.name}")
        z.writestr("twitter-2026-11-22-0a1b2c/data/tweet-headers.js", "window.YTD.x.part0 = []")
    assert view(load_file(zipped)) == view(load_file(ARCHIVE / "data" / "tweets.js"))


def test_a_lone_tweets_js_needs_its_account_js(tmp_path: Path) -> None:
    shutil.copy(ARCHIVE / "data" / "tweets.js", tmp_path / "tweets.js")
    with pytest.raises(ParseError, match=r"account\.js"):
        load_file(tmp_path / "tweets.js")


def test_flattened_posts_read_like_the_pages() -> None:
    assert view(load_file(X / "export_flat.jsonl")) == view(load_file(X / "export_twarc2.jsonl"))


def test_a_json_file_with_one_response_is_an_export() -> None:
    loaded = load_file(X / "search_recent_page.json")
    assert loaded.format == "export"
    assert len(loaded.items) == 3


@pytest.mark.parametrize(
    "content",
    ["", "hello", "window.YTD.tweets.part0 = [malformed];", '{"data": "x"}', "[1, 2]"],
)
def test_unreadable_files_are_parse_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(content, "utf-8")
    shutil.copy(ARCHIVE / "data" / "account.js", tmp_path / "account.js")
    with pytest.raises(ParseError):
        load_file(path)


def test_a_missing_file_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read"):
        load_file(tmp_path / "nope.zip")


def test_selection_is_by_hashtag_case_insensitively_and_by_window() -> None:
    items = load_file(ARCHIVE / "data" / "tweets.js").items
    start, end = datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    kept, skipped = select(items, ["#CoProWeek"], start, end)
    assert len(kept) == 3
    assert skipped == {"other_hashtags": 1, "outside_window": 1}
    assert select(items, ["coproweek"], start, datetime(2026, 11, 20, 9, 15, tzinfo=UTC))[0] == []


# -- storing -------------------------------------------------------------------------


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.sync_event(EVENT, [LIVE], NOW)
    return sqlite_store


def test_import_stores_the_events_posts_under_a_disabled_import_source(store: Store) -> None:
    report = import_items(store, "copro", ARCHIVE / "data" / "tweets.js", NOW)

    assert report.source_id == "copro/x-import:tweets.js"
    assert (report.format, report.read, report.kept) == ("archive", 5, 3)
    assert report.skipped == {"retweet": 1, "other_hashtags": 1, "outside_window": 1}
    assert report.counts.new == 3
    stored = store.items("copro")
    assert len(stored) == 3
    assert all(s.source_ids == (report.source_id,) for s in stored)
    assert [s.spec.id for s in store.sources(event="copro")] == [LIVE.id]  # never fetched
    health = {h.id: h for h in store.health("copro")}
    assert health[report.source_id].enabled is False
    assert health[report.source_id].items == 3
    assert health[LIVE.id].enabled is True


def test_importing_twice_updates_never_duplicates(store: Store) -> None:
    import_items(store, "copro", X / "export_twarc2.jsonl", NOW)
    again = import_items(store, "copro", X / "export_flat.jsonl", NOW + timedelta(hours=1))
    assert again.counts.new == 0
    assert len(store.items("copro")) == 3


def test_the_optout_list_and_consent_apply_to_imports(store: Store) -> None:
    store.add_optout(OptOutRule("handle", "@carl_k"), reason=None, by="test", now=NOW)

    report = import_items(store, "copro", X / "export_twarc2.jsonl", NOW)

    assert report.kept == 2
    assert report.skipped == {"nobot": 1, "optout": 1}
    assert store.exclusions("copro") == {"nobot": 1, "optout": 1}
    assert all(v.item.author.handle != "@carl_k" for v in store.items("copro"))


def test_an_unknown_event_is_a_config_error(store: Store) -> None:
    with pytest.raises(ConfigError, match="copro"):
        import_items(store, "nope", X / "export_twarc2.jsonl", NOW)


def archive_row(tweet: dict[str, Any]) -> dict[str, Any]:
    """A post the sim served, as the author's archive writes it (v1.1 shape)."""
    ent = tweet.get("entities", {})

    def pos(e: dict[str, Any]) -> list[str]:
        return [str(e["start"]), str(e["end"])]

    created = datetime.fromisoformat(tweet["created_at"])
    return {"tweet": {
        "id_str": tweet["id"], "id": tweet["id"], "full_text": tweet["text"],
        "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"), "lang": tweet["lang"],
        "favorite_count": "0", "retweet_count": "0",
        "edit_info": {"initial": {"editTweetIds": tweet["edit_history_tweet_ids"]}},
        "entities": {
            "hashtags": [{"text": h["tag"], "indices": pos(h)} for h in ent.get("hashtags", [])],
            "user_mentions": [{"screen_name": m["username"], "indices": pos(m)}
                              for m in ent.get("mentions", [])],
            "urls": [{"url": u["url"], "expanded_url": u["expanded_url"],
                      "display_url": u["display_url"], "indices": pos(u)}
                     for u in ent.get("urls", [])],
        },
    }}  # fmt: skip


def fetch_live(server: LoopbackServer) -> FetchResult:
    spec = SourceSpec(LIVE.id, "copro", "x", "127.0.0.1", ("coproweek",),
                      {"api": server.base_url, "bearer_token_env": "X_BEARER"})  # fmt: skip

    async def go() -> FetchResult:
        async with make_client(timeout=httpx.Timeout(5)) as client:
            ctx = FetchContext(client=client, now=NOW, env={"X_BEARER": TOKEN})
            return await SOURCE.fetch(SourceState(spec=spec), ctx)

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["archive", "export"])
def test_importing_then_fetching_stores_each_post_once(
    kind: str, store: Store, tmp_path: Path
) -> None:
    sim = XSim(token=TOKEN, clock=lambda: NOW)
    ana = make_user("copro_ana", name="Ana")
    posts = [
        sim.post("Kicking off #coproweek & more: https://coproweek.example/?utm_source=x", user=ana,
                 at=datetime(2026, 11, 20, 9, tzinfo=UTC)),
        sim.post("@bob day two of #CoproWeek", user=ana, at=datetime(2026, 11, 21, 9, tzinfo=UTC)),
    ]  # fmt: skip
    if kind == "archive":
        path = tmp_path / "data" / "tweets.js"
        path.parent.mkdir()
        rows = [archive_row(p) for p in posts]
        path.write_text(f"window.YTD.tweets.part0 = {json.dumps(rows)}", "utf-8")
        account = {"accountId": ana["id"], "username": "copro_ana", "accountDisplayName": "Ana"}
        (path.parent / "account.js").write_text(
            f"window.YTD.account.part0 = {json.dumps([{'account': account}])}", "utf-8"
        )
    else:
        headers = {"authorization": f"Bearer {TOKEN}"}
        answer = sim(Request("GET", "/2/tweets/search/recent", {"query": ["#coproweek"]},
                             headers, "http://sim"))  # fmt: skip
        path = tmp_path / "export.jsonl"
        path.write_bytes(answer.body + b"\n")

    imported = import_items(store, "copro", path, NOW)
    with LoopbackServer(sim) as server:
        fetched = fetch_live(server)
    (live,) = store.sources(event="copro")
    counts = store.record_success(live, fetched, started_at=NOW, now=NOW, next_check_at=NOW)

    assert imported.counts.new == 2
    assert counts.new == 0
    assert counts.updated == 0
    assert len(store.items("copro")) == 2
    assert {i.item.key for i in store.items("copro")} == {f"x:{p['id']}" for p in posts}


# -- malformed archive posts: only ParseError may escape --------------------------------

AUTHOR = archive_author({"accountId": "1", "username": "ana"})
ROWS = [r["tweet"] for r in json.loads(
    (ARCHIVE / "data" / "tweets.js").read_text("utf-8").split("=", 1)[1])]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=5,
)


@st.composite
def mutated_rows(draw: st.DrawFn) -> Any:
    row = copy.deepcopy(draw(st.sampled_from(ROWS)))
    for _ in range(draw(st.integers(1, 3))):
        target: Any = row
        for _ in range(draw(st.integers(0, 2))):
            children = list(target) if isinstance(target, dict) else list(range(len(target)))
            inner = [k for k in children if isinstance(target[k], (dict, list)) and target[k]]
            if not inner:
                break
            target = target[draw(st.sampled_from(inner))]
        if isinstance(target, dict) and target:
            target[draw(st.sampled_from(sorted(target)))] = draw(JSON)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(JSON)
    return row


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_rows())
def test_mutated_archive_posts_parse_or_raise_parse_error(row: Any) -> None:
    try:
        item = parse_archive_tweet(row, AUTHOR)
    except ParseError:
        return
    assert isinstance(item, ItemData)
    assert item.created_at.tzinfo is not None
    assert "<script" not in item.html


def test_the_import_command_stores_an_archive_and_reports_what_it_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli import main

    config = tmp_path / "aggregator.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{(tmp_path / "a.db").as_posix()}"\n\n'
        '[[events]]\nslug = "copro"\ntitle = "Co-production week"\nhashtags = ["coproweek"]\n'
        "starts = 2026-11-20\nends = 2026-11-21\nlookback_days = 3\n",
        "utf-8",
    )
    archive = ARCHIVE / "data" / "tweets.js"
    assert main(["-c", str(config), "import", "x", str(archive), "--event", "copro"]) == 0
    said = capsys.readouterr().out
    assert "posts kept" in said
    assert "copro/x-import:tweets.js" in said
    assert main(["-c", str(config), "export", "copro", "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines
    assert {line["source_ids"][0] for line in lines} == {"copro/x-import:tweets.js"}
    assert (
        main(["-c", str(config), "import", "x", str(tmp_path / "nope.js"), "--event", "copro"]) == 1
    )
