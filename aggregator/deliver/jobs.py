"""The delivery jobs: what the service runs every minute and ``aggregator deliver`` runs
by hand. Each (event, day, channel) is claimed in the store first, so any number of
workers deliver it once.

"Never sent twice" and a crash: a worker claims, sends, then records the send. If it
dies between the SMTP server accepting the message and the record (a window of one
small UPDATE), its claim lapses after ``delivery.claim_minutes`` and another worker
sends again. That re-send carries the Message-ID stored with the first claim, so
mail systems and readers' clients recognise it as the same message. Recording the send
first would turn that rare duplicate into a rare digest that is never sent, which is
worse for a daily digest.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from jinja2 import Environment

from aggregator.app import App, event_record
from aggregator.config import EventSettings, Settings
from aggregator.deliver import schedule
from aggregator.deliver.archive import Archive
from aggregator.deliver.atom import atom_feed, tag_authority
from aggregator.deliver.content import digest_parts, notice_parts
from aggregator.deliver.email import (
    build_message,
    list_id,
    message_domain,
    new_message_id,
    send,
)
from aggregator.digest.context import DigestContext, build_context, day_period
from aggregator.digest.render import make_environment
from aggregator.exceptions import SendError
from aggregator.store import EventRecord
from aggregator.store.deliveries import DeliveryKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    event: str
    day: date
    channel: str
    status: str
    """``sent``, ``failed`` (retried later), or ``skipped``: sent already, held by
    another worker, waiting for its retry time, or given up after ``max_attempts``."""
    detail: str = ""
    """The Message-ID or page written; the error of a failure."""


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def event_plan(settings: Settings, event: EventSettings) -> schedule.DeliveryPlan:
    own = event.delivery
    return _plan(settings, event_record(event), own.time, own.days_after)


def _plan(
    settings: Settings, event: EventRecord, send_time: time | None, days_after: int | None
) -> schedule.DeliveryPlan:
    d = settings.delivery
    return schedule.plan(
        event.slug,
        timezone=event.timezone,
        starts=event.starts,
        ends=event.ends,
        lookback_days=event.lookback_days,
        send_time=send_time or d.time,
        days_after=d.days_after if days_after is None else days_after,
    )


def record_plan(settings: Settings, event: EventRecord) -> schedule.DeliveryPlan:
    """:func:`event_plan` for an event as the store holds it (one no longer configured
    gets the default ``delivery`` settings)."""
    configured = next((e for e in settings.events if e.slug == event.slug), None)
    if configured is not None:
        return event_plan(settings, configured)
    return _plan(settings, event, None, None)


def active_channels(settings: Settings) -> tuple[str, ...]:
    """The configured channels that can work: e-mail needs a server and recipients."""
    email = settings.email
    mailable = email.host is not None and bool(email.to or email.bcc)
    return tuple(c for c in settings.delivery.channels if c != "email" or mailable)


def deliver_due(
    app: App, worker: str, *, event: str | None = None, channels: Sequence[str] | None = None
) -> list[DeliveryOutcome]:
    """Deliver every daily digest due now (of ``event``, on ``channels``; default: all),
    each once across workers."""
    now = app.clock()
    # The store's events: the file's and the admin's; a closed event is finished.
    closed = {slug for slug, m in app.store.event_meta().items() if m.closed_at is not None}
    plans = [
        record_plan(app.settings, e)
        for e in app.store.events()
        if event in (None, e.slug) and e.slug not in closed
    ]
    catch_up = timedelta(hours=app.settings.delivery.catch_up_hours)
    outcomes = []
    for due in schedule.due(plans, now, catch_up):
        outcomes += deliver(app, worker, due.event, due.day, channels=channels)
    return outcomes


def deliver(
    app: App,
    worker: str,
    slug: str,
    day: date,
    *,
    channels: Sequence[str] | None = None,
    force: bool = False,
) -> list[DeliveryOutcome]:
    """Deliver the digest of ``slug``'s local ``day``: the archive first (so the e-mail's
    link to it works), then the e-mail. ``force`` delivers again what was delivered."""
    event = app.store.event(slug)
    if event is None:
        return []
    d = app.settings.delivery
    env = make_environment(app.settings.digest.templates)
    context: DigestContext | None = None
    outcomes = []
    for channel in active_channels(app.settings) if channels is None else channels:
        key = DeliveryKey(slug, day, channel)
        now = app.clock()
        claim = app.store.claim_delivery(
            key,
            worker=worker,
            now=now,
            lease=timedelta(minutes=d.claim_minutes),
            max_attempts=d.max_attempts,
            message_id=new_message_id(app.settings.email) if channel == "email" else None,
            force=force,
        )
        if not claim.held:
            outcomes.append(DeliveryOutcome(slug, day, channel, "skipped"))
            continue
        try:
            if context is None:
                context = build_context(app.store, event, day_period(event, day), now=now)
            if channel == "archive":
                detail = str(_archive(app, env).write_day(event, day, context)[0])
            else:
                assert claim.message_id is not None
                _email_digest(app, env, context, claim.message_id)
                detail = claim.message_id
        except Exception as e:
            if isinstance(e, SendError | OSError):
                log.warning("%s digest of %s %s not delivered: %s", channel, slug, day, e)
            else:
                log.exception("%s digest of %s %s failed unexpectedly", channel, slug, day)
            retry = schedule.retry_at(claim.attempts + 1, now, timedelta(minutes=d.retry_minutes))
            app.store.mark_delivery_failed(
                key, worker=worker, now=app.clock(), error=str(e), retry_at=retry
            )
            outcomes.append(DeliveryOutcome(slug, day, channel, "failed", str(e)))
            continue
        app.store.mark_delivered(
            key, now=app.clock(), message_id=claim.message_id if channel == "email" else None
        )
        outcomes.append(DeliveryOutcome(slug, day, channel, "sent", detail))
    return outcomes


def write_archive(app: App, *, event: str | None = None) -> int:
    """(Re)write the whole archive: every day whose digest is out, and what lists them.
    Deliveries are not recorded: this is a rewrite, not a delivery. Returns pages written."""
    now = app.clock()
    archive = _archive(app, make_environment(app.settings.digest.templates))
    written = 0
    for record in app.store.events():
        if event and record.slug != event:
            continue
        days = schedule.published(record_plan(app.settings, record), now)
        written += len(archive.write_event(record, days))
    archive.write_index()
    return written + 1


def notify_failing(app: App, worker: str) -> int:
    """Tell the admins, once per failure streak, about each source that has failed for
    longer than ``delivery.notify_after_hours``: an ERROR log line and an e-mail.
    Returns how many sources were reported."""
    now = app.clock()
    since = now - timedelta(hours=app.settings.delivery.notify_after_hours)
    failing = app.store.failing_sources(failing_since=since)
    if not failing:
        return 0
    health = {h.id: h for h in app.store.health()}
    email = app.settings.email
    told = 0
    for source_id in failing:
        if source_id not in health or not app.store.claim_failing_notice(source_id, now):
            continue
        told += 1
        parts = notice_parts(health[source_id], now=now)
        log.error("%s (reported by %s)", parts.text.splitlines()[0], worker)
        if email.host is None or not email.admins:
            continue
        message = build_message(
            parts, email, to=email.admins, message_id=new_message_id(email), date=now
        )
        try:
            send(message, email, app.env)
        except SendError as e:
            # The ERROR line above is the notice of record; one per streak, not per minute.
            log.warning("could not e-mail the notice about %s to the admins: %s", source_id, e)
    return told


def feed_days(app: App, event: EventRecord) -> list[DigestContext]:
    """The digest of each local day of ``event``'s window (look-back days to
    ``days_after``) that is over by the app's clock: what ``aggregator digest --format
    atom`` lists."""
    now = app.clock()
    return [
        build_context(app.store, event, day_period(event, day), now=now)
        for day in schedule.ended(record_plan(app.settings, event), now)
    ]


def event_feed(
    app: App,
    event: EventRecord,
    days: Sequence[DigestContext],
    env: Environment,
    *,
    base_url: str | None = None,
) -> str:
    """The Atom feed of ``days``, its entry ids those of the archive's feed. Links are
    under ``base_url`` (default ``delivery.base_url``), or relative to the feed without
    either."""
    base = base_url or app.settings.delivery.base_url or ""
    if base and not base.endswith("/"):
        base += "/"
    authority = _authority(app.settings, base)
    return atom_feed(event, days, base_url=base, env=env, authority=authority)


def _archive(app: App, env: Environment) -> Archive:
    return Archive(
        store=app.store,
        output=app.settings.digest.output,
        env=env,
        now=app.clock(),
        base_url=app.settings.delivery.base_url,
        authority=_authority(app.settings),
    )


def _authority(settings: Settings, base_url: str = "") -> str:
    """The feed ids' authority: the configured archive's domain first, so a feed written
    with another ``--base-url`` keeps the archive's ids."""
    fallback = message_domain(settings.email) if settings.email.sender else "localhost"
    return tag_authority(settings.delivery.base_url or base_url, fallback)


def _email_digest(app: App, env: Environment, context: DigestContext, message_id: str) -> None:
    email = app.settings.email
    parts = digest_parts(context, env, base_url=app.settings.delivery.base_url)
    message = build_message(
        parts,
        email,
        to=email.to,
        bcc=email.bcc,
        message_id=message_id,
        date=app.clock(),
        list_id=list_id(email, context.event.slug, context.event.title),
    )
    send(message, email, app.env)
