"""Test support shared by more than one test module: a fixed clock, running a source's
real ``fetch``/``recheck`` once with a fresh client, as the pipeline does, and real
payloads mutated by Hypothesis."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from hypothesis import strategies as st

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


def as_stored(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` after a round trip through JSON, as the store keeps it."""
    stored: dict[str, Any] = json.loads(json.dumps(state))
    return stored


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Any value ``json.loads`` can return (and NaN and infinities, which it also accepts)."""


def _paths(value: Any, prefix: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        children = ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


@st.composite
def mutations(draw: st.DrawFn, payload: Any) -> Any:
    """A copy of ``payload`` (a real one) with 1–4 values, the whole payload included,
    replaced by other JSON, deleted, or cut short."""
    root: dict[str, Any] = {"payload": copy.deepcopy(payload)}
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(root["payload"], ("payload",)))))
        parent: Any = root
        for key in path[:-1]:
            parent = parent[key]
        key, value = path[-1], parent[path[-1]]
        action = draw(st.sampled_from(["replace", "delete", "truncate"]))
        if action == "delete" and parent is not root:
            del parent[key]
        elif action == "truncate" and isinstance(value, str | list):
            parent[key] = value[: draw(st.integers(0, max(0, len(value) - 1)))]
        else:
            parent[key] = draw(JSON_VALUES)
    return root["payload"]
