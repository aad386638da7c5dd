"""The registry of sources.

Each platform is one module with a pure parser and a thin async fetcher. Built-in
sources register exactly as a third-party plugin would: an entry point in the
``aggregator.sources`` group naming an object that satisfies :class:`Source`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel

from aggregator.models import ConsentPolicy, FetchResult, RecheckResult, SourceState, StoredRef
from aggregator.offload import Offload, inline

ENTRY_POINT_GROUP = "aggregator.sources"


@dataclass(frozen=True, slots=True)
class FetchContext:
    """What a fetcher may use besides its own state. Everything here is injected."""

    client: httpx.AsyncClient
    now: datetime
    """The clock reading when this fetch started (UTC)."""
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Where secrets named in the configuration are looked up."""
    horizon: datetime | None = None
    """Nothing older than this is wanted (the event's start minus its look-back)."""
    max_pages: int = 20
    """Per fetch; a source that has more returns what it got and continues next time."""
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)
    """The event's consent policy; sources apply what only they can see."""
    offload: Offload = inline
    """Where a body's parse runs (:mod:`aggregator.offload`): pass it a partial of a
    pure, module-level parser."""


@runtime_checkable
class Source(Protocol):
    platform: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    """Validates the platform's own keys of an ``[[events.sources]]`` table."""

    def target(self, options: BaseModel) -> str:
        """A stable, human-readable name of what is followed (used in the source id)."""
        ...

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        """Fetch what is new. Raises only :class:`aggregator.exceptions.SourceError`."""
        ...


@runtime_checkable
class Rechecker(Protocol):
    """A source that can look at stored items again to keep them true."""

    async def recheck(
        self, source: SourceState, refs: Sequence[StoredRef], ctx: FetchContext
    ) -> RecheckResult:
        """Look up ``refs`` (items this source stored). Raises only SourceError."""
        ...


class UnknownPlatform(KeyError):
    pass


@cache
def registry() -> Mapping[str, Source]:
    """Every installed source, by platform name."""
    found: dict[str, Source] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj: Any = ep.load()
        if not isinstance(obj, Source):
            raise TypeError(f"entry point {ep.value} is not an aggregator Source")
        found[obj.platform] = obj
    if not found:
        raise RuntimeError(
            "no sources are registered: install the package (pip install -e .) "
            "so its entry points exist"
        )
    return found


def get_source(platform: str) -> Source:
    try:
        return registry()[platform]
    except KeyError:
        raise UnknownPlatform(platform) from None
