"""The admin's curation: moderating an event's items and authors (every decision
recorded, who, when, why), the opt-out list, and the embed codes bloggers copy."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from aggregator.digest.context import build_context, day_period, event_period
from aggregator.digest.render import FORMATS, render
from aggregator.models import MODERATION_ACTIONS, ModerationRecord
from aggregator.optouts import BadRule, parse_rule
from aggregator.store import listing
from aggregator.web.admin import done, page
from aggregator.web.guard import AdminDep, require_admin
from aggregator.web.state import WebState, web_state

State = Annotated[WebState, Depends(web_state)]
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_admin)])
SHOWN = 200


def _day(web: WebState, slug: str, text: str | None) -> date:
    days = web.days(web.event(slug))
    if not days:
        raise HTTPException(404, "the event has not begun: nothing to moderate yet")
    if not text:
        return days[-1]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise HTTPException(404, f"{text!r} is not a day (YYYY-MM-DD)") from None
    if day not in days:
        raise HTTPException(404, f"no day {day} in this event")
    return day


@router.get("/events/{slug}/moderation", response_class=HTMLResponse)
def moderation(
    request: Request,
    web: State,
    admin: AdminDep,
    slug: str,
    day: str | None = None,
    q: str = "",
) -> Response:
    event = web.event(slug)
    when = _day(web, slug, day)
    period = day_period(event, when)
    store = web.app.store
    needle = q.strip().casefold()
    if needle:
        # A search reads the day's every item: words, names and addresses at once.
        views = [
            v
            for v in store.items(slug, since=period.start, until=period.end, raw=False)
            if needle in v.item.text.casefold()
            or needle in v.item.author.handle.casefold()
            or needle in v.item.author.name.casefold()
            or needle in (v.item.url or "").casefold()
        ]
        views.sort(key=lambda v: v.item.created_at, reverse=True)
        total = len(views)
    else:
        # Otherwise the latest of the day, a page of them, hidden ones included (to
        # show them again): a busy day has thousands.
        of_day = listing.ItemFilter(since=period.start, until=period.end)
        views = list(listing.item_page(store.engine, slug, limit=SHOWN, where=of_day).items)
        total = sum(listing.visible_counts(store.engine, slug, of_day).values())
    return page(
        web,
        request,
        "moderation.html",
        admin,
        event=event,
        day=when,
        days=web.days(event),
        q=q,
        items=views[:SHOWN],
        total=total,
        state=store.moderation(slug),
        log=list(reversed(store.moderation_log(slug)))[:100],
    )


@router.post("/events/{slug}/moderate")
async def moderate(request: Request, web: State, admin: AdminDep, slug: str) -> Response:
    web.event(slug)
    form = await request.form()
    kind, action, target = (str(form.get(k, "")) for k in ("target_kind", "action", "target"))
    reason = str(form.get("reason", "")).strip() or None
    back = str(form.get("back", "")) or f"/admin/events/{slug}/moderation"
    if action not in MODERATION_ACTIONS.get(kind, ()):
        raise HTTPException(400, f"{action!r} is not something one can do to an {kind!r}")
    if not target:
        raise HTTPException(400, "no item or author given")
    web.app.store.moderate(
        ModerationRecord(
            event=slug,
            target_kind=kind,
            target=target,
            action=action,
            reason=reason,
            decided_by=admin.username,
            decided_at=web.app.clock(),
        )
    )
    web.cache.invalidate(slug)
    return done(back if back.startswith("/admin/") else "/admin/", f"Done: {action} {kind}.")


@router.get("/optouts", response_class=HTMLResponse)
def optouts(request: Request, web: State, admin: AdminDep) -> Response:
    return page(web, request, "optouts.html", admin, rules=web.app.store.optout_list(), error=None)


@router.post("/optouts")
async def add_optout(request: Request, web: State, admin: AdminDep) -> Response:
    form = await request.form()
    who, reason = str(form.get("who", "")), str(form.get("reason", "")).strip() or None
    try:
        rule = parse_rule(who)
    except BadRule as e:
        return page(
            web,
            request,
            "optouts.html",
            admin,
            status=400,
            rules=web.app.store.optout_list(),
            error=str(e),
        )
    removed = web.app.store.add_optout(rule, reason=reason, by=admin.username, now=web.app.clock())
    for event in web.app.store.events():
        web.cache.invalidate(event.slug)
    return done("/admin/optouts", f"Added {rule.value}; {removed} stored items removed.")


@router.post("/optouts/remove")
async def remove_optout(request: Request, web: State) -> Response:
    form = await request.form()
    try:
        rule = parse_rule(str(form.get("who", "")))
    except BadRule as e:
        raise HTTPException(400, str(e)) from None
    web.app.store.remove_optout(rule)
    return done("/admin/optouts", f"Removed {rule.value} (what was removed stays removed).")


@router.get("/events/{slug}/embed", response_class=HTMLResponse)
def embed_codes(
    request: Request, web: State, admin: AdminDep, slug: str, day: str | None = None
) -> Response:
    """What a blogger pastes: the iframe, the oEmbed address (WordPress and others
    turn it into the iframe themselves), the roundup as HTML and as Markdown."""
    event = web.event(slug)
    when = _day(web, slug, day) if day else None
    period = day_period(event, when) if when else event_period(event)
    context = build_context(web.app.store, event, period, now=web.app.clock())
    base = web.base_url(request)
    embed_url = base + FORMATS["embed"].path(slug, when)
    oembed = render(context, "oembed", web.env, base_url=base)
    codes = {
        "iframe": json.loads(oembed)["html"],
        "oembed": embed_url,
        "html": render(context, "paste", web.env, base_url=base),
        "markdown": render(context, "markdown", web.env, base_url=base),
    }
    return page(
        web,
        request,
        "embed.html",
        admin,
        event=event,
        day=when,
        days=web.days(event),
        codes=codes,
        embed_url=embed_url,
    )
