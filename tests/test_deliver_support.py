"""Shared by the delivery tests (no tests here): an event with a day of conversation,
an app configured around it, and a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from aggregator.app import App, build_app
from aggregator.config import Settings
from aggregator.models import FetchResult
from aggregator.store import EventRecord, Store
from tests.fakes import item, spec
from tests.support import Clock

EVENT = EventRecord(
    "ev",
    "Coproduction launch",
    ("coproduction",),
    "Europe/London",
    date(2026, 11, 20),
    date(2026, 11, 21),
    1,
)
DAY = date(2026, 11, 20)
DUE = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
"""When the digest of DAY is due (07:30 in London, which is UTC in November)."""
SENDER = "Digest <digest@example.org>"


def fill(store: Store) -> None:
    """A day of conversation on DAY, stored before the app syncs its configuration."""
    store.sync_event(EVENT, [spec("ev/fake:one")], DUE - timedelta(days=2))
    (source,) = store.sources(event="ev")
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    store.record_success(
        source,
        FetchResult(
            items=(
                item(1, text="We launch today", author="carehub", created=at),
                item(2, text="Congratulations!", author="zoë & max", reply_to=1, created=at),
                item(3, text="The day before", author="ana", created=at - timedelta(days=1)),
            ),
            state={},
        ),
        started_at=at,
        now=at,
        next_check_at=at,
    )


def settings(
    tmp_path: Path,
    *,
    smtp_port: int | None = None,
    email: dict[str, Any] | None = None,
    **delivery: Any,
) -> Settings:
    data: dict[str, Any] = {
        "digest": {"output": str(tmp_path / "archive")},
        # Less than a day of catch-up: at DUE, only DAY's digest is due.
        "delivery": {"catch_up_hours": 12, **delivery},
        "events": [
            {
                "slug": EVENT.slug,
                "title": EVENT.title,
                "hashtags": list(EVENT.hashtags),
                "timezone": EVENT.timezone,
                "starts": EVENT.starts,
                "ends": EVENT.ends,
                "lookback_days": EVENT.lookback_days,
            }
        ],
    }
    if smtp_port is not None:
        data["email"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": SENDER,
            "to": ["organisers@example.org"],
            "bcc": ["reader1@example.net", "reader2@example.net"],
            "admins": ["admin@example.org"],
            "list_unsubscribe": ["mailto:leave@example.org", "https://example.org/leave"],
            "timeout_seconds": 5,
            **(email or {}),
        }
    return Settings.model_validate(data)


def make_app(
    store: Store, config: Settings, clock: Clock, env: dict[str, str] | None = None
) -> App:
    return build_app(config, store=store, clock=clock, env=env or {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps what arrives, or answers DATA with ``reject``."""

    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    reject: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.reject:
            return self.reject
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append((envelope, message))
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [m for _, m in self.received]


@contextmanager
def smtp_server(inbox: Inbox, port: int | None = None, **kwargs: Any) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 for the duration; yields its port."""
    port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def hanging_up_server() -> Iterator[int]:
    """Accepts connections and closes them at once, before any greeting."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
