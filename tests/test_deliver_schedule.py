"""When daily digests are due: the next local morning, through DST changes, with a
bounded catch-up after downtime; and how failed deliveries back off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from aggregator.deliver.schedule import (
    MAX_RETRY_DELAY,
    DueDigest,
    due,
    due_at,
    plan,
    published,
    retry_at,
)

LONDON = "Europe/London"
CATCH_UP = timedelta(hours=36)


def london(day: date, send: time = time(7, 30), *, days_after: int = 2, lookback: int = 1):
    return plan(
        "ev",
        timezone=LONDON,
        starts=day,
        ends=day + timedelta(days=1),
        lookback_days=lookback,
        send_time=send,
        days_after=days_after,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "send", "expected"),
    [
        # Winter: London is UTC.
        (date(2026, 11, 20), time(7, 30), utc(2026, 11, 21, 7, 30)),
        # Summer: BST, an hour ahead.
        (date(2026, 7, 1), time(7, 30), utc(2026, 7, 2, 6, 30)),
        # Sent on the spring-forward day (29 March 2026): already BST at 07:30.
        (date(2026, 3, 28), time(7, 30), utc(2026, 3, 29, 6, 30)),
        # Sent on the fall-back day (25 October 2026): GMT again at 07:30.
        (date(2026, 10, 24), time(7, 30), utc(2026, 10, 25, 7, 30)),
        # 01:30 does not exist on 29 March (01:00 GMT -> 02:00 BST): the gap is skipped
        # forward, 02:30 BST.
        (date(2026, 3, 28), time(1, 30), utc(2026, 3, 29, 1, 30)),
        # 01:30 happens twice on 25 October: the first one (BST).
        (date(2026, 10, 24), time(1, 30), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_a_days_digest_is_due_at_the_send_time_of_the_next_local_day(
    day: date, send: time, expected: datetime
) -> None:
    assert due_at(day, send, LONDON) == expected


def test_the_send_time_passes_once_on_the_day_it_happens_twice() -> None:
    p = london(date(2026, 10, 24), time(1, 30), lookback=0, days_after=0)
    # Every minute across the repeated hour: the fall-back day's digest becomes due once.
    seen = []
    now = utc(2026, 10, 24, 23, 0)
    while now < utc(2026, 10, 25, 3, 0):
        before = {d.day for d in due([p], now - timedelta(minutes=1), timedelta(0))}
        seen += [d for d in due([p], now, timedelta(0)) if d.day not in before]
        now += timedelta(minutes=1)
    assert seen == [DueDigest("ev", date(2026, 10, 24), utc(2026, 10, 25, 0, 30))]


def test_every_day_of_the_window_is_due_from_the_lookback_to_the_days_after() -> None:
    p = london(date(2026, 11, 20), days_after=2, lookback=1)
    assert published(p, utc(2027, 1, 1)) == [date(2026, 11, d) for d in range(19, 24)]
    assert not published(p, utc(2026, 11, 20, 7, 29))
    assert published(p, utc(2026, 11, 20, 7, 30)) == [date(2026, 11, 19)]


def test_nothing_is_due_before_its_time_and_a_digest_is_due_at_its_time() -> None:
    p = london(date(2026, 11, 20))
    assert due([p], utc(2026, 11, 21, 7, 29, 59), CATCH_UP) == [
        DueDigest("ev", date(2026, 11, 19), utc(2026, 11, 20, 7, 30))
    ]
    assert [d.day for d in due([p], utc(2026, 11, 21, 7, 30), CATCH_UP)] == [
        date(2026, 11, 19),
        date(2026, 11, 20),
    ]


def test_missed_digests_are_still_due_after_downtime_but_not_forever() -> None:
    p = london(date(2026, 11, 20))
    # Down from the 20th to the 22nd at noon: the 20th's (due 21st 07:30) and the 21st's
    # (due 22nd 07:30) are caught up; the 19th's (due 20th 07:30, 52.5 h ago) is not.
    now = utc(2026, 11, 22, 12, 0)
    assert [d.day for d in due([p], now, CATCH_UP)] == [date(2026, 11, 20), date(2026, 11, 21)]
    assert [d.day for d in due([p], now, timedelta(hours=6))] == [date(2026, 11, 21)]


def test_nothing_is_due_after_the_last_day_has_gone_out() -> None:
    p = london(date(2026, 11, 20), days_after=2)
    assert due([p], utc(2026, 11, 24, 7, 30), CATCH_UP)[-1].day == date(2026, 11, 23)
    assert due([p], utc(2026, 11, 26, 8, 0), CATCH_UP) == []


def test_events_in_other_time_zones_are_due_at_their_own_mornings() -> None:
    tokyo = plan(
        "tokyo",
        timezone="Asia/Tokyo",
        starts=date(2026, 11, 20),
        ends=date(2026, 11, 20),
        lookback_days=0,
        send_time=time(7, 30),
        days_after=0,
    )
    london_one = plan(
        "london",
        timezone=LONDON,
        starts=date(2026, 11, 20),
        ends=date(2026, 11, 20),
        lookback_days=0,
        send_time=time(7, 30),
        days_after=0,
    )
    out = due([london_one, tokyo], utc(2026, 11, 21, 8, 0), CATCH_UP)
    assert [(d.event, d.due_at) for d in out] == [
        ("tokyo", utc(2026, 11, 20, 22, 30)),
        ("london", utc(2026, 11, 21, 7, 30)),
    ]


def test_retries_back_off_doubling_up_to_a_ceiling() -> None:
    now = utc(2026, 11, 21, 7, 30)
    first = timedelta(minutes=5)
    delays = [retry_at(n, now, first) - now for n in (1, 2, 3, 4, 10)]
    assert delays == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        MAX_RETRY_DELAY,
    ]
