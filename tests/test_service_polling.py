"""Polite polling, decided without I/O: the interval follows the event's phases and a
source's quietness; a nearly spent rate-limit budget (also one shared with other
sources) waits for its reset; the per-host cap knows where requests go."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from aggregator.app import event_window
from aggregator.decisions import (
    Budget,
    Polling,
    Schedule,
    budget_holds,
    budget_key,
    host_key,
    next_check_after_success,
    poll_interval,
)
from aggregator.models import RateLimit, SourceSpec
from aggregator.store import EventRecord

BASE = timedelta(minutes=15)
# 20-22 November in London (UTC+0 in November), two days of look-back.
EVENT = EventRecord(
    "ev", "Event", ("copro",), "Europe/London", date(2026, 11, 20), date(2026, 11, 22), 2
)
WINDOW = event_window(EVENT)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(18), BASE),  # look-back: as configured
        (at(20, 0), BASE / 3),  # live from local midnight of the first day
        (at(22, 23), BASE / 3),
        (at(23, 0), BASE),  # follow-up: replies and write-ups
        (at(24, 23), BASE),
        (at(25, 0), BASE * 4),  # after: late replies trickle in
    ],
    ids=["lookback", "first-day", "last-day", "follow-up-starts", "follow-up-ends", "after"],
)
def test_the_interval_follows_the_events_phases(now: datetime, expected: timedelta) -> None:
    assert poll_interval(BASE, now, WINDOW, quiet_runs=0) == expected


def test_live_hours_are_the_events_local_days() -> None:
    tokyo = EventRecord("t", "T", ("x",), "Asia/Tokyo", date(2026, 11, 20), date(2026, 11, 20), 0)
    window = event_window(tokyo)
    assert window.live_from == datetime(2026, 11, 19, 15, tzinfo=UTC)
    assert window.live_until == datetime(2026, 11, 20, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("quiet", "factor"), [(0, 1), (2, 1), (3, 2), (5, 2), (6, 4), (9, 8), (30, 8)]
)
def test_quiet_sources_slow_down_step_by_step_up_to_a_cap(quiet: int, factor: int) -> None:
    assert poll_interval(BASE, at(18), WINDOW, quiet) == BASE * factor


def test_slowing_down_stops_at_a_day_and_can_be_switched_off() -> None:
    assert poll_interval(BASE * 8, at(26), WINDOW, quiet_runs=30) == timedelta(days=1)
    assert poll_interval(BASE, at(26), None, quiet_runs=30, polling=Polling(quiet_after=0)) == BASE


def rl(remaining: int, reset: datetime, limit: int = 300) -> RateLimit:
    return RateLimit(limit=limit, remaining=remaining, reset_at=reset)


NO_JITTER = Schedule(interval=BASE, max_backoff=timedelta(hours=6), jitter=0)


@pytest.mark.parametrize(
    ("remaining", "waits_for_reset"),
    [(300, False), (16, False), (15, True), (2, True), (0, True)],
)
def test_a_nearly_spent_budget_pushes_the_next_check_past_its_reset(
    remaining: int, waits_for_reset: bool
) -> None:
    now = at(18)
    reset = now + timedelta(hours=1)
    when = next_check_after_success(now, NO_JITTER, rate_limit=rl(remaining, reset))
    if waits_for_reset:
        assert when > reset
        assert when - reset <= timedelta(seconds=5)
    else:
        assert when == now + BASE


def test_a_reset_already_past_or_unknown_does_not_delay() -> None:
    now = at(18)
    assert next_check_after_success(now, NO_JITTER, rate_limit=rl(0, now)) == now + BASE
    unknown = RateLimit(limit=None, remaining=0, reset_at=None)
    assert next_check_after_success(now, NO_JITTER, rate_limit=unknown) == now + BASE


def test_jitter_is_added_but_bounded() -> None:
    schedule = Schedule(interval=BASE, max_backoff=timedelta(hours=6), jitter=0.1)
    rng = random.Random(4)
    waits = {next_check_after_success(at(18), schedule, rng=rng) - at(18) for _ in range(50)}
    assert len(waits) > 1
    assert all(BASE <= w <= BASE * 1.1 for w in waits)


def spec(platform: str, **options: str) -> SourceSpec:
    return SourceSpec(
        id=f"ev/{platform}:x", event="ev", platform=platform, target="x", options=options
    )


def test_the_latest_reading_of_a_shared_budget_holds_every_source_spending_it() -> None:
    now = at(18)
    reset = now + timedelta(minutes=10)
    one = spec("x", api="https://api.x.com", bearer_token_env="X_TOKEN", query_extra="a")
    two = spec("x", api="https://api.x.com", bearer_token_env="X_TOKEN", query_extra="b")
    other_token = spec("x", api="https://api.x.com", bearer_token_env="OTHER")
    assert budget_key(one) == budget_key(two) != budget_key(other_token)
    readings = [
        Budget(budget_key(one), rl(250, reset), now - timedelta(minutes=5)),
        Budget(budget_key(two), rl(1, reset), now - timedelta(minutes=1)),
        Budget(budget_key(other_token), rl(280, reset), now),
    ]
    assert budget_holds(readings, now) == {budget_key(one): reset + timedelta(seconds=1)}
    # An older low reading is superseded by a newer healthy one (the window was reset).
    readings.append(Budget(budget_key(one), rl(299, now + timedelta(hours=1)), now))
    assert budget_holds(readings, now) == {}


def test_the_host_is_where_requests_go() -> None:
    assert host_key(spec("mastodon", instance="https://Social.Example")) == "social.example"
    assert (
        host_key(spec("wpcom", post="https://blog.example/p/1", api="https://public-api.example"))
        == "public-api.example"
    )
    assert host_key(spec("feed", url="http://127.0.0.1:8701/feed/")) == "127.0.0.1:8701"
    assert host_key(spec("fake")) == "fake"
