"""The static archive: a page per day, the whole event, a front page and a valid Atom
feed with stable entry ids, linked relatively, written atomically; and the
``aggregator deliver`` / ``aggregator archive`` commands."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import html5lib
import pytest

from aggregator.deliver.atom import atom_feed
from aggregator.deliver.jobs import deliver_due, event_plan, write_archive
from aggregator.deliver.schedule import published
from aggregator.digest.context import build_context, day_period
from aggregator.digest.render import make_environment
from aggregator.store import Store
from tests.cli_support import run_cli, table
from tests.support import Clock
from tests.test_deliver_support import DAY, DUE, EVENT, fill, make_app, settings

FEED_ID = "tag:digests.example.org,2026-11-20:ev"


@pytest.fixture
def clock() -> Clock:
    return Clock(DUE)


def links(page: Path) -> list[str]:
    """Every href of ``page``, which must parse as HTML without a single error."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree = parser.parse(page.read_bytes())
    return [el.get("href") for el in tree.iter() if el.get("href")]


def local_targets(page: Path) -> list[Path]:
    out = []
    for href in links(page):
        if urlsplit(href).scheme or href.startswith("/"):
            continue  # outside the archive, or absolute (none should be)
        out.append(page.parent / href)
    return out


def test_a_due_day_is_archived_with_the_pages_and_the_feed_that_list_it(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path), clock)
    (outcome,) = deliver_due(app, "w1")
    root = tmp_path / "archive"
    assert (outcome.status, outcome.detail) == ("sent", str(root / "ev" / "2026-11-20.html"))
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "ev",
        "ev/2026-11-20.full.html",
        "ev/2026-11-20.html",
        "ev/digests.atom",
        "ev/embed",
        "ev/embed.html",
        "ev/embed/2026-11-20.html",
        "ev/event.full.html",
        "ev/event.html",
        "index.html",
    ]
    day = (root / "ev" / "2026-11-20.html").read_text("utf-8")
    assert "We launch today" in day
    assert "The day before" not in day
    assert "The day before" in (root / "ev" / "event.html").read_text("utf-8")

    # The front page links, relatively, to pages that exist; every page parses.
    targets = local_targets(root / "index.html")
    assert {t.relative_to(root).as_posix() for t in targets} == {
        "ev/event.html",
        "ev/2026-11-20.html",
        "ev/digests.atom",
    }
    assert all(t.is_file() for t in targets)
    for page in ("ev/2026-11-20.html", "ev/event.html"):
        links(root / page)

    # Delivered once: a minute later nothing is rewritten.
    before = (root / "ev" / "2026-11-20.html").stat().st_mtime_ns
    clock.advance(minutes=1)
    assert [o.status for o in deliver_due(app, "w2")] == ["skipped"]
    assert (root / "ev" / "2026-11-20.html").stat().st_mtime_ns == before


def test_the_feed_is_valid_atom_with_stable_ids_and_each_days_summary(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    config = settings(tmp_path, base_url="https://digests.example.org/copro")
    app = make_app(store, config, clock)
    deliver_due(app, "w1")
    clock.advance(days=1)
    deliver_due(app, "w1")  # the 21st
    raw = (tmp_path / "archive" / "ev" / "digests.atom").read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    feed = feedparser.parse(raw)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == f"{FEED_ID}/digests"
    assert feed.feed.title == "Coproduction launch"
    assert [e.id for e in feed.entries] == [f"{FEED_ID}/2026-11-21", f"{FEED_ID}/2026-11-20"]
    newest, first = feed.entries
    assert first.title == "Friday 20 November 2026"
    assert first.link == "https://digests.example.org/copro/ev/2026-11-20.html"
    assert first.updated == "2026-11-21T00:00:00Z"  # the end of the local day
    (content,) = first.content
    assert content.type == "text/html"
    # Names are escaped in the HTML, and the HTML once more in the XML.
    assert "Zoë &amp; Max" in content.value
    assert "<strong>2 items</strong>" in content.value
    assert newest.content[0].value.startswith("<p><strong>0 items</strong>")

    # Rewriting the archive later keeps every id and time.
    clock.advance(days=3)
    write_archive(app)
    again = feedparser.parse((tmp_path / "archive" / "ev" / "digests.atom").read_bytes())
    rewritten = {e.id: e.updated for e in again.entries}
    assert len(rewritten) == 5
    assert all(rewritten[e.id] == e.updated for e in feed.entries)


def test_without_a_base_url_the_feed_links_relative_to_itself(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path), clock)
    deliver_due(app, "w1")
    feed_path = tmp_path / "archive" / "ev" / "digests.atom"
    feed = feedparser.parse(feed_path.read_bytes())
    assert feed.bozo == 0
    (entry,) = feed.entries
    assert entry.id == "tag:localhost,2026-11-20:ev/2026-11-20"
    assert (feed_path.parent / entry.link).is_file()


def test_the_feed_escapes_whatever_a_title_or_name_holds(store: Store) -> None:
    fill(store)
    title = 'Launch <script>alert("x")</script> & co'
    hostile = replace(EVENT, title=title)
    ctx = build_context(store, hostile, day_period(hostile, DAY), now=DUE)
    text = atom_feed(hostile, [ctx], base_url="", env=make_environment(), authority="a.example")
    feed = feedparser.parse(text.encode())
    assert feed.bozo == 0
    assert feed.feed.title == title  # text, not markup
    assert "<script" not in text
    assert "Zoë &amp; Max" in feed.entries[0].content[0].value


def test_files_are_replaced_whole_and_no_temporary_file_is_left(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path), clock)
    root = tmp_path / "archive"
    (root / "ev").mkdir(parents=True)
    (root / "ev" / "2026-11-20.html").write_text("old", "utf-8")
    deliver_due(app, "w1")
    assert "We launch today" in (root / "ev" / "2026-11-20.html").read_text("utf-8")
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]
    assert (root / "index.html").stat().st_mode & 0o644 == 0o644


def test_an_unwritable_archive_is_a_failed_delivery_retried_later(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    blocker = tmp_path / "archive"
    blocker.write_text("a file where the folder should be", "utf-8")
    app = make_app(store, settings(tmp_path), clock)
    (failed,) = deliver_due(app, "w1")
    assert failed.status == "failed"
    blocker.unlink()
    clock.advance(minutes=5)
    assert [o.status for o in deliver_due(app, "w1")] == ["sent"]


def test_archive_rewrites_every_published_day(store: Store, tmp_path: Path, clock: Clock) -> None:
    fill(store)
    clock.advance(days=10)
    app = make_app(store, settings(tmp_path), clock)
    write_archive(app)
    days = sorted(p.stem for p in (tmp_path / "archive" / "ev").glob("2026-??-??.html"))
    assert days == [f"2026-11-{d}" for d in range(19, 24)]  # look-back through days_after
    feed = feedparser.parse((tmp_path / "archive" / "ev" / "digests.atom").read_bytes())
    assert len(feed.entries) == 5
    assert store.delivery_log("ev") == []  # a rewrite, not a delivery


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store.open(url)
    fill(store)
    store.close()
    config = tmp_path / "aggregator.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[digest]\noutput = "{tmp_path / "out"}"\n'
        '[[events]]\nslug = "ev"\ntitle = "Coproduction launch"\nhashtags = ["coproduction"]\n'
        'timezone = "Europe/London"\nstarts = 2026-11-20\nends = 2026-11-21\nlookback_days = 1\n',
        "utf-8",
    )
    return config


def test_deliver_command_writes_a_day_once_unless_forced(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-c", configured, "deliver", "--event", "ev", "--date", "2026-11-20"]
    first = run_cli(capsys, *args, "--channel", "archive")
    assert first.status == 0, first.err
    assert [(r["day"], r["channel"], r["result"]) for r in table(first.out)] == [
        ("2026-11-20", "archive", "sent")
    ]
    assert (tmp_path / "out" / "ev" / "2026-11-20.html").is_file()
    again = run_cli(capsys, *args)
    assert [r["result"] for r in table(again.out)] == ["skipped"]
    forced = run_cli(capsys, *args, "--force")
    assert [r["result"] for r in table(forced.out)] == ["sent"]
    no_mail = run_cli(capsys, *args, "--channel", "email")
    assert no_mail.status == 2
    assert "email is not configured" in no_mail.err


def test_archive_command_writes_the_days_that_are_out(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "-c", configured, "archive")
    assert result.status == 0, result.err
    config = settings(tmp_path)
    out = published(event_plan(config, config.events[0]), datetime.now(UTC))
    written = sorted(
        date.fromisoformat(p.stem) for p in (tmp_path / "out" / "ev").glob("????-??-??.html")
    )
    assert written == out
    assert (tmp_path / "out" / "index.html").is_file()
    assert out or (datetime.now(UTC) < DUE - timedelta(days=1))
