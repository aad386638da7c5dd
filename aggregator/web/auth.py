"""Admin accounts: argon2id password hashes, server-side sessions, CSRF tokens and the
sign-in rate limit.

The session cookie carries a random token; the database keeps its SHA-256 with the
session's CSRF token, so signing out (or a new password) ends a session everywhere
and a leaked database signs nobody in. Every state-changing admin form carries the
CSRF token and is refused without it (:func:`check_csrf`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aggregator.store import Store

COOKIE = "aggregator_session"
_HASHER = PasswordHasher()
# Verified against when the account does not exist, so a wrong name takes as long as
# a wrong password (no account enumeration by timing).
_DUMMY = _HASHER.hash(secrets.token_hex(16))
MIN_PASSWORD = 12


class SignInRefused(Exception):
    """Too many failed sign-ins: ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"use a password of at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Limits:
    per_account: int
    window: timedelta

    @property
    def per_address(self) -> int:
        # One address may be a whole office behind NAT: more room than one account.
        return self.per_account * 4


@dataclass(frozen=True, slots=True)
class Signed:
    token: str
    csrf: str
    expires: datetime


def sign_in(
    store: Store,
    username: str,
    password: str,
    *,
    address: str,
    now: datetime,
    limits: Limits,
    lifetime: timedelta,
) -> Signed | None:
    """A new session for a correct name and password; None when they are wrong.
    Raises :class:`SignInRefused` (before checking anything) once the account or the
    address has failed too often within the window."""
    keys = [f"user:{username.casefold()}", f"addr:{address}"]
    since = now - limits.window
    if (
        store.failed_logins(keys[0], since=since) >= limits.per_account
        or store.failed_logins(keys[1], since=since) >= limits.per_address
    ):
        raise SignInRefused(int(limits.window.total_seconds()))
    stored = store.admin_password_hash(username)
    if not _verify(stored, password):
        store.record_failed_login(keys, now=now)
        return None
    store.forget_failed_logins(keys[:1], before=now - limits.window)
    if stored is not None and _HASHER.check_needs_rehash(stored):
        store.set_admin_password(username, _HASHER.hash(password))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + lifetime
    store.start_session(token_hash(token), username, csrf=csrf, now=now, expires=expires)
    return Signed(token, csrf, expires)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
