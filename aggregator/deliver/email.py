"""E-mail, thin I/O: a digest or a notice as a MIME message, sent with smtplib.

The SMTP password is read from the environment variable that ``email.password_env``
names, at send time, and goes nowhere but ``SMTP.login``: errors carry the server's
reply, never the password.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from aggregator.config import EmailSettings
from aggregator.exceptions import SendError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageParts:
    subject: str
    html: str | None
    text: str


def message_domain(settings: EmailSettings) -> str:
    if settings.message_id_domain:
        return settings.message_id_domain
    return (settings.sender or "").rstrip(">").rpartition("@")[2] or "localhost"


def new_message_id(settings: EmailSettings) -> str:
    return make_msgid(idstring="digest", domain=message_domain(settings))


def list_id(settings: EmailSettings, slug: str, title: str) -> str:
    """RFC 2919: a readable phrase and a stable ``<label.namespace>`` per event."""
    phrase = re.sub(r'[\r\n<>"]+', " ", title).strip()
    return f'"{phrase}" <{slug}.{message_domain(settings)}>'


def build_message(
    parts: MessageParts,
    settings: EmailSettings,
    *,
    to: Sequence[str],
    bcc: Sequence[str] = (),
    message_id: str,
    date: datetime,
    list_id: str | None = None,
) -> EmailMessage:
    """Plain text first, HTML as the preferred alternative (RFC 2046 order)."""
    if settings.sender is None:
        raise SendError("email.sender is not set")
    msg = EmailMessage()
    msg["From"] = settings.sender
    # Readers on a Bcc list see no one's address, their own included.
    msg["To"] = ", ".join(to) if to else "undisclosed-recipients:;"
    if bcc:
        msg["Bcc"] = ", ".join(bcc)  # smtplib sends to these and strips the header
    msg["Subject"] = parts.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    # RFC 3834: no vacation auto-replies to a digest.
    msg["Auto-Submitted"] = "auto-generated"
    if list_id is not None:
        msg["List-Id"] = list_id
        if settings.list_unsubscribe:
            msg["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in settings.list_unsubscribe)
    msg.set_content(parts.text)
    if parts.html is not None:
        msg.add_alternative(parts.html, subtype="html")
    return msg


def send(message: EmailMessage, settings: EmailSettings, env: Mapping[str, str]) -> None:
    """Hand ``message`` to the configured server; :class:`SendError` if it was not taken."""
    if settings.host is None:
        raise SendError("email.host is not set")
    password = None
    if settings.password_env:
        password = env.get(settings.password_env)
        if not password:
            raise SendError(
                f"the environment variable {settings.password_env} (email.password_env) is empty"
            )
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and password:
                smtp.login(settings.username, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as e:
        reply = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else ""
        raise SendError(f"{where}: {e.smtp_code} {reply}".strip()) from e
    except smtplib.SMTPRecipientsRefused as e:
        raise SendError(f"{where}: every recipient refused ({len(e.recipients)})") from e
    except (smtplib.SMTPException, OSError) as e:
        raise SendError(f"{where}: {type(e).__name__}: {e}") from e
    if refused:
        # The others have it: a re-send would duplicate theirs.
        log.warning(
            "%s refused %d of the recipients of %s", where, len(refused), message["Subject"]
        )
