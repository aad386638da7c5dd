"""The static archive: plain files any web server can host.

    <output>/index.html                  the events and their daily digests
    <output>/<slug>/event.html           the whole event
    <output>/<slug>/<YYYY-MM-DD>.html    one local day
    <output>/<slug>/embed/...            the same as compact pages for an <iframe>
    <output>/<slug>/digests.atom         the Atom feed of the daily digests

Links are relative. Every file is written to a temporary file beside it and moved
into place (``os.replace``), so a reader or a web server never sees half a page. The
folder is its own record of what was published: the front page and the feeds list
the day pages that exist.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment

from aggregator.deliver.atom import FEED_NAME, atom_feed
from aggregator.digest.context import DigestContext, build_context, day_period, event_period
from aggregator.digest.render import published_path, render
from aggregator.store import EventRecord, Store

INDEX_TEMPLATE = "archive-index.html"
PUBLISHED = ("html", "full", "embed")


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    slug: str
    title: str
    hashtags: tuple[str, ...]
    starts: date
    ends: date
    days: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class ArchiveIndex:
    generated_at: datetime
    events: tuple[ArchivedEvent, ...]


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private; the archive is meant to be served.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def archived_days(folder: Path) -> list[date]:
    days = []
    for page in folder.glob("????-??-??.html"):
        try:
            days.append(date.fromisoformat(page.stem))
        except ValueError:
            continue
    return sorted(days)


@dataclass(frozen=True, slots=True)
class Archive:
    store: Store
    output: Path
    env: Environment
    now: datetime
    base_url: str | None = None
    authority: str | None = None
    """The tag: URI authority of feed ids (a domain the organisers hold)."""

    def write_day(
        self, event: EventRecord, day: date, context: DigestContext | None = None
    ) -> list[Path]:
        """The day's page, then what lists it: the event's page, its feed, the index."""
        context = context or self._context(event, day)
        return [*self.publish(context), *self.write_event_pages(event, {day: context})]

    def write_event(self, event: EventRecord, days: Sequence[date]) -> list[Path]:
        """Every one of ``days`` and the pages that list them (``aggregator archive``)."""
        written, built = [], {}
        for day in days:
            built[day] = self._context(event, day)
            written.extend(self.publish(built[day]))
        return written + self.write_event_pages(event, built)

    def publish(self, context: DigestContext) -> list[Path]:
        """The page and its embeddable roundup, where ``published_path`` says: the
        same addresses the e-mail, the oEmbed response and ``aggregator digest`` use."""
        written = []
        for fmt in PUBLISHED:
            path = self.output / published_path(context, fmt)
            write_atomic(path, render(context, fmt, self.env, base_url=self.base_url))
            written.append(path)
        return written

    def write_event_pages(
        self, event: EventRecord, built: Mapping[date, DigestContext] | None = None
    ) -> list[Path]:
        """The whole event's page, the feed of its archived days (reusing the day
        contexts in ``built``) and the front page."""
        built = built or {}
        folder = self.output / event.slug
        whole = build_context(self.store, event, event_period(event), now=self.now)
        pages = self.publish(whole)
        feed = folder / FEED_NAME
        contexts = [built.get(day) or self._context(event, day) for day in archived_days(folder)]
        write_atomic(
            feed,
            atom_feed(
                event,
                contexts,
                base_url=self.base_url or "",
                env=self.env,
                authority=self.authority,
            ),
        )
        return [*pages, feed, self.write_index()]

    def write_index(self) -> Path:
        events = tuple(
            ArchivedEvent(
                e.slug,
                e.title,
                e.hashtags,
                e.starts,
                e.ends,
                tuple(archived_days(self.output / e.slug)),
            )
            for e in self.store.events()
            if (self.output / e.slug).is_dir()
        )
        index = self.output / "index.html"
        text = self.env.get_template(INDEX_TEMPLATE).render(
            a=ArchiveIndex(generated_at=self.now, events=events)
        )
        write_atomic(index, text)
        return index

    def _context(self, event: EventRecord, day: date) -> DigestContext:
        return build_context(self.store, event, day_period(event, day), now=self.now)
