"""``aggregator digest SLUG --format atom``: the Atom feed of the event's daily digests,
one entry per local day of the event's window that is over, written where the archive
writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from aggregator.store import Store
from tests.cli_support import run_cli
from tests.support import Clock
from tests.test_deliver_support import fill

BASE = "https://digests.example.org/archive"
# Noon in London (UTC in November) on the 21st: the 19th (look-back) and the 20th are over.
DURING = Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
# Long after: every day through ``ends`` (the 21st) + ``delivery.days_after`` (2).
AFTER = Clock(datetime(2027, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    url = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    store = Store.open(url)
    fill(store)  # two items on the 20th, one on the 19th
    store.close()
    path = tmp_path / "aggregator.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[digest]\noutput = "{(tmp_path / "out").as_posix()}"\n'
        '[[events]]\nslug = "ev"\ntitle = "Coproduction launch"\nhashtags = ["coproduction"]\n'
        'timezone = "Europe/London"\nstarts = 2026-11-20\nends = 2026-11-21\nlookback_days = 1\n',
        "utf-8",
    )
    return path


def read_feed(path: Path) -> feedparser.FeedParserDict:
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_the_feed_has_one_entry_per_day_that_is_over_with_its_items(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    result = run_cli(capsys, "-c", config, "digest", "ev", "--format", "atom", clock=DURING)

    assert result.status == 0, result.err
    written = tmp_path / "out" / "ev" / "digests.atom"
    assert "2 daily digests" in result.out
    feed = read_feed(written)
    assert feed.feed.title == "Coproduction launch"
    entries = [(e.title, e.id, e.link) for e in feed.entries]
    assert entries == [
        ("Friday 20 November 2026", "tag:localhost,2026-11-20:ev/2026-11-20", "2026-11-20.html"),
        ("Thursday 19 November 2026", "tag:localhost,2026-11-20:ev/2026-11-19", "2026-11-19.html"),
    ], "newest first; the 21st is not over yet"
    summaries = [e.content[0].value for e in feed.entries]
    assert "<strong>2 items</strong> from 2 people" in summaries[0]
    assert "<strong>1 item</strong> from 1 person" in summaries[1]


def test_the_feed_ends_days_after_the_event_and_links_under_the_base_url(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "feed.xml"
    options = ["--format", "atom", "--base-url", BASE, "--output", target]

    result = run_cli(capsys, "-c", config, "digest", "ev", *options, clock=AFTER)

    assert result.status == 0, result.err
    assert not (tmp_path / "out").exists(), "--output is the only file written"
    feed = read_feed(target)
    days = [e.link.removeprefix(f"{BASE}/ev/") for e in feed.entries]
    assert days == [f"2026-11-{n}.html" for n in (23, 22, 21, 20, 19)]
    assert {link.rel: link.href for link in feed.feed.links} == {
        "self": f"{BASE}/ev/digests.atom",
        "alternate": f"{BASE}/ev/event.html",
    }
    assert feed.entries[0].id == "tag:digests.example.org,2026-11-20:ev/2026-11-23"


def test_before_the_event_the_feed_is_valid_and_empty(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    early = Clock(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    result = run_cli(capsys, "-c", config, "digest", "ev", "--format", "atom", clock=early)

    assert result.status == 0, result.err
    feed = read_feed(tmp_path / "out" / "ev" / "digests.atom")
    assert feed.entries == []
    assert feed.feed.title == "Coproduction launch"


def test_a_date_with_the_feed_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    args = ["digest", "ev", "--format", "atom", "--date", "2026-11-20"]

    result = run_cli(capsys, "-c", config, *args, clock=DURING)

    assert result.status == 2
    assert "--date" in result.err
    assert "atom" in result.err
    assert not (tmp_path / "out").exists()
