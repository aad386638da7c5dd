"""Activity over time: items per local hour (a day digest) or per local day (the whole
event), by platform; drawn as an inline SVG bar chart, with a text fallback.

The chart needs no JavaScript and no stylesheet: mail clients and blogs that strip
both still get the same picture, and those that block SVG get ``busiest`` as text.
It is built only from numbers and escaped labels, so nothing a person wrote can reach
the markup. Hours are the real hours of the local day: a day when clocks change has
23 or 25 bars, not a gap or a doubled hour.

Pure: no store, no templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

BUSIEST = 3

# Each at least 3:1 against white (WCAG 1.4.11, graphical objects) and told apart by
# hue; the legend and the text fallback name platforms, so colour is never the only cue.
COLOURS = {
    "mastodon": "#5b3cc4",
    "bluesky": "#0a66c2",
    "x": "#1d1d1f",
    "wordpress": "#8a4b00",
    "blogger": "#b3261e",
    "feed": "#9d174d",
    "reddit": "#c2410c",
    "discourse": "#047857",
}
OTHER_COLOUR = "#55595f"


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    """Short, for an axis: '09:00', 'Fri 20'."""
    name: str
    """In full, for a sentence: '09:00–10:00', 'Friday 20 November'."""
    start: datetime
    total: int
    by_platform: dict[str, int]


@dataclass(frozen=True, slots=True)
class Activity:
    unit: str
    """'hour' or 'day'."""
    title: str
    buckets: tuple[Bucket, ...]
    platforms: tuple[str, ...]
    """Busiest first: the stacking order of the bars and the legend."""
    busiest: tuple[Bucket, ...]
    """The busiest few buckets with anything in them, busiest first (the text fallback)."""
    peak: int


def hourly(
    created: Iterable[tuple[datetime, str]],
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    title: str,
) -> Activity:
    """Items (creation time, platform) per hour of the local day [start, end)."""
    starts = []
    at = start
    while at < end:
        starts.append(at)
        at += timedelta(hours=1)
    counts: list[dict[str, int]] = [{} for _ in starts]
    for when, platform in created:
        index = int((when - start).total_seconds() // 3600)
        if 0 <= index < len(counts):
            counts[index][platform] = counts[index].get(platform, 0) + 1
    buckets = []
    for at, by in zip(starts, counts, strict=True):
        local = at.astimezone(tz)
        until = (at + timedelta(hours=1)).astimezone(tz)
        buckets.append(
            Bucket(f"{local:%H}:00", f"{local:%H:%M}–{until:%H:%M}", local, sum(by.values()), by)
        )
    return _activity("hour", title, buckets)


def daily(
    created: Iterable[tuple[datetime, str]],
    *,
    first: date,
    last: date,
    tz: ZoneInfo,
    title: str,
) -> Activity:
    """Items (creation time, platform) per local day from ``first`` to ``last``."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    counts: list[dict[str, int]] = [{} for _ in days]
    for when, platform in created:
        index = (when.astimezone(tz).date() - first).days
        if 0 <= index < len(counts):
            counts[index][platform] = counts[index].get(platform, 0) + 1
    buckets = [
        Bucket(
            f"{day:%a} {day.day}",
            f"{day:%A} {day.day} {day:%B}",
            datetime(day.year, day.month, day.day, tzinfo=tz),
            sum(by.values()),
            by,
        )
        for day, by in zip(days, counts, strict=True)
    ]
    return _activity("day", title, buckets)


def _activity(unit: str, title: str, buckets: Sequence[Bucket]) -> Activity:
    totals: dict[str, int] = {}
    for b in buckets:
        for platform, n in b.by_platform.items():
            totals[platform] = totals.get(platform, 0) + n
    busy = sorted((b for b in buckets if b.total), key=lambda b: (-b.total, b.start))
    return Activity(
        unit=unit,
        title=title,
        buckets=tuple(buckets),
        platforms=tuple(sorted(totals, key=lambda p: (-totals[p], p))),
        busiest=tuple(busy[:BUSIEST]),
        peak=max((b.total for b in buckets), default=0),
    )


def describe(activity: Activity, labels: dict[str, str] | None = None) -> str:
    """One sentence for people who do not see the chart."""
    if not activity.peak:
        return "Nothing was posted in this period."
    unit = "hours" if activity.unit == "hour" else "days"
    busiest = "; ".join(f"{b.name}: {_items(b.total)}" for b in activity.busiest)
    total = sum(b.total for b in activity.buckets)
    names = labels or {}
    split = ", ".join(
        f"{names.get(p, p)} {sum(b.by_platform.get(p, 0) for b in activity.buckets):,}"
        for p in activity.platforms
    )
    return f"{_items(total)} ({split}). Busiest {unit}: {busiest}."


# -- the chart ----------------------------------------------------------------------

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 34, 40


def bar_chart(activity: Activity, labels: dict[str, str] | None = None) -> Markup:
    """An accessible inline SVG: stacked bars per bucket, one colour per platform, a
    legend and axis labels as text."""
    names = labels or {}
    n = max(len(activity.buckets), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    bar = max(slot * 0.8, 1.0)
    scale = _nice_max(activity.peak)
    base = TOP + plot_h
    title = escape(activity.title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{title}" class="activity-chart" '
        f'style="max-width:{WIDTH}px;height:auto;font-family:system-ui,sans-serif">',
        f"<title>{title}</title>",
        f"<desc>{escape(describe(activity, names))}</desc>",
    ]
    # Legend on top, one swatch and name per platform.
    x = float(LEFT)
    for platform in activity.platforms:
        name = escape(names.get(platform, platform))
        out.append(
            f'<rect x="{x:.1f}" y="8" width="12" height="12" fill="{_colour(platform)}"/>'
            f'<text x="{x + 16:.1f}" y="18" font-size="12" fill="#1d1d1f">{name}</text>'
        )
        x += 28 + 7 * len(names.get(platform, platform))
    # Y axis: 0, half and the top of the scale, with light grid lines.
    for value in (0, scale // 2, scale) if scale > 1 else (0, scale):
        y = base - plot_h * value / scale
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d9dce1" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#55595f">{value}</text>'
        )
    step = _label_step(n)
    for index, bucket in enumerate(activity.buckets):
        x = LEFT + index * slot + (slot - bar) / 2
        y = float(base)
        parts = []
        for platform in activity.platforms:
            count = bucket.by_platform.get(platform, 0)
            if not count:
                continue
            h = plot_h * count / scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_colour(platform)}"/>'
            )
        if parts:
            tip = escape(f"{bucket.name}: {_items(bucket.total)}")
            out.append(f"<g><title>{tip}</title>{''.join(parts)}</g>")
        if index % step == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{base + 16}" font-size="11" '
                f'text-anchor="middle" fill="#55595f">{escape(bucket.label)}</text>'
            )
    axis = "local time" if activity.unit == "hour" else "local day"
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#55595f"/>'
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="11" '
        f'text-anchor="middle" fill="#55595f">{axis}</text>'
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
        f'fill="#55595f" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">items</text>'
        "</svg>"
    )
    return Markup("".join(out))


def _colour(platform: str) -> str:
    return COLOURS.get(platform, OTHER_COLOUR)


def _nice_max(peak: int) -> int:
    """The top of the y axis: the peak rounded up to an even number, so the half-way
    line is a whole number of items."""
    if peak <= 1:
        return 1
    return peak + (peak % 2)


def _label_step(n: int) -> int:
    """Every bucket labelled up to 16; beyond that every 2nd, 3rd…, so labels never
    overlap (24 hours: every 3rd)."""
    return 1 if n <= 16 else -(-n // 8)


def _items(n: int) -> str:
    return f"{n:,} item" if n == 1 else f"{n:,} items"
