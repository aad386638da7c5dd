"""The Atom feed (RFC 4287) of an event's daily digests, rendered from
``templates/digests.atom.xml`` (overridable like every template).

Entry ids are tag: URIs (RFC 4151) made of the archive's domain, the event's first
day and the digest's day, so they stay the same however often the feed is rewritten
and wherever the archive moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from jinja2 import Environment

from aggregator.digest.context import DigestContext
from aggregator.store import EventRecord

TEMPLATE = "digests.atom.xml"
FEED_NAME = "digests.atom"


@dataclass(frozen=True, slots=True)
class AtomEntry:
    id: str
    url: str
    updated: str
    context: DigestContext


@dataclass(frozen=True, slots=True)
class AtomFeed:
    id: str
    title: str
    hashtags: tuple[str, ...]
    updated: str
    self_url: str | None
    page_url: str
    entries: tuple[AtomEntry, ...]


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag_authority(base_url: str, fallback: str = "localhost") -> str:
    return urlsplit(base_url).hostname or fallback


def atom_feed(
    event: EventRecord,
    days: Sequence[DigestContext],
    *,
    base_url: str,
    env: Environment,
    authority: str | None = None,
) -> str:
    """The feed of ``days`` (day digests), newest first.

    ``base_url`` is the archive's public address ('' for links relative to the feed,
    which sits in the event's folder beside the pages). An entry's ``updated`` is the
    end of its day: stable across rewrites, so readers do not see old digests as new."""
    folder = f"{base_url}{event.slug}/" if base_url else ""
    tag = f"tag:{authority or tag_authority(base_url)},{event.starts.isoformat()}:{event.slug}"
    ordered = sorted(days, key=lambda d: d.period.first_day, reverse=True)
    entries = tuple(
        AtomEntry(
            id=f"{tag}/{d.period.first_day.isoformat()}",
            url=f"{folder}{d.period.first_day.isoformat()}.html",
            updated=rfc3339(d.period.end),
            context=d,
        )
        for d in ordered
    )
    first = datetime(event.starts.year, event.starts.month, event.starts.day, tzinfo=UTC)
    return env.get_template(TEMPLATE).render(
        feed=AtomFeed(
            id=f"{tag}/digests",
            title=event.title,
            hashtags=event.hashtags,
            updated=entries[0].updated if entries else rfc3339(first),
            self_url=f"{folder}{FEED_NAME}" if base_url else None,
            page_url=f"{folder}event.html",
            entries=entries,
        )
    )
