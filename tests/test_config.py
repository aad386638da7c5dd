"""Configuration: the shipped example loads; bad input gets one clear message naming
the file, the key and what is allowed; every setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from aggregator.config import Settings, load_settings, source_specs
from aggregator.exceptions import ConfigError
from aggregator.sources import registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "aggregator.toml"
MINIMAL = """
[[events]]
slug = "copro-launch"
title = "Coproduction resources launch"
hashtags = ["coproduction"]
timezone = "Europe/London"
starts = 2026-11-20
ends = 2026-11-22

[[events.sources]]
platform = "mastodon"
instance = "https://mastodon.social"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aggregator.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_shipped_example_loads_with_stable_source_ids() -> None:
    settings = load_settings(EXAMPLE, env={})
    event = settings.event("copro-launch")
    assert event.hashtags == ("coproduction", "coproweek")
    ids = [s.id for s in source_specs(event)]
    assert "copro-launch/mastodon:mastodon.social" in ids
    assert len(ids) == len(set(ids)) == 4


def test_the_database_url_can_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, MINIMAL), env={"AGGREGATOR_DATABASE_URL": "sqlite:///x.db"}
    )
    assert settings.database.url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("change", "key", "allowed"),
    [
        (
            ('timezone = "Europe/London"', 'timezone = "Europe/Londn"'),
            "events[0].timezone",
            "IANA time zone",
        ),
        (('slug = "copro-launch"', 'slug = "Copro Launch!"'), "events[0].slug", "a-z, 0-9"),
        (("ends = 2026-11-22", "ends = 2026-11-19"), "events[0]", "before starts"),
        (
            ('hashtags = ["coproduction"]', 'hashtags = ["copro duction"]'),
            "events[0].hashtags",
            "not a hashtag",
        ),
        (('hashtags = ["coproduction"]', "hashtags = []"), "events[0].hashtags", "at least 1"),
        (
            ('platform = "mastodon"', 'platform = "myspace"'),
            "events[0].sources[0].platform",
            "mastodon",
        ),
        (
            ('instance = "https://mastodon.social"', 'instance = "mastodon social"'),
            "events[0].sources[0].instance",
            "",
        ),
        (
            ('instance = "https://mastodon.social"', 'instanc = "https://mastodon.social"'),
            "events[0].sources[0]",
            "",
        ),
        (
            ('title = "Coproduction resources launch"', 'titel = "x"'),
            "events[0].titel",
            "unknown key",
        ),
        (("starts = 2026-11-20", "starts = 2026-13-40"), "-", "not valid TOML"),
    ],
)
def test_bad_configuration_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, change: tuple[str, str], key: str, allowed: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: {key}")
    assert allowed in message


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_two_events_cannot_share_a_slug(tmp_path: Path) -> None:
    event = MINIMAL[MINIMAL.index("[[events]]") :]
    with pytest.raises(ConfigError, match="two events have the slug"):
        load_settings(write(tmp_path, event + event), env={})


def test_a_template_folder_is_resolved_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    settings = load_settings(write(tmp_path, '[digest]\ntemplates = "mine"\n' + MINIMAL), env={})
    assert settings.digest.templates == tmp_path / "mine"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation))
    return keys


def test_every_setting_and_every_source_option_is_documented() -> None:
    readme = (ROOT / "config" / "README.md").read_text("utf-8")
    models: list[type[BaseModel]] = [Settings, *(s.Options for s in registry().values())]
    from aggregator.config import DatabaseSettings, DigestSettings, EventSettings, FetchSettings

    models += [DatabaseSettings, FetchSettings, DigestSettings, EventSettings]
    missing = {f"{m.__name__}.{k}" for m in models for k in _keys(m) if f"`{k}`" not in readme}
    assert not missing, f"undocumented settings: {sorted(missing)}"
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description (help text)"


def test_the_shipped_demo_configuration_matches_what_demo_serve_serves() -> None:
    from aggregator.demo.run import SERVE_PORT, demo_config, demo_servers

    with demo_servers(SERVE_PORT) as urls:
        expected = demo_config(urls, "demo-output")
    assert (ROOT / "config" / "demo.toml").read_text("utf-8") == expected
    settings = load_settings(ROOT / "config" / "demo.toml", env={})
    assert len(source_specs(settings.event("copro-launch"))) == 5
