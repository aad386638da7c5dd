"""The organisers' opt-out list: people or whole servers whose posts are never kept.

A rule is one of

* ``handle``: ``@alice@social.example`` (Mastodon) or ``@alice.bsky.social`` (Bluesky);
* ``url``: an author's profile address, ``https://social.example/@alice``;
* ``author``: an author key as exports show it, ``bluesky:did:plc:…``;
* ``domain``: a whole server or site, ``social.example`` (subdomains included).

Matching is pure; the store applies it to what it holds (``aggregator optout add``
purges) and the pipeline to every later fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from aggregator.models import AuthorData, ExcludedItem, ItemData
from aggregator.urls import canonical_url

RuleKind = Literal["handle", "url", "author", "domain"]
REASON = "optout"
_AUTHOR_KEY = re.compile(r"^[a-z][a-z0-9-]*:\S+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


@dataclass(frozen=True, slots=True)
class OptOutRule:
    kind: RuleKind
    value: str


class BadRule(ValueError):
    pass


def parse_rule(text: str) -> OptOutRule:
    """What a person typed, as a rule; raises BadRule saying what is accepted."""
    value = text.strip()
    if value.startswith("@") and len(value) > 1:
        return OptOutRule("handle", value.casefold())
    if value.lower().startswith(("http://", "https://")):
        url = canonical_url(value)
        if url is None:
            raise BadRule(f"{text!r} is not a usable address")
        return OptOutRule("url", url)
    if _AUTHOR_KEY.match(value):
        return OptOutRule("author", value)
    if _DOMAIN.match(value.casefold()):
        return OptOutRule("domain", value.casefold())
    raise BadRule(
        f"{text!r} is not a handle (@name@server), a profile URL, an author key "
        "(platform:…) or a domain (social.example)"
    )


def matches(rule: OptOutRule, author: AuthorData, item_url: str | None = None) -> bool:
    if rule.kind == "handle":
        return author.handle.casefold() == rule.value
    if rule.kind == "url":
        return author.url is not None and canonical_url(author.url) == rule.value
    if rule.kind == "author":
        return author.key == rule.value
    return any(_in_domain(host, rule.value) for host in _hosts(author, item_url))


def filter_items(
    items: Sequence[ItemData], rules: Sequence[OptOutRule]
) -> tuple[tuple[ItemData, ...], tuple[ExcludedItem, ...]]:
    """Split ``items`` into those kept and those the rules leave out."""
    if not rules:
        return tuple(items), ()
    kept: list[ItemData] = []
    dropped: list[ExcludedItem] = []
    for item in items:
        if any(matches(rule, item.author, item.url) for rule in rules):
            dropped.append(ExcludedItem(item.key, REASON, item.created_at))
        else:
            kept.append(item)
    return tuple(kept), tuple(dropped)


def _hosts(author: AuthorData, item_url: str | None) -> Iterable[str]:
    handle = author.handle.lstrip("@")
    if "@" in handle:  # Mastodon: name@server
        yield handle.rsplit("@", 1)[-1].casefold()
    elif "." in handle:  # Bluesky: the handle is a domain
        yield handle.casefold()
    for url in (author.url, item_url):
        if url:
            host = urlsplit(url).hostname
            if host:
                yield host.casefold()


def _in_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)
