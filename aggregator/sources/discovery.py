"""Blog discovery: a blog's post feed or tag feed names new posts about the event, and
each one's comments are followed from then on (``wfw:commentRss``, the REST API).

Pure: decides which posts are about the event and what to follow for each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from aggregator.models import DiscoveredSource, ItemData

# Tag and category feeds list only posts about that tag: all of them are relevant.
_TOPIC_FEED = re.compile(r"/(?:tag|category|topics?|labels?)/[^/]+", re.IGNORECASE)


def about_event(item: ItemData, *, feed_url: str, hashtags: Sequence[str]) -> bool:
    """Whether a post from a post feed belongs to the event's conversation."""
    if _TOPIC_FEED.search(feed_url):
        return True
    wanted = {h.casefold() for h in hashtags}
    terms = {t.casefold().lstrip("#").replace(" ", "") for t in _terms(item.raw)}
    if wanted & (terms | set(item.hashtags)):
        return True
    words = f"{item.title or ''} {item.text}".casefold()
    return any(re.search(rf"(?<!\w)#?{re.escape(tag)}(?!\w)", words) for tag in wanted)


def comment_sources(items: Iterable[ItemData]) -> tuple[DiscoveredSource, ...]:
    """What to follow for each post: a WordPress post through its REST API (threads,
    edits, deletions), any other post through its comment feed."""
    found: dict[tuple[str, str], DiscoveredSource] = {}
    for item in items:
        if item.kind != "article" or not item.url:
            continue
        why = f"comments of {item.url}"
        if item.platform == "wordpress":
            found[("wordpress", item.url)] = DiscoveredSource("wordpress", {"post": item.url}, why)
        elif isinstance(feed := item.raw.get("wfw_commentrss"), str) and feed:
            found[("feed", feed)] = DiscoveredSource("feed", {"url": feed}, why)
    return tuple(found.values())


def _terms(raw: Any) -> Iterable[str]:
    tags = raw.get("tags") if isinstance(raw, dict) else None
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("term"), str):
                yield tag["term"]
