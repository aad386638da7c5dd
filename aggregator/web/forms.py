"""The admin's forms, checked by the same models as the configuration file, so a
form and the file accept and refuse the same things, with the same words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from aggregator.config import ConsentSettings, EventSettings, source_spec
from aggregator.models import SourceSpec
from aggregator.sources import get_source, registry
from aggregator.store import EventRecord

EVENT_FIELDS = ("slug", "title", "hashtags", "timezone", "starts", "ends", "lookback_days")


class FormErrors(Exception):
    """Field name -> what is wrong with it, in words for the organiser."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _errors(error: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in error.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a field of this form"
        out.setdefault(field, msg)
    return out


def event_from_form(form: Mapping[str, str]) -> EventSettings:
    """An event as the file would hold it; hashtags separated by spaces or commas."""
    data: dict[str, Any] = {k: form[k].strip() for k in EVENT_FIELDS if form.get(k, "").strip()}
    if "hashtags" in data:
        data["hashtags"] = [t for t in re.split(r"[\s,]+", data["hashtags"]) if t]
    try:
        return EventSettings.model_validate(data)
    except ValidationError as e:
        raise FormErrors(_errors(e)) from None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    description: str
    required: bool
    boolean: bool
    default: Any


@dataclass(frozen=True, slots=True)
class PlatformForm:
    platform: str
    summary: str
    fields: tuple[FieldSpec, ...]


def platform_forms() -> list[PlatformForm]:
    """One add-a-source form per installed platform, from its options model."""
    out = []
    for name, impl in sorted(registry().items()):
        out.append(PlatformForm(name, _summary(impl.Options), _fields(impl.Options)))
    return out


def _summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().splitlines()
    return doc[0].replace("``", "") if doc else ""


def _fields(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    fields = []
    for name, field in model.model_fields.items():
        prop = schema["properties"].get(name, {})
        fields.append(
            FieldSpec(
                name=name,
                description=field.description or "",
                required=name in required,
                boolean=prop.get("type") == "boolean",
                default=None if field.is_required() else field.default,
            )
        )
    return tuple(fields)


def source_from_form(event: EventRecord, form: Mapping[str, str]) -> SourceSpec:
    """The source an add-a-source form describes, for ``event``: validated by the
    platform's own options model (what the file's ``[[events.sources]]`` goes through)."""
    platform = form.get("platform", "")
    try:
        impl = get_source(platform)
    except Exception:
        raise FormErrors(
            {"platform": f"{platform!r} is not one of: {', '.join(sorted(registry()))}"}
        ) from None
    options: dict[str, Any] = {}
    for spec in _fields(impl.Options):
        value = form.get(spec.name, "").strip()
        if spec.boolean:
            options[spec.name] = value in ("on", "true", "1")
        elif value:
            options[spec.name] = value
    try:
        return source_spec(event.slug, event.hashtags, platform, options)
    except ValidationError as e:
        raise FormErrors(_errors(e)) from None


def consent_fields() -> list[FieldSpec]:
    """The ``[events.consent]`` keys, for the admin's form."""
    return list(_fields(ConsentSettings))


def consent_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """An admin event's consent rules from its form (an unticked box is absent)."""
    data: dict[str, Any] = {}
    for spec in _fields(ConsentSettings):
        value = form.get(spec.name, "").strip()
        if spec.boolean:
            data[spec.name] = value in ("on", "true", "1")
        else:
            data[spec.name] = [t for t in re.split(r"[\s,]+", value) if t]
    try:
        return ConsentSettings.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        raise FormErrors(_errors(e)) from None
