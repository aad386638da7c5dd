"""Reddit API payloads in, domain types out: pure functions, no I/O.

* :func:`parse_listing` reads a Listing of ``t3`` submissions (``/r/{sub}/search``,
  ``/api/info``), requested with ``raw_json=1`` so strings carry no ``&amp;`` escaping;
* :func:`parse_rate_limit` reads ``X-Ratelimit-Used/-Remaining/-Reset``;
* :func:`parse_token` reads the client-credentials grant's answer;
* :func:`search_query` builds ``q`` for the event's hashtags.

Every public function returns or raises :class:`~aggregator.exceptions.ParseError`.
Field semantics: ``shared/docs/source-apis.md`` §6 and the recorded listing in
``tests/data/reddit/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, Engagement, ItemData, RateLimit
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import any_str, check_text
from aggregator.urls import canonical_url

PLATFORM = "reddit"
WWW = "https://www.reddit.com"
# What the body of a deleted or removed submission is replaced with.
_GONE_TEXT = {"[deleted]": "deleted", "[removed]": "removed"}
# removed_by_category values that mean the author deleted it, not a moderator.
_BY_AUTHOR = frozenset({"deleted", "author"})
# A hashtag in plain text: not inside a word, a URL fragment or an entity.
_HASHTAG = re.compile(r"(?<![\w&#/])#(\w{1,100})")
_FULLNAME = re.compile(r"^t3_[0-9a-z]{1,13}$")


def search_query(tags: Sequence[str]) -> str:
    """``#a OR #b``: Reddit's search matches the word with or without the ``#``."""
    return " OR ".join(f"#{t.lstrip('#')}" for t in tags)


@dataclass(frozen=True, slots=True)
class ListingPage:
    items: tuple[ItemData, ...]
    removed: Mapping[str, str]
    """Key → why a submission is left out: ``deleted`` (by its author) or ``removed`` (by
    moderators or Reddit). Transient: counted, or tombstoned on a re-check; never stored."""
    after: str | None
    """The fullname to pass as ``after`` for the next page; ``None`` at the end."""
    count: int
    """Submissions on the page, excluded ones and ones before ``since`` included."""
    oldest_at: datetime | None = None
    newest_at: datetime | None = None
    fullnames: tuple[str, ...] = ()


def parse_listing(payload: Any, *, since: datetime | None = None) -> ListingPage:
    """A ``Listing`` of ``t3`` things. Submissions created before ``since`` are neither
    returned nor counted, but move ``oldest_at``/``newest_at`` (paging stops on them)."""
    if not isinstance(payload, dict) or payload.get("kind") != "Listing":
        raise ParseError("expected a Listing")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ParseError("Listing without data")
    children = data.get("children")
    after = data.get("after")
    if not isinstance(children, list):
        raise ParseError("Listing data.children is not an array")
    if after is not None and not isinstance(after, str):
        raise ParseError(f"Listing data.after is not a string: {after!r:.40}")
    items: dict[str, ItemData] = {}
    removed: dict[str, str] = {}
    times: list[datetime] = []
    fullnames: list[str] = []
    for child in children:
        if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
            raise ParseError("Listing child is not a thing with data")
        if child.get("kind") != "t3":
            continue  # only submissions are followed
        thing = child["data"]
        fullname = _fullname(thing)
        created = _epoch(thing.get("created_utc"), f"{fullname}: created_utc")
        fullnames.append(fullname)
        times.append(created)
        if since is not None and created < since:
            continue
        reason = removal(thing)
        if reason is not None:
            removed[keys.reddit_post(fullname)] = reason
            continue
        item = parse_submission(thing)
        items[item.key] = item
    return ListingPage(
        items=tuple(items.values()),
        removed=removed,
        after=after or None,
        count=len(fullnames),
        oldest_at=min(times, default=None),
        newest_at=max(times, default=None),
        fullnames=tuple(fullnames),
    )


def removal(thing: Mapping[str, Any]) -> str | None:
    """Why a submission is not to be shown: ``deleted``, ``removed`` or ``None``.

    A deleted submission keeps its title but loses its author (``[deleted]``) and body
    (``selftext: "[deleted]"``); a removed one gets ``removed_by_category`` and
    ``"[removed]"``. Either way it is gone from the conversation.
    """
    category = thing.get("removed_by_category")
    if category is not None:
        # Any value at all means it is gone; only a known string says it was the author.
        return "deleted" if isinstance(category, str) and category in _BY_AUTHOR else "removed"
    if thing.get("author") == "[deleted]":
        return "deleted"
    selftext = thing.get("selftext")
    return _GONE_TEXT.get(selftext) if isinstance(selftext, str) else None


def parse_submission(thing: Mapping[str, Any]) -> ItemData:
    """One ``t3`` as a ``post``: the title is the title, ``selftext_html`` the body, and a
    link post's target its first link."""
    fullname = _fullname(thing)
    what = fullname
    title = any_str(thing, "title", what)
    author = any_str(thing, "author", what)
    permalink = any_str(thing, "permalink", what)
    if not permalink.startswith("/"):
        raise ParseError(f"{what}: permalink is not a path: {permalink!r:.40}")
    body = thing.get("selftext_html")
    if body is not None and not isinstance(body, str):
        raise ParseError(f"{what}: selftext_html is not a string")
    selftext = thing.get("selftext")
    check_text(what, title, author, permalink, body or "", selftext or "")
    url = WWW + quote(permalink, safe="/%-._~!$&'()*+,;=:@")
    cleaned = clean(body or "", base_url=url)
    links = list(cleaned.links)
    if thing.get("is_self") is not True:
        target = thing.get("url_overridden_by_dest") or thing.get("url")
        shared = canonical_url(target, base=WWW) if isinstance(target, str) else None
        if shared is not None and shared != canonical_url(url):
            links.insert(0, shared)
    edited = thing.get("edited")
    text_for_tags = f"{title}\n{selftext if isinstance(selftext, str) else ''}"
    return ItemData(
        key=keys.reddit_post(fullname),
        platform=PLATFORM,
        kind="post",
        url=url,
        author=AuthorData(
            # Usernames are unique case-insensitively and cannot be changed.
            key=f"{PLATFORM}:user:{author.casefold()}",
            platform=PLATFORM,
            name=author,
            handle=f"u/{author}",
            url=f"{WWW}/user/{quote(author, safe='')}/",
        ),
        html=cleaned.html,
        text=cleaned.text,
        created_at=_epoch(thing.get("created_utc"), f"{what}: created_utc"),
        # ``edited`` is false, or the epoch of the last edit (true on very old posts).
        edited_at=_epoch(edited, f"{what}: edited") if _is_number(edited) else None,
        title=" ".join(title.split()) or None,
        engagement=Engagement(
            replies=_count(thing.get("num_comments")), likes=_count(thing.get("score"))
        ),
        hashtags=tuple(dict.fromkeys(t.lower() for t in _HASHTAG.findall(text_for_tags))),
        links=tuple(dict.fromkeys(links)),
        raw=thing,
    )


def parse_rate_limit(headers: Mapping[str, str], now: datetime) -> RateLimit | None:
    """``X-Ratelimit-Used: 4``, ``-Remaining: 996.0`` (a float string), ``-Reset: 11``
    (seconds until the window resets). Unreadable values become ``None``."""
    lower = {k.lower(): v for k, v in headers.items()}
    used, remaining, reset = (
        _number(lower.get(f"x-ratelimit-{n}")) for n in ("used", "remaining", "reset")
    )
    if used is None and remaining is None and reset is None:
        return None
    limit = round(used + remaining) if used is not None and remaining is not None else None
    return RateLimit(
        limit=limit,
        remaining=int(remaining) if remaining is not None else None,
        reset_at=now + timedelta(seconds=reset) if reset is not None else None,
    )


def parse_token(payload: Any) -> tuple[str, timedelta]:
    """``{"access_token": …, "token_type": "bearer", "expires_in": 86400, …}``."""
    if not isinstance(payload, dict):
        raise ParseError("the token response is not an object")
    if "error" in payload:
        # Never echo the body: only the error code, which carries no secret.
        raise ParseError(f"the token endpoint answered error {str(payload['error'])[:40]!r}")
    token, expires = payload.get("access_token"), payload.get("expires_in")
    if not isinstance(token, str) or not token or not token.isascii():
        raise ParseError("the token response has no access_token")
    seconds = float(expires) if isinstance(expires, (int, float)) else 0.0
    if not 0 < seconds < 1e9 or isinstance(expires, bool):
        raise ParseError("the token response has no expires_in")
    return token, timedelta(seconds=min(seconds, 365 * 86400))


def _fullname(thing: Mapping[str, Any]) -> str:
    name = thing.get("name")
    if not isinstance(name, str) or not _FULLNAME.match(name):
        raise ParseError(f"a submission's name is not a t3 fullname: {name!r:.40}")
    return name


def _epoch(value: Any, what: str) -> datetime:
    if not _is_number(value):
        raise ParseError(f"{what} is not a number: {value!r:.40}")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise ParseError(f"{what} is out of range: {value!r:.40}") from e


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number < 1e9 else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
