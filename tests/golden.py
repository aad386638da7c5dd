"""Golden files: a real payload next to its expected parse.

``tests/data/<platform>/<case>.<ext>`` is the input and ``<case>.expected.json`` the
parse. Run with ``AGGREGATOR_UPDATE_GOLDEN=1`` to (re)write expectations, then read
the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (frozenset, set)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def assert_golden(actual: Any, expected_path: Path) -> None:
    got = json.loads(json.dumps(to_jsonable(actual), ensure_ascii=False))
    if os.environ.get("AGGREGATOR_UPDATE_GOLDEN"):
        expected_path.write_text(
            json.dumps(got, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "utf-8"
        )
    assert expected_path.exists(), f"missing {expected_path}; run with AGGREGATOR_UPDATE_GOLDEN=1"
    assert got == json.loads(expected_path.read_text("utf-8"))
