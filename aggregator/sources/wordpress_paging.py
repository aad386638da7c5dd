"""Where a WordPress comment walk starts and what it leaves behind: pure decisions.

The state a :class:`~aggregator.sources.wordpress.WordPressSource` keeps between
fetches, which walk over the comment pages a fetch makes (:func:`plan`), whether that
walk saw the whole thread (:func:`complete_listing`) and the state after it
(:func:`advance`). The strategy they implement is told in
:mod:`aggregator.sources.wordpress`'s docstring; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aggregator.models import ItemData, JSONValue
from aggregator.sources.state_codec import from_iso, iso, typed
from aggregator.sources.wordpress_parse import site_local, site_offset

if TYPE_CHECKING:
    from aggregator.sources.wordpress import WordPressOptions

OVERLAP = timedelta(days=1)
_STATE_VERSION = 1
POST_TYPES = ("posts", "pages")
"""REST routes a followed URL can be under (``wp/v2/<type>/ID``)."""


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a paged walk over the comments starts: a full listing when ``after`` is None."""

    page: int = 1
    after: str | None = None


@dataclass(frozen=True, slots=True)
class WordPressState:
    configured: str
    post_url: str
    site: str
    api_root: str
    post_id: int
    post_type: str = "posts"
    offset_minutes: int | None = None
    newest_gmt: datetime | None = None
    total_pages: int | None = None
    last_full_at: datetime | None = None
    walk: Walk | None = None

    def dump(self) -> dict[str, JSONValue]:
        return {
            "v": _STATE_VERSION,
            "configured": self.configured,
            "post_url": self.post_url,
            "site": self.site,
            "api_root": self.api_root,
            "post_id": self.post_id,
            "post_type": self.post_type,
            "offset_minutes": self.offset_minutes,
            "newest_gmt": iso(self.newest_gmt),
            "total_pages": self.total_pages,
            "last_full_at": iso(self.last_full_at),
            "walk": None
            if self.walk is None
            else {"page": self.walk.page, "after": self.walk.after},
        }

    @classmethod
    def load(cls, data: Any, options: WordPressOptions) -> WordPressState | None:
        """The stored state, or ``None`` (discover again) if it is unusable or stale."""
        try:
            if data.get("v") != _STATE_VERSION or data["configured"] != options.post:
                return None
            if options.api_root is not None and data["api_root"] != options.api_root:
                return None
            walk = data.get("walk")
            # Absent from states written before the post itself was fetched.
            post_type = data.get("post_type", "posts")
            state = cls(
                configured=typed(data["configured"], str),
                post_url=typed(data["post_url"], str),
                site=typed(data["site"], str),
                api_root=typed(data["api_root"], str),
                post_id=typed(data["post_id"], int),
                post_type=post_type if post_type in POST_TYPES else "posts",
                offset_minutes=typed(data.get("offset_minutes"), int, None),
                newest_gmt=from_iso(data.get("newest_gmt")),
                total_pages=typed(data.get("total_pages"), int, None),
                last_full_at=from_iso(data.get("last_full_at")),
                walk=None
                if walk is None
                else Walk(typed(walk["page"], int), typed(walk.get("after"), str, None)),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return state


def plan(state: WordPressState, options: WordPressOptions, now: datetime) -> Walk:
    """Which walk this fetch makes (pure; see the module docstring)."""
    if state.walk is not None:
        return state.walk
    small = state.total_pages is None or state.total_pages <= options.full_relist_pages
    due = state.last_full_at is None or now - state.last_full_at >= timedelta(
        hours=options.full_relist_every_hours
    )
    if small or due or state.newest_gmt is None or state.offset_minutes is None:
        return Walk()
    offset = timedelta(minutes=state.offset_minutes)
    return Walk(after=site_local(state.newest_gmt - OVERLAP, offset))


@dataclass(frozen=True, slots=True)
class WalkResult:
    items: dict[str, ItemData]
    done: bool
    next_page: int
    """The first page not fetched (meaningful when not ``done``)."""
    totals: frozenset[int]
    """Every ``X-WP-Total`` seen during the walk."""
    total_pages: int | None
    pages: int


def complete_listing(walk: Walk, result: WalkResult) -> frozenset[str] | None:
    """The keys, if and only if this walk saw the whole thread in one go."""
    if walk != Walk() or not result.done or len(result.totals) > 1:
        return None
    if result.totals and result.totals != {len(result.items)}:
        return None
    return frozenset(result.items)


def advance(
    state: WordPressState, walk: Walk, result: WalkResult, now: datetime, max_pages: int
) -> WordPressState:
    """The state after ``result`` (pure)."""
    newest, offset = state.newest_gmt, state.offset_minutes
    for item in result.items.values():
        if newest is None or item.created_at >= newest:
            newest = item.created_at
            found = site_offset(item.raw)
            offset = offset if found is None else int(found.total_seconds() // 60)
    full = walk.after is None
    if result.done:
        following = None
    else:
        # Step back one page (a deletion moves a comment onto a page already read),
        # unless that would make no progress at all.
        back = 1 if max_pages > 1 else 0
        following = Walk(page=max(walk.page + 1, result.next_page - back), after=walk.after)
    return replace(
        state,
        newest_gmt=newest,
        offset_minutes=offset,
        total_pages=result.total_pages
        if full and result.total_pages is not None
        else state.total_pages,
        last_full_at=now if full and result.done else state.last_full_at,
        walk=following,
    )
