"""oEmbed responses for the embeddable roundup (https://oembed.com/, version 1.0).

A consumer (a blog, a CMS) asks for a digest's embed with an optional ``maxwidth`` and
``maxheight``; the answer is a ``rich`` response whose ``html`` is an ``<iframe>`` of
the published embed page (``digest-embed.html``), sized within those bounds. The frame
is sandboxed: the embed needs no script, and its links may only open new windows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from markupsafe import escape

from aggregator.digest.context import DigestContext

WIDTH = 480
HEIGHT = 640
# A period still in progress changes with every fetch; a finished one changes only
# with late edits and deletions.
CACHE_LIVE = 900
CACHE_SETTLED = 86_400


def oembed(
    context: DigestContext, *, embed_url: str, maxwidth: int | None, maxheight: int | None
) -> dict[str, Any]:
    """The oEmbed ``rich`` response for the embed published at ``embed_url``.

    ``width`` and ``height`` never exceed ``maxwidth``/``maxheight`` (spec, 2.2); the
    iframe is exactly that size."""
    for name, bound in (("maxwidth", maxwidth), ("maxheight", maxheight)):
        if bound is not None and bound < 1:
            raise ValueError(f"{name} must be a positive number of pixels, not {bound}")
    width = min(WIDTH, maxwidth) if maxwidth else WIDTH
    height = min(HEIGHT, maxheight) if maxheight else HEIGHT
    title = f"{context.event.title}: {context.period.label}"
    frame = (
        f'<iframe src="{escape(embed_url)}" width="{width}" height="{height}"'
        f' title="{escape(title)}" loading="lazy" style="border:0;max-width:100%"'
        ' sandbox="allow-popups allow-popups-to-escape-sandbox"></iframe>'
    )
    settled = context.generated_at >= context.period.end + timedelta(hours=1)
    return {
        "version": "1.0",
        "type": "rich",
        "title": title,
        "provider_name": "aggregator",
        "html": frame,
        "width": width,
        "height": height,
        "cache_age": CACHE_SETTLED if settled else CACHE_LIVE,
    }
