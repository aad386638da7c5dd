"""Rendering digests with Jinja2.

The environment looks in the user's template folder first and in the packaged
templates second, so an organiser can override ``digest.html`` without touching
code. Autoescaping is on and undefined names are errors: a template typo fails a
test instead of printing nothing.

Every format renders the one :class:`DigestContext`; :data:`FORMATS` says which
template each uses and where it is published (the layout under ``digest.output``,
which is also the layout of the URLs under ``--base-url``).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
import orjson
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from aggregator.digest.activity import bar_chart
from aggregator.digest.addresses import web_url
from aggregator.digest.context import PLATFORM_LABELS, DigestContext, ItemView, ThreadNode
from aggregator.digest.figures import Figure
from aggregator.digest.markdown import html_to_markdown, markdown_escape
from aggregator.digest.oembed import oembed
from aggregator.digest.plaintext import Footnotes, html_to_text, squeeze_blank_lines
from aggregator.gcpause import collector_paused
from aggregator.sanitize import CLEANER, make_cleaner

PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True, slots=True)
class Format:
    template: str | None
    """``None``: built without a template (``json``, ``oembed``)."""
    media_type: str
    day_file: str
    """Where a day's digest is published, relative to the output folder or base URL."""
    event_file: str
    """Where the whole event's digest is published."""
    inline_css: bool = False
    """Move the template's ``<style>`` onto each element (e-mail clients drop ``<style>``)."""
    max_threads: int | None = None
    """Conversations shown per section, the busiest; the rest are counted and linked
    to the ``full`` page. A busy day has thousands: a page of megabytes nobody reads
    (and that a server under load spends its time sending, benchmarks/web.py)."""
    max_replies: int | None = None
    """Replies shown per conversation (a blog post's comment thread can run to
    hundreds); the rest are counted."""

    def path(self, slug: str, day: date | None) -> str:
        pattern = self.day_file if day else self.event_file
        return pattern.format(slug=slug, day=day.isoformat() if day else "")


def _format(
    template: str | None,
    ext: str,
    media_type: str,
    *,
    inline_css: bool = False,
    shown: tuple[int, int] | None = None,
) -> Format:
    """Published beside the HTML page: ``<slug>/<day>.<ext>``, ``<slug>/event.<ext>``."""
    day, event = f"{{slug}}/{{day}}.{ext}", f"{{slug}}/event.{ext}"
    threads, replies = shown or (None, None)
    return Format(template, media_type, day, event, inline_css, threads, replies)


SHOWN = (25, 10)
"""Conversations per section, replies per conversation, on the pages people read (the
e-mail's 25 too); the ``full`` page has every one."""

FORMATS: dict[str, Format] = {
    "html": _format("digest.html", "html", "text/html", shown=SHOWN),
    "full": _format("digest.html", "full.html", "text/html"),
    "paste": _format("digest-paste.html", "paste.html", "text/html", shown=SHOWN),
    "markdown": _format("digest.md", "md", "text/markdown", shown=SHOWN),
    "json": _format(None, "json", "application/json"),
    "email": _format("digest-email.html", "email.html", "text/html", inline_css=True),
    "text": _format("digest.txt", "txt", "text/plain"),
    # The embed has a stable address per event and day, independent of the page's:
    # that is the URL an oEmbed response (and a site embedding it) points at.
    "embed": Format(
        "digest-embed.html", "text/html", "{slug}/embed/{day}.html", "{slug}/embed.html"
    ),
    "oembed": Format(
        None,
        "application/json+oembed",
        "{slug}/embed/{day}.oembed.json",
        "{slug}/embed.oembed.json",
    ),
}

# Remote stylesheets are never fetched: rendering must not touch the network.
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
# For pages shown inside someone else's page (an <iframe>): every link leaves the frame.
_NEW_WINDOW = make_cleaner(set_tag_attribute_values={"a": {"target": "_blank"}})


def make_environment(user_templates: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(user_templates))] if user_templates else []
    loaders.append(FileSystemLoader(str(PACKAGED_TEMPLATES)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        # HTML and XML templates escape for HTML; Markdown and text templates do not
        # (Markdown escapes with ``md``).
        autoescape=select_autoescape(("html", "xml"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sanitized"] = sanitized
    env.filters["plural"] = plural
    env.filters["md"] = markdown_escape
    env.filters["md_post"] = md_post
    env.filters["platform_label"] = lambda p: PLATFORM_LABELS.get(p, p)
    env.filters["as_text"] = as_text
    env.filters["in_zone"] = in_zone
    env.filters["engagement"] = engagement
    env.filters["bar_chart"] = lambda activity: bar_chart(activity, PLATFORM_LABELS)
    env.filters["squeeze_blank_lines"] = squeeze_blank_lines
    env.filters["web_url"] = web_url
    env.filters["busiest"] = busiest
    # A filter, not ``.isoformat()``: a template calls a method through Context.call,
    # whose checks cost more than the call (item_card runs once per item).
    env.filters["isoformat"] = datetime.isoformat
    env.tests["shown_figure"] = shown_figure
    # The text format's link footnotes: one numbering per rendering.
    env.globals["footnotes"] = Footnotes
    return env


def sanitized(html: str, new_window: bool = False) -> Markup:
    """Stored HTML was sanitized on the way in; sanitizing again on the way out means
    a bug or an old row can never put script into a page. ``new_window``: links open
    in a new browsing context (for embeds)."""
    return Markup((_NEW_WINDOW if new_window else CLEANER).clean(html))


def as_text(html: str, notes: Footnotes) -> str:
    """Post HTML as plain text, its links cited in ``notes``; sanitized again first, so
    an old row cannot make a ``javascript:`` footnote."""
    return html_to_text(CLEANER.clean(html), notes)


def shown_figure(figure: Figure) -> bool:
    """Whether a headline figure is worth a place: a zero that did not change (no blog
    posts, as before) is not, but items and people always are."""
    return bool(figure.value or figure.change or figure.key in ("items", "people"))


def in_zone(moment: datetime, timezone: str) -> str:
    """``moment`` as the event's local clock shows it, with the zone's abbreviation."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def md_post(html: str) -> str:
    """Post HTML as Markdown: its web links stay links, its words stay inert text;
    sanitized again first, so an old row cannot make a ``javascript:`` link."""
    return html_to_markdown(CLEANER.clean(html))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def engagement(item: ItemView) -> str:
    """'2 replies · 3 boosts · 20 likes', leaving out what is zero or unknown."""
    counts = (
        (item.replies, "reply", "replies"),
        (item.reposts, "boost", "boosts"),
        (item.likes, "like", "likes"),
    )
    return " · ".join(plural(n, one, many) for n, one, many in counts if n)


def published_url(base_url: str, context: DigestContext, fmt: str) -> str:
    """Where ``fmt`` of this digest is published under ``base_url``."""
    return f"{base_url.rstrip('/')}/{published_path(context, fmt)}"


def published_path(context: DigestContext, fmt: str) -> str:
    day = context.period.first_day if context.period.kind == "day" else None
    return _known(fmt).path(context.event.slug, day)


def render(
    context: DigestContext,
    fmt: str,
    env: Environment | None = None,
    *,
    base_url: str | None = None,
) -> str:
    """``context`` in format ``fmt``. ``base_url``: where the output folder is published,
    for links between formats (the e-mail's and embed's link to the full page); the
    ``oembed`` format needs it."""
    spec = _known(fmt)
    # A full page makes tens of thousands of short-lived objects, none in a cycle
    # (aggregator.gcpause): a collection they set off walks the whole heap, context
    # and all, for nothing (one added 0.1 to 0.25 s to a 0.27 s page, benchmarks/digest.py).
    with collector_paused():
        return _render(context, fmt, spec, env, base_url)


def _render(
    context: DigestContext, fmt: str, spec: Format, env: Environment | None, base_url: str | None
) -> str:
    if fmt == "json":
        return to_json(context)
    if fmt == "oembed":
        if base_url is None:
            raise ValueError("the oembed format needs a base URL (where the embed is published)")
        response = oembed(
            context,
            embed_url=published_url(base_url, context, "embed"),
            maxwidth=None,
            maxheight=None,
        )
        return json.dumps(response, ensure_ascii=False, indent=2) + "\n"
    assert spec.template is not None
    env = env or make_environment()
    page = env.get_template(spec.template).render(
        d=context,
        page_url=_page_url(context, fmt, base_url),
        max_threads=spec.max_threads,
        max_replies=spec.max_replies,
        full_url=_full_url(context, fmt, base_url),
    )
    return _INLINER.inline(page) if spec.inline_css else page


@dataclass(frozen=True, slots=True)
class Shown:
    """A conversation as a page shows it: ``node`` with at most so many replies (the
    first ones, depth first), and how many replies that left out."""

    node: ThreadNode
    hidden: int = 0


def busiest(
    threads: Sequence[ThreadNode], limit: int | None, replies: int | None = None
) -> list[Shown]:
    """At most ``limit`` of ``threads``: the largest conversations, then the ones whose
    first post drew the most response; in their own order (time); each with at most
    ``replies`` replies."""
    keep: Sequence[int] = range(len(threads))
    if limit is not None and len(threads) > limit:

        def weight(i: int) -> tuple[int, int, int]:
            root = threads[i].item
            response = (root.replies or 0) + (root.reposts or 0) + (root.likes or 0)
            return (threads[i].size, response, -i)

        keep = sorted(sorted(keep, key=weight, reverse=True)[:limit])
    out = []
    for i in keep:
        node = threads[i]
        if replies is None or node.size - 1 <= replies:
            out.append(Shown(node))
        else:
            trimmed, kept = _trim(node, replies)
            out.append(Shown(trimmed, node.size - 1 - kept))
    return out


def _trim(node: ThreadNode, budget: int) -> tuple[ThreadNode, int]:
    """``node`` with at most ``budget`` replies under it, depth first; and how many."""
    kept: list[ThreadNode] = []
    used = 0
    for child in node.replies:
        if used >= budget:
            break
        sub, n = _trim(child, budget - used - 1)
        kept.append(sub)
        used += 1 + n
    return ThreadNode(node.item, tuple(kept)), used


def _full_url(context: DigestContext, fmt: str, base_url: str | None) -> str | None:
    """Where every conversation is: absolute under ``base_url``; without one, beside
    the HTML page (a relative link), and absent from the formats pasted elsewhere."""
    if base_url:
        return published_url(base_url, context, "full")
    if fmt == "html":
        return posixpath.basename(published_path(context, "full"))
    return None


def _known(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def _page_url(context: DigestContext, fmt: str, base_url: str | None) -> str | None:
    """The full HTML digest, linked from the other formats: absolute under
    ``base_url``; without one, relative from the embed (a link in a frame resolves
    against the frame's address) and absent elsewhere."""
    if base_url:
        return published_url(base_url, context, "html")
    if fmt == "embed":
        folder = posixpath.dirname(published_path(context, "embed"))
        return posixpath.relpath(published_path(context, "html"), folder)
    return None


def to_json(context: DigestContext) -> str:
    # orjson walks the frozen dataclasses itself: several times faster than building
    # dicts first (benchmarks/digest.py).
    return orjson.dumps(context, option=orjson.OPT_INDENT_2).decode() + "\n"
