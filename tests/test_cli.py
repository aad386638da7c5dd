"""The command line, as README.md documents it: what each command prints, writes and
exits with, run against the demo's sample conversation on loopback servers.

Exit status: 0 success, 1 a source failed or nothing matched, 2 bad configuration,
3 database problem. Most specs run ``aggregator.cli.main`` in-process; the last ones
run the installed ``aggregator`` script in a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.demo.httpserver import Fault, LoopbackServer
from aggregator.demo.mastodon_sim import MastodonSim
from aggregator.sources import registry
from tests.cli_support import SLUG, Sample, parse_export, run_cli, sample_servers, table

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Coproduction resources launch"
TOKEN = "tok-FAKE-5ecr3t-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tables are as wide as their content, so no cell is cut or wrapped.
    monkeypatch.setenv("COLUMNS", "1000")
    for name in ("AGGREGATOR_CONFIG", "AGGREGATOR_DATABASE_URL", "TEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sample() -> Iterator[Sample]:
    with sample_servers() as s:
        yield s


@pytest.fixture
def config(sample: Sample, tmp_path: Path) -> Path:
    return sample.config(tmp_path)


def mastodon_source(url: str, extra: str = "") -> str:
    return f'\n[[events.sources]]\nplatform = "mastodon"\ninstance = "{url}"\n{extra}'


def export(capsys: pytest.CaptureFixture[str], config: Path, fmt: str = "jsonl") -> list[dict]:
    result = run_cli(capsys, "-c", config, "export", SLUG, "--format", fmt)
    assert result.status == 0, result.err
    return parse_export(result.out, fmt)


def by_source(text: str) -> dict[str, dict[str, str]]:
    return {row["source"]: row for row in table(text)}


# -- fetch ------------------------------------------------------------------------------


def test_fetch_prints_fetched_new_and_updated_counts_for_every_source(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path
) -> None:
    result = run_cli(capsys, "-c", config, "fetch")

    assert result.status == 0, result.err
    rows = by_source(result.out)
    assert set(rows) == sample.source_ids
    for row in rows.values():
        assert row["result"] == "ok"
        assert {"fetched", "new", "updated", "deleted", "left out"} <= row.keys()
    items = export(capsys, config)
    # Every stored item is new to exactly one source, however the fetches interleave;
    # each source stored what it fetched ("left out" are not fetched).
    assert sum(int(r["new"]) for r in rows.values()) == len(items) > 0
    for source, row in rows.items():
        stored = sum(source in item["source_ids"] for item in items)
        assert stored == int(row["fetched"]) > 0, source
    # The sample's author who asked not to be archived (#nobot) posts on social.example.
    assert rows[sample.source_id("social.example")]["left out"] == "1"


def test_a_second_fetch_adds_nothing_and_loses_nothing(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path
) -> None:
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    before = export(capsys, config)

    again = run_cli(capsys, "-c", config, "fetch")

    assert again.status == 0, again.err
    for row in table(again.out):
        assert (row["new"], row["updated"], row["deleted"]) == ("0", "0", "0"), row
    after = export(capsys, config)
    assert [r["key"] for r in after] == [r["key"] for r in before]
    assert after == before


def test_fetch_due_right_after_a_fetch_asks_no_server_anything(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path
) -> None:
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    asked = sample.request_count()

    result = run_cli(capsys, "-c", config, "fetch", "--due")

    assert result.status == 0, result.err
    assert table(result.out) == []
    assert sample.request_count() == asked


def test_fetch_event_fetches_only_that_events_sources(
    capsys: pytest.CaptureFixture[str], sample: Sample, tmp_path: Path
) -> None:
    with LoopbackServer(MastodonSim(domain="other.example", known_tags=["other"])) as other:
        extra = (
            '\n[[events]]\nslug = "other"\ntitle = "Another event"\nhashtags = ["other"]\n'
            "starts = 2026-11-20\nends = 2026-11-20\n" + mastodon_source(other.base_url)
        )
        config = sample.config(tmp_path, extra=extra)

        only_other = run_cli(capsys, "-c", config, "fetch", "--event", "other")
        assert only_other.status == 0, only_other.err
        assert list(by_source(only_other.out)) == [f"other/mastodon:{other.base_url[7:]}"]
        assert other.requests
        assert sample.request_count() == 0

        asked = len(other.requests)
        only_sample = run_cli(capsys, "-c", config, "fetch", "--event", SLUG)
        assert only_sample.status == 0, only_sample.err
        assert set(by_source(only_sample.out)) == sample.source_ids
        assert len(other.requests) == asked


def test_fetch_source_fetches_only_the_source_with_that_id_as_sources_shows_it(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path
) -> None:
    listed = run_cli(capsys, "-c", config, "sources")
    assert set(by_source(listed.out)) == sample.source_ids
    wanted = sample.source_id("mastodon.example")

    result = run_cli(capsys, "-c", config, "fetch", "--source", wanted)

    assert result.status == 0, result.err
    assert list(by_source(result.out)) == [wanted]
    assert sample.mastodon_servers["mastodon.example"].requests
    assert not sample.mastodon_servers["social.example"].requests
    assert not sample.blog_server.requests
    items = export(capsys, config)
    assert items
    assert all(item["source_ids"] == [wanted] for item in items)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--source", f"{SLUG}/mastodon:nowhere.example"), ("--event", "no-such-event")],
)
def test_fetching_something_not_configured_exits_1_and_says_where_to_look(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path, option: str, value: str
) -> None:
    result = run_cli(capsys, "-c", config, "fetch", option, value)

    assert result.status == 1
    assert "no sources match" in result.err
    assert "aggregator sources" in result.err
    assert sample.request_count() == 0


@pytest.mark.parametrize("failure", ["HTTP 503", "connection refused"])
def test_a_failing_source_is_reported_and_recorded_and_the_others_carry_on(
    capsys: pytest.CaptureFixture[str], sample: Sample, tmp_path: Path, failure: str
) -> None:
    with LoopbackServer(MastodonSim(domain="down.example")) as down:
        down.inject(Fault("status", status=503), times=100)
        url = down.base_url if failure == "HTTP 503" else "http://127.0.0.1:1"
        config = sample.config(tmp_path, extra=mastodon_source(url))
        broken = f"{SLUG}/mastodon:{url.removeprefix('http://')}"

        result = run_cli(capsys, "-c", config, "fetch")

    assert result.status == 1
    rows = by_source(result.out)
    assert set(rows) == sample.source_ids | {broken}
    expected = "HTTP 503" if failure == "HTTP 503" else "ConnectError"
    assert expected in rows.pop(broken)["result"]
    assert all(row["result"] == "ok" for row in rows.values())
    items = export(capsys, config)
    assert sum(int(row["new"]) for row in rows.values()) == len(items)
    assert {s for item in items for s in item["source_ids"]} == sample.source_ids

    health = by_source(run_cli(capsys, "-c", config, "sources").out)
    assert health[broken]["errors"] == "1"
    assert expected in health[broken]["last error"]
    assert health[broken]["last success"] == "—"
    for source in sample.source_ids:
        assert (health[source]["errors"], health[source]["last error"]) == ("0", "")
        assert int(health[source]["items"]) > 0


# -- digest -----------------------------------------------------------------------------


def test_digest_writes_html_under_the_configured_output_folder_by_default(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    assert run_cli(capsys, "-c", config, "fetch").status == 0

    whole = run_cli(capsys, "-c", config, "digest", SLUG)
    day = run_cli(capsys, "-c", config, "digest", SLUG, "--date", "2026-11-21")

    assert (whole.status, day.status) == (0, 0)
    page = tmp_path / SLUG / "event.html"
    assert TITLE in page.read_text("utf-8")
    assert (tmp_path / SLUG / "2026-11-21.html").is_file()
    assert f"{len(export(capsys, config))} items" in whole.out
    assert str(page) in whole.out


def test_a_day_digest_as_json_counts_the_items_of_that_local_day(
    capsys: pytest.CaptureFixture[str], sample: Sample, tmp_path: Path
) -> None:
    # In Tokyo the 20th ends at 15:00 UTC, so the blog comments of that afternoon
    # belong to the 21st: a digest that cut days in UTC would count differently.
    config = sample.config(tmp_path, timezone="Asia/Tokyo")
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    target = tmp_path / "out" / "day.json"
    options = ["--date", "2026-11-20", "--format", "json", "--output", target]

    result = run_cli(capsys, "-c", config, "digest", SLUG, *options)

    assert result.status == 0, result.err
    digest = json.loads(target.read_text("utf-8"))
    tz = ZoneInfo(digest["event"]["timezone"])
    assert digest["period"]["first_day"] == "2026-11-20"

    def local_day(item: dict) -> date:
        return datetime.fromisoformat(item["created_at"]).astimezone(tz).date()

    items = [i for i in export(capsys, config) if local_day(i) == date(2026, 11, 20)]
    assert items != [i for i in export(capsys, config) if i["created_at"][:10] == "2026-11-20"]
    kinds = [i["kind"] for i in items]
    platforms = sorted({i["platform"] for i in items})
    assert digest["totals"] == {
        "items": len(items),
        "posts": kinds.count("post"),
        "comments": kinds.count("comment"),
        "articles": kinds.count("article"),
        "people": len({(i["platform"], i["author_handle"] or i["author_name"]) for i in items}),
        "by_platform": {p: sum(i["platform"] == p for i in items) for p in platforms},
    }
    assert digest["totals"]["items"] > 0


@pytest.mark.parametrize("command", ["digest", "export"])
def test_an_unknown_event_exits_1_and_names_it(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, command: str
) -> None:
    before = set(tmp_path.rglob("*"))

    result = run_cli(capsys, "-c", config, command, "no-such-event")

    assert result.status == 1
    assert "'no-such-event'" in result.err
    assert not {p for p in set(tmp_path.rglob("*")) - before if p.suffix in (".html", ".json")}


# -- export -----------------------------------------------------------------------------


def documented_export_fields() -> list[str]:
    """The field names of README.md's "Export fields" table, in order."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("### Export fields", 1)[1].split("\n## ", 1)[0]
    fields: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            fields += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return fields


def trash_and_refetch(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path
) -> tuple[set[str], set[str]]:
    """Fetch, then remove two comments on the blog and fetch again: the keys stored
    before, and those of the two comments."""
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    before = {i["key"] for i in export(capsys, config)}
    removed = {k for k in before if k.endswith((":comment:43", ":comment:45"))}
    assert len(removed) == 2
    sample.blog.trash(43)
    sample.blog.spam(45)
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    return before, removed


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_has_every_documented_field_and_no_removed_items(
    capsys: pytest.CaptureFixture[str], sample: Sample, config: Path, fmt: str
) -> None:
    before, removed = trash_and_refetch(capsys, sample, config)

    items = export(capsys, config, fmt)

    fields = documented_export_fields()
    assert len(fields) == 21
    assert all(list(item) == fields for item in items)
    assert {item["key"] for item in items} == before - removed
    assert {item["kind"] for item in items} <= {"post", "comment", "article"}


def test_csv_export_is_one_row_per_item_with_lists_space_separated(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    assert run_cli(capsys, "-c", config, "fetch").status == 0
    target = tmp_path / "items.csv"

    result = run_cli(capsys, "-c", config, "export", SLUG, "--format", "csv", "-o", target)

    assert result.status == 0, result.err
    rows = parse_export(target.read_text("utf-8"), "csv")
    assert f"{len(rows)} items -> {target}" in result.err
    lines = {i["key"]: i for i in export(capsys, config, "jsonl")}
    assert [r["key"] for r in rows] == list(lines)
    for row in rows:
        line = lines[row["key"]]
        for key in ("hashtags", "links", "source_ids"):
            assert row[key] == " ".join(line[key])
    shared = [r for r in rows if len(r["source_ids"].split()) == 2]
    assert shared  # items that reached two sources list both
    assert any(" " in r["hashtags"] for r in rows)  # #coproduction #socialcare


# -- configuration and database ---------------------------------------------------------


BAD_CONFIGS = {
    "unknown platform": (
        ('platform = "feed"', 'platform = "rss"'),
        "events[0].sources[3].platform",
        ", ".join(sorted(registry())),  # every installed platform is named
    ),
    "bad time zone": (
        ('timezone = "Europe/London"', 'timezone = "Europe/Londn"'),
        "events[0].timezone",
        "IANA time zone",
    ),
    "unknown key": (("[digest]\n", "[digest]\noutptu = 'x'\n"), "digest.outptu", "unknown key"),
    "unknown source key": (
        ('platform = "wordpress"\n', 'platform = "wordpress"\nposts = "x"\n'),
        "events[0].sources[2].posts",
        "unknown key",
    ),
}


@pytest.mark.parametrize(("old_new", "key", "allowed"), BAD_CONFIGS.values(), ids=BAD_CONFIGS)
def test_bad_configuration_exits_2_with_one_message_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    sample: Sample,
    config: Path,
    tmp_path: Path,
    old_new: tuple[str, str],
    key: str,
    allowed: str,
) -> None:
    text = config.read_text("utf-8")
    assert old_new[0] in text
    config.write_text(text.replace(old_new[0], old_new[1], 1), "utf-8")

    result = run_cli(capsys, "-c", config, "fetch")

    assert result.status == 2
    assert result.out == ""
    (message,) = result.err.strip().splitlines()
    assert message.startswith("configuration error:")
    assert f"{config}: {key}: " in message
    assert allowed in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml"]
    assert sample.request_count() == 0


@pytest.mark.parametrize(
    "command", [["sources"], ["digest", SLUG], ["export", SLUG], ["db", "upgrade"]]
)
def test_every_command_refuses_a_bad_configuration(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, command: list[str]
) -> None:
    config.write_text(config.read_text("utf-8").replace("Europe/London", "Mars/Olympus"))

    result = run_cli(capsys, "-c", config, *command)

    assert result.status == 2
    assert "events[0].timezone" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml"]


def test_a_configuration_error_stays_on_one_line_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes when stderr is not a terminal
    config = tmp_path / "aggregator.toml"
    config.write_text("[digest]\noutptu = 'x'\n", "utf-8")

    result = run_cli(capsys, "-c", config, "sources")

    assert result.status == 2
    assert len(result.err.strip().splitlines()) == 1


def test_db_upgrade_creates_the_schema_in_a_fresh_sqlite_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "fresh" / "new.db"
    db.parent.mkdir()
    config = tmp_path / "aggregator.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db.as_posix()}"\n', "utf-8")

    first = run_cli(capsys, "-c", config, "db", "upgrade")
    again = run_cli(capsys, "-c", config, "db", "upgrade")

    assert (first.status, again.status) == (0, 0), first.err
    assert "database is current" in first.out
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    conn.close()
    assert {"events", "sources", "items", "alembic_version"} <= tables
    assert revision


def test_the_database_url_from_the_environment_wins_over_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aggregator.toml"
    config.write_text('[database]\nurl = "sqlite:///from-file.db"\n', "utf-8")
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")

    assert run_cli(capsys, "-c", config, "db", "upgrade").status == 0

    assert (tmp_path / "from-env.db").is_file()
    assert not (tmp_path / "from-file.db").exists()


def test_a_database_that_cannot_be_opened_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "aggregator.toml"
    (tmp_path / "a-file").write_text("not a folder")
    impossible = tmp_path / "a-file" / "x.db"
    config.write_text(f'[database]\nurl = "sqlite:///{impossible.as_posix()}"\n', "utf-8")

    result = run_cli(capsys, "-c", config, "db", "upgrade")

    assert result.status == 3
    assert result.err.startswith("database error:")


def test_a_database_in_a_folder_that_does_not_exist_yet_is_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "aggregator.toml"
    target = tmp_path / "new-folder" / "x.db"
    config.write_text(f'[database]\nurl = "sqlite:///{target.as_posix()}"\n', "utf-8")

    result = run_cli(capsys, "-c", config, "db", "upgrade")

    assert result.status == 0
    assert target.exists()


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys)

    assert result.status == 2
    assert "usage: aggregator" in result.out
    for command in ("fetch", "digest", "export", "sources", "db", "demo"):
        assert command in result.out


# -- demo -------------------------------------------------------------------------------


def test_demo_writes_the_event_and_day_digests_and_collects_nothing_twice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "demo"

    result = run_cli(capsys, "demo", "-o", folder)

    assert result.status == 0, result.err
    assert TITLE in (folder / SLUG / "event.html").read_text("utf-8")
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        assert (folder / SLUG / f"{day}.html").is_file()
        assert json.loads((folder / SLUG / f"{day}.json").read_text("utf-8"))["period"]
    assert "A second pass added 0 items" in result.out
    assert all(row["result"] == "ok" for row in table(result.out))


# -- secrets ----------------------------------------------------------------------------


def everything_written(folder: Path) -> bytes:
    """Every byte under ``folder`` but the configuration (database, WAL, digests, exports)."""
    return b"".join(
        p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".toml"
    )


@pytest.mark.parametrize("accepted", [True, False], ids=["token-accepted", "token-rejected"])
def test_a_token_is_sent_but_never_printed_logged_stored_or_rendered(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    sample: Sample,
    tmp_path: Path,
    accepted: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_TOKEN", TOKEN)
    sim = MastodonSim(
        domain="private.example", known_tags=["coproduction"], token=TOKEN if accepted else "other"
    )
    with LoopbackServer(sim) as private:
        config = sample.config(
            tmp_path, extra=mastodon_source(private.base_url, 'token_env = "TEST_TOKEN"\n')
        )
        fetched = run_cli(capsys, "-c", config, "-vv", "fetch")
        source = f"{SLUG}/mastodon:{private.base_url[7:]}"
        assert private.requests
        assert {r.headers.get("authorization") for r in private.requests} == {f"Bearer {TOKEN}"}

    assert fetched.status == (0 if accepted else 1)
    assert ("ok" if accepted else "HTTP 401") in by_source(fetched.out)[source]["result"]
    outputs = [
        fetched,
        run_cli(capsys, "-c", config, "sources"),
        run_cli(capsys, "-c", config, "digest", SLUG),
        run_cli(capsys, "-c", config, "digest", SLUG, "--format", "json"),
        run_cli(capsys, "-c", config, "export", SLUG, "--format", "csv", "-o", tmp_path / "x.csv"),
    ]
    assert [r.status for r in outputs[1:]] == [0, 0, 0, 0]
    for result in outputs:
        assert TOKEN not in result.out + result.err
    assert TOKEN not in caplog.text
    assert (tmp_path / SLUG / "event.html").is_file()
    assert TOKEN.encode() not in everything_written(tmp_path)


def test_a_missing_token_variable_fails_that_source_naming_the_variable(
    capsys: pytest.CaptureFixture[str], sample: Sample, tmp_path: Path
) -> None:
    with LoopbackServer(MastodonSim(domain="private.example", token=TOKEN)) as private:
        config = sample.config(
            tmp_path, extra=mastodon_source(private.base_url, 'token_env = "TEST_TOKEN"\n')
        )
        result = run_cli(capsys, "-c", config, "fetch")

    assert result.status == 1
    row = by_source(result.out)[f"{SLUG}/mastodon:{private.base_url[7:]}"]
    assert "TEST_TOKEN" in row["result"]


# -- the installed script ---------------------------------------------------------------


def test_the_installed_script_fetches_with_a_token_it_never_prints(
    sample: Sample, tmp_path: Path
) -> None:
    script = Path(sys.executable).with_name("aggregator")
    assert script.is_file(), "install the package (pip install -e .) to get the script"
    sim = MastodonSim(domain="private.example", known_tags=["coproduction"], token=TOKEN)
    with LoopbackServer(sim) as private:
        config = sample.config(
            tmp_path, extra=mastodon_source(private.base_url, 'token_env = "TEST_TOKEN"\n')
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
        env |= {"TEST_TOKEN": TOKEN, "COLUMNS": "1000"}
        done = subprocess.run(
            [script, "--config", config, "-vv", "fetch"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert private.requests

    assert done.returncode == 0, done.stderr
    rows = by_source(done.stdout)
    assert set(rows) == sample.source_ids | {f"{SLUG}/mastodon:{private.base_url[7:]}"}
    assert all(row["result"] == "ok" for row in rows.values())
    assert private.base_url in done.stderr  # -vv logs every request ...
    assert TOKEN not in done.stdout + done.stderr  # ... and never the token
    assert TOKEN.encode() not in everything_written(tmp_path)


def test_the_script_reports_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert re.fullmatch(r"aggregator \d+\.\d+\.\d+\S*\n", done.stdout)


def test_source_ids_are_shown_whole_when_output_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sample: Sample,
    config: Path,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes when stdout is not a terminal

    result = run_cli(capsys, "-c", config, "sources")

    assert "…" not in result.out
