"""Small chainable fakes for pipeline tests (no network).

source = FakeSource().post(1).post(2, text="edited").fails(TemporaryError("boom"))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from aggregator.exceptions import SourceError
from aggregator.models import AuthorData, Engagement, FetchResult, ItemData, SourceSpec, SourceState
from aggregator.sources import FetchContext

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def item(
    n: int,
    *,
    text: str | None = None,
    author: str = "ana",
    platform: str = "fake",
    kind: str = "post",
    reply_to: int | None = None,
    context_url: str | None = None,
    links: tuple[str, ...] = (),
    likes: int | None = None,
    created: datetime | None = None,
) -> ItemData:
    body = text if text is not None else f"post number {n}"
    return ItemData(
        key=f"{platform}:{n}",
        platform=platform,
        kind=kind,  # type: ignore[arg-type]
        url=f"https://{platform}.example/{n}",
        author=AuthorData(
            key=f"{platform}:@{author}", platform=platform, name=author.title(), handle=f"@{author}"
        ),
        html=f"<p>{body}</p>",
        text=body,
        created_at=created or T0 + timedelta(minutes=n),
        in_reply_to=f"{platform}:{reply_to}" if reply_to is not None else None,
        context_url=context_url,
        engagement=Engagement(likes=likes),
        links=links,
        hashtags=("coproduction",),
        raw={"n": n},
    )


def spec(source_id: str = "ev/fake:one", event: str = "ev", platform: str = "fake") -> SourceSpec:
    return SourceSpec(
        id=source_id,
        event=event,
        platform=platform,
        target=source_id.split(":")[-1],
        hashtags=("coproduction",),
    )


class _Options(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass
class FakeSource:
    """Each fetch returns the next scripted response (items or an error)."""

    platform: ClassVar[str] = "fake"
    Options: ClassVar[type[BaseModel]] = _Options
    script: deque[FetchResult | BaseException] = field(default_factory=deque)
    calls: list[tuple[SourceState, FetchContext]] = field(default_factory=list)

    def target(self, options: BaseModel) -> str:
        return "fake"

    def returns(
        self,
        *items: ItemData,
        listing: bool = False,
        state: Mapping[str, Any] | None = None,
        excluded: Mapping[str, int] | None = None,
    ) -> FakeSource:
        self.script.append(
            FetchResult(
                items=tuple(items),
                state=state if state is not None else {"cursor": len(self.script) + 1},
                listing=frozenset(i.key for i in items) if listing else None,
                excluded=excluded or {},
            )
        )
        return self

    def fails(self, error: BaseException) -> FakeSource:
        self.script.append(error)
        return self

    async def fetch(self, source: SourceState, ctx: FetchContext) -> FetchResult:
        self.calls.append((source, ctx))
        step = self.script.popleft() if self.script else FetchResult(items=(), state=source.state)
        if isinstance(step, BaseException):
            raise step
        return step


__all__ = ["FakeSource", "SourceError", "item", "spec"]
