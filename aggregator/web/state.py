"""What every request handler shares: the app, its templates, the page cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from jinja2 import Environment

from aggregator.app import App
from aggregator.deliver import schedule
from aggregator.deliver.jobs import record_plan
from aggregator.store import EventRecord
from aggregator.web.pages import PageCache


@dataclass
class WebState:
    app: App
    env: Environment
    cache: PageCache

    def base_url(self, request: Request) -> str:
        """Where this app is reached, with a trailing slash."""
        base = self.app.settings.web.base_url or str(request.base_url)
        return base if base.endswith("/") else base + "/"

    def event(self, slug: str) -> EventRecord:
        event = self.cache.remember(slug, "event", lambda: self.app.store.event(slug))
        if event is None:
            raise HTTPException(404, f"no event {slug!r}")
        return event

    def days(self, event: EventRecord) -> list[date]:
        """The event's days that have begun where it takes place: the look-back days,
        the event and the days after (as the daily digests are sent)."""
        plan = record_plan(self.app.settings, event)
        today = self.app.clock().astimezone(ZoneInfo(event.timezone)).date()
        return [d for d in schedule.days(plan) if d <= today]

    def over(self, event: EventRecord) -> list[date]:
        return schedule.ended(record_plan(self.app.settings, event), self.app.clock())


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
