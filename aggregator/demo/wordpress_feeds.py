"""The simulated site's comment feeds: RSS 2.0 and Atom, and their conditional GET.

Shaped like core's ``feed-rss2-comments.php`` and ``feed-atom-comments.php`` (tabs and
all), with the validators of ``WP::send_headers()``: the ETag and Last-Modified are
site-global and built from the newest post modification or approved comment *date*,
so an edit or a late approval of an old comment does not change them.
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from aggregator.demo.httpserver import Request, Response
from aggregator.demo.wordpress_text import comment_text, comment_text_rss, ent2ncr, esc_html

if TYPE_CHECKING:
    from aggregator.demo.wordpress_sim import SimComment, WordPressSite


def feed(site: WordPressSite, r: Request, post_id: int | None, kind: str) -> Response:
    """The comment feed of one post (``post_id``) or of the whole site (``None``), as
    ``kind`` ``"rss2"`` or ``"atom"``; 304 when the request's validators still match."""
    last_modified = _last_modified(site)
    etag = '"' + hashlib.md5(last_modified.encode()).hexdigest() + '"'
    content_type = "application/atom+xml" if kind == "atom" else "application/rss+xml"
    headers = {
        "Content-Type": f"{content_type}; charset=UTF-8",
        "Last-Modified": last_modified,
        "ETag": etag,
    }
    if not_modified(r, etag, last_modified):
        return Response(304, headers)
    comments = sorted(
        (
            c
            for c in site.comments.values()
            if c.status == "approved" and (post_id is None or c.post == post_id)
        ),
        key=lambda c: (c.date_gmt, c.id),
        reverse=True,
    )[: site.posts_per_rss]
    render = _atom if kind == "atom" else _rss
    return Response(200, headers, render(site, r.base_url, post_id, comments).encode())


def _last_modified(site: WordPressSite) -> str:
    # WP::send_headers(): the newer of get_lastpostmodified and get_lastcommentmodified
    # (the newest approved comment_date_gmt), site-wide.
    dates = [p.modified_gmt for p in site.posts.values()]
    dates += [c.date_gmt for c in site.comments.values() if c.status == "approved"]
    newest = max(dates, default=datetime(2000, 1, 1, tzinfo=UTC))
    return newest.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _build_date(site: WordPressSite, post_id: int | None, comments: list[SimComment]) -> datetime:
    dates = [c.date_gmt for c in comments]
    dates += [p.modified_gmt for p in site.posts.values() if post_id in (None, p.id)]
    return max(dates, default=datetime(2000, 1, 1, tzinfo=UTC))


def _feed_title(site: WordPressSite, post_id: int | None, atom: bool) -> str:
    if post_id is None:
        return f"Comments for {_rss_text(site.name)}"
    sep = "" if atom else ":"
    return f"Comments on{sep} {_rss_text(site.posts[post_id].title)}"


def _entry_title(site: WordPressSite, post_id: int | None, c: SimComment) -> str:
    if post_id is None:
        title = _rss_text(site.posts[c.post].title)
        return f"Comment on {title} by {_author_rss(c)}"
    return f"By: {_author_rss(c)}"


def _rss(site: WordPressSite, base: str, post_id: int | None, comments: list[SimComment]) -> str:
    link = site.post_url(base, post_id) if post_id is not None else base
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
        '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
        '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n\t\n\t>\n<channel>\n'
        f"\t<title>\n\t{_feed_title(site, post_id, atom=False)}\t</title>\n"
        f'\t<atom:link href="{_attr(site.feed_url(base, post_id, "rss2"))}" rel="self" '
        'type="application/rss+xml" />\n'
        f"\t<link>{_attr(link)}</link>\n"
        f"\t<description>{_rss_text(site.description)}</description>\n"
        f"\t<lastBuildDate>{_rfc822(_build_date(site, post_id, comments))}</lastBuildDate>\n"
        "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n"
        "\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n"
        "\t<generator>https://wordpress.org/?v=6.9</generator>\n"
    ]
    for c in comments:
        out.append(
            f"\t\t\t<item>\n\t\t\t\t<title>\n\t\t\t\t{_entry_title(site, post_id, c)}"
            f"\t\t\t\t</title>\n\t\t\t\t<link>{_attr(site.comment_link(base, c))}</link>\n\n"
            f"\t\t<dc:creator>{_cdata(_author_rss(c))}</dc:creator>\n"
            f"\t\t<pubDate>{_rfc822(c.date_gmt)}</pubDate>\n"
            f'\t\t<guid isPermaLink="false">{_attr(_comment_guid(base, c))}</guid>\n\n'
            f"\t\t\t\t\t<description>{_cdata(comment_text_rss(c.content))}</description>\n"
            f"\t\t<content:encoded>{_cdata(comment_text(c.content))}</content:encoded>\n\n"
            "\t\t\t\t\t</item>\n"
        )
    out.append("\t</channel>\n</rss>\n")
    return "".join(out)


def _atom(site: WordPressSite, base: str, post_id: int | None, comments: list[SimComment]) -> str:
    self_url = site.feed_url(base, post_id, "atom")
    alternate = site.post_url(base, post_id) + "#comments" if post_id is not None else base
    out = [
        '<?xml version="1.0" encoding="UTF-8" ?><feed\n'
        '\txmlns="http://www.w3.org/2005/Atom"\n\txml:lang="fr-FR"\n'
        '\txmlns:thr="http://purl.org/syndication/thread/1.0"\n\t>\n'
        f'\t<title type="text">\n\t{_feed_title(site, post_id, atom=True)}\t</title>\n'
        f'\t<subtitle type="text">{_rss_text(site.description)}</subtitle>\n\n'
        f"\t<updated>{_atom_date(_build_date(site, post_id, comments))}</updated>\n\n"
        f'\t<link rel="alternate" type="text/html" href="{_attr(alternate)}" />\n'
        f'\t<link rel="self" type="application/atom+xml" href="{_attr(self_url)}" />\n'
        f"\t<id>{_attr(self_url)}</id>\n"
    ]
    for c in comments:
        link = site.comment_link(base, c)
        uri = f"\t\t\t<uri>{_attr(c.author_url)}</uri>\n" if c.author_url else ""
        if c.parent and c.parent in site.comments:
            parent = site.comments[c.parent]
            ref, href = _comment_guid(base, parent), site.comment_link(base, parent)
        else:
            ref, href = f"{base}/?p={c.post}", site.post_url(base, c.post)
        out.append(
            f"\t<entry>\n\t\t<title>\n\t\t{_entry_title(site, post_id, c)}\t\t\t</title>\n"
            f'\t\t\t<link rel="alternate" href="{_attr(link)}" type="text/html" />\n\n'
            f"\t\t<author>\n\t\t\t<name>{_author_rss(c)}</name>\n{uri}\n\t\t</author>\n\n"
            f"\t\t<id>{_attr(_comment_guid(base, c))}</id>\n"
            f"\t\t<updated>{_atom_date(c.date_gmt)}</updated>\n"
            f"\t\t<published>{_atom_date(c.date_gmt)}</published>\n"
            f'\t\t<content type="html" xml:base="{_attr(link)}">'
            f"{_cdata(comment_text(c.content))}</content>\n"
            f'\t\t<thr:in-reply-to ref="{_attr(ref)}" href="{_attr(href)}" '
            'type="text/html" />\n\t</entry>\n'
        )
    out.append("</feed>\n")
    return "".join(out)


def _rss_text(text: str) -> str:
    return ent2ncr(esc_html(text))


def _author_rss(c: SimComment) -> str:
    return ent2ncr(c.author_name)


def _comment_guid(base: str, c: SimComment) -> str:
    return f"{base}/?p={c.post}#comment-{c.id}"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _rfc822(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _atom_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_modified(r: Request, etag: str, last_modified: str) -> bool:
    """WP::send_headers(): both validators must match when both are sent, else either."""
    client_etag = r.headers.get("if-none-match", "")
    client_since = r.headers.get("if-modified-since", "").strip()
    try:
        since_ok = bool(client_since) and parsedate_to_datetime(
            client_since
        ) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        since_ok = False
    etag_ok = bool(client_etag) and client_etag == etag
    if client_etag and client_since:
        return since_ok and etag_ok
    return since_ok or etag_ok


__all__ = ["feed", "not_modified"]
