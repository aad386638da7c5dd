"""Mastodon API payloads in, domain types out: pure functions, no I/O.

Contract: every public function either returns or raises
:class:`aggregator.exceptions.ParseError`; malformed input (a timeline that is not a
list, a status without ``id``/``uri``/``created_at``, a field of the wrong JSON type)
never escapes as ``KeyError``/``TypeError``/``ValueError``.

Field semantics follow ``mastodon/documentation`` ``content/en/entities/Status.md`` and
``Account.md`` (see ``shared/docs/source-apis.md`` §1).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from html import escape, unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aggregator.exceptions import ParseError
from aggregator.models import AuthorData, ConsentPolicy, Engagement, ItemData, RateLimit
from aggregator.sanitize import clean
from aggregator.sources import keys
from aggregator.sources.payload import (
    iso_time,
    opt_bool,
    opt_datetime,
    opt_int,
    opt_str,
    opt_strs,
    req_datetime,
    req_dict,
    req_str,
    type_name,
)

PLATFORM = "mastodon"

DEFAULT_CONSENT = ConsentPolicy()
# The community opt-out convention: these tags in a bio mean "do not collect me".
_MARKUP = re.compile(r"<[^>]*>")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Read in one go (payload.opt_strs), in the order they are unpacked.
_STATUS_STRINGS = ("content", "spoiler_text", "language", "in_reply_to_id", "url")
_ACCOUNT_STRINGS = ("uri", "url", "acct", "display_name", "avatar_static")
_BRIDGY_FED = "https://bsky.brid.gy/"


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One timeline page, parsed.

    ``max_id``/``min_id`` are the highest/lowest status ids on the page, counting
    excluded statuses too (the cursor must move past what we chose to leave out).
    ``oldest_at`` is the earliest ``created_at`` among them, to stop at a horizon.
    """

    items: tuple[ItemData, ...]
    excluded: Mapping[str, int]
    """Statuses left out, counted by reason: ``not_public``, ``noindex``, ``nobot``,
    ``hidden_account``."""
    max_id: str | None
    min_id: str | None
    oldest_at: datetime | None = None
    excluded_keys: Mapping[str, str] = field(default_factory=dict)
    """Key → reason of the excluded statuses, so a fetch that sees one twice counts it
    once. Transient: never stored (exclusions are counted, never named)."""
    excluded_at: Mapping[str, datetime] = field(default_factory=dict)
    """Key → creation time of the excluded statuses (a day's digest counts its own)."""


def id_order(status_id: str) -> tuple[int, str]:
    """Sort key for status ids.

    Ids are opaque strings (``content/en/api/guidelines.md``), but every server orders
    them as fixed-alphabet numbers (Mastodon snowflakes, Pleroma flake ids): compare
    length first, so ``"99" < "100"``.
    """
    return (len(status_id), status_id)


def parse_timeline(
    payload: Any,
    instance: str,
    *,
    since: datetime | None = None,
    consent: ConsentPolicy = DEFAULT_CONSENT,
) -> ParsedPage:
    """Parse a ``GET /api/v1/timelines/tag/:tag`` body (an array of Status).

    Reblogs collapse to the original status; statuses whose author has not consented
    to being collected are counted in ``excluded`` and not returned; a status that
    appears twice on the page is returned once. Statuses created before ``since`` are
    neither returned nor counted (they still move ``max_id``/``min_id``/``oldest_at``).
    """
    if not isinstance(payload, list):
        raise ParseError(f"expected a list of statuses, got {type_name(payload)}")
    items: dict[str, ItemData] = {}
    excluded: dict[str, str] = {}
    excluded_at: dict[str, datetime] = {}
    ids: list[str] = []
    oldest: datetime | None = None
    for obj in payload:
        if not isinstance(obj, dict):
            raise ParseError(f"expected a status object, got {type_name(obj)}")
        status_id = req_str(obj, "id", "status")
        what = f"status {status_id}"
        created_at = req_datetime(obj, "created_at", what)
        ids.append(status_id)
        if oldest is None or created_at < oldest:
            oldest = created_at
        original = _original(obj)
        if original is not obj:
            created_at = req_datetime(original, "created_at", what)
        if since is not None and created_at < since:
            continue
        reason = exclusion_reason(original, consent)
        if reason is not None:
            key = keys.mastodon_status(req_str(original, "uri", "status"))
            excluded[key] = reason
            excluded_at[key] = created_at
            continue
        # Parsed once: the id, times and reblog are not read again (a page is CPU-bound).
        item = _parse_original(original, instance, created_at)
        items[item.key] = item
    ids.sort(key=id_order)
    return ParsedPage(
        items=tuple(items.values()),
        excluded=dict(Counter(excluded.values())),
        max_id=ids[-1] if ids else None,
        min_id=ids[0] if ids else None,
        oldest_at=oldest,
        excluded_keys=excluded,
        excluded_at=excluded_at,
    )


def exclusion_reason(
    obj: Mapping[str, Any], consent: ConsentPolicy = DEFAULT_CONSENT
) -> str | None:
    """Why a status must not be collected, or ``None`` if it may be.

    ``not_public``: visibility other than public/unlisted (a missing one counts as not
    public). ``hidden_account``: the author is suspended or limited (silenced) by the
    instance. ``noindex``: the author opted out of search indexing. ``nobot``: the
    author's bio carries an opt-out hashtag (#nobot, #noindex, #nosearch, #noarchive).
    """
    visibility = obj.get("visibility")
    if visibility != "public" and not (visibility == "unlisted" and consent.allow_unlisted):
        if visibility is not None and not isinstance(visibility, str):
            opt_str(obj, "visibility", f"status {obj.get('id')!r}")  # raises
        return "not_public"
    account = obj.get("account")
    if not isinstance(account, dict):
        account = req_dict(obj, "account", f"status {obj.get('id')!r}")  # raises
    get = account.get
    if opt_bool(account, "suspended", "account") or opt_bool(account, "limited", "account"):
        return "hidden_account"
    if consent.respect_noindex and opt_bool(account, "noindex", "account"):
        return "noindex"
    if consent.require_indexable and get("indexable") is not True:
        return "not_indexable"
    if consent.respect_discoverable and get("discoverable") is False:
        return "not_discoverable"
    if consent.optout_tags:
        note = get("note")
        if note is not None and not isinstance(note, str):
            opt_str(account, "note", "account")  # raises
        if note and _opted_out(note, consent.optout_tags):
            return "nobot"
    return None


def parse_status(obj: Mapping[str, Any], instance: str) -> ItemData:
    """One Status (a reblog collapses to its original) as an :class:`ItemData`.

    * ``key`` is the ActivityPub ``uri``: the same on every instance, so several
      instances' timelines dedupe; ``url`` is the HTML page (falls back to ``uri``).
    * A content warning (``spoiler_text``) is kept visible: it becomes a first
      paragraph ``<p><strong>CW: …</strong></p>`` of ``html`` (and ``CW: …`` in
      ``text``), so a digest never shows the text without its warning, and a changed
      warning counts as an edit.
    * The API names a reply's parent only by its id on the serving instance, so
      ``in_reply_to`` is that id as an alias (:func:`local_alias`), and every item
      carries its own such alias in ``aliases``; the store joins the two.
    * Custom emoji stay ``:shortcode:`` text (no hotlinked images).
    """
    return _parse_original(_original(obj), instance, None)


def _parse_original(obj: Mapping[str, Any], instance: str, created_at: datetime | None) -> ItemData:
    """:func:`parse_status` of a status that is not a reblog, its ``created_at`` given
    when the caller has already read it."""
    status_id = req_str(obj, "id", "status")
    what = f"status {status_id}"
    uri = req_str(obj, "uri", what)
    if created_at is None:
        created_at = req_datetime(obj, "created_at", what)
    edited_at = opt_datetime(obj, "edited_at", what)
    content, spoiler, language, parent_id, url = opt_strs(obj, _STATUS_STRINGS, what)
    content = content or ""
    if spoiler and (spoiler := spoiler.strip()):
        content = f"<p><strong>CW: {escape(spoiler)}</strong></p>{content}"
    # No base URL: Mastodon sends absolute hrefs, and joining a hostile relative one
    # ("//[x") raises inside the sanitizer's urljoin.
    try:
        cleaned = clean(content)
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\ud800"; orjson refuses it, json does not)
        # cannot cross into nh3.
        cleaned = clean(_SURROGATE.sub("\ufffd", content))
    language = (language or "").strip() or None
    author = parse_account(req_dict(obj, "account", what), instance)
    key, platform, via = keys.mastodon_status(uri), PLATFORM, None
    # The prefix test first: the full pattern costs more than the rest of the parse.
    if uri.startswith(_BRIDGY_FED) and (bridged := keys.bridged_bluesky_post(uri)):
        # Bridgy Fed's copy of a Bluesky post: one item with the original.
        at_uri, did, rkey = bridged
        key, platform, via = keys.bluesky_post(at_uri), "bluesky", "bridgy-fed"
        url = f"https://bsky.app/profile/{did}/post/{rkey}"
        handle = author.handle.removesuffix("@bsky.brid.gy")
        author = replace(
            author,
            key=keys.bluesky_account(did),
            platform="bluesky",
            handle=handle,
            url=f"https://bsky.app/profile/{handle.lstrip('@')}",
        )
    return ItemData(
        key=key,
        platform=platform,
        kind="post",
        url=url or uri,
        author=author,
        html=cleaned.html,
        text=cleaned.text,
        created_at=created_at,
        language=language,
        edited_at=edited_at,
        in_reply_to=local_alias(instance, parent_id) if parent_id else None,
        engagement=Engagement(
            opt_int(obj, "replies_count", what),
            opt_int(obj, "reblogs_count", what),
            opt_int(obj, "favourites_count", what),
        ),
        hashtags=_hashtags(obj, what),
        links=cleaned.links,
        raw=obj,
        aliases=(local_alias(instance, status_id),),
        via=via,
    )


def local_alias(instance: str, status_id: str) -> str:
    """A status's name on the instance that served it (``mastodon-local:host/id``).

    Ids are instance-local: the same status has another id on every server, and a
    reply names its parent only this way (``in_reply_to_id``).
    """
    return keys.mastodon_local(_host(instance), status_id)


def parse_account(obj: Mapping[str, Any], instance: str) -> AuthorData:
    """An Account as an :class:`AuthorData`.

    ``handle`` is always ``@user@host``. ``acct`` omits the domain for accounts local
    to the instance we read from; their host is then taken from the account's own
    ``url`` (the instance's web domain, even when we reach the API through another
    address such as a proxy or loopback), else from ``instance``.
    """
    username = req_str(obj, "username", "account")
    uri, url, acct, name, avatar = opt_strs(obj, _ACCOUNT_STRINGS, f"account {username!r}")
    # Older servers (and the docs' own streaming example) send no account uri.
    ident = uri or url
    if not ident:
        raise ParseError(f"account {username!r} has neither uri nor url")
    acct = acct or username
    if "@" not in acct:
        acct = f"{acct}@{_host(url or uri or '') or _host(instance)}"
    avatar = avatar or opt_str(obj, "avatar", f"account {username!r}")
    return _author(ident, (name or "").strip() or username, f"@{acct}", url or uri, avatar)


@lru_cache(maxsize=8192)
def _author(ident: str, name: str, handle: str, url: str | None, avatar: str | None) -> AuthorData:
    # Immutable, so one per account serves every status of it (a thread, one status
    # on several servers and hashtags): building an AuthorData costs more than this.
    return AuthorData(
        key=keys.mastodon_account(ident),
        platform=PLATFORM,
        name=name,
        handle=handle,
        url=url,
        avatar_url=avatar,
    )


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``X-RateLimit-Limit/-Remaining/-Reset`` (``content/en/api/rate-limits.md``).

    Mastodon sends the reset as an ISO-8601 timestamp; an all-digits value is read
    as Unix seconds (seen on compatible servers). Headers are advisory: an
    unreadable one becomes ``None``; no headers at all gives ``None``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    limit = lower.get("x-ratelimit-limit")
    remaining = lower.get("x-ratelimit-remaining")
    reset = lower.get("x-ratelimit-reset")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimit(
        limit=_header_int(limit), remaining=_header_int(remaining), reset_at=_header_time(reset)
    )


def link_param(links: Mapping[str | None, Mapping[str, str]], rel: str, param: str) -> str | None:
    """The ``param`` query value of the ``rel`` link (as ``httpx.Response.links`` gives).

    Mastodon's ``next`` carries ``max_id`` and ``prev`` carries ``min_id``. Only the id
    is taken, never the URL: the tag controller drops parameters from these links,
    and a link to another host must not receive our token.
    """
    link = links.get(rel)
    if not link or not link.get("url"):
        return None
    values = parse_qs(urlsplit(link["url"]).query).get(param)
    return values[-1] if values and values[-1] else None


# -- helpers ---------------------------------------------------------------------------


def _original(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    reblog = obj.get("reblog")
    if reblog is None:
        return obj
    if not isinstance(reblog, dict):
        raise ParseError(f"status {obj.get('id')!r}: reblog is {type_name(reblog)}")
    if reblog.get("reblog") is not None:
        raise ParseError(f"status {obj.get('id')!r}: a reblog of a reblog")
    return reblog


@lru_cache(maxsize=4096)
def _opted_out(note_html: str, tags: tuple[str, ...]) -> bool:
    # Tags first, entities second: Mastodon renders "#<span>nobot</span>".
    return bool(_optout_pattern(tags).search(unescape(_MARKUP.sub("", note_html))))


@lru_cache(maxsize=16)
def _optout_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(t) for t in tags)
    return re.compile(rf"#(?:{alternatives})(?!\w)", re.IGNORECASE)


def _hashtags(obj: Mapping[str, Any], what: str) -> tuple[str, ...]:
    tags = obj.get("tags")
    if tags is None:
        return ()
    if not isinstance(tags, list):
        raise ParseError(f"{what}: tags is {type_name(tags)}")
    names: dict[str, None] = {}
    for tag in tags:
        name = tag.get("name") if isinstance(tag, dict) else None
        if not (name and isinstance(name, str)):
            if not isinstance(tag, dict):
                raise ParseError(f"{what}: a tag is {type_name(tag)}")
            name = req_str(tag, "name", f"{what} tag")
        names[name.lower()] = None
    return tuple(names)


@lru_cache(maxsize=1024)
def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1].lower()
    except ValueError:
        return ""


def _header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        return None


def _header_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return iso_time(value)
