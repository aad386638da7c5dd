"""The read-only public JSON API under ``/api/v1``, described by ``/api/openapi.json``.

Events, their digests and their items, as any reader of the public pages may see them:
what the organisers hid is in no response. A digest here is the ``json`` format, the
same bytes as ``/<slug>/<day>.json`` (``docs/digest.schema.json``).

Caching: events and digests come from the page cache with a strong ETag and are
revalidated on every use (``max-age=0, must-revalidate``, as the public pages), so a
hidden post goes at once and an unchanged digest costs a 304. A page of items may be
reused for 30 seconds.

Any site may read the API from a browser: every response, errors included, allows
every origin (there are no credentials to leak) and exposes ``ETag`` and ``Link``
(:mod:`aggregator.web.headers`, for every ``/api/`` response).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel

from aggregator.digest.context import day_period, event_period
from aggregator.digest.render import FORMATS
from aggregator.models import ItemKind, Moderation
from aggregator.store import EventRecord, StoredItemView, listing
from aggregator.store.admin_ops import EventMeta
from aggregator.web.api_models import (
    Author,
    DayDigest,
    DigestLinks,
    Digests,
    Event,
    EventDetail,
    EventLinks,
    EventList,
    Item,
    ItemCounts,
    ItemPage,
    Problem,
)
from aggregator.web.pages import Page, page
from aggregator.web.public import digest_page, send
from aggregator.web.state import WebState, web_state

ITEMS_CACHE_CONTROL = "public, max-age=30"
PREFIX = "api/v1"

router = APIRouter(prefix="/" + PREFIX, tags=["public"])
State = Annotated[WebState, Depends(web_state)]
Slug = Annotated[str, Path(description="The event's slug, as in its page's address.")]


# -- OpenAPI fragments ---------------------------------------------------------------------

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such event (or day)."}
}
_ETAG = {"ETag": {"description": "A strong validator of the body.", "schema": {"type": "string"}}}
_CACHED: dict[int | str, dict[str, Any]] = {
    200: {"description": "OK", "headers": _ETAG},
    304: {"description": "Not modified: the If-None-Match ETag is current."},
}
_DIGEST: dict[int | str, dict[str, Any]] = {
    **_CACHED,
    200: {
        "description": "The digest, as the `json` format renders it.",
        "headers": _ETAG,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A digest: its shape is docs/digest.schema.json "
                    "(schema_version 2) in the aggregator repository.",
                    "required": ["schema_version", "event", "period"],
                    "properties": {"schema_version": {"type": "integer"}},
                }
            }
        },
    },
}


# -- endpoints ----------------------------------------------------------------------------


@router.get(
    "/events",
    response_model=EventList,
    responses=_CACHED,
    summary="List the events",
    description="Every event this app collects for, earliest first, with its addresses.",
    operation_id="listEvents",
)
async def list_events(request: Request, web: State) -> Response:
    base = web.base_url(request)

    def build() -> Page:
        meta = web.app.store.event_meta()
        events = [_event(base, e, meta.get(e.slug)) for e in web.app.store.events()]
        return _json(EventList(events=events))

    # Under the index's cache entry (""), which the admin clears when events change.
    return send(request, await web.cache.get("", ("api", "events", base), build))


@router.get(
    "/events/{slug}",
    response_model=EventDetail,
    responses={**_CACHED, **_NOT_FOUND},
    summary="Describe an event",
    description="One event, the days it has a digest for and how many items it shows.",
    operation_id="getEvent",
)
async def get_event(request: Request, web: State, slug: Slug) -> Response:
    event = web.event(slug)
    base = web.base_url(request)

    def build() -> Page:
        store = web.app.store
        counts = listing.visible_counts(store.engine, slug, _visible(store.moderation(slug)))
        by_platform: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for (platform, kind), n in sorted(counts.items()):
            by_platform[platform] = by_platform.get(platform, 0) + n
            by_kind[kind] = by_kind.get(kind, 0) + n
        summary = _event(base, event, store.event_meta().get(slug))
        return _json(
            EventDetail(
                **summary.model_dump(),
                days=web.days(event),
                counts=ItemCounts(
                    items=sum(counts.values()), by_platform=by_platform, by_kind=by_kind
                ),
            )
        )

    return send(request, await web.cache.get(slug, ("api", "event", base), build))


@router.get(
    "/events/{slug}/digests",
    response_model=Digests,
    responses={**_CACHED, **_NOT_FOUND},
    summary="List an event's digests",
    description="The event's days that have begun, each with its digest's addresses, "
    "and the digest of the whole event.",
    operation_id="listDigests",
)
async def list_digests(request: Request, web: State, slug: Slug) -> Response:
    event = web.event(slug)
    base = web.base_url(request)

    def build() -> Page:
        days = [
            DayDigest(day=d, **_digest_links(base, event, d).model_dump()) for d in web.days(event)
        ]
        return _json(Digests(event=slug, days=days, whole_event=_digest_links(base, event, None)))

    return send(request, await web.cache.get(slug, ("api", "digests", base), build))


@router.get(
    "/events/{slug}/digests/{day}",
    response_model=None,
    responses={**_DIGEST, **_NOT_FOUND},
    summary="Get a day's digest",
    description="The digest of one local day of the event (YYYY-MM-DD), as JSON.",
    operation_id="getDayDigest",
)
async def day_digest(request: Request, web: State, slug: Slug, day: date) -> Response:
    event = web.event(slug)
    if day not in web.days(event):
        raise HTTPException(404, f"{event.title} has no digest for {day} (yet)")
    return await digest_page(request, web, event, day, "json")


@router.get(
    "/events/{slug}/digest",
    response_model=None,
    responses={**_DIGEST, **_NOT_FOUND},
    summary="Get the whole event's digest",
    description="The digest of the whole event (its look-back days included), as JSON.",
    operation_id="getEventDigest",
)
async def event_digest(request: Request, web: State, slug: Slug) -> Response:
    return await digest_page(request, web, web.event(slug), None, "json")


@router.get(
    "/events/{slug}/items",
    response_model=ItemPage,
    responses={
        200: {
            "description": "A page of items.",
            "headers": {
                "Link": {
                    "description": 'The next page, as `<url>; rel="next"` (RFC 8288); '
                    "absent on the last page.",
                    "schema": {"type": "string"},
                }
            },
        },
        **_NOT_FOUND,
    },
    summary="List an event's items",
    description="The event's items that readers may see, newest first, a page at a time. "
    "Follow `next_cursor` (or the Link header) until it is null: each item comes once, "
    "however many sources found it. Items the organisers hid, items of authors they hid "
    "and items removed on their platform are left out.",
    operation_id="listItems",
)
async def list_items(
    request: Request,
    web: State,
    slug: Slug,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page, as it is.")
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Created at or after (ISO 8601, with offset).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Created before (ISO 8601, with offset).")
    ] = None,
    platform: Annotated[str | None, Query(description="Only this platform's items.")] = None,
    kind: Annotated[ItemKind | None, Query(description="Only items of this kind.")] = None,
) -> Response:
    event = web.event(slug)
    try:
        after = listing.Keyset.decode(cursor) if cursor else None
    except listing.BadCursor as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "cursor"), "msg": str(e), "input": cursor}]
        ) from e
    base = web.base_url(request)
    query = tuple(sorted(request.query_params.multi_items()))

    def build() -> Page:
        # Off the event loop (PageCache runs it in a thread); kept like a page, so
        # readers polling the first page cost one query per cache period.
        store = web.app.store
        where = _visible(
            store.moderation(event.slug), since=since, until=until, platform=platform, kind=kind
        )
        found = listing.item_page(store.engine, event.slug, limit=limit, after=after, where=where)
        next_cursor = found.next.encode() if found.next else None
        headers: tuple[tuple[str, str], ...] = ()
        if next_cursor is not None:
            rest = [(k, v) for k, v in query if k != "cursor"]
            url = f"{_api(base, event)}/items?" + urlencode([*rest, ("cursor", next_cursor)])
            headers = (("Link", f'<{url}>; rel="next"'),)
        body = ItemPage(items=[_item(v) for v in found.items], next_cursor=next_cursor)
        return page(body.model_dump_json(), "application/json", headers)

    built = await web.cache.get(event.slug, ("items", base, query), build)
    return send(request, built, ITEMS_CACHE_CONTROL)


# -- building responses -------------------------------------------------------------------


def _json(model: BaseModel) -> Page:
    return page(model.model_dump_json(), "application/json")


def _api(base: str, event: EventRecord) -> str:
    return f"{base}{PREFIX}/events/{quote(event.slug, safe='')}"


def _event(base: str, event: EventRecord, meta: EventMeta | None) -> Event:
    home = f"{base}{quote(event.slug, safe='')}"
    api = _api(base, event)
    return Event(
        slug=event.slug,
        title=event.title,
        hashtags=list(event.hashtags),
        timezone=event.timezone,
        starts=event.starts,
        ends=event.ends,
        closed=meta is not None and meta.closed_at is not None,
        links=EventLinks(
            html=f"{home}/",
            atom=f"{home}/digests.atom",
            embed=base + FORMATS["embed"].path(event.slug, None),
            api=api,
            digests=f"{api}/digests",
            items=f"{api}/items",
        ),
    )


def _digest_links(base: str, event: EventRecord, day: date | None) -> DigestLinks:
    api = _api(base, event)
    period = day_period(event, day) if day else event_period(event)
    return DigestLinks(
        label=period.label,
        html_url=base + FORMATS["html"].path(event.slug, day),
        json_url=base + FORMATS["json"].path(event.slug, day),
        embed_url=base + FORMATS["embed"].path(event.slug, day),
        api_url=f"{api}/digests/{day.isoformat()}" if day else f"{api}/digest",
    )


def _visible(
    moderation: Moderation,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    platform: str | None = None,
    kind: str | None = None,
) -> listing.ItemFilter:
    """The items a reader may see (of those asked for): not what the organisers hid."""
    return listing.ItemFilter(
        since=since,
        until=until,
        platform=platform,
        kind=kind,
        hidden_items=moderation.hidden_items,
        hidden_authors=moderation.hidden_authors,
    )


def _item(view: StoredItemView) -> Item:
    i = view.item
    return Item(
        key=i.key,
        platform=i.platform,
        kind=i.kind,
        url=i.url,
        author=Author(name=i.author.name, handle=i.author.handle, url=i.author.url),
        created_at=i.created_at,
        edited_at=i.edited_at,
        title=i.title,
        text=i.text,
        html=i.html,
        language=i.language,
        in_reply_to=i.in_reply_to,
        context_url=i.context_url,
        likes=i.engagement.likes,
        reposts=i.engagement.reposts,
        replies=i.engagement.replies,
        hashtags=list(i.hashtags),
        links=list(i.links),
    )
