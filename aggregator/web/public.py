"""The public side: the event index, each event's page, its digests in every format
(at the addresses ``aggregator archive`` publishes them under), the embeds, the Atom
feed and the oEmbed endpoint."""

from __future__ import annotations

import json
import re
from datetime import date
from html import escape
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from aggregator.deliver.jobs import event_feed
from aggregator.digest.context import DigestContext, build_context, day_period, event_period
from aggregator.digest.oembed import oembed
from aggregator.digest.render import FORMATS, published_url, render
from aggregator.store import EventRecord
from aggregator.web.pages import Page, page
from aggregator.web.state import WebState, web_state

router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]

# Readers must see a hidden post go at once: browsers and proxies revalidate every
# time, and the ETag makes that a 304 without a body.
CACHE_CONTROL = "public, max-age=0, must-revalidate"
TEXT_TYPES = {"text/html", "text/plain", "text/markdown"}

# "2026-11-20.paste.html" -> ("2026-11-20", "paste"): each format's file name suffix.
_SUFFIXES = {
    f.day_file.rsplit("{day}", 1)[1]: name
    for name, f in FORMATS.items()
    if name not in ("embed", "oembed")
}
_NAME = re.compile(r"^(event|\d{4}-\d{2}-\d{2})(\..+)$")


def send(request: Request, p: Page, cache_control: str = CACHE_CONTROL) -> Response:
    headers = {"Cache-Control": cache_control, **dict(p.headers)}
    body = p.body
    if p.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = p.gzipped, "gzip"
    etag = headers["ETag"] = p.gzip_etag if body is p.gzipped else p.etag
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media = p.media_type + ("; charset=utf-8" if p.media_type in TEXT_TYPES else "")
    return Response(body, media_type=media, headers=headers)


def _day(event: EventRecord, web: WebState, text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise HTTPException(404, f"{text!r} is not a day (YYYY-MM-DD)") from None
    if day not in web.days(event):
        raise HTTPException(404, f"{event.title} has no digest for {day} (yet)")
    return day


def _context(web: WebState, event: EventRecord, day: date | None) -> DigestContext:
    period = day_period(event, day) if day else event_period(event)
    return build_context(web.app.store, event, period, now=web.app.clock())


def discovery(base: str, event: EventRecord, day: date | None) -> str:
    """``<link>``s that let a blog engine find the oEmbed and a reader find the feed."""
    embed = f"{base}{FORMATS['embed'].path(event.slug, day)}"
    oembed_url = f"{base}oembed?url={quote(embed, safe='')}&format=json"
    return (
        f'<link rel="alternate" type="application/json+oembed" href="{escape(oembed_url)}"'
        f' title="{escape(event.title)}">\n'
        f'<link rel="alternate" type="application/atom+xml" '
        f'href="{escape(base + event.slug)}/digests.atom" title="Daily digests">\n'
    )


def _with_links(html: str, links: str) -> str:
    head, sep, rest = html.partition("</head>")
    return head + links + sep + rest if sep else html


async def digest_page(
    request: Request, web: WebState, event: EventRecord, day: date | None, fmt: str
) -> Response:
    base = web.base_url(request)

    def build() -> Page:
        text = render(_context(web, event, day), fmt, web.env, base_url=base)
        if fmt in ("html", "full", "embed"):
            text = _with_links(text, discovery(base, event, day))
        return page(text, FORMATS[fmt].media_type)

    return send(request, await web.cache.get(event.slug, (fmt, day, base), build))


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, web: State) -> Response:
    def build() -> Page:
        events = web.app.store.events()
        meta = web.app.store.event_meta()
        html = web.env.get_template("web/index.html").render(
            events=[(e, meta.get(e.slug)) for e in events]
        )
        return page(html, "text/html")

    return send(request, await web.cache.get("", "index", build))


@router.get("/oembed")
async def oembed_endpoint(
    request: Request,
    web: State,
    url: str,
    format: str = "json",
    maxwidth: Annotated[int | None, Query(ge=1)] = None,
    maxheight: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """oEmbed 1.0 for a digest or embed address of this app (``rich``, an iframe)."""
    if format != "json":
        raise HTTPException(501, "only format=json is offered")
    base = web.base_url(request)
    path = urlsplit(url).path
    if not url.startswith(base) and not url.startswith("/"):
        raise HTTPException(404, "not an address of this app")
    parts = path.strip("/").split("/")
    slug, name = (parts[0], parts[-1]) if len(parts) >= 2 else ("", "")
    event = web.event(slug)
    match = _NAME.match(name) or re.match(r"^(embed)(\.html)$", name)
    if not match:
        raise HTTPException(404, "not a digest address")
    day = None if match.group(1) in ("event", "embed") else _day(event, web, match.group(1))

    def build() -> Page:
        context = _context(web, event, day)
        body = oembed(
            context,
            embed_url=published_url(base, context, "embed"),
            maxwidth=maxwidth,
            maxheight=maxheight,
        )
        return page(json.dumps(body, ensure_ascii=False), "application/json")

    return send(
        request, await web.cache.get(slug, ("oembed", day, base, maxwidth, maxheight), build)
    )


@router.get("/{slug}/", response_class=HTMLResponse)
async def event_home(request: Request, web: State, slug: str) -> Response:
    event = web.event(slug)

    def build() -> Page:
        html = web.env.get_template("web/event.html").render(
            event=event,
            days=web.days(event),
            formats=_SUFFIXES,
            links=discovery(web.base_url(request), event, None),
        )
        return page(html, "text/html")

    return send(request, await web.cache.get(slug, ("home", web.base_url(request)), build))


@router.get("/{slug}/digests.atom")
async def feed(request: Request, web: State, slug: str) -> Response:
    event = web.event(slug)
    base = web.base_url(request)

    def build() -> Page:
        days = [_context(web, event, d) for d in web.over(event)]
        return page(
            event_feed(web.app, event, days, web.env, base_url=base), "application/atom+xml"
        )

    return send(request, await web.cache.get(slug, ("atom", base), build))


@router.get("/{slug}/embed.html")
async def event_embed(request: Request, web: State, slug: str) -> Response:
    return await digest_page(request, web, web.event(slug), None, "embed")


@router.get("/{slug}/embed/{name}")
async def day_embed(request: Request, web: State, slug: str, name: str) -> Response:
    event = web.event(slug)
    day_text, _, ext = name.partition(".")
    if ext != "html":
        raise HTTPException(404, "embeds are HTML")
    return await digest_page(request, web, event, _day(event, web, day_text), "embed")


@router.get("/{slug}/{name}")
async def digest(request: Request, web: State, slug: str, name: str) -> Response:
    event = web.event(slug)
    match = _NAME.match(name)
    if not match or match.group(2) not in _SUFFIXES:
        raise HTTPException(404, "no such page")
    when, fmt = match.group(1), _SUFFIXES[match.group(2)]
    day = None if when == "event" else _day(event, web, when)
    return await digest_page(request, web, event, day, fmt)
