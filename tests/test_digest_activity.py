"""Activity over time: items per local hour or day, by platform, as an accessible
inline SVG made only of numbers and escaped labels, with a text fallback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from aggregator.digest.activity import Activity, bar_chart, daily, describe, hourly

NY = ZoneInfo("America/New_York")
SVG = "{http://www.w3.org/2000/svg}"
# 20 November 2026 in New York runs 05:00 to 05:00 UTC.
START = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def day(created: list[tuple[datetime, str]], start: datetime = START, hours: int = 24) -> Activity:
    return hourly(created, start=start, end=start + timedelta(hours=hours), tz=NY, title="A day")


def test_items_fall_into_their_local_hour_by_platform() -> None:
    activity = day(
        [
            (START + timedelta(minutes=5), "mastodon"),
            (START + timedelta(minutes=59), "bluesky"),
            (START + timedelta(hours=9, minutes=30), "mastodon"),
            (START - timedelta(minutes=1), "mastodon"),  # the day before: not counted
        ]
    )
    assert len(activity.buckets) == 24
    first = activity.buckets[0]
    assert (first.label, first.name, first.total) == ("00:00", "00:00–01:00", 2)
    assert first.by_platform == {"mastodon": 1, "bluesky": 1}
    assert activity.buckets[9].by_platform == {"mastodon": 1}
    assert activity.platforms == ("mastodon", "bluesky")
    assert activity.peak == 2


def test_a_day_when_the_clocks_go_back_has_twenty_five_hours() -> None:
    # 1 November 2026: New York falls back from EDT to EST at 02:00 local time.
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # local midnight, EDT
    activity = day([(start + timedelta(hours=2, minutes=10), "x")], start=start, hours=25)
    labels = [b.label for b in activity.buckets]
    assert len(labels) == 25
    assert labels[:4] == ["00:00", "01:00", "01:00", "02:00"]
    assert activity.buckets[2].total == 1, "the second 01:00 is its own hour"


def test_the_busiest_hours_are_the_text_fallback_busiest_first() -> None:
    created = [(START + timedelta(hours=h), "mastodon") for h in (3, 3, 3, 7, 7, 12, 15)]
    activity = day(created)
    assert [(b.name, b.total) for b in activity.busiest] == [
        ("03:00–04:00", 3),
        ("07:00–08:00", 2),
        ("12:00–13:00", 1),  # ties: the earlier hour
    ]
    sentence = describe(activity, {"mastodon": "Mastodon"})
    assert sentence == (
        "7 items (Mastodon 7). Busiest hours: 03:00–04:00: 3 items; "
        "07:00–08:00: 2 items; 12:00–13:00: 1 item."
    )


def test_the_whole_event_counts_local_days() -> None:
    created = [
        (datetime(2026, 11, 20, 4, 59, tzinfo=UTC), "bluesky"),  # 19th, 23:59 in New York
        (datetime(2026, 11, 20, 5, 0, tzinfo=UTC), "bluesky"),
        (datetime(2026, 11, 21, 18, 0, tzinfo=UTC), "mastodon"),
    ]
    activity = daily(created, first=date(2026, 11, 19), last=date(2026, 11, 21), tz=NY, title="T")
    assert [(b.label, b.total) for b in activity.buckets] == [
        ("Thu 19", 1),
        ("Fri 20", 1),
        ("Sat 21", 1),
    ]
    assert activity.buckets[2].name == "Saturday 21 November"
    assert activity.unit == "day"


def test_the_chart_is_an_image_with_a_title_a_description_and_text_axes() -> None:
    created = [(START + timedelta(hours=h), p) for h, p in ((1, "mastodon"), (1, "x"), (2, "x"))]
    svg = ET.fromstring(str(bar_chart(day(created), {"mastodon": "Mastodon", "x": "X"})))
    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "A day"
    assert svg.findtext(f"{SVG}title") == "A day"
    assert "Busiest hours: 01:00–02:00: 2 items" in (svg.findtext(f"{SVG}desc") or "")
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    for expected in ("Mastodon", "X", "00:00", "21:00", "local time", "items", "0", "2"):
        assert expected in texts
    bars = [g for g in svg.iter(f"{SVG}g")]
    assert [g.findtext(f"{SVG}title") for g in bars] == [
        "01:00–02:00: 2 items",
        "02:00–03:00: 1 item",
    ]
    # Stacked: the 01:00 bar has one segment per platform, as tall as the 02:00 bar each.
    heights = [[float(r.get("height", 0)) for r in g.iter(f"{SVG}rect")] for g in bars]
    assert heights[0][0] == heights[0][1] == heights[1][0] > 0


def test_labels_are_escaped_and_nothing_can_run() -> None:
    activity = day([(START, "<script>alert(1)</script>")])
    chart = str(bar_chart(activity, {"<script>alert(1)</script>": '"><img onerror=x>'}))
    assert "<script" not in chart
    assert "<img" not in chart
    assert "&lt;img onerror=x&gt;" in chart or "&#34;&gt;&lt;img" in chart
    ET.fromstring(chart)  # still well-formed


def test_an_empty_period_draws_an_empty_chart() -> None:
    activity = day([])
    assert (activity.peak, activity.busiest) == (0, ())
    svg = ET.fromstring(str(bar_chart(activity)))
    assert list(svg.iter(f"{SVG}g")) == []
    assert describe(activity) == "Nothing was posted in this period."
