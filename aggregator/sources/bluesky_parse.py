"""Pure parsing for the Bluesky source: no I/O, no clock of its own.

* :func:`parse_posts` turns an ``app.bsky.feed.searchPosts`` or ``getPosts`` body into
  :class:`~aggregator.models.ItemData`, leaving out (and counting) authors who have not
  consented to being collected;
* :func:`render_html` turns a post's plain text and its facets into safe HTML: facet
  offsets count **UTF-8 bytes** (``lexicons/app/bsky/richtext/facet.json``), so they are
  applied to the encoded text, never to the Python string;
* :func:`parse_rate_limit` reads ``RateLimit-*`` headers (reset in Unix seconds).

The envelope (``uri``, ``author``, ``record.text``, ``indexedAt``) and anything consent
depends on (labels) must be well-formed or :class:`ParseError` is raised: consent fails
closed. Decoration the AppView does not check (facet offsets, ``langs``, ``tags``,
embeds) is used when readable and skipped when not. Nothing but ``ParseError`` escapes.
Field semantics: ``shared/docs/source-apis.md`` §2.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import quote

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, ConsentPolicy, Engagement, ItemData, RateLimit
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import req_dict, type_name
from aggregator.urls import canonical_url

PLATFORM = "bluesky"
WEB = "https://bsky.app"
NO_UNAUTHENTICATED = "!no-unauthenticated"
"""Self-label meaning "discourage apps from showing my account to logged-out users"
(``lexicons/com/atproto/label/defs.json``); a digest is read logged out."""
HIDDEN = frozenset({"!hide", "!takedown", "!suspend"})
"""Moderation labels that hide an account or post everywhere."""
# A createdAt this far after indexedAt is a wrong clock or a future-dated post: the
# item is dated when the network first saw it instead.
FUTURE_SLACK = timedelta(minutes=10)
_FACET = "app.bsky.richtext.facet#"
_AT_POST = re.compile(
    r"^at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]+)$"
)
_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$")
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")


@dataclass(frozen=True, slots=True)
class ParsedPosts:
    """One ``searchPosts`` page or ``getPosts`` answer, parsed.

    ``uris`` lists every post on the page in order, excluded ones too (paging must move
    past what we chose to leave out); ``oldest_sort_at``/``newest_indexed_at`` bound it.
    """

    items: tuple[ItemData, ...]
    excluded_keys: Mapping[str, str]
    """Key → consent reason of the posts left out. Transient: never stored."""
    uris: tuple[str, ...]
    cursor: str | None = None
    oldest_sort_at: datetime | None = None
    newest_indexed_at: datetime | None = None

    @property
    def excluded(self) -> dict[str, int]:
        return dict(Counter(self.excluded_keys.values()))


def parse_posts(
    payload: Any,
    consent: ConsentPolicy,
    *,
    now: datetime | None = None,
    paged: bool = True,
) -> ParsedPosts:
    """Parse ``{posts: PostView[], cursor?}``; a post listed twice is returned once.

    ``paged=False`` for ``getPosts``, which has no cursor. ``now`` expires labels.
    """
    if not isinstance(payload, dict):
        raise ParseError(f"expected an object with posts, got {type_name(payload)}")
    posts = payload.get("posts")
    if not isinstance(posts, list):
        raise ParseError(f"posts is {type_name(posts)}, expected a list")
    cursor = payload.get("cursor") if paged else None
    if cursor is not None and not isinstance(cursor, str):
        raise ParseError(f"cursor is {type_name(cursor)}, expected a string")
    items: dict[str, ItemData] = {}
    excluded: dict[str, str] = {}
    uris: list[str] = []
    oldest: datetime | None = None
    newest: datetime | None = None
    for obj in posts:
        if not isinstance(obj, dict):
            raise ParseError(f"expected a post object, got {type_name(obj)}")
        uri = _post_uri(obj.get("uri"), "post")
        indexed = indexed_at(obj)
        sort_at = min(indexed, _created_at(obj) or indexed)
        uris.append(uri)
        oldest = sort_at if oldest is None else min(oldest, sort_at)
        newest = indexed if newest is None else max(newest, indexed)
        reason = exclusion_reason(obj, consent, now=now)
        if reason is not None:
            excluded[uri] = reason
        else:
            items[uri] = parse_post(obj)
    return ParsedPosts(tuple(items.values()), excluded, tuple(uris), cursor or None, oldest, newest)


def exclusion_reason(
    obj: Mapping[str, Any], consent: ConsentPolicy, *, now: datetime | None = None
) -> str | None:
    """Why a post must not be collected, or ``None`` if it may be.

    ``no_unauthenticated``: the account (or the post) carries ``!no-unauthenticated``
    and the policy respects it. ``hidden_account``/``hidden_post``: a moderation label
    hides it. ``nobot``: an opt-out hashtag of the policy in the author's profile text
    (``description`` when the view has one, else only the display name: search returns
    the basic profile view, which has no description).
    """
    uri = obj.get("uri")
    author = req_dict(obj, "author", f"post {uri!r}")
    account_labels = _labels(author.get("labels"), now)
    post_labels = _labels(obj.get("labels"), now)
    if consent.respect_no_unauthenticated and NO_UNAUTHENTICATED in account_labels | post_labels:
        return "no_unauthenticated"
    if account_labels & HIDDEN:
        return "hidden_account"
    if post_labels & HIDDEN:
        return "hidden_post"
    profile = " ".join(
        value
        for name in ("description", "displayName")
        if isinstance(value := author.get(name), str)
    )
    pattern = _opt_out(tuple(consent.optout_tags))
    if pattern is not None and pattern.search(profile):
        return "nobot"
    return None


def parse_post(obj: Mapping[str, Any]) -> ItemData:
    """One PostView as an :class:`ItemData` (key: its ``at://`` uri)."""
    uri = _post_uri(obj.get("uri"), "post")
    did, rkey = split_post_uri(uri)
    what = f"post {uri}"
    record = req_dict(obj, "record", what)
    text = record.get("text", "")
    if not isinstance(text, str):
        raise ParseError(f"{what}: record.text is {type_name(text)}")
    facets = record.get("facets")
    cleaned = clean(render_html(text, facets))
    links = [*cleaned.links, *(u for u in _embed_links(record.get("embed")) if u)]
    indexed = indexed_at(obj)
    created = _created_at(obj)
    if created is None or created > indexed + FUTURE_SLACK:
        created = indexed
    langs = record.get("langs")
    language = (
        langs[0].strip() if isinstance(langs, list) and langs and isinstance(langs[0], str) else ""
    )
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, dict) else None
    parent_uri = parent.get("uri") if isinstance(parent, dict) else None
    return ItemData(
        key=keys.bluesky_post(uri),
        platform=PLATFORM,
        kind="post",
        url=f"{WEB}/profile/{did}/post/{rkey}",
        author=parse_author(req_dict(obj, "author", what)),
        html=cleaned.html,
        text=cleaned.text,
        created_at=created,
        language=language or None,
        in_reply_to=parent_uri
        if isinstance(parent_uri, str) and _AT_POST.match(parent_uri)
        else None,
        engagement=Engagement(
            replies=_count(obj, "replyCount", what),
            # Quotes are posts of their own (collected when they carry the tag), as
            # Mastodon keeps quotes_count apart from reblogs_count.
            reposts=_count(obj, "repostCount", what),
            likes=_count(obj, "likeCount", what),
        ),
        hashtags=tuple(dict.fromkeys(_hashtags(record, facets))),
        links=tuple(dict.fromkeys(links)),
        raw=obj,
    )


def parse_author(obj: Mapping[str, Any]) -> AuthorData:
    """A profileViewBasic: keyed by DID (handles change), named by display name."""
    did = obj.get("did")
    if not isinstance(did, str) or not _DID.match(did):
        raise ParseError(f"author did is {type_name(did)}")
    handle = obj.get("handle")
    if not isinstance(handle, str) or not handle:
        raise ParseError(f"author {did}: handle is {type_name(handle)}")
    name = obj.get("displayName")
    avatar = obj.get("avatar")
    return AuthorData(
        key=keys.bluesky_account(did),
        platform=PLATFORM,
        name=" ".join(name.split()) if isinstance(name, str) and name.strip() else handle,
        handle=f"@{handle}",
        url=f"{WEB}/profile/{did}",
        avatar_url=avatar if isinstance(avatar, str) and canonical_url(avatar) else None,
    )


def render_html(text: str, facets: Any) -> str:
    """``text`` as escaped paragraphs with its facets as links (not yet sanitized).

    Links become ``<a href>``, mentions a ``mention`` link to the profile, tags a
    ``hashtag`` link. A facet that is unreadable, out of range, splits a character,
    spans a line break or overlaps an earlier one is left as plain text.
    """
    data = _SURROGATE.sub("\ufffd", text).encode("utf-8")
    out: list[str] = []
    pos = 0
    for start, end, href, css in _spans(data, facets):
        inner = data[start:end].decode("utf-8")
        if start < pos or "\n" in inner:
            continue
        out.append(escape(data[pos:start].decode("utf-8")))
        attr = f' class="{css}"' if css else ""
        out.append(f'<a href="{escape(href)}"{attr}>{escape(inner)}</a>')
        pos = end
    out.append(escape(data[pos:].decode("utf-8")))
    paragraphs = (p.strip() for p in _PARAGRAPH.split("".join(out)))
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p)


def split_post_uri(uri: str) -> tuple[str, str]:
    """``at://did/app.bsky.feed.post/rkey`` → ``(did, rkey)``."""
    m = _AT_POST.match(uri)
    if m is None:
        raise ParseError(f"not a post at-uri: {uri[:80]!r}")
    return m.group(1), m.group(2)


def indexed_at(obj: Mapping[str, Any]) -> datetime:
    """When the AppView indexed the post (required; the incremental high-water mark)."""
    value = obj.get("indexedAt")
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ParseError(f"post {obj.get('uri')!r}: indexedAt is not a time")
    return parsed


def parse_time(value: str) -> datetime | None:
    """A tolerant ISO-8601 reader: ``Z``/``z``, any fraction, no zone = UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_time(when: datetime) -> str:
    """The datetime form ``since``/``until`` take: ``2025-03-17T04:00:25.083Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``RateLimit-Limit/-Remaining/-Reset`` (atproto ``rate-limiter-http.ts``; the reset
    is Unix seconds). Advisory: an unreadable value is ``None``; none at all, ``None``."""
    lower = {k.lower(): v for k, v in headers.items()}
    limit, remaining, reset = (lower.get(f"ratelimit-{n}") for n in ("limit", "remaining", "reset"))
    if limit is None and remaining is None and reset is None:
        return None
    reset_at = None
    if reset is not None and reset.strip().isdigit():
        try:
            reset_at = datetime.fromtimestamp(int(reset.strip()), UTC)
        except (ValueError, OverflowError, OSError):
            reset_at = None
    return RateLimit(limit=_header_int(limit), remaining=_header_int(remaining), reset_at=reset_at)


# -- helpers ---------------------------------------------------------------------------


def _spans(data: bytes, facets: Any) -> list[tuple[int, int, str, str]]:
    """Readable facets as ``(byteStart, byteEnd, href, class)``, in text order."""
    found = []
    for facet in facets if isinstance(facets, list) else ():
        index = facet.get("index") if isinstance(facet, dict) else None
        start = _int(index.get("byteStart")) if isinstance(index, dict) else None
        end = _int(index.get("byteEnd")) if isinstance(index, dict) else None
        if start is None or end is None or not 0 <= start < end <= len(data):
            continue
        # An offset inside a multi-byte character is not a place in the text.
        if _continuation(data, start) or _continuation(data, end):
            continue
        link = _feature_link(facet.get("features"))
        if link is not None:
            found.append((start, end, *link))
    return sorted(found, key=lambda span: (span[0], span[1]))


def _feature_link(features: Any) -> tuple[str, str] | None:
    for feature in features if isinstance(features, list) else ():
        kind = feature.get("$type") if isinstance(feature, dict) else None
        if kind == _FACET + "link" and isinstance(uri := feature.get("uri"), str):
            # urlsplit drops tabs and newlines, the href would keep them
            if canonical_url(uri) is not None and not _CONTROL.search(uri.strip()):
                return uri.strip(), ""
        elif kind == _FACET + "mention" and isinstance(did := feature.get("did"), str):
            if _DID.match(did):
                return f"{WEB}/profile/{did}", "mention"
        elif kind == _FACET + "tag" and (tag := _tag(feature.get("tag"))):
            return f"{WEB}/hashtag/{quote(tag, safe='')}", "hashtag"
    return None


def _hashtags(record: Mapping[str, Any], facets: Any) -> Iterator[str]:
    for facet in facets if isinstance(facets, list) else ():
        features = facet.get("features") if isinstance(facet, dict) else None
        for feature in features if isinstance(features, list) else ():
            is_tag = isinstance(feature, dict) and feature.get("$type") == _FACET + "tag"
            if is_tag and (tag := _tag(feature.get("tag"))):
                yield tag.lower()
    tags = record.get("tags")
    yield from (tag.lower() for t in (tags if isinstance(tags, list) else ()) if (tag := _tag(t)))


def _tag(value: Any) -> str | None:
    return (value.strip().lstrip("#") or None) if isinstance(value, str) else None


def _embed_links(embed: Any) -> Iterator[str | None]:
    """The external card of an ``embed.external`` or ``recordWithMedia`` with one."""
    if not isinstance(embed, dict):
        return
    media = embed.get("media")
    for part in (embed, media if isinstance(media, dict) else {}):
        external = part.get("external")
        if isinstance(external, dict) and isinstance(uri := external.get("uri"), str):
            yield canonical_url(uri)


def _labels(value: Any, now: datetime | None) -> frozenset[str]:
    """The label values in force. Unreadable labels raise: consent fails closed."""
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ParseError(f"labels is {type_name(value)}, expected a list")
    active: set[tuple[Any, str]] = set()
    negated: set[tuple[Any, str]] = set()
    for label in value:
        if not isinstance(label, dict) or not isinstance(val := label.get("val"), str):
            raise ParseError("a label is not an object with a string val")
        exp = label.get("exp")
        expiry = parse_time(exp) if isinstance(exp, str) else None
        if now is not None and expiry is not None and expiry <= now:
            continue
        (negated if label.get("neg") is True else active).add((label.get("src"), val))
    return frozenset(val for src, val in active - negated)


@lru_cache(maxsize=64)
def _opt_out(tags: tuple[str, ...]) -> re.Pattern[str] | None:
    names = "|".join(re.escape(t.lstrip("#")) for t in tags if t.lstrip("#"))
    return re.compile(rf"#(?:{names})(?!\w)", re.IGNORECASE) if names else None


def _created_at(obj: Mapping[str, Any]) -> datetime | None:
    record = obj.get("record")
    value = record.get("createdAt") if isinstance(record, dict) else None
    return parse_time(value) if isinstance(value, str) else None


def _post_uri(value: Any, what: str) -> str:
    if not isinstance(value, str) or _AT_POST.match(value) is None:
        raise ParseError(f"{what}: uri is not a post at-uri")
    return value


def _count(obj: Mapping[str, Any], name: str, what: str) -> int | None:
    value = obj.get(name)
    count = _int(value)
    if value is not None and (count is None or count < 0):
        raise ParseError(f"{what}: {name} is {type_name(value)}, expected a count")
    return count


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _continuation(data: bytes, offset: int) -> bool:
    return offset < len(data) and (data[offset] & 0xC0) == 0x80


def _header_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None
