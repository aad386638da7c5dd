"""Exporting an event's items as JSON Lines or CSV, with documented fields
(README, "Export fields"). Deleted items are never exported, nor items the organisers
hid (or whose author they hid): pass the event's ``Store.moderation``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from aggregator.models import Moderation
from aggregator.store import StoredItemView

FIELDS = (
    "platform",
    "kind",
    "key",
    "url",
    "author_name",
    "author_handle",
    "author_url",
    "title",
    "text",
    "html",
    "language",
    "created_at",
    "edited_at",
    "in_reply_to",
    "context_url",
    "replies",
    "reposts",
    "likes",
    "hashtags",
    "links",
    "source_ids",
)


def record(view: StoredItemView) -> dict[str, Any]:
    i = view.item
    return {
        "platform": i.platform,
        "kind": i.kind,
        "key": i.key,
        "url": i.url,
        "author_name": i.author.name,
        "author_handle": i.author.handle,
        "author_url": i.author.url,
        "title": i.title,
        "text": i.text,
        "html": i.html,
        "language": i.language,
        "created_at": i.created_at.isoformat(),
        "edited_at": i.edited_at.isoformat() if i.edited_at else None,
        "in_reply_to": i.in_reply_to,
        "context_url": i.context_url,
        "replies": i.engagement.replies,
        "reposts": i.engagement.reposts,
        "likes": i.engagement.likes,
        "hashtags": list(i.hashtags),
        "links": list(i.links),
        "source_ids": list(view.source_ids),
    }


def visible(views: Iterable[StoredItemView], moderation: Moderation) -> Iterator[StoredItemView]:
    return (v for v in views if not moderation.hides(v.item))


def write_jsonl(
    views: Iterable[StoredItemView],
    out: TextIO,
    moderation: Moderation = Moderation(),  # noqa: B008 (immutable)
) -> int:
    n = 0
    for view in visible(views, moderation):
        out.write(json.dumps(record(view), ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(
    views: Iterable[StoredItemView],
    out: TextIO,
    moderation: Moderation = Moderation(),  # noqa: B008 (immutable)
) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    n = 0
    for row in _flat(visible(views, moderation)):
        writer.writerow(row)
        n += 1
    return n


def _flat(views: Iterable[StoredItemView]) -> Iterator[dict[str, Any]]:
    for view in views:
        row = record(view)
        # Lists become space-separated: URLs and hashtags contain no spaces.
        for key in ("hashtags", "links", "source_ids"):
            row[key] = " ".join(row[key])
        yield row
