"""Periodic jobs the service runs besides fetching: each is a plain synchronous
function of the app and the worker id, so the service knows nothing of what it does
and is testable without it."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aggregator.app import App

log = logging.getLogger(__name__)

JobFunction = Callable[["App", str], object]
"""``f(app, worker)``; runs in a thread, so it may block (SMTP, rendering)."""


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: JobFunction
    every: timedelta = timedelta(minutes=1)


DELIVERY_FUNCTIONS = ("deliver_due", "notify_failing")
"""What ``aggregator.deliver`` offers the service: digests that are due, and notices
of sources that keep failing. Each claims its own work, so several workers can run
them."""


def delivery_jobs() -> list[Job]:
    """The jobs of ``aggregator.deliver``, when that package provides them."""
    try:
        module = importlib.import_module("aggregator.deliver")
    except ModuleNotFoundError:
        return []
    jobs = []
    for name in DELIVERY_FUNCTIONS:
        function = getattr(module, name, None)
        if callable(function):
            jobs.append(Job(name, function))
        else:
            log.warning("aggregator.deliver has no %s(); that job is not scheduled", name)
    return jobs
