"""X API v2 payloads in, domain types out: pure functions, no I/O.

Contract: every public function either returns or raises
:class:`aggregator.exceptions.ParseError`; malformed input (a page that is not an
object, a tweet without ``id``/``created_at``, a field of the wrong JSON type) never
escapes as ``KeyError``/``TypeError``/``ValueError``.

The traps of the wire format (``shared/docs/source-apis.md`` §3, verified on the
fixtures in ``tests/data/x``):

* ``text`` is HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``) and entity offsets count code
  points of that *escaped* text; archives (v1.1 shape) have been seen counting the
  unescaped text. :func:`aggregator.sources.x_text.render` checks each entity against
  the text it claims and reads the offsets whichever way fits.
* A retweet's ``text`` is a truncated ``RT @user: …``; the original is in
  ``includes.tweets``. The original is the item, once.
* Each edit is a new post id: the item key is ``edit_history_tweet_ids[0]`` and the
  later ids are aliases, so an edit updates the one item.
* Long posts carry their full text in ``note_tweet``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, Engagement, ItemData, RateLimit
from aggregator.sources import keys
from aggregator.sources.payload import (
    iso_time,
    opt_bool,
    opt_int,
    opt_str,
    req_int,
    req_str,
    type_name,
)
from aggregator.sources.x_text import WEB, Span, SpanKind, path_segment, render

PLATFORM = "x"
SNOWFLAKE_EPOCH_MS = 1288834974657
"""Twitter's snowflake epoch: an id's upper bits are milliseconds since then."""
# X's own codes for "no language": und(etermined), no linguistic content, and the
# q* codes it gives to media-only, hashtag-only, mention-only, cashtag-only posts.
NO_LANGUAGE = frozenset({"und", "zxx", "qam", "qct", "qht", "qme", "qst"})
GONE_PROBLEMS = ("/resource-not-found", "/not-authorized-for-resource")
_ID = re.compile(r"^[0-9]{1,19}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

_V2_ENTITIES: tuple[tuple[str, SpanKind, str], ...] = (
    ("urls", "url", "url"),
    ("mentions", "mention", "username"),
    ("hashtags", "hashtag", "tag"),
)


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One response (a search page, a lookup, an exported page), parsed."""

    items: tuple[ItemData, ...]
    excluded: Mapping[str, int]
    """Left out, by reason: ``not_public`` (protected account), ``nobot`` (an opt-out
    hashtag in the bio), ``unavailable`` (the original or the author is missing)."""
    newest_id: str | None
    """The highest id in ``data`` (or ``meta.newest_id`` if higher): the next cycle's
    ``since_id``. Counts retweets and left-out posts, which the query matched too."""
    next_token: str | None
    result_count: int
    gone_ids: frozenset[str] = frozenset()
    """Ids the response's ``errors`` call not found or not authorized (deleted or
    protected since)."""
    error_ids: frozenset[str] = frozenset()
    """Ids named by other errors: their fate is unknown."""
    excluded_keys: Mapping[str, str] = field(default_factory=dict)
    """Key → reason, so a fetch that sees one twice counts it once. Never stored."""
    excluded_at: Mapping[str, datetime] = field(default_factory=dict)
    """Key → creation time of the posts left out for consent (a day's digest counts
    its own)."""


def id_order(tweet_id: str) -> tuple[int, str]:
    """Ids are decimal strings without leading zeros: compare length first."""
    return (len(tweet_id), tweet_id)


def snowflake_time(tweet_id: str) -> datetime | None:
    """When a post was created, from its id (whole seconds, like ``created_at``).

    Only ids from November 2010 on are snowflakes; every edited post's and every
    ``since_id`` this is asked about is one."""
    if not _ID.match(tweet_id):
        return None
    ms = (int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS
    if ms <= SNOWFLAKE_EPOCH_MS:
        return None
    return datetime.fromtimestamp(ms // 1000, UTC)


def version_times(
    original_id: str, current_id: str, created: datetime
) -> tuple[datetime, datetime | None]:
    """``(created_at, edited_at)`` of a post whose current version was created at
    ``created``. An edit is a new post: its ``created_at`` is the edit's time, and the
    original's time is in the original id."""
    if original_id == current_id:
        return created, None
    first = snowflake_time(original_id)
    return (first if first is not None and first <= created else created), created


def edit_aliases(history: Sequence[str], current_id: str) -> tuple[str, ...]:
    later = [i for i in (*history[1:], current_id) if i != history[0]]
    return tuple(dict.fromkeys(keys.x_post(i) for i in later))


def parse_page(
    payload: Any, *, since: datetime | None = None, optout_tags: Collection[str] = ()
) -> ParsedPage:
    """Parse ``{data, includes, meta, errors}`` (``data`` a list, or one object).

    Retweets collapse to their original; a post seen twice (or in two versions) is
    returned once, as its latest version; posts whose author is protected or opted
    out are counted in ``excluded``; posts created before ``since`` are neither
    returned nor counted.
    """
    if not isinstance(payload, dict):
        raise ParseError(f"expected a response object, got {type_name(payload)}")
    data = payload.get("data")
    tweets_in = [] if data is None else [data] if isinstance(data, dict) else data
    if not isinstance(tweets_in, list):
        raise ParseError(f"data is {type_name(data)}, expected a list")
    includes = _or_empty(payload.get("includes"))
    if not isinstance(includes, dict):
        raise ParseError(f"includes is {type_name(includes)}, expected an object")
    users = {req_str(u, "id", "user"): u for u in _objects(includes, "users")}
    originals: dict[str, Mapping[str, Any]] = {}
    for t in [*_objects(includes, "tweets"), *_objects({"data": tweets_in}, "data")]:
        # A retweet may name any version of an edited original; index them all.
        for tid in (*_history(t), _req_id(t, "id", "tweet")):
            originals[tid] = _newer(originals.get(tid), t)
    items: dict[str, ItemData] = {}
    excluded: dict[str, str] = {}
    excluded_at: dict[str, datetime] = {}
    ids: list[str] = []
    for tweet in tweets_in:
        tid = _req_id(tweet, "id", "tweet")
        ids.append(tid)
        retweeted = [i for kind, i in _references(tweet) if kind == "retweeted"]
        original = originals.get(retweeted[0]) if retweeted else tweet
        if original is None:
            excluded[keys.x_post(retweeted[0])] = "unavailable"
            continue
        key = keys.x_post((_history(original) or [_req_id(original, "id", "tweet")])[0])
        created = _datetime(original, "created_at", f"tweet {tid}")
        if since is not None and created < since:
            continue
        user = users.get(opt_str(original, "author_id", f"tweet {tid}") or "")
        reason = "unavailable" if user is None else exclusion_reason(user, optout_tags)
        if user is None or reason is not None:
            excluded[key] = reason or "unavailable"
            if reason is not None:
                excluded_at[key] = created
            continue
        item = parse_tweet(original, user)
        old = items.get(item.key)
        if old is None or id_order(str(item.raw["id"])) > id_order(str(old.raw["id"])):
            items[item.key] = item
    meta = _or_empty(payload.get("meta"))
    if not isinstance(meta, dict):
        raise ParseError(f"meta is {type_name(meta)}, expected an object")
    newest = _opt_id(meta, "newest_id", "meta")
    for tid in ids:
        if newest is None or id_order(tid) > id_order(newest):
            newest = tid
    count = opt_int(meta, "result_count", "meta")
    gone, unknown = _error_ids(payload.get("errors"))
    return ParsedPage(
        items=tuple(items.values()),
        excluded=dict(Counter(excluded.values())),
        newest_id=newest,
        next_token=opt_str(meta, "next_token", "meta") or None,
        result_count=len(ids) if count is None else count,
        gone_ids=gone,
        error_ids=unknown - gone,
        excluded_keys=excluded,
        excluded_at=excluded_at,
    )


def exclusion_reason(user: Mapping[str, Any], optout_tags: Collection[str]) -> str | None:
    """``not_public`` for a protected account, ``nobot`` for an opt-out tag in the bio."""
    if opt_bool(user, "protected", "user"):
        return "not_public"
    bio = opt_str(user, "description", "user") or ""
    if optout_tags and bio and _opted_out(bio, tuple(sorted(optout_tags))):
        return "nobot"
    return None


def parse_tweet(obj: Mapping[str, Any], user: Mapping[str, Any]) -> ItemData:
    """One post (never a retweet: collapse it first) by ``user`` as an :class:`ItemData`."""
    tid = _req_id(obj, "id", "tweet")
    what = f"tweet {tid}"
    history = _history(obj) or [tid]
    created_at, edited_at = version_times(history[0], tid, _datetime(obj, "created_at", what))
    refs = _references(obj)
    note = obj.get("note_tweet")
    if note is not None and not isinstance(note, dict):
        raise ParseError(f"{what}: note_tweet is {type_name(note)}")
    source = note if note and isinstance(note.get("text"), str) else obj
    text = opt_str(source, "text", what)
    if text is None:
        raise ParseError(f"{what}: text is missing")
    own = {*history, tid, *(i for kind, i in refs if kind == "quoted")}
    rendered = render(text, v2_spans(source.get("entities"), what), own_ids=own)
    author = parse_user(user)
    parent = next((i for kind, i in refs if kind == "replied_to"), None)
    metrics = _or_empty(obj.get("public_metrics"))
    if not isinstance(metrics, dict):
        raise ParseError(f"{what}: public_metrics is {type_name(metrics)}")
    retweets, quotes = (opt_int(metrics, n, what) for n in ("retweet_count", "quote_count"))
    return ItemData(
        key=keys.x_post(history[0]),
        platform=PLATFORM,
        kind="post",
        url=f"{WEB}/{path_segment(author.handle[1:])}/status/{tid}",
        author=author,
        html=rendered.html,
        text=rendered.text,
        created_at=created_at,
        language=language(opt_str(obj, "lang", what)),
        edited_at=edited_at,
        in_reply_to=keys.x_post(parent) if parent else None,
        engagement=Engagement(
            replies=opt_int(metrics, "reply_count", what),
            reposts=None
            if retweets is None and quotes is None
            else (retweets or 0) + (quotes or 0),
            likes=opt_int(metrics, "like_count", what),
        ),
        hashtags=rendered.hashtags,
        links=rendered.links,
        raw=obj,
        aliases=edit_aliases(history, tid),
    )


def parse_user(obj: Mapping[str, Any]) -> AuthorData:
    uid = req_str(obj, "id", "user")
    username = req_str(obj, "username", f"user {uid}")
    return AuthorData(
        key=keys.x_account(uid),
        platform=PLATFORM,
        name=(opt_str(obj, "name", f"user {uid}") or "").strip() or username,
        handle=f"@{username}",
        url=f"{WEB}/{path_segment(username)}",
        avatar_url=opt_str(obj, "profile_image_url", f"user {uid}") or None,
    )


def language(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if not value or value in NO_LANGUAGE else value[:35]


def v2_spans(entities: Any, what: str) -> list[Span]:
    """API v2 ``entities`` (``urls``, ``mentions``, ``hashtags``; ``start``/``end``)."""
    if entities is None:
        return []
    if not isinstance(entities, dict):
        raise ParseError(f"{what}: entities is {type_name(entities)}")
    spans = []
    for name, kind, field_name in _V2_ENTITIES:
        for e in _objects(entities, name):
            spans.append(
                Span(
                    start=req_int(e, "start", what),
                    end=req_int(e, "end", what),
                    kind=kind,
                    value=opt_str(e, field_name, what) or "",
                    href=opt_str(e, "expanded_url", what) if kind == "url" else None,
                    display=opt_str(e, "display_url", what) if kind == "url" else None,
                )
            )
    return spans


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``x-rate-limit-limit/-remaining/-reset`` (reset in Unix epoch seconds)."""
    lower = {k.lower(): v for k, v in headers.items()}
    limit, remaining, reset = (
        lower.get(f"x-rate-limit-{n}") for n in ("limit", "remaining", "reset")
    )
    if limit is None and remaining is None and reset is None:
        return None
    reset_at = None
    if reset is not None and reset.strip().isdigit():
        try:
            reset_at = datetime.fromtimestamp(int(reset.strip()), UTC)
        except (ValueError, OverflowError, OSError):
            reset_at = None
    return RateLimit(limit=_header_int(limit), remaining=_header_int(remaining), reset_at=reset_at)


def problem_message(body: Any, fallback: str) -> str:
    """What an error body says: the problem's ``title: detail`` (RFC 7807-ish, as X
    sends), or a v1.1-style ``errors[0].message``; one line, at most 300 characters."""
    parts: list[str] = []
    if isinstance(body, dict):
        parts = [v for k in ("title", "detail") if isinstance(v := body.get(k), str) and v]
        errors = body.get("errors")
        if not parts and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            parts = [v for k in ("message", "detail") if isinstance(v := first.get(k), str)][:1]
    message = ": ".join(dict.fromkeys(parts)) or fallback
    return _CONTROL.sub(" ", message).strip()[:300]


# -- helpers ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _opted_out(bio: str, tags: tuple[str, ...]) -> bool:
    pattern = r"(?<!\w)[#＃](?:" + "|".join(re.escape(t) for t in tags) + r")(?!\w)"
    return re.search(pattern, bio, re.IGNORECASE) is not None


def _newer(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Mapping[str, Any]:
    if old is None:
        return new
    return new if id_order(str(new.get("id"))) > id_order(str(old.get("id"))) else old


def _history(obj: Mapping[str, Any]) -> list[str]:
    value = obj.get("edit_history_tweet_ids")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) and _ID.match(i) for i in value):
        raise ParseError(f"tweet {obj.get('id')!r}: edit_history_tweet_ids is not a list of ids")
    return value


def _references(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    what = f"tweet {obj.get('id')!r}"
    return [
        (req_str(r, "type", what), _req_id(r, "id", what))
        for r in _objects(obj, "referenced_tweets")
    ]


def _error_ids(errors: Any) -> tuple[frozenset[str], frozenset[str]]:
    # Partial errors are advisory: an entry we cannot read is skipped, not fatal.
    gone: set[str] = set()
    other: set[str] = set()
    for e in errors if isinstance(errors, list) else ():
        if not isinstance(e, dict) or e.get("resource_type", "tweet") != "tweet":
            continue
        if e.get("parameter", "ids") not in ("ids", "id"):
            continue
        tid = e.get("resource_id") or e.get("value")
        if isinstance(tid, str):
            kind = e.get("type")
            is_gone = isinstance(kind, str) and kind.endswith(GONE_PROBLEMS)
            (gone if is_gone else other).add(tid)
    return frozenset(gone), frozenset(other)


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _objects(obj: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ParseError(f"{name} is {type_name(value)}, expected a list of objects")
    return value


def _req_id(obj: Mapping[str, Any], name: str, what: str) -> str:
    value = req_str(obj, name, what)
    if not _ID.match(value):
        raise ParseError(f"{what}: {name} is not a post id: {value[:40]!r}")
    return value


def _opt_id(obj: Mapping[str, Any], name: str, what: str) -> str | None:
    return _req_id(obj, name, what) if obj.get(name) is not None else None


def _datetime(obj: Mapping[str, Any], name: str, what: str) -> datetime:
    # Unlike payload.req_datetime, an empty string is "missing", not a bad time.
    value = req_str(obj, name, what)
    parsed = iso_time(value)
    if parsed is None:
        raise ParseError(f"{what}: {name} is not an ISO-8601 time: {value[:40]!r}")
    return parsed


def _header_int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None
