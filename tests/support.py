"""Test support shared by more than one test module: a fixed clock, and running a
source's real ``fetch``/``recheck`` once with a fresh client, as the pipeline does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from aggregator.http import DEFAULT_TIMEOUT, make_client
from aggregator.models import ConsentPolicy, FetchResult, RecheckResult, SourceState, StoredRef
from aggregator.sources import FetchContext, Rechecker, Source

T = TypeVar("T")


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass(frozen=True, slots=True)
class Context:
    """What a test sets of a :class:`FetchContext`; the client is made per run."""

    now: datetime
    env: Mapping[str, str] = field(default_factory=dict)
    horizon: datetime | None = None
    max_pages: int = 20
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    timeout: float | None = None
    """Seconds, or ``None`` for the client's default timeout."""
    transport: httpx.AsyncBaseTransport | None = None

    def run(self, call: Callable[[FetchContext], Awaitable[T]]) -> T:
        async def go() -> T:
            timeout = DEFAULT_TIMEOUT if self.timeout is None else httpx.Timeout(self.timeout)
            async with make_client(self.transport, timeout=timeout) as client:
                ctx = FetchContext(
                    client=client,
                    now=self.now,
                    env=self.env,
                    horizon=self.horizon,
                    max_pages=self.max_pages,
                    consent=self.consent,
                )
                return await call(ctx)

        return asyncio.run(go())


def run_fetch(source: Source, state: SourceState, **context: Any) -> FetchResult:
    """``source.fetch(state, ctx)`` on a new client; ``context`` as :class:`Context`."""
    return Context(**context).run(lambda ctx: source.fetch(state, ctx))


def run_recheck(
    source: Rechecker, state: SourceState, refs: Sequence[StoredRef], **context: Any
) -> RecheckResult:
    """``source.recheck(state, refs, ctx)`` on a new client; ``context`` as :class:`Context`."""
    return Context(**context).run(lambda ctx: source.recheck(state, refs, ctx))
