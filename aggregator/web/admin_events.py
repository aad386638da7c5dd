"""The admin's events and sources: create, edit and close an event, add a source to
it, switch one off or on. What is saved here is what the collector reads at its
next tick: no restart."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from aggregator.app import event_record
from aggregator.config import ConsentSettings
from aggregator.service.health import source_reports
from aggregator.store.admin_ops import ReadOnlyEvent
from aggregator.web.admin import done, page
from aggregator.web.forms import (
    FormErrors,
    consent_fields,
    consent_from_form,
    event_from_form,
    platform_forms,
    source_from_form,
)
from aggregator.web.guard import Admin, AdminDep, require_admin
from aggregator.web.state import WebState, web_state

State = Annotated[WebState, Depends(web_state)]
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_admin)])


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def _event_page(
    request: Request,
    web: WebState,
    admin: Admin,
    slug: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    source_errors: dict[str, str] | None = None,
    source_values: dict[str, str] | None = None,
) -> HTMLResponse:
    event = web.event(slug)
    meta = web.app.store.event_meta()[slug]
    return page(
        web,
        request,
        "event.html",
        admin,
        status=status,
        event=event,
        meta=meta,
        reports=source_reports(web.app.store, web.app.clock(), slug),
        origins=web.app.store.source_origins(slug),
        platforms=platform_forms(),
        consent_fields=consent_fields(),
        consent=ConsentSettings.model_validate(meta.consent or {}),
        errors=errors or {},
        values=values or _values(event),
        source_errors=source_errors or {},
        source_values=source_values or {},
    )


def _values(event: Any) -> dict[str, str]:
    return {
        "slug": event.slug,
        "title": event.title,
        "hashtags": " ".join(f"#{t}" for t in event.hashtags),
        "timezone": event.timezone,
        "starts": event.starts.isoformat(),
        "ends": event.ends.isoformat(),
        "lookback_days": str(event.lookback_days),
    }


@router.get("/events/new", response_class=HTMLResponse)
def new_event(request: Request, web: State, admin: AdminDep) -> Response:
    return page(
        web,
        request,
        "event_new.html",
        admin,
        errors={},
        values={"timezone": "UTC", "lookback_days": "3"},
    )


@router.post("/events")
async def create_event(request: Request, web: State, admin: AdminDep) -> Response:
    form = await _form(request)
    try:
        settings = event_from_form(form)
    except FormErrors as e:
        return page(web, request, "event_new.html", admin, status=400, errors=e.errors, values=form)
    if web.app.store.event(settings.slug) is not None:
        return page(
            web,
            request,
            "event_new.html",
            admin,
            status=409,
            errors={"slug": f"{settings.slug!r} is taken: choose another"},
            values=form,
        )
    web.app.store.save_admin_event(event_record(settings), consent=None, now=web.app.clock())
    web.cache.invalidate("")
    return done(f"/admin/events/{settings.slug}", f"Event {settings.title!r} created.")


@router.get("/events/{slug}", response_class=HTMLResponse)
def event_detail(request: Request, web: State, admin: AdminDep, slug: str) -> Response:
    return _event_page(request, web, admin, slug)


@router.post("/events/{slug}")
async def edit_event(request: Request, web: State, admin: AdminDep, slug: str) -> Response:
    web.event(slug)
    form = await _form(request)
    form["slug"] = slug
    try:
        settings = event_from_form(form)
        # A form without the consent fieldset (a script's) keeps the rules as they
        # are: unticked boxes are absent, and absent must not mean "collect anyone".
        consent = (
            consent_from_form(form)
            if form.get("consent_form")
            else web.app.store.event_meta()[slug].consent
        )
        web.app.store.save_admin_event(event_record(settings), consent=consent, now=web.app.clock())
    except FormErrors as e:
        return _event_page(request, web, admin, slug, status=400, errors=e.errors, values=form)
    except ReadOnlyEvent:
        raise HTTPException(
            409, "the configuration file manages this event: edit the file, then restart"
        ) from None
    web.cache.invalidate(slug)
    web.cache.invalidate("")
    return done(f"/admin/events/{slug}", "Saved. Collection follows it from the next tick.")


@router.post("/events/{slug}/close")
def close_event(web: State, slug: str) -> Response:
    web.event(slug)
    web.app.store.set_closed(slug, web.app.clock())
    web.cache.invalidate("")
    return done(f"/admin/events/{slug}", "Closed: its sources are no longer fetched.")


@router.post("/events/{slug}/reopen")
def reopen_event(web: State, slug: str) -> Response:
    web.event(slug)
    web.app.store.set_closed(slug, None)
    web.cache.invalidate("")
    return done(f"/admin/events/{slug}", "Reopened: its sources are fetched again.")


@router.post("/events/{slug}/sources")
async def add_source(request: Request, web: State, admin: AdminDep, slug: str) -> Response:
    event = web.event(slug)
    form = await _form(request)
    try:
        spec = source_from_form(event, form)
    except FormErrors as e:
        return _event_page(
            request,
            web,
            admin,
            slug,
            status=400,
            source_errors=e.errors,
            source_values=form,
        )
    added = web.app.store.add_admin_source(spec, now=web.app.clock())
    message = "Added" if added else "Already followed; switched on"
    return done(f"/admin/events/{slug}", f"{message}: {spec.target}. Fetched from the next tick.")


@router.post("/sources/toggle")
async def toggle_source(request: Request, web: State) -> Response:
    form = await _form(request)
    source_id, on = form.get("source_id", ""), form.get("enabled") == "1"
    event = source_id.split("/", 1)[0]
    try:
        web.app.store.set_source_enabled(source_id, on, now=web.app.clock())
    except Exception:
        raise HTTPException(404, f"no source {source_id!r}") from None
    return done(f"/admin/events/{event}", f"{source_id} switched {'on' if on else 'off'}.")
