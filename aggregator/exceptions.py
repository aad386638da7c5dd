"""Exceptions raised by aggregator.

Expected failures of a source are data: the pipeline catches every ``SourceError``,
records it on the source row and moves on. Anything else is a bug and is logged loudly.

    AggregatorError
    ├── ConfigError            bad configuration: names the file, the key, what is allowed
    ├── StoreError             the database is unreachable or its schema is not current
    ├── SendError              a digest or notice could not be handed to SMTP; retried later
    └── SourceError            one source failed this time; retried later
        ├── TemporaryError     timeout, connection reset, 5xx
        │   └── RateLimited    429 (or an exhausted budget); carries ``retry_after``
        ├── ParseError         the platform answered with something we cannot read
        └── PermanentError     404 / 401 / 403 / 410: needs a person, retried slowly
"""

from __future__ import annotations

from datetime import timedelta


class AggregatorError(Exception):
    """Base of every error aggregator raises on purpose."""


class ConfigError(AggregatorError):
    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}")


class StoreError(AggregatorError):
    pass


class SendError(AggregatorError):
    """A message could not be handed to the SMTP server this time: recorded on the
    delivery and retried later."""


class SourceError(AggregatorError):
    """One fetch of one source failed in an expected way."""


class TemporaryError(SourceError):
    pass


class RateLimited(TemporaryError):
    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ParseError(SourceError):
    pass


class PermanentError(SourceError):
    pass
