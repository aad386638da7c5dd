"""The daily e-mail, against a real SMTP server on 127.0.0.1: it arrives once, with an
HTML and a plain-text part and the list headers; a failing server means a failed
delivery that is retried and then sent once; racing workers send once; the SMTP
password appears nowhere but in the login."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from aggregator.deliver.jobs import DeliveryOutcome, deliver, deliver_due
from aggregator.store import Store
from aggregator.store.deliveries import DeliveryKey
from tests.support import Clock
from tests.test_deliver_support import (
    DAY,
    DUE,
    SENDER,
    Inbox,
    fill,
    free_port,
    hanging_up_server,
    make_app,
    settings,
    smtp_server,
)

EMAIL = DeliveryKey("ev", DAY, "email")


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def port(inbox: Inbox) -> Iterator[int]:
    with smtp_server(inbox) as port:
        yield port


@pytest.fixture
def clock() -> Clock:
    return Clock(DUE)


def sent(outcomes: list[DeliveryOutcome], channel: str = "email") -> list[DeliveryOutcome]:
    return [o for o in outcomes if o.channel == channel and o.status == "sent"]


def test_the_digest_arrives_once_with_both_parts_and_the_headers(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox, port: int
) -> None:
    fill(store)
    config = settings(tmp_path, smtp_port=port, base_url="https://digests.example.org/")
    app = make_app(store, config, clock)
    outcomes = deliver_due(app, "w1")
    assert [(o.day, o.channel, o.status) for o in outcomes] == [
        (DAY, "archive", "sent"),
        (DAY, "email", "sent"),
    ]
    ((envelope, message),) = inbox.received
    assert sorted(envelope.rcpt_tos) == [
        "organisers@example.org",
        "reader1@example.net",
        "reader2@example.net",
    ]
    assert message["From"] == SENDER
    assert message["To"] == "organisers@example.org"
    assert message["Bcc"] is None  # readers on the list never see one another
    assert message["Subject"] == (
        "Coproduction launch: Friday 20 November 2026 — 2 items from 2 people"
    )
    assert message["Date"].datetime == DUE
    assert message["List-Id"] == '"Coproduction launch" <ev.example.org>'
    assert message["List-Unsubscribe"] == "<mailto:leave@example.org>, <https://example.org/leave>"
    record = store.delivery(EMAIL)
    assert record is not None
    assert record.status == "sent"
    assert message["Message-ID"] == record.message_id
    assert record.message_id.endswith("@example.org>")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "We launch today" in text.get_content()
    assert "The day before" not in text.get_content()  # another local day
    # Both parts link to the day's page in the archive, written just before.
    page = "https://digests.example.org/ev/2026-11-20.html"
    assert page in text.get_content()
    assert page in html.get_content()
    assert (tmp_path / "archive" / "ev" / "2026-11-20.html").is_file()
    assert "Zoë &amp; Max" in html.get_content()

    # Every minute after, by any worker: nothing more is sent.
    for minute in range(3):
        clock.advance(minutes=1)
        assert sent(deliver_due(app, f"w{minute}")) == []
    assert len(inbox.received) == 1


def test_email_is_not_attempted_without_a_server(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path), clock)
    assert [o.channel for o in deliver_due(app, "w1")] == ["archive"]
    assert store.delivery(EMAIL) is None


def test_a_refusing_server_fails_the_delivery_which_is_retried_and_sent_once(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox
) -> None:
    fill(store)
    port = free_port()  # nothing listens here yet: connections are refused
    app = make_app(store, settings(tmp_path, smtp_port=port), clock)
    (failed,) = [o for o in deliver_due(app, "w1") if o.channel == "email"]
    assert failed.status == "failed"
    assert "ConnectionRefusedError" in failed.detail
    record = store.delivery(EMAIL)
    assert record is not None
    assert (record.status, record.attempts) == ("failed", 1)
    first_id = record.message_id

    with smtp_server(inbox, port):
        clock.advance(minutes=4)  # the first retry waits 5 minutes
        assert sent(deliver_due(app, "w1")) == []
        clock.advance(minutes=1)
        assert len(sent(deliver_due(app, "w2"))) == 1
        clock.advance(minutes=10)
        assert sent(deliver_due(app, "w1")) == []
    assert [m["Message-ID"] for m in inbox.messages] == [first_id]
    record = store.delivery(EMAIL)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == ("sent", 2, None)


@pytest.mark.parametrize("failure", ["hangs up", "451 at DATA"])
def test_a_failing_server_is_retried_until_it_recovers(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox, failure: str
) -> None:
    fill(store)
    server: AbstractContextManager[int]
    if failure == "hangs up":
        server = hanging_up_server()
    else:
        inbox.reject = "451 4.3.0 Try again later"
        server = smtp_server(inbox)
    with server as port:
        app = make_app(store, settings(tmp_path, smtp_port=port), clock)
        outcome = [o for o in deliver_due(app, "w1") if o.channel == "email"]
        assert [o.status for o in outcome] == ["failed"]
        assert ("451" if failure == "451 at DATA" else "SMTPServerDisconnected") in outcome[
            0
        ].detail
    assert inbox.messages == []
    inbox.reject = None
    with smtp_server(inbox) as port:
        app = make_app(store, settings(tmp_path, smtp_port=port), clock)
        clock.advance(minutes=5)
        assert len(sent(deliver_due(app, "w1"))) == 1
        clock.advance(minutes=10)
        assert sent(deliver_due(app, "w1")) == []
    assert len(inbox.messages) == 1


def test_a_delivery_that_keeps_failing_is_given_up_after_max_attempts(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path, smtp_port=free_port(), max_attempts=2), clock)
    statuses = []
    for _ in range(4):
        statuses += [o.status for o in deliver_due(app, "w1") if o.channel == "email"]
        clock.advance(minutes=30)
    assert statuses == ["failed", "failed", "skipped", "skipped"]


def test_workers_racing_for_the_same_digest_send_it_once(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox, port: int
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path, smtp_port=port), clock)
    start = threading.Barrier(4)
    results: list[list[DeliveryOutcome]] = []

    def worker(name: str) -> None:
        start.wait()
        results.append(deliver_due(app, name))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = [o for r in results for o in r]
    assert len(sent(outcomes)) == 1
    assert len(sent(outcomes, "archive")) == 1
    assert sorted(o.status for o in outcomes if o.channel == "email") == ["sent"] + ["skipped"] * 3
    assert len(inbox.received) == 1


def test_forcing_a_day_sends_it_again_as_a_new_message(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox, port: int
) -> None:
    fill(store)
    app = make_app(store, settings(tmp_path, smtp_port=port), clock)
    deliver_due(app, "w1")
    assert [o.status for o in deliver(app, "cli", "ev", DAY, channels=["email"])] == ["skipped"]
    again = deliver(app, "cli", "ev", DAY, channels=["email"], force=True)
    assert [o.status for o in again] == ["sent"]
    first, second = inbox.messages
    assert first["Message-ID"] != second["Message-ID"]


class Password:
    def __init__(self, password: str) -> None:
        self.password = password.encode()

    def __call__(
        self, server: object, session: object, envelope: object, mechanism: str, auth_data: object
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_the_smtp_password_comes_from_the_environment_and_is_never_shown(
    store: Store, tmp_path: Path, clock: Clock, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    fill(store)
    secret = "correct-horse-battery"
    login = {"username": "digest", "password_env": "SMTP_PASSWORD"}
    with smtp_server(
        inbox, authenticator=Password(secret), auth_require_tls=False, auth_required=True
    ) as port:
        config = settings(tmp_path, smtp_port=port, email=login)
        wrong = make_app(store, config, clock, env={"SMTP_PASSWORD": "wrong-" + secret})
        with caplog.at_level(logging.DEBUG):
            (failed,) = [o for o in deliver_due(wrong, "w1") if o.channel == "email"]
        assert failed.status == "failed"
        assert "535" in failed.detail
        record = store.delivery(EMAIL)
        assert record is not None
        assert record.last_error is not None
        for shown in (failed.detail, record.last_error, caplog.text, str(config)):
            assert secret not in shown

        right = make_app(store, config, clock, env={"SMTP_PASSWORD": secret})
        clock.advance(minutes=5)
        assert len(sent(deliver_due(right, "w1"))) == 1
    assert len(inbox.received) == 1
