"""What the messages say: a day's digest and a failing-source notice (pure)."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from aggregator.deliver.email import MessageParts
from aggregator.digest.context import DigestContext
from aggregator.digest.email import render_email
from aggregator.store import SourceHealth


def digest_parts(
    context: DigestContext, env: Environment, *, base_url: str | None = None
) -> MessageParts:
    """The digest's e-mail (inlined-style HTML, plain text with footnoted links), with a
    link to the archive's copy when the archive has a public address."""
    parts = render_email(context, env, base_url=base_url)
    return MessageParts(subject=parts.subject, html=parts.html, text=parts.text)


def notice_parts(source: SourceHealth, *, now: datetime) -> MessageParts:
    since = source.last_success_at
    last_ok = f"last succeeded {since:%Y-%m-%d %H:%M} UTC" if since else "has never succeeded"
    text = (
        f"The source {source.id} of the event {source.event} keeps failing: it {last_ok} "
        f"and has failed {source.error_count} times since.\n\n"
        f"Last error: {source.last_error or '(none recorded)'}\n"
        f"Next attempt: {_when(source.next_check_at)}\n\n"
        "`aggregator sources` shows every source's health. You are told once per failure "
        f"streak; this notice was sent at {now:%Y-%m-%d %H:%M} UTC.\n"
    )
    return MessageParts(subject=f"[aggregator] source failing: {source.id}", html=None, text=text)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "not scheduled"
