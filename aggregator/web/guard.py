"""Who may use the admin: a signed-in session for every request, and that session's
CSRF token on every request that changes something."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from aggregator.web.auth import COOKIE, csrf_matches, token_hash
from aggregator.web.state import WebState, web_state

SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class Admin:
    username: str
    csrf: str
    token_hash: str


def signed_in(request: Request, web: WebState) -> Admin | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    hashed = token_hash(token)
    session = web.app.store.session(hashed, now=web.app.clock())
    return Admin(session.username, session.csrf, hashed) if session else None


async def require_admin(request: Request, web: Annotated[WebState, Depends(web_state)]) -> Admin:
    """Anonymous requests are refused: pages send the browser to sign in, anything
    else gets 403. A change without this session's CSRF token gets 403 too."""
    admin = signed_in(request, web)
    if admin is None:
        if request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(
                303,
                "sign in first",
                headers={"Location": f"/admin/login?next={quote(target, safe='')}"},
            )
        raise HTTPException(403, "sign in first")
    if request.method not in SAFE_METHODS:
        form = await request.form()
        given = form.get("csrf")
        if not csrf_matches(admin.csrf, given if isinstance(given, str) else None):
            raise HTTPException(
                403,
                "this form has expired or did not come from this site: reload the page "
                "and try again",
            )
    return admin


AdminDep = Annotated[Admin, Depends(require_admin)]
