"""Settings are data: one validated model, read from a TOML file plus ``AGGREGATOR_*``
environment variables.

Secrets never live in the file: a source names the environment variable that holds
its token (``token_env = "MASTODON_TOKEN"``). Every error names the file, the key and
what is allowed, and nothing starts half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from datetime import time as LocalTime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aggregator.exceptions import ConfigError
from aggregator.models import ConsentPolicy, SourceSpec
from aggregator.sources import UnknownPlatform, get_source, registry

DEFAULT_PATHS = (Path("aggregator.toml"), Path("config/aggregator.toml"))
ENV_PREFIX = "AGGREGATOR_"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Model):
    url: str = Field(
        "sqlite:///aggregator.db",
        description="SQLAlchemy URL. SQLite by default (a path relative to the working "
        "directory); `postgresql+psycopg://user@host/db` for PostgreSQL. "
        "Overridden by AGGREGATOR_DATABASE_URL.",
    )


class FetchSettings(_Model):
    interval_minutes: float = Field(
        15, gt=0, description="How often each source is checked when all is well."
    )
    max_backoff_hours: float = Field(
        6, gt=0, description="Longest wait after repeated failures of one source."
    )
    max_pages: int = Field(
        20,
        ge=1,
        le=1000,
        description="Pages one source may fetch in one pass; the rest "
        "is fetched on the next pass, without gaps.",
    )
    timeout_seconds: float = Field(20, gt=0, description="Per-request HTTP timeout.")
    concurrency: int = Field(
        32, ge=1, le=256, description="Sources fetched at once; `per_host` caps each server."
    )
    parse_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes that parse large fetched pages beside the fetching one "
        "(0: parse in it); one per spare core speeds up big collections.",
    )
    per_host: int = Field(
        2,
        ge=1,
        le=64,
        description="Sources fetched at once from one host (one server, one API), per process.",
    )
    quiet_after: int = Field(
        3,
        ge=0,
        le=100,
        description="Fetches in a row without a new item after which a source is polled "
        "half as often (and again after as many more, up to 8x); 0 never slows down.",
    )


class ServiceSettings(_Model):
    """``[service]``: the long-running collector (`aggregator run`)."""

    tick_seconds: float = Field(
        30, gt=0, le=3600, description="How often the service looks for due sources."
    )
    lease_seconds: float = Field(
        600,
        gt=0,
        description="How long a worker holds a source it is fetching; longer than any "
        "fetch. A dead worker's sources are taken over after this.",
    )
    grace_seconds: float = Field(
        20,
        ge=0,
        description="On SIGTERM/SIGINT, how long fetches under way may finish before they "
        "are cancelled (nothing of a cancelled fetch is written).",
    )


class WebSettings(_Model):
    """``[web]``: `aggregator serve`, the public pages, the API and the admin."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    base_url: str | None = Field(
        None,
        description="The public address of the app (https://digests.example.org/), for "
        "embed codes and oEmbed; default: the address each request came to.",
    )
    cache_seconds: float = Field(
        60,
        ge=0,
        le=3600,
        description="How long a rendered digest is reused. Changes made in the admin show "
        "at once; items `aggregator run` collects show within this time.",
    )
    session_hours: float = Field(
        12, gt=0, le=24 * 30, description="How long an admin stays signed in."
    )
    secure_cookies: bool | None = Field(
        None,
        description="Send the admin cookie only over HTTPS; default: when base_url is https.",
    )
    login_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Failed sign-ins allowed per account (and 4x that per address) in "
        "login_window_minutes before sign-in is refused.",
    )
    login_window_minutes: float = Field(15, gt=0, le=1440, description="See login_attempts.")

    @field_validator("base_url")
    @classmethod
    def _web_base(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"https?://[^/\s]+", v):
            raise ValueError("use an absolute http(s) address, like https://digests.example.org/")
        return v


class DigestSettings(_Model):
    templates: Path | None = Field(
        None,
        description="A folder of Jinja templates that override the packaged ones, file by "
        "file (for example your own digest.html). Relative to the configuration file.",
    )
    output: Path = Field(
        Path("digests"), description="Where `aggregator digest` writes when no --output is given."
    )


class DeliverySettings(_Model):
    """``[delivery]``: when daily digests go out, and the static archive they go into."""

    time: LocalTime = Field(
        LocalTime(7, 30),
        description="Local time (event time zone) at which the previous day's digest is sent.",
    )
    days_after: int = Field(
        2, ge=0, le=60, description="Days after `ends` that still get a daily digest."
    )
    channels: tuple[Literal["archive", "email"], ...] = Field(
        ("archive", "email"),
        description="How daily digests are delivered: `archive` pages and feed, `email`.",
    )
    catch_up_hours: float = Field(
        36,
        gt=0,
        description="A digest missed while the service was down is still delivered this "
        "long after its send time; older ones only with `aggregator deliver --date`.",
    )
    max_attempts: int = Field(5, ge=1, le=100, description="Tries per digest and channel.")
    retry_minutes: float = Field(
        5, gt=0, description="Wait before the first retry of a failed delivery; doubles each time."
    )
    claim_minutes: float = Field(
        10,
        gt=0,
        description="How long one worker holds a delivery; a crashed worker's delivery is "
        "taken over after this.",
    )
    notify_after_hours: float = Field(
        12,
        gt=0,
        description="A source failing for this long without a success is reported once "
        "to the admins.",
    )
    base_url: str | None = Field(
        None,
        description="Public address of the archive (https://digests.example.org/), used for "
        "absolute links in the Atom feed and e-mails.",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v if v is None or v.endswith("/") else v + "/"


class EmailSettings(_Model):
    """``[email]``: how digests and notices are e-mailed. Off until `host` is set."""

    host: str | None = Field(None, description="SMTP server; e-mail is off when unset.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 ssl).")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="`starttls`, `ssl` (implicit TLS) or `none` (only for a local relay).",
    )
    username: str | None = Field(None, description="SMTP login, if the server needs one.")
    password_env: str | None = Field(
        None, description="Name of the environment variable holding the SMTP password."
    )
    timeout_seconds: float = Field(30, gt=0, description="SMTP connection timeout.")
    sender: str | None = Field(
        None, description="The From address (`Digest <digest@example.org>`); required with host."
    )
    to: tuple[str, ...] = Field((), description="Recipients shown in To.")
    bcc: tuple[str, ...] = Field(
        (), description="Recipients not shown to each other (a mailing list of readers)."
    )
    admins: tuple[str, ...] = Field((), description="Who is told when a source keeps failing.")
    list_unsubscribe: tuple[str, ...] = Field(
        (),
        description="List-Unsubscribe targets: `mailto:` and/or `https:` URIs.",
    )
    message_id_domain: str | None = Field(
        None, description="Domain of Message-IDs and List-Ids; default: the sender's domain."
    )

    @field_validator("list_unsubscribe")
    @classmethod
    def _unsubscribe(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for uri in v:
            if not re.match(r"^(mailto:[^\s<>]+@[^\s<>]+|https?://[^\s<>]+)$", uri):
                raise ValueError(f"{uri!r} is not a mailto: or http(s) URI")
        return v

    @model_validator(mode="after")
    def _complete(self) -> EmailSettings:
        if self.host is None:
            return self
        if not self.sender or "@" not in self.sender:
            raise ValueError("with a host, `sender` must be an e-mail address")
        if self.username and not self.password_env:
            raise ValueError("with a username, name the password's variable in `password_env`")
        if self.message_id_domain is None and not self.sender.rstrip(">").rpartition("@")[2]:
            raise ValueError("set `message_id_domain`")
        return self


class EventDeliverySettings(_Model):
    """``[events.delivery]``: one event's own send time and days after."""

    time: LocalTime | None = Field(None, description="Overrides delivery.time for this event.")
    days_after: int | None = Field(
        None, ge=0, le=60, description="Overrides delivery.days_after for this event."
    )


class ConsentSettings(_Model):
    """``[events.consent]``: whose posts are collected. Respectful by default."""

    respect_noindex: bool = Field(
        True, description="Leave out Mastodon authors who opted out of search indexing (noindex)."
    )
    require_indexable: bool = Field(
        False,
        description="Collect only Mastodon authors who opted in to search (indexable: true). "
        "Stricter; fewer posts.",
    )
    respect_discoverable: bool = Field(
        False, description="Leave out Mastodon authors who opted out of discovery features."
    )
    optout_tags: tuple[str, ...] = Field(
        ("nobot", "noindex", "nosearch", "noarchive"),
        description="Hashtags in an author's bio that mean 'do not collect me'.",
    )
    respect_no_unauthenticated: bool = Field(
        True,
        description="Leave out Bluesky accounts that asked to be hidden from logged-out "
        "viewers (!no-unauthenticated).",
    )
    allow_unlisted: bool = Field(
        True,
        description="Collect Mastodon 'unlisted' (quiet public) posts when a server returns them.",
    )

    @field_validator("optout_tags")
    @classmethod
    def _tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t.strip().lstrip("#").casefold() for t in v if t.strip().lstrip("#"))

    def policy(self) -> ConsentPolicy:
        return ConsentPolicy(**self.model_dump())


class SourceSettings(BaseModel):
    """``[[events.sources]]``: ``platform`` plus the platform's own keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    platform: str = Field(description="One of the installed source platforms.")


class EventSettings(_Model):
    slug: str = Field(description="Short name used in URLs and commands: a-z, 0-9 and '-'.")
    title: str = Field(min_length=1, description="The event's name as readers see it.")
    hashtags: tuple[str, ...] = Field(
        min_length=1,
        description="Hashtags followed, with or without '#', matched case-insensitively.",
    )
    timezone: str = Field("UTC", description="IANA time zone of the event (Europe/London).")
    starts: date = Field(description="First day of the event (local date).")
    ends: date = Field(description="Last day of the event (local date).")
    lookback_days: int = Field(
        3, ge=0, le=365, description="Days before `starts` whose posts are collected too."
    )
    sources: tuple[SourceSettings, ...] = Field(
        (), description="What is followed for this event; see the platform tables."
    )
    consent: ConsentSettings = Field(
        ConsentSettings(), description="Whose posts are collected; see [events.consent]."
    )
    delivery: EventDeliverySettings = Field(
        EventDeliverySettings(), description="This event's send time; see [events.delivery]."
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(
                "use 1-63 characters a-z, 0-9 and '-', starting with a letter or digit"
            )
        return v

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for tag in v:
            clean = tag.strip().lstrip("#").casefold()
            if not clean or not re.fullmatch(r"\w+", clean):
                raise ValueError(f"{tag!r} is not a hashtag (letters, digits and '_' only)")
            out.append(clean)
        return tuple(dict.fromkeys(out))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/London)") from None
        return v

    @model_validator(mode="after")
    def _dates(self) -> EventSettings:
        if self.ends < self.starts:
            raise ValueError(f"ends ({self.ends}) is before starts ({self.starts})")
        return self


class Settings(_Model):
    database: DatabaseSettings = Field(DatabaseSettings(), description="Where items are stored.")
    fetch: FetchSettings = Field(FetchSettings(), description="How sources are polled.")
    digest: DigestSettings = Field(DigestSettings(), description="How digests are rendered.")
    service: ServiceSettings = Field(
        ServiceSettings(), description="The long-running collector (`aggregator run`)."
    )
    delivery: DeliverySettings = Field(
        DeliverySettings(), description="Daily digests: when, and the archive."
    )
    email: EmailSettings = Field(EmailSettings(), description="How digests are e-mailed.")
    web: WebSettings = Field(WebSettings(), description="The web app (`aggregator serve`).")
    events: tuple[EventSettings, ...] = Field((), description="The events followed.")

    @model_validator(mode="after")
    def _unique_slugs(self) -> Settings:
        seen: set[str] = set()
        for event in self.events:
            if event.slug in seen:
                raise ValueError(f"two events have the slug {event.slug!r}")
            seen.add(event.slug)
        return self

    def event(self, slug: str) -> EventSettings:
        for event in self.events:
            if event.slug == slug:
                return event
        raise KeyError(slug)


def find_config(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"])
    for path in DEFAULT_PATHS:
        if path.exists():
            return path
    return None


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve the settings; raise ConfigError on any problem."""
    env = os.environ if env is None else env
    name = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(name, "-", "file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(name, "-", f"not valid TOML: {e}") from None
    if env.get(ENV_PREFIX + "DATABASE_URL"):
        data.setdefault("database", {})["url"] = env[ENV_PREFIX + "DATABASE_URL"]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as e:
        raise _config_error(name, e) from None
    for i, event in enumerate(settings.events):
        for j, source in enumerate(event.sources):
            _validate_source(name, f"events[{i}].sources[{j}]", source)
    if path is not None and settings.digest.templates is not None:
        templates = settings.digest.templates
        if not templates.is_absolute():
            templates = path.parent / templates
        if not templates.is_dir():
            raise ConfigError(name, "digest.templates", f"{templates} is not a folder")
        settings = settings.model_copy(
            update={"digest": settings.digest.model_copy(update={"templates": templates})}
        )
    return settings


def source_specs(event: EventSettings) -> list[SourceSpec]:
    """The configured sources of ``event`` as domain specs with stable ids."""
    return [
        source_spec(event.slug, event.hashtags, s.platform, s.model_extra or {})
        for s in event.sources
    ]


def source_spec(
    event: str, hashtags: tuple[str, ...], platform: str, options: Mapping[str, Any]
) -> SourceSpec:
    """One source of ``event`` (from the file or the admin's form) with its stable id."""
    impl = get_source(platform)
    valid = impl.Options.model_validate(dict(options))
    target = impl.target(valid)
    return SourceSpec(
        id=f"{event}/{platform}:{target}",
        event=event,
        platform=platform,
        target=target,
        hashtags=hashtags,
        options=valid.model_dump(mode="json"),
    )


def _validate_source(file: str, key: str, source: SourceSettings) -> None:
    try:
        impl = get_source(source.platform)
    except UnknownPlatform:
        allowed = ", ".join(sorted(registry()))
        raise ConfigError(
            file, f"{key}.platform", f"{source.platform!r} is not one of: {allowed}"
        ) from None
    try:
        impl.Options.model_validate(source.model_extra or {})
    except ValidationError as e:
        raise _config_error(file, e, prefix=key) from None


def _config_error(file: str, error: ValidationError, prefix: str = "") -> ConfigError:
    problems = []
    # A misspelt key also makes the real one "missing": name the misspelling first.
    errors = sorted(error.errors(), key=lambda err: err["type"] != "extra_forbidden")
    for err in errors:
        key = _dotted(err["loc"], prefix)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling; see config/README.md)"
        elif err["type"] == "missing":
            msg = "is required"
        problems.append((key, msg))
    if len(problems) == 1:
        return ConfigError(file, problems[0][0], problems[0][1])
    detail = problems[0][1] + "".join(f"\n  also {k}: {m}" for k, m in problems[1:])
    return ConfigError(file, problems[0][0], detail)


def _dotted(loc: tuple[int | str, ...], prefix: str) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "-"
