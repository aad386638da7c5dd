"""The admin: sign-in, the dashboard with live source health, "fetch now", and the
configuration export. Events and sources: :mod:`.admin_events`; moderation, opt-outs
and embed codes: :mod:`.admin_curation`.

Every route of :data:`router` needs a signed-in session (and, to change anything,
its CSRF token): :func:`aggregator.web.guard.require_admin`.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from aggregator.config_export import export_toml
from aggregator.service.health import as_json, source_reports
from aggregator.web.auth import COOKIE, Limits, SignInRefused, sign_in
from aggregator.web.guard import Admin, AdminDep, require_admin, signed_in
from aggregator.web.state import WebState, web_state

State = Annotated[WebState, Depends(web_state)]
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_admin)])
entry = APIRouter(prefix="/admin", include_in_schema=False)
LOGIN_CSRF = "aggregator_login"
STATIC = Path(__file__).parent / "static"
WORKER = f"web:{socket.gethostname()}:{os.getpid()}"


def page(
    web: WebState,
    request: Request,
    template: str,
    admin: Admin | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = web.env.get_template(f"admin/{template}").render(
        admin=admin,
        csrf=admin.csrf if admin else "",
        msg=request.query_params.get("msg"),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def done(url: str, message: str) -> RedirectResponse:
    """After a change: back to a page, which says what happened (303: GET it)."""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}msg={quote(message)}", status_code=303)


def safe_next(target: str | None) -> str:
    # Only back into the admin: never an open redirect to another site.
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return "/admin/"


def _secure(web: WebState) -> bool:
    settings = web.app.settings.web
    if settings.secure_cookies is not None:
        return settings.secure_cookies
    return (settings.base_url or "").startswith("https://")


# -- signing in ---------------------------------------------------------------------


@entry.get("/login", response_class=HTMLResponse)
def login_form(request: Request, web: State, next: str | None = None) -> Response:
    if signed_in(request, web) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(web, request, next=next)


def _login_page(
    web: WebState,
    request: Request,
    *,
    next: str | None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    # The sign-in form has no session yet: its CSRF token is a cookie the form must
    # repeat (double submit), so another site cannot sign a browser in.
    token = secrets.token_urlsafe(24)
    response = page(
        web, request, "login.html", None, status=status, token=token, next=next, error=error
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(web),
        path="/admin/login",
        max_age=3600,
    )
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


@entry.post("/login")
def login(
    request: Request,
    web: State,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or not secrets.compare_digest(expected, token):
        return _login_page(
            web,
            request,
            next=next,
            error="The sign-in form expired or did not come from this site: try again.",
            status=403,
        )
    settings = web.app.settings.web
    address = request.client.host if request.client else "unknown"
    try:
        signed = sign_in(
            web.app.store,
            username.strip(),
            password,
            address=address,
            now=web.app.clock(),
            limits=Limits(
                settings.login_attempts, timedelta(minutes=settings.login_window_minutes)
            ),
            lifetime=timedelta(hours=settings.session_hours),
        )
    except SignInRefused as e:
        return _login_page(
            web,
            request,
            next=next,
            error=f"Sign-in refused: {e}.",
            status=429,
            headers={"Retry-After": str(e.retry_after)},
        )
    if signed is None:
        return _login_page(web, request, next=next, error="Wrong name or password.", status=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        signed.token,
        httponly=True,
        samesite="lax",
        secure=_secure(web),
        path="/",
        max_age=int(settings.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF, path="/admin/login")
    return response


@router.post("/logout")
def logout(web: State, admin: AdminDep) -> Response:
    web.app.store.end_session(admin.token_hash)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the dashboard --------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, web: State, admin: AdminDep) -> Response:
    now = web.app.clock()
    return page(
        web,
        request,
        "dashboard.html",
        admin,
        events=web.app.store.events(),
        meta=web.app.store.event_meta(),
        reports=source_reports(web.app.store, now),
        now=now,
    )


@router.get("/health.json")
def health(web: State, event: str | None = None) -> Response:
    """The source health table, for the dashboard to refresh itself."""
    reports = source_reports(web.app.store, web.app.clock(), event)
    return JSONResponse(
        {"sources": [as_json(r) for r in reports]}, headers={"Cache-Control": "no-store"}
    )


@router.get("/config.toml")
def export(web: State) -> Response:
    text = export_toml(web.app.settings, web.app.store)
    return Response(
        text,
        media_type="application/toml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="aggregator.toml"'},
    )


@router.post("/sources/fetch")
async def fetch_now(
    web: State,
    source_id: Annotated[str, Form()],
    back: Annotated[str | None, Form()] = None,
) -> Response:
    """Fetch one source now, here, under a lease (a running collector skips it
    meanwhile), and say how it went."""
    app, back_to = web.app, safe_next(back)
    lease = timedelta(seconds=app.settings.service.lease_seconds)
    state = app.store.claim_source(source_id, WORKER, now=app.clock(), lease=lease)
    if state is None:
        return done(back_to, f"{source_id} is being fetched by a worker right now, or is off.")
    try:
        async with app.client() as client:
            report = await app.updater(client, worker=WORKER).update_one(state)
    finally:
        app.store.release(WORKER, [source_id])
    web.cache.invalidate(state.spec.event)
    if report.error:
        return done(back_to, f"{source_id}: failed: {report.error}")
    c = report.counts
    return done(
        back_to, f"{source_id}: fetched {report.fetched}: {c.new} new, {c.updated} updated."
    )


@entry.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
