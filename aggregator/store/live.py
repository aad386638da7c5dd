"""The period's live items as outputs show them: what a day digest reads.

A busy day has ten thousand items, and a digest shows every one. It never shows an
item's platform payload or the sources that collected it, which
:func:`views.load_items` reads besides (for the export and the API): leaving them out
takes a third off reading a day (benchmarks/digest.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import Connection, Select, Text, cast, select

from aggregator.models import ItemData, JSONValue
from aggregator.store.schema import Author, Item
from aggregator.store.views import Shared, iter_rows, resolve_parents

LIVE = (
    Item.id,
    Item.key,
    Item.platform,
    Item.kind,
    Item.url,
    Item.author_key,
    Item.title,
    Item.html,
    Item.text,
    Item.language,
    Item.created_at,
    Item.edited_at,
    Item.in_reply_to,
    Item.context_url,
    Item.replies_count,
    Item.reposts_count,
    Item.likes_count,
    # As text, parsed once per distinct list: a day's items share a few tag lists.
    cast(Item.hashtags, Text),
    cast(Item.links, Text),
    Author.platform,
    Author.name,
    Author.handle,
    Author.url,
    Author.avatar_url,
)
# One for all: an empty dict per item would be ten thousand objects for nothing.
_NO_RAW: Mapping[str, JSONValue] = MappingProxyType({})


def load_live(conn: Connection, ids: Select[Any]) -> list[ItemData]:
    """The live items ``ids`` selects, oldest first, without their platform payload
    (``raw`` is empty); replies name their parent by its key."""
    query = (
        select(*LIVE)
        .join(Author, Author.key == Item.author_key)
        .where(Item.id.in_(ids), Item.deleted_at.is_(None))
    )
    interned = Shared()
    lists: dict[str, tuple[str, ...]] = {}
    loaded: list[tuple[datetime, int, ItemData]] = []
    for row in iter_rows(conn, query):
        (
            id_,
            key,
            platform,
            kind,
            url,
            author_key,
            title,
            html,
            text,
            language,
            created_at,
            edited_at,
            in_reply_to,
            context_url,
            replies,
            reposts,
            likes,
            hashtags,
            links,
            author_platform,
            name,
            handle,
            author_url,
            avatar_url,
        ) = row
        author = interned.author(author_key, author_platform, name, handle, author_url, avatar_url)
        engagement = interned.engagement(replies, reposts, likes)
        tags = lists.get(hashtags)
        if tags is None:
            tags = lists[hashtags] = tuple(orjson.loads(hashtags))
        shared = lists.get(links)
        if shared is None:
            shared = lists[links] = tuple(orjson.loads(links))
        # Positional: keywords cost a third of making an item.
        item = ItemData(
            key,
            platform,
            kind,
            url,
            author,
            html,
            text,
            created_at,
            language,
            edited_at,
            in_reply_to or None,
            context_url,
            title,
            engagement,
            tags,
            shared,
            _NO_RAW,
        )
        loaded.append((created_at, id_, item))
    # Sorted here, not in SQL, which would sort whole rows (as in views.load_items).
    loaded.sort(key=itemgetter(0, 1))
    resolved = resolve_parents(conn, (item.in_reply_to for _, _, item in loaded))
    return [
        replace(item, in_reply_to=resolved[item.in_reply_to])
        if item.in_reply_to in resolved
        else item
        for _, _, item in loaded
    ]
