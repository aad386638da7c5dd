"""docs/digest.schema.json documents ``--format json``: every dataclass the context is
made of has a ``$defs`` entry of the same name describing each of its fields, with the
JSON types its annotation allows, and the fixture conversation's JSON validates.

When a field is added to the context, the first test names it: describe it in the
schema under ``$defs/<Class>/properties`` (and ``required``)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aggregator.digest.context import DigestContext
from aggregator.digest.render import render
from aggregator.store import Store
from tests.test_digest_formats import day_context

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "digest.schema.json").read_text("utf-8"))
# Written by ``render.to_jsonable`` besides the fields (properties computed on output).
COMPUTED = {"ThreadNode": {"size": {"integer"}}}
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
JSON_TYPES |= {datetime: "string", date: "string", types.NoneType: "null"}


def dataclasses_in(tp: Any, found: dict[str, type] | None = None) -> dict[str, type]:
    """Every dataclass reachable from the annotation ``tp``, by name."""
    found = {} if found is None else found
    if typing.get_origin(tp) is not None:
        for arg in typing.get_args(tp):
            dataclasses_in(arg, found)
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp.__name__ not in found:
        found[tp.__name__] = tp
        for hint in typing.get_type_hints(tp).values():
            dataclasses_in(hint, found)
    return found


def json_types(tp: Any) -> set[str]:
    """The JSON types a value annotated ``tp`` serializes to."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(json_types(a) for a in typing.get_args(tp)))
    if origin in (tuple, list):
        return {"array"}
    if origin is dict or dataclasses.is_dataclass(tp):
        return {"object"}
    return {JSON_TYPES[tp]}


def schema_types(prop: dict[str, Any]) -> set[str]:
    if "$ref" in prop:
        return {"object"}
    if "anyOf" in prop:
        return set().union(*(schema_types(p) for p in prop["anyOf"]))
    if "const" in prop or "enum" in prop:
        values = prop["enum"] if "enum" in prop else [prop["const"]]
        return {JSON_TYPES[type(v)] for v in values}
    kind = prop["type"]
    return set(kind) if isinstance(kind, list) else {kind}


CLASSES = dataclasses_in(DigestContext)


def test_the_walk_reaches_the_nested_dataclasses() -> None:
    assert {"DigestContext", "ItemView", "ThreadNode", "AuthorView"} <= set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_field_of_the_context_is_described_in_the_schema(name: str) -> None:
    definition = SCHEMA["$defs"].get(name)
    assert definition is not None, f"docs/digest.schema.json has no $defs/{name}"
    hints = typing.get_type_hints(CLASSES[name])
    expected = {f.name: json_types(hints[f.name]) for f in dataclasses.fields(CLASSES[name])}
    expected |= COMPUTED.get(name, {})
    described = definition["properties"]
    assert sorted(set(expected) - set(described)) == [], f"$defs/{name} does not describe these"
    assert sorted(set(described) - set(expected)) == [], f"$defs/{name} describes no such field"
    assert sorted(definition["required"]) == sorted(expected), "to_json writes every field"
    assert definition["additionalProperties"] is False
    for field, kinds in expected.items():
        assert schema_types(described[field]) == kinds, f"{name}.{field}: JSON types differ"
        assert described[field].get("description"), f"{name}.{field} has no description"


def test_the_schema_describes_no_class_the_context_lacks() -> None:
    assert sorted(set(SCHEMA["$defs"]) - set(CLASSES)) == []


def test_the_schema_version_is_the_contexts() -> None:
    version = DigestContext.__dataclass_fields__["schema_version"].default
    assert SCHEMA["$defs"]["DigestContext"]["properties"]["schema_version"]["const"] == version


def test_the_json_digest_of_the_fixture_conversation_validates(sqlite_store: Store) -> None:
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    document = json.loads(render(day_context(sqlite_store), "json"))

    assert [e.message for e in validator.iter_errors(document)] == []
    # The schema is strict enough to notice what it does not describe.
    document["platforms"][0]["threads"][0]["item"]["mood"] = "cheerful"
    document["totals"]["items"] = "six"
    errors = sorted(e.message for e in validator.iter_errors(document))
    assert any("'mood' was unexpected" in m for m in errors)
    assert any("'six' is not of type 'integer'" in m for m in errors)
