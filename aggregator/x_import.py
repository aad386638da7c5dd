"""Import X posts from files, for organisers who have the data but no API access.

Accepted formats (recognised by their content, not their name):

1. **An X/Twitter account archive** (Settings → Your account → Download an archive of
   your data): the ``.zip`` as downloaded, or its ``data/tweets.js`` (older archives:
   ``data/tweet.js``; big ones are split into ``tweets-part1.js``…, all read from the
   zip). Each file is ``window.YTD.tweets.part0 = [{"tweet": {...}}, ...]`` with posts
   in the v1.1-like shape: ``id_str``, ``full_text``, ``created_at``
   (``Wed Oct 10 20:19:24 +0000 2018``), ``entities`` (``indices`` as strings),
   ``in_reply_to_status_id_str``, ``favorite_count``/``retweet_count`` as strings,
   ``edit_info``. The text after ``=`` is read as JSON, never executed. Every post's
   author is the archive's owner, from ``data/account.js`` (in the zip, or next to a
   lone ``tweets.js``) and, for the avatar, ``data/profile.js`` if present.
2. **An X API v2 export**: a JSON file holding one response ``{"data": [...],
   "includes": {...}}`` (or a list of them), or JSON Lines with one response per line
   (what ``twarc2 search`` writes) or one post per line with its ``author`` embedded
   (``twarc2 flatten``). These go through the live source's parser.

Posts get the keys the live ``x`` source gives them (``x:<first id of the edit
history>``, edits as aliases), so importing and fetching, in either order, store each
post once. Kept: posts carrying one of the event's hashtags (case-insensitive) created
within the event's window (``lookback_days`` before ``starts`` to the end of ``ends``,
in the event's time zone). Left out and counted: ``retweet`` (an archive holds only
the ``RT @user: …`` text, not the original), ``other_hashtags``, ``outside_window``,
``optout`` (the organisers' opt-out list, as for every fetch) and, for exports, the
consent reasons (``not_public``: protected accounts; ``nobot``: opt-out tags in bios).

Not read: ``note-tweet.js`` (long posts keep the 280-character text of ``tweets.js``),
deleted posts, likes, direct messages.

Call :func:`import_items`; the CLI's ``aggregator import x FILE --event SLUG`` does.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from aggregator.digest.context import event_period
from aggregator.exceptions import ConfigError, ParseError
from aggregator.models import (
    AuthorData,
    ConsentPolicy,
    Engagement,
    ExcludedItem,
    FetchResult,
    IngestCounts,
    ItemData,
    SourceSpec,
    SourceState,
)
from aggregator.optouts import filter_items
from aggregator.sources import keys
from aggregator.sources.x_parse import (
    PLATFORM,
    edit_aliases,
    id_order,
    language,
    parse_page,
    version_times,
)
from aggregator.sources.x_text import WEB, Span, SpanKind, render
from aggregator.store import Store

IMPORT_PLATFORM = "x-import"
_PARKED = datetime(9999, 1, 1, tzinfo=UTC)
_YTD = re.compile(r"^\s*window\.YTD\.[A-Za-z0-9_]+\.part\d+\s*=\s*")
_TWEETS_JS = re.compile(r"(?:^|/)data/tweets?(?:-part\d+)?\.js$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_V1_TIME = re.compile(
    r"^\w{3} (\w{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$"
)
_ARCHIVE_ENTITIES: tuple[tuple[str, SpanKind, str], ...] = (
    ("urls", "url", "url"),
    ("media", "url", "url"),
    ("user_mentions", "mention", "screen_name"),
    ("hashtags", "hashtag", "text"),
)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    format: Literal["archive", "export"]
    items: tuple[ItemData, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    excluded: tuple[ExcludedItem, ...] = ()
    """Posts left out for consent (protected, opted out), to be counted once."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    source_id: str
    format: Literal["archive", "export"]
    read: int
    """Posts in the file (after collapsing edits), before selection."""
    kept: int
    skipped: Mapping[str, int]
    counts: IngestCounts


def import_items(store: Store, event_slug: str, path: Path, now: datetime) -> ImportReport:
    """Read ``path``, keep the event's posts and store them under the synthetic source
    ``{event}/x-import:{file name}`` (disabled, so it is never fetched; it names where
    the items came from). Importing the same file again updates, never duplicates.

    Raises ``ConfigError`` for an unknown event and ``ParseError`` for a file that
    cannot be read or is in none of the accepted formats.
    """
    event = store.event(event_slug)
    if event is None:
        known = ", ".join(e.slug for e in store.events()) or "none"
        raise ConfigError("--event", event_slug, f"no such event (known: {known})")
    loaded = load_file(path)
    period = event_period(event)
    selected, skipped = select(loaded.items, event.hashtags, period.start, period.end)
    # The organisers' opt-out list, as the pipeline applies it to every fetch.
    kept, dropped = filter_items(selected, store.optout_rules())
    skipped.update(e.reason for e in dropped)
    excluded = [
        e for e in loaded.excluded if e.created_at and period.start <= e.created_at < period.end
    ]
    spec = SourceSpec(
        id=f"{event.slug}/{IMPORT_PLATFORM}:{path.name}",
        event=event.slug,
        platform=IMPORT_PLATFORM,
        target=path.name,
        hashtags=event.hashtags,
        options={"file": path.name, "format": loaded.format},
    )
    # An import is a source that is never fetched: registered disabled, with its
    # provenance, and left alone by configuration reloads.
    store.register_source(spec, origin="import", enabled=False, now=now)
    result = FetchResult(
        items=tuple(kept),
        state={"file": path.name, "format": loaded.format, "imported_at": now.isoformat()},
        excluded={**loaded.skipped, **skipped},
        excluded_items=(*excluded, *dropped),
        cursor_after=f"{len(kept)} of {len(loaded.items)} posts from {path.name}",
    )
    counts = store.record_success(
        SourceState(spec=spec), result, started_at=now, now=now, next_check_at=_PARKED
    )
    return ImportReport(
        source_id=spec.id,
        format=loaded.format,
        read=len(loaded.items),
        kept=len(kept),
        skipped=dict(result.excluded),
        counts=counts,
    )


def load_file(path: Path) -> LoadedFile:
    """Every post in an archive (``.zip`` or ``tweets.js``) or a v2 export file."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                files = {
                    name: archive.read(name).decode("utf-8-sig")
                    for name in archive.namelist()
                    if _TWEETS_JS.search(name) or name.endswith(("/account.js", "/profile.js"))
                }
            return parse_archive(files, path.name)
        text = path.read_text("utf-8-sig")
        if _YTD.match(text):
            files = {"data/tweets.js": text}
            for name in ("account.js", "profile.js"):
                if (path.parent / name).is_file():
                    files[f"data/{name}"] = (path.parent / name).read_text("utf-8-sig")
            return parse_archive(files, path.name)
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as e:
        raise ParseError(f"cannot read {path}: {e}") from e
    if not text.strip():
        raise ParseError(f"{path} is empty")
    return parse_export(_json_documents(text, path.name), path.name)


def parse_archive(files: Mapping[str, str], name: str = "archive") -> LoadedFile:
    """An archive's files (path → text): ``data/tweets*.js`` plus ``data/account.js``."""
    account = _ytd_rows(files, "account.js", "account", name)
    if not account:
        raise ParseError(
            f"{name}: the archive's data/account.js is missing (it names the author): "
            "import the whole .zip, or keep account.js next to tweets.js"
        )
    profile = _ytd_rows(files, "profile.js", "profile", name)
    avatar = profile[0].get("avatarMediaUrl") if profile else None
    author = archive_author(account[0], avatar if isinstance(avatar, str) else None)
    items: dict[str, ItemData] = {}
    skipped: Counter[str] = Counter()
    tweet_files = sorted(n for n in files if _TWEETS_JS.search(n))
    if not tweet_files:
        raise ParseError(f"{name}: no data/tweets.js in the archive")
    for file_name in tweet_files:
        for row in _ytd(files[file_name], file_name):
            obj = row.get("tweet", row)
            if not isinstance(obj, dict):
                raise ParseError(f"{name}: {file_name}: a tweet is not an object")
            text = obj.get("full_text") or obj.get("text")
            if isinstance(text, str) and text.startswith("RT @"):
                skipped["retweet"] += 1
                continue
            item = parse_archive_tweet(obj, author)
            _keep_latest(items, item)
    return LoadedFile("archive", tuple(items.values()), dict(skipped))


def archive_author(account: Mapping[str, Any], avatar_url: str | None = None) -> AuthorData:
    uid, username = account.get("accountId"), account.get("username")
    if not isinstance(uid, str) or not isinstance(username, str) or not uid or not username:
        raise ParseError("account.js: accountId or username is missing")
    name = account.get("accountDisplayName")
    return AuthorData(
        key=keys.x_account(uid),
        platform=PLATFORM,
        name=name.strip() if isinstance(name, str) and name.strip() else username,
        handle=f"@{username}",
        url=f"{WEB}/{username}",
        avatar_url=avatar_url,
    )


def parse_archive_tweet(obj: Mapping[str, Any], author: AuthorData) -> ItemData:
    """One archive post (v1.1 shape) by the archive's owner."""
    tid = _id(obj.get("id_str") or obj.get("id"), "tweet id")
    what = f"archive tweet {tid}"
    history = _edit_history(obj.get("edit_info"), tid, what)
    created_at, edited_at = version_times(history[0], tid, _v1_time(obj.get("created_at"), what))
    text = obj.get("full_text", obj.get("text"))
    if not isinstance(text, str):
        raise ParseError(f"{what}: full_text is missing")
    entities = obj.get("entities") or {}
    if not isinstance(entities, dict):
        raise ParseError(f"{what}: entities is not an object")
    spans = [_span(e, kind, value, what) for name, kind, value in _ARCHIVE_ENTITIES
             for e in _list(entities.get(name), what)]  # fmt: skip
    quoted = obj.get("quoted_status_id_str")
    own = {*history, tid, *([quoted] if isinstance(quoted, str) else [])}
    rendered = render(text, spans, own_ids=own)
    parent = obj.get("in_reply_to_status_id_str")
    lang = obj.get("lang")
    return ItemData(
        key=keys.x_post(history[0]),
        platform=PLATFORM,
        kind="post",
        url=f"{WEB}/{author.handle[1:]}/status/{tid}",
        author=author,
        html=rendered.html,
        text=rendered.text,
        created_at=created_at,
        language=language(lang if isinstance(lang, str) else None),
        edited_at=edited_at,
        in_reply_to=keys.x_post(_id(parent, "in_reply_to_status_id_str")) if parent else None,
        engagement=Engagement(
            replies=None,
            reposts=_count(obj.get("retweet_count"), what),
            likes=_count(obj.get("favorite_count"), what),
        ),
        hashtags=rendered.hashtags,
        links=rendered.links,
        raw=obj,
        aliases=edit_aliases(history, tid),
    )


def parse_export(documents: Iterable[Any], name: str = "export") -> LoadedFile:
    """API v2 responses (or flattened posts), as the live source reads them."""
    items: dict[str, ItemData] = {}
    skipped: Counter[str] = Counter()
    excluded: dict[str, ExcludedItem] = {}
    optout = ConsentPolicy().optout_tags
    for i, doc in enumerate(documents, 1):
        page = doc if isinstance(doc, dict) and ("data" in doc or "meta" in doc) else _flat(doc)
        try:
            parsed = parse_page(page, optout_tags=optout)
        except ParseError as e:
            raise ParseError(f"{name}, response {i}: {e}") from e
        for item in parsed.items:
            _keep_latest(items, item)
        skipped.update(parsed.excluded)
        for key, at in parsed.excluded_at.items():
            excluded[key] = ExcludedItem(key, parsed.excluded_keys[key], at)
    return LoadedFile("export", tuple(items.values()), dict(skipped), tuple(excluded.values()))


def select(
    items: Iterable[ItemData], hashtags: Sequence[str], start: datetime, end: datetime
) -> tuple[list[ItemData], Counter[str]]:
    """The posts with one of ``hashtags`` created in ``[start, end)``; the rest counted."""
    wanted = {h.lstrip("#").casefold() for h in hashtags}
    kept: list[ItemData] = []
    skipped: Counter[str] = Counter()
    for item in items:
        if not wanted & {h.casefold() for h in item.hashtags}:
            skipped["other_hashtags"] += 1
        elif not start <= item.created_at < end:
            skipped["outside_window"] += 1
        else:
            kept.append(item)
    return kept, skipped


# -- helpers ---------------------------------------------------------------------------


def _keep_latest(items: dict[str, ItemData], item: ItemData) -> None:
    # Each version of an edited post is its own entry: the newest id is the post now.
    old = items.get(item.key)
    if old is None or id_order(str(item.raw.get("id_str") or item.raw["id"])) > id_order(
        str(old.raw.get("id_str") or old.raw["id"])
    ):
        items[item.key] = item


def _json_documents(text: str, name: str) -> list[Any]:
    # orjson, as the live source: it refuses lone surrogates ("\ud800"), which no
    # database column can store, where json would let them through.
    try:
        doc = orjson.loads(text)
    except ValueError:
        docs = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    docs.append(orjson.loads(line))
                except ValueError as e:
                    raise ParseError(
                        f"{name}: line {n} is not JSON (neither an archive's tweets.js, "
                        f"a JSON file nor JSON Lines): {e}"
                    ) from e
        return docs
    return doc if isinstance(doc, list) else [doc]


def _flat(doc: Any) -> dict[str, Any]:
    """A ``twarc2 flatten`` post (``author`` and referenced posts inline) as a response."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise ParseError(f"expected an API response or a post, got {type(doc).__name__}")
    refs = doc.get("referenced_tweets")
    tweets = (
        [r for r in refs if isinstance(r, dict) and "text" in r] if isinstance(refs, list) else []
    )
    users = [t["author"] for t in (doc, *tweets) if isinstance(t.get("author"), dict)]
    return {"data": [doc], "includes": {"users": users, "tweets": tweets}}


def _ytd(text: str, name: str) -> list[dict[str, Any]]:
    m = _YTD.match(text)
    if m is None:
        raise ParseError(f"{name}: not an archive file (window.YTD.<name>.part<N> = [...])")
    try:
        rows = orjson.loads(text[m.end() :].rstrip().removesuffix(";"))
    except ValueError as e:
        raise ParseError(f"{name}: the array after '=' is not JSON: {e}") from e
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ParseError(f"{name}: expected an array of objects")
    return rows


def _ytd_rows(files: Mapping[str, str], base: str, key: str, name: str) -> list[dict[str, Any]]:
    for path, text in files.items():
        if path == base or path.endswith(f"/{base}"):
            return [r[key] for r in _ytd(text, f"{name}: {path}") if isinstance(r.get(key), dict)]
    return []


def _edit_history(info: Any, tid: str, what: str) -> list[str]:
    """``edit_info.initial.editTweetIds`` (an original) or ``edit_info.edit`` (a later
    version: ``initialTweetId`` plus ``editControlInitial.editTweetIds``)."""
    if not isinstance(info, dict):
        return [tid]
    edit, initial = info.get("edit"), info.get("initial")
    control = edit.get("editControlInitial") if isinstance(edit, dict) else initial
    ids = control.get("editTweetIds") if isinstance(control, dict) else None
    history = [_id(i, f"{what} editTweetIds") for i in ids] if isinstance(ids, list) else []
    first = edit.get("initialTweetId") if isinstance(edit, dict) else None
    if isinstance(first, str) and first and (not history or history[0] != first):
        history = [_id(first, f"{what} initialTweetId"), *(i for i in history if i != first)]
    return history or [tid]


def _span(e: Any, kind: SpanKind, value_field: str, what: str) -> Span:
    if not isinstance(e, dict):
        raise ParseError(f"{what}: an entity is not an object")
    indices = e.get("indices")
    if not isinstance(indices, list) or len(indices) != 2:
        raise ParseError(f"{what}: an entity has no [start, end] indices")
    start, end = (_count(i, what) for i in indices)
    value, href, display = e.get(value_field), e.get("expanded_url"), e.get("display_url")
    return Span(
        start=start if start is not None else -1,
        end=end if end is not None else -1,
        kind=kind,
        value=value if isinstance(value, str) else "",
        href=href if kind == "url" and isinstance(href, str) else None,
        display=display if kind == "url" and isinstance(display, str) else None,
    )


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{what}: an entity list is not a list")
    return value


def _id(value: Any, what: str) -> str:
    value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 19:
        raise ParseError(f"{what} is not a post id: {str(value)[:40]!r}")
    return value


def _count(value: Any, what: str) -> int | None:
    """Archives write numbers as strings ("3")."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        return int(value)
    raise ParseError(f"{what}: {str(value)[:20]!r} is not a count")


def _v1_time(value: Any, what: str) -> datetime:
    # Parsed by hand: strptime's %a/%b follow the process locale.
    m = _V1_TIME.match(value.strip()) if isinstance(value, str) else None
    if m is None or m.group(1) not in _MONTHS:
        raise ParseError(f"{what}: created_at is not like 'Wed Oct 10 20:19:24 +0000 2018'")
    month, day, hh, mm, ss, sign, oh, om, year = m.groups()
    offset = (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1)
    try:
        local = datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss))
        return (local - timedelta(minutes=offset)).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ParseError(f"{what}: created_at is not a valid time: {value!r}") from None
