"""``aggregator admin`` and ``aggregator config export`` from the command line."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from aggregator.config import load_settings
from aggregator.demo.run import SLUG
from tests.cli_support import run_cli, sample_servers
from tests.web_support import client, sign_in, site


def test_the_first_admin_is_made_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_servers() as sample:
        config = sample.config(tmp_path)

        def admin(*args: str, password: str) -> int:
            monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
            return run_cli(capsys, "--config", config, "admin", *args, "--password-stdin").status

        assert admin("create", "sam", password="short") == 2
        assert admin("create", "sam", password="a long enough passphrase") == 0
        assert admin("create", "sam", password="another long passphrase") == 3
        listed = run_cli(capsys, "--config", config, "admin", "list")
        assert listed.out.split() == ["sam"]
        assert admin("password", "sam", password="a brand new passphrase") == 0
        assert admin("password", "nobody", password="a brand new passphrase") == 3


def test_a_short_password_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample_servers() as sample:
        config = sample.config(tmp_path)
        monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
        result = run_cli(capsys, "--config", config, "admin", "create", "sam", "--password-stdin")
        assert result.status == 2
        assert "at least 12 characters" in result.err


def test_a_new_password_signs_the_admin_out_and_the_old_one_stops_working(
    tmp_path: Path,
) -> None:
    import asyncio

    from aggregator.web.auth import hash_password
    from tests.web_support import ADMIN, PASSWORD

    with site(tmp_path) as s:

        async def go() -> None:
            async with client(s.web) as c:
                assert (await sign_in(c)).status_code == 303
                assert (await c.get("/admin/")).status_code == 200
                s.app.store.set_admin_password(ADMIN, hash_password("the new passphrase!"))
                assert (await c.get("/admin/")).status_code == 303
                assert (await sign_in(c, PASSWORD)).status_code == 401
                assert (await sign_in(c, "the new passphrase!")).status_code == 303

        asyncio.run(go())


def test_config_export_writes_toml_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sample_servers() as sample:
        config = sample.config(tmp_path)
        out = tmp_path / "exported.toml"
        assert run_cli(capsys, "--config", config, "config", "export", "-o", out).status == 0
        exported = load_settings(out, env={})
        original = load_settings(config, env={})
        assert exported.event(SLUG).hashtags == original.event(SLUG).hashtags
        assert {
            s.model_extra["instance"]
            for s in exported.event(SLUG).sources
            if s.platform == "mastodon"
        } == {
            s.model_extra["instance"]
            for s in original.event(SLUG).sources
            if s.platform == "mastodon"
        }
        printed = run_cli(capsys, "--config", config, "config", "export")
        assert tomllib.loads(printed.out)["events"][0]["slug"] == SLUG


def test_a_database_password_never_reaches_the_export(tmp_path: Path) -> None:
    from aggregator.config import Settings
    from aggregator.config_export import export_toml
    from aggregator.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        settings = Settings.model_validate(
            {"database": {"url": "postgresql+psycopg://app:s3cret-pw@db.internal/aggregator"}}
        )
        text = export_toml(settings, store)
    finally:
        store.close()
    assert "s3cret-pw" not in text
    assert "AGGREGATOR_DATABASE_URL" in text
