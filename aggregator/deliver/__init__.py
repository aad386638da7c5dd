"""Delivering daily digests: when they are due (``schedule``, pure), the static
archive and its Atom feed (``archive``, ``atom``), e-mail (``email``, ``content``), and
the jobs the service runs every minute (``jobs``): ``deliver_due(app, worker)`` and
``notify_failing(app, worker)``."""

from aggregator.deliver.jobs import DeliveryOutcome, deliver_due, notify_failing

__all__ = ["DeliveryOutcome", "deliver_due", "notify_failing"]
