"""Headline figures: how much was said, by how many, and how that compares with the
day before.

A day digest compares each figure with the previous local day of the event; the
whole-event digest has nothing to compare with, so its figures carry no change.
"New voices" are authors with no live item in the event before the period: the
store keeps when each author first spoke in each event and names those who first
did in the period (``Store.newcomers``), so the cost follows the period's new
voices, not the size of the store.

Pure: the caller hands in the items and the authors already known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from aggregator.models import ItemData


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    """Stable name: items, people, platforms, new_voices, articles, comments."""
    label: str
    """Plural, for people: "people", "new voices"."""
    one: str
    """Singular: "person", "new voice"."""
    value: int
    previous: int | None = None
    change: int | None = None
    """``value - previous``; ``None`` when there is nothing to compare with."""
    change_text: str = ""
    """The change in words ("+12 since Thursday"); '' when there is none."""


@dataclass(frozen=True, slots=True)
class Tally:
    items: int
    people: int
    platforms: int
    new_voices: int
    articles: int
    comments: int


# (key, singular, plural), in the order a reader wants them.
FIGURES = (
    ("items", "item", "items"),
    ("people", "person", "people"),
    ("platforms", "platform", "platforms"),
    ("new_voices", "new voice", "new voices"),
    ("articles", "blog post", "blog posts"),
    ("comments", "comment", "comments"),
)


def tally(items: Sequence[ItemData], known: Collection[str]) -> Tally:
    """Count ``items``; authors in ``known`` had spoken in the event before them."""
    return tally_rows(((i.author.key, i.platform, i.kind) for i in items), known)


def tally_rows(rows: Iterable[tuple[str, str, str]], known: Collection[str]) -> Tally:
    """:func:`tally` of items given as (author key, platform, kind)."""
    authors: set[str] = set()
    platforms: set[str] = set()
    kinds: Counter[str] = Counter()
    for author, platform, kind in rows:
        authors.add(author)
        platforms.add(platform)
        kinds[kind] += 1
    return Tally(
        items=kinds.total(),
        people=len(authors),
        platforms=len(platforms),
        new_voices=len(authors.difference(known)),
        articles=kinds["article"],
        comments=kinds["comment"],
    )


def figures(
    current: Tally, previous: Tally | None = None, *, since: str | None = None
) -> tuple[Figure, ...]:
    """The headline figures; with ``previous``, each with its change ``since`` (a day's
    name)."""
    out = []
    for key, one, many in FIGURES:
        value: int = getattr(current, key)
        before: int | None = getattr(previous, key) if previous is not None else None
        out.append(
            Figure(
                key=key,
                label=many,
                one=one,
                value=value,
                previous=before,
                change=None if before is None else value - before,
                change_text=change_text(None if before is None else value - before, since),
            )
        )
    return tuple(out)


def change_text(change: int | None, since: str | None) -> str:
    """``+12 since Thursday``, ``−3 since Thursday``, ``same as Thursday``; '' without
    a comparison. Words, not only arrows or colour, so it reads aloud and in print."""
    if change is None or since is None:
        return ""
    if change == 0:
        return f"same as {since}"
    sign = "+" if change > 0 else "−"
    return f"{sign}{abs(change):,} since {since}"
