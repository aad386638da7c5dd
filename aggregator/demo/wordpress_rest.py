"""The simulated site's REST API: ``/wp-json/`` (or ``?rest_route=``), shaped like core.

The routes, parameters and traps are listed in :mod:`aggregator.demo.wordpress_sim`'s
docstring; :func:`reply` answers one request for a :class:`WordPressSite`, which calls
it under its lock.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from aggregator.demo.httpserver import Request, Response
from aggregator.demo.wordpress_text import comment_text, wptexturize

if TYPE_CHECKING:
    from aggregator.demo.wordpress_sim import SimComment, SimPost, WordPressSite

MAX_PER_PAGE = 100
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
)
_EMBEDDABLE = frozenset({"author", "replies"})
"""The link relations of a simulated post that ``?_embed`` can embed."""
_ORDERBY = {"id": "id", "date": "date", "date_gmt": "date_gmt", "post": "post", "parent": "parent"}


@dataclass(slots=True)
class _Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def reply(site: WordPressSite, r: Request, route: str) -> Response:
    base = r.base_url
    if site.rest_api == "login_required":
        reply = _error(401, "rest_not_logged_in", "You are not currently logged in.")
    elif route == "/":
        reply = _Reply(body=_index(site, base))
    elif route == "/wp/v2/comments":
        reply = _comment_list(site, r)
    elif m := re.fullmatch(r"/wp/v2/comments/(\d+)", route):
        c = site.comments.get(int(m.group(1)))
        if c is None or c.status != "approved":
            reply = _error(404, "rest_comment_invalid_id", "Invalid comment ID.")
        else:
            reply = _Reply(body=_comment_json(site, base, c))
    elif route == "/wp/v2/posts":
        reply = _post_list(site, r)
    elif route == "/wp/v2/pages":
        reply = _Reply(body=[], headers={"X-WP-Total": "0", "X-WP-TotalPages": "0"})
    elif m := re.fullmatch(r"/wp/v2/(posts|pages)/(\d+)", route):
        post = site.posts.get(int(m.group(2))) if m.group(1) == "posts" else None
        if post is None:
            reply = _error(404, "rest_post_invalid_id", "Invalid post ID.")
        else:
            reply = _Reply(body=_post_json(site, base, post, _embed_rels(r)))
    elif (m := re.fullmatch(r"/wp/v2/users/(\d+)", route)) and site.users_api != "unlinked":
        reply = _user_reply(site, base, int(m.group(1)), "view")
    else:
        reply = _error(
            404, "rest_no_route", "No route was found matching the URL and request method."
        )
    fields = r.arg("_fields")
    body = _only_fields(reply.body, fields.split(",")) if fields else reply.body
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
        "Allow": "GET",
    }
    links = [f'<{site.api_root(base)}>; rel="https://api.w.org/"']
    links += [reply.headers.pop("Link")] if "Link" in reply.headers else []
    headers["Link"] = ", ".join(links)
    headers.update(reply.headers)
    return Response(reply.status, headers, _php_json(body))


def _index(site: WordPressSite, base: str) -> dict[str, Any]:
    return {
        "name": site.name,
        "description": site.description,
        "url": base,
        "home": base,
        "gmt_offset": _offset_hours(site.tz),
        "namespaces": ["oembed/1.0", "wp/v2", "wp-site-health/v1"],
        "authentication": [],
        "routes": {},
    }


def _comment_list(site: WordPressSite, r: Request) -> _Reply:
    bad: dict[str, str] = {}
    per_page = int_or_none(r.arg("per_page", "10"))
    if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
        bad["per_page"] = f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"
    page = int_or_none(r.arg("page", "1"))
    if page is None or page < 1:
        bad["page"] = "page must be greater than or equal to 1"
    offset = int_or_none(r.arg("offset", "0"))
    if offset is None or offset < 0:
        bad["offset"] = "offset is not of type integer."
    order = r.arg("order", "desc")
    if order not in ("asc", "desc"):
        bad["order"] = "order is not one of asc and desc."
    orderby = r.arg("orderby", "date_gmt") or "date_gmt"
    if orderby not in _ORDERBY:
        bad["orderby"] = "orderby is not one of " + ", ".join(_ORDERBY) + "."
    bounds: dict[str, datetime] = {}
    for name in ("after", "before"):
        value = r.arg(name)
        if value is not None:
            if not _DATE_TIME.match(value):
                bad[name] = "Invalid date."
            else:
                bounds[name] = _local_bound(site, value)
    posts, parents = _id_list(r, "post"), _id_list(r, "parent")
    if posts is None:
        bad["post"] = "post[0] is not of type integer."
    if parents is None:
        bad["parent"] = "parent[0] is not of type integer."
    if bad:
        return _error(
            400, "rest_invalid_param", "Invalid parameter(s): " + ", ".join(bad), params=bad
        )
    for name, allowed in (("status", "approve"), ("type", "comment")):
        if r.arg(name, allowed) != allowed:
            return _error(401, "rest_forbidden_param", f"Query parameter not permitted: {name}")
    assert per_page is not None
    assert page is not None
    assert offset is not None
    found = [
        c
        for c in site.comments.values()
        if c.status == "approved"
        and (not posts or c.post in posts)
        and (not parents or c.parent in parents)
        and ("after" not in bounds or site.local(c.date_gmt) > bounds["after"])
        and ("before" not in bounds or site.local(c.date_gmt) < bounds["before"])
    ]
    found.sort(key=_sort_key(site, orderby), reverse=order == "desc")
    total = len(found)
    pages = -(-total // per_page)
    start = offset if r.arg("offset") else per_page * (page - 1)
    body = [_comment_json(site, r.base_url, c) for c in found[start : start + per_page]]
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    query = {k: v[-1] for k, v in r.query.items() if k != "rest_route"}
    links = []
    if page > 1:
        query["page"] = str(min(page - 1, max(pages, 1)))
        links.append(f'<{site.route(r.base_url, "wp/v2/comments", query)}>; rel="prev"')
    if pages > page:
        query["page"] = str(page + 1)
        links.append(f'<{site.route(r.base_url, "wp/v2/comments", query)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return _Reply(body=body, headers=headers)


def _sort_key(site: WordPressSite, orderby: str) -> Callable[[SimComment], tuple[Any, ...]]:
    # WP_Comment_Query breaks ties on comment_ID in the same direction.
    by: dict[str, Callable[[SimComment], Any]] = {
        "id": lambda c: 0,
        "date": lambda c: site.local(c.date_gmt),
        "date_gmt": lambda c: c.date_gmt,
        "post": lambda c: c.post,
        "parent": lambda c: c.parent,
    }
    key = by[_ORDERBY[orderby]]
    return lambda c: (key(c), c.id)


def _local_bound(site: WordPressSite, value: str) -> datetime:
    # WordPress ≥ 5.3 converts a value with a zone to the site's clock; one without
    # is taken as site-local already (WP_Date_Query::build_mysql_datetime).
    when = datetime.fromisoformat(value.replace("z", "Z").replace(" ", "T"))
    return site.local(when) if when.tzinfo else when.replace(microsecond=0)


def _comment_json(site: WordPressSite, base: str, c: SimComment) -> dict[str, Any]:
    """Core's ``view`` context, field for field (``prepare_item_for_response``)."""
    data: dict[str, Any] = {
        "id": c.id,
        "post": c.post,
        "parent": c.parent,
        "author": c.user_id,
        "author_name": c.author_name,
        "author_url": c.author_url,
        "date": wp_date(site.local(c.date_gmt)),
        "date_gmt": wp_date(c.date_gmt.replace(tzinfo=None)),
        "content": {"rendered": comment_text(c.content)},
        "link": site.comment_link(base, c),
        "status": "approved",
        "type": "comment",
    }
    if site.show_avatars:
        digest = hashlib.sha256((c.author_email or c.author_name).lower().encode()).hexdigest()
        data["author_avatar_urls"] = {
            str(s): f"https://secure.gravatar.com/avatar/{digest}?s={s}&d=mm&r=g"
            for s in (24, 48, 96)
        }
    data["meta"] = []
    links: dict[str, list[dict[str, Any]]] = {
        "self": [{"href": site.route(base, f"wp/v2/comments/{c.id}")}],
        "collection": [{"href": site.route(base, "wp/v2/comments")}],
    }
    if c.user_id:
        links["author"] = [
            {"embeddable": True, "href": site.route(base, f"wp/v2/users/{c.user_id}")}
        ]
    links["up"] = [
        {
            "embeddable": True,
            "post_type": "post",
            "href": site.route(base, f"wp/v2/posts/{c.post}"),
        }
    ]
    if c.parent:
        links["in-reply-to"] = [
            {"embeddable": True, "href": site.route(base, f"wp/v2/comments/{c.parent}")}
        ]
    # WP_Comment::get_children() counts approved and held replies alike.
    if any(x.parent == c.id and x.status in ("approved", "hold") for x in site.comments.values()):
        links["children"] = [
            {"embeddable": True, "href": site.route(base, "wp/v2/comments", {"parent": c.id})}
        ]
    data["_links"] = links
    return data


def _post_list(site: WordPressSite, r: Request) -> _Reply:
    slug = r.arg("slug")
    found = [p for p in site.posts.values() if slug is None or p.slug in slug.split(",")]
    found.sort(key=lambda p: (p.date_gmt, p.id), reverse=True)
    headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(min(1, len(found)))}
    embed = _embed_rels(r)
    body = [_post_json(site, r.base_url, p, embed) for p in found]
    return _Reply(body=body, headers=headers)


def _post_json(
    site: WordPressSite, base: str, p: SimPost, embed: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Core's ``view`` context (``WP_REST_Posts_Controller::prepare_item_for_response``),
    with ``_embedded`` for the ``embed`` link relations (``?_embed``)."""
    user = site.user_named(p.author)
    links: dict[str, list[dict[str, Any]]] = {
        "self": [{"href": site.route(base, f"wp/v2/posts/{p.id}")}],
        "collection": [{"href": site.route(base, "wp/v2/posts")}],
        "about": [{"href": site.route(base, "wp/v2/types/post")}],
    }
    if site.users_api != "unlinked":
        links["author"] = [{"embeddable": True, "href": site.route(base, f"wp/v2/users/{user.id}")}]
    links["replies"] = [
        {"embeddable": True, "href": site.route(base, "wp/v2/comments", {"post": p.id})}
    ]
    data: dict[str, Any] = {
        "id": p.id,
        "date": wp_date(site.local(p.date_gmt)),
        "date_gmt": wp_date(p.date_gmt.replace(tzinfo=None)),
        "guid": {"rendered": f"{base}/?p={p.id}"},
        "modified": wp_date(site.local(p.modified_gmt)),
        "modified_gmt": wp_date(p.modified_gmt.replace(tzinfo=None)),
        "slug": p.slug,
        "status": "publish",
        "type": "post",
        "link": site.post_url(base, p.id),
        "title": {"rendered": wptexturize(html.escape(p.title, quote=False))},
        "content": {"rendered": p.content, "protected": False},
        "excerpt": {"rendered": _excerpt(p.content), "protected": False},
        "author": user.id,
        "featured_media": 0,
        "comment_status": "open",
        "ping_status": "open",
        "sticky": False,
        "template": "",
        "format": "standard",
        "meta": {"footnotes": ""},
        "categories": [1],
        "tags": [],
        "_links": links,
    }
    # WP_REST_Server::embed_links: a relation is embedded only if one of its links is.
    embedded: dict[str, list[Any]] = {}
    if "author" in embed and "author" in links:
        embedded["author"] = [_user_reply(site, base, user.id, "embed").body]
    if "replies" in embed:
        embedded["replies"] = [_embedded_replies(site, base, p.id)]
    if embedded:
        data["_embedded"] = embedded
    return data


def _user_reply(site: WordPressSite, base: str, user_id: int, context: str) -> _Reply:
    """``GET /wp/v2/users/ID``: public for authors of published posts."""
    user = site.users.get(user_id)
    if site.users_api == "refused" or user is None:
        # core answers 401 for users it will not show, so as not to confirm they exist
        return _error(401, "rest_user_cannot_view", "Sorry, you are not allowed to list users.")
    digest = hashlib.sha256(html.unescape(user.name).lower().encode()).hexdigest()
    author_page = (
        f"{base}/author/{user.slug}/" if site.pretty_permalinks else f"{base}/?author={user.id}"
    )
    data: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "url": "",
        "description": "",
        "link": author_page,
        "slug": user.slug,
    }
    if site.show_avatars:
        data["avatar_urls"] = {
            str(s): f"https://secure.gravatar.com/avatar/{digest}?s={s}&d=mm&r=g"
            for s in (24, 48, 96)
        }
    if context == "view":
        data["meta"] = []
    data["_links"] = {
        "self": [{"href": site.route(base, f"wp/v2/users/{user.id}")}],
        "collection": [{"href": site.route(base, "wp/v2/users")}],
    }
    return _Reply(body=data)


def _embedded_replies(site: WordPressSite, base: str, post_id: int) -> list[dict[str, Any]]:
    """The ``replies`` link's first page (10, newest first), in the ``embed`` context."""
    newest = sorted(
        (c for c in site.comments.values() if c.post == post_id and c.status == "approved"),
        key=lambda c: (c.date_gmt, c.id),
        reverse=True,
    )[:10]
    hidden = {"post", "date_gmt", "status", "meta"}  # view/edit-only fields
    return [
        {k: v for k, v in _comment_json(site, base, c).items() if k not in hidden} for c in newest
    ]


def wp_date(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _php_json(body: Any) -> bytes:
    # PHP's json_encode defaults: \uXXXX for non-ASCII (surrogate pairs for emoji), "\/".
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def _only_fields(body: Any, fields: Iterable[str]) -> Any:
    wanted = {f.strip() for f in fields}
    if isinstance(body, list):
        return [_only_fields(b, wanted) for b in body]
    if isinstance(body, dict) and "code" not in body:
        return {k: v for k, v in body.items() if k in wanted}
    return body


def _embed_rels(r: Request) -> frozenset[str]:
    """``rest_parse_embed_param``: ``_embed`` alone (or ``1``, ``true``) embeds every
    embeddable link; ``_embed=author,replies`` (WordPress ≥ 5.4) just those."""
    if "_embed" not in r.query:
        return frozenset()
    value = r.arg("_embed") or ""
    rels = frozenset(v for v in re.split(r"[\s,]+", value) if v)
    return _EMBEDDABLE if value in ("1", "true") or not rels else rels


def _excerpt(content: str) -> str:
    """``wp_trim_excerpt`` then ``the_excerpt``: 55 words of the text, wpautop'd."""
    words = re.sub(r"<[^>]*>", " ", content).split()
    text = " ".join(words[:55]) + (" [&hellip;]" if len(words) > 55 else "")
    return f"<p>{wptexturize(text)}</p>\n" if text else ""


def _error(status: int, code: str, message: str, **data: Any) -> _Reply:
    return _Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


def _id_list(r: Request, name: str) -> set[int] | None:
    values = [
        v for raw in r.query.get(name, []) + r.query.get(f"{name}[]", []) for v in raw.split(",")
    ]
    ids = [int_or_none(v.strip()) for v in values if v.strip()]
    return None if any(i is None for i in ids) else {i for i in ids if i is not None}


def int_or_none(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit() or not value.isascii():
        return None
    return int(value)


def _offset_hours(tz: tzinfo) -> float:
    offset = datetime.now(UTC).astimezone(tz).utcoffset() or timedelta(0)
    return offset.total_seconds() / 3600
