"""The digest context: everything a template may show, typed and built from the store.

Templates never query anything; the JSON format is this context serialized, so its
shape is the documented schema (the dataclasses below; README, "Layout").

Organisers' moderation applies before anything is counted: hidden items and the items
of hidden authors are in no figure, chart, list or thread. The analysis parts live in
their own pure modules: ``figures`` (headline numbers and their change), ``activity``
(items over time), ``highlights`` (most engaging posts, and why), ``terms`` (hashtags
and words).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from aggregator.digest import highlights as highlights_
from aggregator.digest.activity import Activity, daily, hourly
from aggregator.digest.figures import Figure, Tally, figures, tally, tally_rows
from aggregator.digest.terms import TermCount, co_hashtags, frequent_terms
from aggregator.gcpause import collector_paused
from aggregator.models import ItemData, Moderation
from aggregator.store import CountedItem, EventRecord, SourceHealth, Store
from aggregator.urls import canonical_url

PLATFORM_LABELS = {
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "x": "X",
    "wordpress": "WordPress",
    "blogger": "Blogger",
    "feed": "Feeds",
    "reddit": "Reddit",
    "discourse": "Discourse",
}


@dataclass(frozen=True, slots=True)
class AuthorView:
    name: str
    handle: str
    url: str | None
    platform: str


@dataclass(frozen=True, slots=True)
class ItemView:
    key: str
    platform: str
    kind: str
    url: str | None
    author: AuthorView
    title: str | None
    html: str
    """Sanitized at storage; templates sanitize again on output."""
    text: str
    language: str | None
    created_at: datetime
    created_local: str
    """In the event's time zone, e.g. '2026-11-20 09:41'."""
    edited: bool
    replies: int | None
    reposts: int | None
    likes: int | None
    hashtags: tuple[str, ...]
    links: tuple[str, ...]
    pinned: bool = False
    """Pinned by the organisers (it leads the highlights)."""
    featured: bool = False
    """Featured by the organisers (flagged wherever it is shown)."""


@dataclass(frozen=True, slots=True)
class ThreadNode:
    item: ItemView
    replies: tuple[ThreadNode, ...] = ()
    size: int = field(init=False)
    """Items in this thread, this one included (a field, so serializers see it)."""

    def __post_init__(self) -> None:
        replies = self.replies  # most items have none
        object.__setattr__(self, "size", 1 + sum(r.size for r in replies) if replies else 1)


@dataclass(frozen=True, slots=True)
class PlatformSection:
    platform: str
    label: str
    count: int
    threads: tuple[ThreadNode, ...]


@dataclass(frozen=True, slots=True)
class BlogThread:
    """A blog post and the comment threads that grew from it."""

    url: str
    title: str
    post: ItemView | None
    comments: int
    threads: tuple[ThreadNode, ...]
    shared_in: tuple[ItemView, ...] = ()
    """Social posts that link to this blog post."""


@dataclass(frozen=True, slots=True)
class LinkShare:
    url: str
    label: str
    count: int
    first_shared_by: str
    first_shared_at: str


@dataclass(frozen=True, slots=True)
class PersonCount:
    name: str
    handle: str
    url: str | None
    platform: str
    platform_label: str
    items: int


@dataclass(frozen=True, slots=True)
class SourceNote:
    platform: str
    target: str
    last_success_at: datetime | None
    last_error: str | None
    error_count: int


@dataclass(frozen=True, slots=True)
class Highlight:
    """One of the period's most engaging items (``highlights`` says how they are chosen)."""

    item: ItemView
    why: str
    """'12 replies, 30 boosts: 4.1× the typical Mastodon post that day'."""
    engagement: int
    score: float
    pinned: bool
    featured: bool


@dataclass(frozen=True, slots=True)
class Gap:
    """A source that failed during the period: what it collected may be incomplete."""

    source_id: str
    platform: str
    target: str
    errors: int
    last_error: str
    last_error_at: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    items: int
    posts: int
    comments: int
    articles: int
    people: int
    by_platform: dict[str, int]


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    """'day' or 'event'."""
    label: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    slug: str
    title: str
    hashtags: tuple[str, ...]
    timezone: str
    starts: date
    ends: date


@dataclass(frozen=True, slots=True)
class DigestContext:
    event: EventView
    period: Period
    generated_at: datetime
    totals: Totals
    platforms: tuple[PlatformSection, ...]
    blogs: tuple[BlogThread, ...]
    links: tuple[LinkShare, ...]
    people: tuple[PersonCount, ...]
    sources: tuple[SourceNote, ...]
    removed: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    """Items left out at their authors' request (or the organisers'), by reason."""
    figures: tuple[Figure, ...] = ()
    compared_with: str | None = None
    """The day the figures' changes are counted from ('Thursday'); None for the event."""
    activity: Activity | None = None
    highlights: tuple[Highlight, ...] = ()
    hashtags: tuple[TermCount, ...] = ()
    """Used alongside the event's own."""
    terms: tuple[TermCount, ...] = ()
    gaps: tuple[Gap, ...] = ()
    schema_version: int = field(default=2)


def day_period(event: EventRecord, day: date) -> Period:
    tz = ZoneInfo(event.timezone)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return Period("day", f"{day:%A %-d %B %Y}", day, day, start, end)


def event_period(event: EventRecord) -> Period:
    tz = ZoneInfo(event.timezone)
    first = event.starts - timedelta(days=event.lookback_days)
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(event.ends + timedelta(days=1), time(0), tz).astimezone(UTC)
    label = f"{event.starts:%-d %B %Y} to {event.ends:%-d %B %Y}"
    return Period("event", label, first, event.ends, start, end)


def build_context(
    store: Store,
    event: EventRecord,
    period: Period,
    *,
    now: datetime,
    health: Sequence[SourceHealth] | None = None,
) -> DigestContext:
    with collector_paused():
        return _build_context(store, event, period, now=now, health=health)


def _build_context(
    store: Store,
    event: EventRecord,
    period: Period,
    *,
    now: datetime,
    health: Sequence[SourceHealth] | None,
) -> DigestContext:
    stored = store.live_items(event.slug, since=period.start, until=period.end)
    # Removed by their authors: tombstones, less those the opt-out list purged
    # (they are counted with the exclusions).
    removed = store.removed_count(event.slug, since=period.start, until=period.end)
    health = store.health(event.slug, counts=False) if health is None else health
    moderation = store.moderation(event.slug)
    present = {_page(i.url) for i in stored if i.kind == "article" and i.url}
    wanted = {_page(i.context_url) for i in stored if i.context_url} - present
    posts = [i for i in store.articles(event.slug) if i.url and _page(i.url) in wanted]
    before = previous_period(event, period)
    # The day before is only counted: who, where, what kind (not its items).
    previous = (
        store.counted_items(event.slug, since=before.start, until=before.end) if before else None
    )
    # Whoever spoke before the day before is known; the day before's own authors are
    # known to the day itself. One lookup answers both days: every author of the two
    # days first spoke before their end, so those who did not in between are known.
    first = before or period
    asked = {i.author.key for i in stored}.union(i.author_key for i in previous or ())
    known = asked - store.newcomers(event.slug, since=first.start, until=period.end)
    context = assemble(
        event,
        period,
        stored,
        now=now,
        health=health,
        removed=removed,
        posts=posts,
        moderation=moderation,
        previous=previous,
        known_authors=known,
        failures=store.failed_runs(event.slug, since=period.start, until=period.end),
    )
    excluded = store.exclusions(
        event.slug,
        since=period.start if period.kind == "day" else None,
        until=period.end if period.kind == "day" else None,
    )
    return replace(context, excluded=excluded)


def previous_period(event: EventRecord, period: Period) -> Period | None:
    """The local day before a day digest's, while it is still in the event's window
    (its look-back days included); None for the whole event and for its first day."""
    if period.kind != "day":
        return None
    day = period.first_day - timedelta(days=1)
    if day < event.starts - timedelta(days=event.lookback_days):
        return None
    return day_period(event, day)


def assemble(
    event: EventRecord,
    period: Period,
    stored: Sequence[ItemData],
    *,
    now: datetime,
    health: Sequence[SourceHealth],
    removed: int = 0,
    posts: Sequence[ItemData] = (),
    moderation: Moderation = Moderation(),  # noqa: B008 (immutable)
    previous: Sequence[CountedItem] | None = None,
    known_authors: set[str] | frozenset[str] = frozenset(),
    failures: Sequence[dict[str, Any]] = (),
) -> DigestContext:
    """Pure: the context for ``stored`` (the period's live items, oldest first).

    ``posts`` are blog posts published before the period whose comments are in it:
    they title their threads but are not counted as the period's items.
    ``moderation`` hides items before anything is counted and marks pinned and
    featured ones. ``previous`` are the live items of the day before (a day digest),
    for the figures' changes; ``known_authors`` had items in the event before the earlier
    of the two periods, and the rest are new voices. ``failures`` are the period's
    failed fetch runs (``Store.failed_runs``)."""
    tz = ZoneInfo(event.timezone)
    live = {i.key: i for i in stored if not moderation.hides(i)}
    posts = [i for i in posts if not moderation.hides(i)]
    authors: dict[str, AuthorView] = {}
    views = {key: _view(item, tz, moderation, authors) for key, item in live.items()}
    items = list(views.values())
    children: dict[str, list[ItemView]] = {}
    roots: list[ItemView] = []
    for key, view in views.items():
        parent = live[key].in_reply_to
        if parent is not None and parent in views:
            children.setdefault(parent, []).append(view)
        else:
            roots.append(view)

    def tree(view: ItemView) -> ThreadNode:
        replies = children.get(view.key)
        if replies is None:  # most items
            return ThreadNode(view)
        return ThreadNode(view, tuple([tree(r) for r in replies]))

    # Pages are matched by canonical URL: sources spell a post's address differently
    # (a trailing slash, a ?p= link), and a comment's parent post is one page.
    articles = {_page(i.url): _view(i, tz, moderation, authors) for i in posts if i.url}
    articles.update({_page(v.url): v for v in items if v.kind == "article" and v.url})
    blog_roots: dict[str, list[ItemView]] = defaultdict(list)
    spelled: dict[str, str] = {}
    social_roots: dict[str, list[ItemView]] = defaultdict(list)
    for root in roots:
        ctx = live[root.key].context_url
        if root.kind == "comment" and ctx:
            blog_roots[_page(ctx)].append(root)
            spelled.setdefault(_page(ctx), ctx)
        elif root.kind == "article" and root.url:
            blog_roots.setdefault(_page(root.url), [])
        else:
            social_roots[root.platform].append(root)

    linking: dict[str, list[ItemView]] = defaultdict(list)
    for view in items:
        if view.kind == "post":
            for link in view.links:
                linking[_page(link)].append(view)
    blogs = []
    for url, comment_roots in blog_roots.items():
        threads = tuple(tree(r) for r in comment_roots)
        post = articles.get(url)
        blogs.append(
            BlogThread(
                url=post.url if post and post.url else spelled.get(url, url),
                title=(post.title if post and post.title else _title_from_url(url)),
                post=post,
                comments=sum(t.size for t in threads),
                threads=threads,
                shared_in=tuple(linking.get(url, ())),
            )
        )
    blogs.sort(key=lambda b: (-b.comments, b.title))

    platforms = [
        PlatformSection(
            platform=p,
            label=PLATFORM_LABELS.get(p, p.title()),
            count=sum(t.size for t in threads),
            threads=threads,
        )
        for p, threads in (
            (p, tuple(tree(r) for r in rs)) for p, rs in sorted(social_roots.items())
        )
    ]

    people_counter: Counter[tuple[str, str, str | None, str]] = Counter(
        (v.author.name, v.author.handle, v.author.url, v.platform) for v in items
    )
    people = tuple(
        PersonCount(name, handle, url, platform, PLATFORM_LABELS.get(platform, platform), n)
        for (name, handle, url, platform), n in sorted(
            people_counter.items(), key=lambda kv: (-kv[1], kv[0][0].casefold())
        )
    )
    return DigestContext(
        event=EventView(
            event.slug, event.title, event.hashtags, event.timezone, event.starts, event.ends
        ),
        period=period,
        generated_at=now,
        totals=Totals(
            items=len(items),
            posts=sum(1 for v in items if v.kind == "post"),
            comments=sum(1 for v in items if v.kind == "comment"),
            articles=sum(1 for v in items if v.kind == "article"),
            people=len({(v.author.platform, v.author.handle or v.author.name) for v in items}),
            by_platform=dict(sorted(Counter(v.platform for v in items).items())),
        ),
        platforms=tuple(platforms),
        blogs=tuple(blogs),
        links=_links(items, exclude=set(blog_roots)),
        people=people,
        sources=tuple(
            SourceNote(h.platform, h.target, h.last_success_at, h.last_error, h.error_count)
            for h in health
            if h.enabled
        ),
        removed=removed,
        **_analysis(event, period, live, views, moderation, previous, known_authors),
        gaps=gaps(failures),
    )


def _analysis(
    event: EventRecord,
    period: Period,
    live: dict[str, ItemData],
    views: dict[str, ItemView],
    moderation: Moderation,
    previous: Sequence[CountedItem] | None,
    known: set[str] | frozenset[str],
) -> dict[str, Any]:
    """Figures, activity, highlights, hashtags and terms of the period's visible items."""
    tz = ZoneInfo(event.timezone)
    items = list(live.values())
    since: str | None = None
    before: Tally | None = None
    if previous is not None:
        # Hidden as ``Moderation.hides`` hides an item (by its key or its author's).
        items_, authors_ = moderation.hidden_items, moderation.hidden_authors
        before = tally_rows(
            (
                (i.author_key, i.platform, i.kind)
                for i in previous
                if i.key not in items_ and i.author_key not in authors_
            ),
            known,
        )
        # The day before's authors had spoken before this day, hidden or not.
        known = set(known).union(i.author_key for i in previous)
        since = f"{period.first_day - timedelta(days=1):%A}"
    created = ((i.created_at, i.platform) for i in items)
    if period.kind == "day":
        activity = hourly(
            created,
            start=period.start,
            end=period.end,
            tz=tz,
            title=f"Items per hour, {period.label}",
        )
    else:
        activity = daily(
            created,
            first=period.first_day,
            last=period.last_day,
            tz=tz,
            title=f"Items per day, {period.label}",
        )
    chosen = highlights_.choose(
        items,
        pinned=moderation.pinned,
        when="that day" if period.kind == "day" else "during the event",
        labels=PLATFORM_LABELS,
    )
    return {
        "figures": figures(tally(items, known), before, since=since),
        "compared_with": since,
        "activity": activity,
        "highlights": tuple(
            Highlight(
                item=views[c.key],
                why=c.why,
                engagement=c.engagement,
                score=round(c.score, 2),
                pinned=c.pinned,
                featured=views[c.key].featured,
            )
            for c in chosen
        ),
        "hashtags": co_hashtags((i.hashtags for i in items), event.hashtags),
        "terms": frequent_terms((i.text for i in items), exclude=event.hashtags),
    }


def gaps(failures: Sequence[dict[str, Any]]) -> tuple[Gap, ...]:
    """Failed runs (oldest first), one gap per source: how often, and the last error."""
    by_source: dict[str, Gap] = {}
    for run in failures:
        seen = by_source.get(run["source_id"])
        by_source[run["source_id"]] = Gap(
            source_id=run["source_id"],
            platform=run["platform"],
            target=run["target"],
            errors=(seen.errors if seen else 0) + 1,
            last_error=run["error"] or "unknown error",
            last_error_at=run["started_at"],
        )
    return tuple(sorted(by_source.values(), key=lambda g: (g.platform, g.target)))


def _links(items: Sequence[ItemView], exclude: set[str]) -> tuple[LinkShare, ...]:
    """Links shared most, blog posts with their own section left out."""
    exclude = {_page(u) for u in exclude}
    first: dict[str, ItemView] = {}
    counts: Counter[str] = Counter()
    for view in items:  # oldest first, so the first sharer is the first seen
        for url in view.links:
            if _page(url) in exclude or (view.url and url.split("#")[0] == view.url.split("#")[0]):
                continue
            counts[url] += 1
            first.setdefault(url, view)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(
        LinkShare(
            url=url,
            label=_link_label(url),
            count=n,
            first_shared_by=first[url].author.name,
            first_shared_at=first[url].created_local,
        )
        for url, n in ranked[:25]
    )


def _view(
    i: ItemData, tz: ZoneInfo, moderation: Moderation, authors: dict[str, AuthorView]
) -> ItemView:
    """``i`` as templates see it. ``authors``: the views made so far, by author key;
    an author's items share one (a busy day has thousands of items, fewer people)."""
    a = i.author
    author = authors.get(a.key)
    if author is None:
        author = authors[a.key] = AuthorView(a.name, a.handle, a.url, a.platform)
    e = i.engagement
    # Positional: keywords cost a third of making a view, ten thousand times a day.
    return ItemView(
        i.key,
        i.platform,
        i.kind,
        i.url,
        author,
        i.title,
        i.html,
        i.text,
        i.language,
        i.created_at,
        # '2026-11-20 09:41': isoformat is several times faster than strftime.
        i.created_at.astimezone(tz).isoformat(" ", "minutes")[:16],
        i.edited_at is not None,
        e.replies,
        e.reposts,
        e.likes,
        i.hashtags,
        i.links,
        i.key in moderation.pinned,
        i.key in moderation.featured,
    )


def _page(url: str) -> str:
    return canonical_url(url) or url


def _title_from_url(url: str) -> str:
    path = [p for p in urlsplit(url).path.split("/") if p]
    if not path:
        return urlsplit(url).netloc
    return unquote(path[-1]).replace("-", " ").strip().capitalize()


def _link_label(url: str) -> str:
    parts = urlsplit(url)
    label = parts.netloc.removeprefix("www.") + parts.path.rstrip("/")
    return label if len(label) <= 70 else label[:67] + "…"
