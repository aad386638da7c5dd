"""The [delivery], [email] and [events.delivery] settings: defaults, per-event
overrides, and one clear error naming the key for a bad value."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from aggregator.config import load_settings
from aggregator.deliver.jobs import active_channels, event_plan
from aggregator.exceptions import ConfigError

EVENT = """
[[events]]
slug = "ev"
title = "Launch"
hashtags = ["coproduction"]
timezone = "Europe/London"
starts = 2026-11-20
ends = 2026-11-21
"""
MAIL = """
[email]
host = "smtp.example.org"
sender = "Digest <digest@example.org>"
bcc = ["readers@lists.example.org"]
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "aggregator.toml"
    path.write_text(text, "utf-8")
    return load_settings(path, env={})


def test_defaults_send_at_half_past_seven_and_archive_without_email(tmp_path: Path) -> None:
    settings = load(tmp_path, EVENT)
    plan = event_plan(settings, settings.events[0])
    assert plan.send_time == time(7, 30)
    assert (plan.first_day.isoformat(), plan.last_day.isoformat()) == ("2026-11-17", "2026-11-23")
    assert active_channels(settings) == ("archive",)
    assert active_channels(load(tmp_path, EVENT + MAIL)) == ("archive", "email")


def test_an_event_may_have_its_own_send_time_and_days_after(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[delivery]\ntime = "06:00"\n'
        + EVENT
        + "[events.delivery]\ntime = 08:15:00\ndays_after = 0\n",
    )
    plan = event_plan(settings, settings.events[0])
    assert (plan.send_time, plan.last_day.isoformat()) == (time(8, 15), "2026-11-21")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[delivery]\ntime = "25:00"\n', "delivery.time", "time"),
        ('[delivery]\nchannels = ["fax"]\n', "delivery.channels[0]", "'archive' or 'email'"),
        ('[delivery]\nbase_url = "digests.example.org"\n', "delivery.base_url", "http(s) URL"),
        ('[email]\nhost = "smtp.example.org"\n', "email", "`sender` must be an e-mail address"),
        ('[email]\nsecurity = "tls"\n', "email.security", "'starttls', 'ssl' or 'none'"),
        (
            '[email]\nlist_unsubscribe = ["leave@example.org"]\n',
            "email.list_unsubscribe",
            "not a mailto: or http(s) URI",
        ),
        (
            MAIL + 'username = "digest"\npassword = "hunter2"\n',
            "email.password",
            "unknown key",
        ),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert "hunter2" not in str(caught.value)
