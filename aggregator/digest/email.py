"""A digest as an e-mail: subject, HTML part and plain-text alternative.

The HTML part (``digest-email.html``) has every style inlined on its elements, since
Gmail and Outlook drop or rewrite ``<style>`` blocks; its layout is tables at most
640px wide, with no scripts, images or SVG. The text part (``digest.txt``) is the same
digest for clients that show no HTML, its links as numbered footnotes. Both come from
the one context, so they say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from aggregator.digest.context import DigestContext
from aggregator.digest.render import make_environment, plural, render


@dataclass(frozen=True, slots=True)
class EmailParts:
    subject: str
    html: str
    text: str


def subject(context: DigestContext) -> str:
    """'<event>: <period> — N items from M people', on one line (a title with a
    newline must not become a header of its own)."""
    totals = context.totals
    line = (
        f"{context.event.title}: {context.period.label} — "
        f"{plural(totals.items, 'item')} from {plural(totals.people, 'person', 'people')}"
    )
    return " ".join(line.split())


def render_email(
    context: DigestContext, env: Environment | None = None, *, base_url: str | None = None
) -> EmailParts:
    """The e-mail for ``context``. ``base_url``: where the digests are published, for a
    link to the full page (left out without one)."""
    env = env or make_environment()
    return EmailParts(
        subject=subject(context),
        html=render(context, "email", env, base_url=base_url),
        text=render(context, "text", env, base_url=base_url),
    )
