"""Admins hear once per failure streak about a source that keeps failing: an ERROR
log line and an e-mail, again only after the source has worked in between."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aggregator.app import App
from aggregator.deliver.jobs import notify_failing
from aggregator.models import FetchResult
from aggregator.store import Store
from tests.fakes import spec
from tests.support import Clock
from tests.test_deliver_support import DUE, Inbox, make_app, settings, smtp_server

SOURCE = "ev/fake:one"


def failing_app(store: Store, tmp_path: Path, clock: Clock, port: int | None) -> App:
    app = make_app(store, settings(tmp_path, smtp_port=port, notify_after_hours=6), clock)
    store.register_source(spec(SOURCE), origin="import", enabled=True, now=clock())
    return app


def fail(store: Store, clock: Clock, error: str = "HTTP 503 from social.example") -> None:
    (source,) = store.sources(source_id=SOURCE)
    store.record_failure(source, error, started_at=clock(), now=clock(), next_check_at=clock())


def succeed(store: Store, clock: Clock) -> None:
    (source,) = store.sources(source_id=SOURCE)
    now = clock()
    store.record_success(
        source, FetchResult(items=(), state={}), started_at=now, now=now, next_check_at=now
    )


def test_a_source_failing_for_long_is_reported_once_by_log_and_email(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(DUE)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        app = failing_app(store, tmp_path, clock, port)
        fail(store, clock)
        clock.advance(hours=5)
        fail(store, clock)
        assert notify_failing(app, "w1") == 0  # failing, but for 5 hours only
        clock.advance(hours=1, seconds=1)
        with caplog.at_level(logging.ERROR, logger="aggregator.deliver.jobs"):
            assert notify_failing(app, "w1") == 1
        for minute in range(3):
            clock.advance(minutes=1)
            assert notify_failing(app, f"w{minute}") == 0
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert SOURCE in error.getMessage()
    ((envelope, message),) = inbox.received
    assert envelope.rcpt_tos == ["admin@example.org"]
    assert message["Subject"] == f"[aggregator] source failing: {SOURCE}"
    assert message["List-Id"] is None  # a notice, not the digest list
    body = message.get_content()
    assert "HTTP 503 from social.example" in body
    assert "has failed 2 times" in body


def test_a_new_failure_streak_after_a_success_is_reported_again(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(DUE)
    app = failing_app(store, tmp_path, clock, None)  # no e-mail: the log line still counts
    fail(store, clock)
    clock.advance(hours=7)
    assert notify_failing(app, "w1") == 1
    succeed(store, clock)
    clock.advance(minutes=15)
    fail(store, clock)
    clock.advance(hours=3)
    assert notify_failing(app, "w1") == 0  # failing again, but only since the success
    clock.advance(hours=4)
    assert notify_failing(app, "w1") == 1
    assert notify_failing(app, "w2") == 0


def test_a_quiet_source_that_just_failed_is_not_reported_yet(store: Store, tmp_path: Path) -> None:
    clock = Clock(DUE)
    app = failing_app(store, tmp_path, clock, None)
    succeed(store, clock)
    clock.advance(days=3)
    assert notify_failing(app, "w1") == 0  # quiet, not failing
    fail(store, clock)  # its last success is old, but its streak has just begun
    clock.advance(hours=1)
    assert notify_failing(app, "w1") == 0


def test_a_source_no_longer_configured_is_not_reported(store: Store, tmp_path: Path) -> None:
    clock = Clock(DUE)
    app = make_app(store, settings(tmp_path, notify_after_hours=6), clock)
    store.register_source(spec(SOURCE), origin="config", enabled=True, now=clock())
    fail(store, clock)
    app.sync_config()  # the file does not name it: disabled
    clock.advance(days=1)
    assert notify_failing(app, "w1") == 0


def test_an_unreachable_mail_server_does_not_repeat_the_notice(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_deliver_support import free_port

    clock = Clock(DUE)
    app = failing_app(store, tmp_path, clock, free_port())
    fail(store, clock)
    clock.advance(hours=7)
    with caplog.at_level(logging.WARNING, logger="aggregator.deliver.jobs"):
        assert notify_failing(app, "w1") == 1
        clock.advance(minutes=1)
        assert notify_failing(app, "w1") == 0
    assert [r.levelname for r in caplog.records if r.name == "aggregator.deliver.jobs"] == [
        "ERROR",
        "WARNING",
    ]


def test_notices_wait_for_the_configured_time(store: Store, tmp_path: Path) -> None:
    clock = Clock(DUE)
    app = failing_app(store, tmp_path, clock, None)
    fail(store, clock)
    clock.advance(hours=6, seconds=-1)
    assert notify_failing(app, "w1") == 0
    clock.advance(seconds=1)
    assert notify_failing(app, "w1") == 1
