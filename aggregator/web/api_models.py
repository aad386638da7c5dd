"""What the public JSON API answers (:mod:`aggregator.web.api`): the response models
its OpenAPI document is generated from."""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aggregator.models import ItemKind


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(_Out):
    """An error: FastAPI's shape, ``{"detail": ...}``."""

    detail: str = Field(description="What was not found, in words.")


class EventLinks(_Out):
    """Where the event is, on the site and in the API."""

    html: str = Field(description="The event's public page.")
    atom: str = Field(description="The Atom feed of its daily digests.")
    embed: str = Field(description="The whole event's digest, made to sit in an iframe.")
    api: str = Field(description="This event in the API.")
    digests: str = Field(description="Its digests in the API.")
    items: str = Field(description="Its items in the API, newest first.")


class Event(_Out):
    """An event whose conversation is collected."""

    slug: str
    title: str
    hashtags: list[str] = Field(description="The hashtags it follows, without '#'.")
    timezone: str = Field(description="Where it takes place (IANA): its days are local days.")
    starts: date
    ends: date = Field(description="Its last day (inclusive).")
    closed: bool = Field(
        description="Closed by the organisers: nothing more is collected; its digests stay."
    )
    links: EventLinks


class EventList(_Out):
    events: list[Event] = Field(description="Every event, earliest first.")


class ItemCounts(_Out):
    """The event's items a reader can see, counted."""

    items: int = Field(description="Items a reader can see (hidden and removed ones aside).")
    by_platform: dict[str, int]
    by_kind: dict[str, int] = Field(description="post, comment or article.")


class EventDetail(Event):
    """An event, its digest days and its counts."""

    days: list[date] = Field(
        description="Its days that have begun where it takes place (the look-back days, "
        "the event, the days after): each has a digest."
    )
    counts: ItemCounts


class DigestLinks(_Out):
    """Where one digest is, in each format and in the API."""

    label: str = Field(description="The period in words, as the digest titles it.")
    html_url: str = Field(description="The digest as a web page.")
    json_url: str = Field(description="The digest as JSON (the same as api_url).")
    embed_url: str = Field(description="The digest made to sit in an iframe.")
    api_url: str = Field(description="The digest in the API.")


class DayDigest(DigestLinks):
    """The digest of one local day."""

    day: date


class Digests(_Out):
    """An event's digests."""

    event: str = Field(description="The event's slug.")
    days: list[DayDigest] = Field(description="One digest per day that has begun, in order.")
    whole_event: DigestLinks = Field(description="The digest of the whole event.")


class Author(_Out):
    """Who wrote an item."""

    name: str
    handle: str = Field(description="As the platform writes it (@name@server, name.bsky.social).")
    url: str | None = Field(description="Their profile.")


class Item(_Out):
    """A post, comment or blog post, as collected (without its platform payload)."""

    key: str = Field(description="Stable and unique: the platform and its id for the item.")
    platform: str
    kind: ItemKind
    url: str | None = Field(description="The item on its platform.")
    author: Author
    created_at: AwareDatetime
    edited_at: AwareDatetime | None
    title: str | None = Field(description="Blog posts' titles; most posts have none.")
    text: str = Field(description="The words, as plain text.")
    html: str = Field(
        description="The item's HTML, sanitized when it was stored (an allow-list of "
        "tags and attributes, no scripts, styles or event handlers). Sanitize it again if "
        "you put it in a page: the API does not re-check old rows."
    )
    language: str | None = Field(description="BCP 47, when the platform says.")
    in_reply_to: str | None = Field(description="The key of the item this replies to.")
    context_url: str | None = Field(description="The page a comment was left on.")
    likes: int | None = Field(description="null when the platform does not say.")
    reposts: int | None
    replies: int | None
    hashtags: list[str]
    links: list[str] = Field(description="Addresses the item links to.")


class ItemPage(_Out):
    """One page of an event's items."""

    items: list[Item] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (also in the Link header); "
        "null on the last page."
    )
