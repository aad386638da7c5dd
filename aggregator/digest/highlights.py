"""Highlights: the posts that drew the most response, chosen by a score anyone can
check by hand (README, "How highlights are chosen").

* **Engagement** of an item is ``3 × replies + 2 × reposts + likes`` (a count the
  platform does not report counts 0). A reply costs its writer more than a boost, and
  a boost more than a like, and conversation is what a digest is about.
* **Score** is engagement divided by the *typical* engagement on the same platform in
  the same period: the median over all of that platform's items, at least 1. A post
  on a small forum that drew five replies where most draw none stands next to a post
  on X that drew fifty likes where most draw twenty; a big platform or a big server
  does not take every place by size alone.
* Only items with some engagement qualify. Highest score first; ties go to more
  engagement, then the earlier item.
* **Caps**, so one voice or one server does not fill the list: at most 2 per author and
  3 per server (the host of the item's address), 8 in all.
* **Pinned** items (``aggregator moderate``) come first, in the organisers' order,
  whatever their score; they count towards the caps and the total, but are never
  dropped for them.

Each choice carries a sentence saying why it is there, built from the same numbers.
Pure: no store, no templates.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from urllib.parse import urlsplit

from aggregator.models import ItemData

LIMIT = 8
PER_AUTHOR = 2
PER_HOST = 3
WEIGHTS = (3, 2, 1)
"""Replies, reposts, likes."""

PINNED_WHY = "pinned by the organisers"
# What each platform calls a repost; "reposts" elsewhere.
REPOST_WORDS = {"mastodon": ("boost", "boosts")}


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    why: str
    engagement: int
    score: float
    pinned: bool = False


def engagement(item: ItemData) -> int:
    e = item.engagement
    r, p, k = WEIGHTS
    return r * (e.replies or 0) + p * (e.reposts or 0) + k * (e.likes or 0)


def typical(items: Sequence[ItemData]) -> dict[str, float]:
    """The median engagement of each platform's items."""
    return _medians((item, engagement(item)) for item in items)


def _medians(engaged: Iterable[tuple[ItemData, int]]) -> dict[str, float]:
    by_platform: dict[str, list[int]] = {}
    for item, total in engaged:
        by_platform.setdefault(item.platform, []).append(total)
    return {platform: float(median(values)) for platform, values in by_platform.items()}


def choose(
    items: Sequence[ItemData],
    *,
    pinned: Sequence[str] = (),
    when: str = "that day",
    labels: dict[str, str] | None = None,
    limit: int = LIMIT,
    per_author: int = PER_AUTHOR,
    per_host: int = PER_HOST,
) -> tuple[Choice, ...]:
    """The highlights of ``items`` (the period's visible items): pinned ones present
    first, then the best scores within the caps. ``when`` ends the why ("that day",
    "during the event"); ``labels`` name platforms for people."""
    names = labels or {}
    by_key = {i.key: i for i in items}
    totals = [engagement(i) for i in items]  # once each: used twice
    medians = _medians(zip(items, totals, strict=True))
    authors: Counter[str] = Counter()
    hosts: Counter[str] = Counter()
    chosen: list[Choice] = []

    def take(item: ItemData, choice: Choice) -> None:
        authors[item.author.key] += 1
        hosts[host(item)] += 1
        chosen.append(choice)

    for key in pinned:
        item = by_key.get(key)
        if item is not None and all(c.key != key for c in chosen):
            take(item, Choice(key, PINNED_WHY, engagement(item), 0.0, pinned=True))

    skip = set(pinned)
    # Highest score, then engagement first; ties to the earlier item, then by key, then
    # by position (so the items themselves are never compared).
    ranked = []
    for n, (i, total) in enumerate(zip(items, totals, strict=True)):
        if total > 0 and i.key not in skip:
            score = total / max(medians[i.platform], 1.0)
            ranked.append((-score, -total, i.created_at, i.key, n, i))
    # A heap, not a sort: the few chosen are found near the top of ten thousand.
    heapq.heapify(ranked)
    while ranked and len(chosen) < limit:
        negative_score, negative_total, _, _, _, item = heapq.heappop(ranked)
        score, total = -negative_score, -negative_total
        if authors[item.author.key] >= per_author or hosts[host(item)] >= per_host:
            continue
        label = names.get(item.platform, item.platform)
        take(item, Choice(item.key, why(item, medians[item.platform], label, when), total, score))
    return tuple(chosen)


def why(item: ItemData, median_engagement: float, platform_label: str, when: str) -> str:
    """'12 replies, 30 boosts: 4.1× the typical Mastodon post that day'."""
    e = item.engagement
    one, many = REPOST_WORDS.get(item.platform, ("repost", "reposts"))
    counts = [
        _count(e.replies or 0, "reply", "replies"),
        _count(e.reposts or 0, one, many),
        _count(e.likes or 0, "like", "likes"),
    ]
    said = ", ".join(c for c in counts if c)
    noun = _noun(item)
    if median_engagement < 1:
        return f"{said}; the typical {platform_label} {noun} {when} had none"
    ratio = engagement(item) / median_engagement
    return f"{said}: {ratio:.1f}× the typical {platform_label} {noun} {when}"


def host(item: ItemData) -> str:
    """The server an item lives on: its address's host, else its author's, else the
    platform (so items with no address still share one cap)."""
    for url in (item.url, item.author.url):
        if url:
            name = urlsplit(url).hostname
            if name:
                return name.removeprefix("www.")
    return item.platform


def _noun(item: ItemData) -> str:
    return {"comment": "comment", "article": "blog post"}.get(item.kind, "post")


def _count(n: int, one: str, many: str) -> str:
    return "" if n == 0 else f"{n:,} {one if n == 1 else many}"
