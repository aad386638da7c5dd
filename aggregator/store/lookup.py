"""Finding stored items and authors of an event by what an organiser can copy from a page
or an export: a key, an item's address, a handle, a profile address.

Only targets with at least one item in the event are found, so a decision is never
recorded against a name the event has not seen.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from aggregator.models import AuthorData
from aggregator.optouts import BadRule, OptOutRule, matches, parse_rule
from aggregator.store.schema import Author, Item, ItemAlias
from aggregator.store.views import in_event
from aggregator.urls import canonical_url


def item_keys(conn: Connection, event: str, target: str) -> list[str]:
    """Keys of the event's items whose key, alias or address is ``target``."""
    target = target.strip()
    # Key and alias are indexed; the address is not, so it is only tried when they miss.
    by_key = select(Item.key).where(Item.key == target, in_event(event))
    by_alias = (
        select(Item.key)
        .join(ItemAlias, ItemAlias.item_id == Item.id)
        .where(ItemAlias.alias == target, in_event(event))
    )
    keys = list(conn.execute(by_key.union(by_alias)).scalars())
    if keys:
        return sorted(keys)
    spellings = {target} | ({canonical_url(target)} - {None})
    if not target.lower().startswith(("http://", "https://")):
        return []
    by_url = select(Item.key).where(Item.url.in_(spellings), in_event(event))
    return sorted(set(conn.execute(by_url).scalars()))


def author_rule(text: str) -> OptOutRule | None:
    """What an organiser typed to name one person: a handle, a profile URL or an
    author key. A bare ``name.bsky.social`` is a Bluesky handle here, not a domain
    (a whole server is never one author)."""
    value = text.strip()
    try:
        rule = parse_rule(value)
    except BadRule:
        return None
    if rule.kind == "domain":
        return OptOutRule("handle", "@" + rule.value)
    return rule


def author_keys(conn: Connection, event: str, text: str) -> list[str]:
    """Keys of the authors of the event's items that ``text`` names."""
    spoke = select(Item.id).where(Item.author_key == Author.key, in_event(event)).exists()
    exact = conn.execute(select(Author.key).where(Author.key == text.strip(), spoke)).scalars()
    keys = set(exact)
    rule = author_rule(text)
    if keys or rule is None or rule.kind == "author":
        return sorted(keys)
    query = select(Author.key, Author.platform, Author.name, Author.handle, Author.url).where(spoke)
    if rule.kind == "handle":
        query = query.where(func.lower(Author.handle) == rule.value)
    else:
        # Profile addresses are compared canonically (case of the host, a trailing
        # slash), which SQL cannot do: narrow to authors with an address, match here.
        query = query.where(Author.url.is_not(None))
    return sorted(
        key
        for key, platform, name, handle, url in conn.execute(query)
        if matches(rule, AuthorData(key, platform, name, handle, url))
    )
