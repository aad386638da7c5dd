"""Rendering digests with Jinja2.

The environment looks in the user's template folder first and in the packaged
templates second, so an organiser can override ``digest.html`` without touching
code. Autoescaping is on and undefined names are errors: a template typo fails a
test instead of printing nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from aggregator.digest.context import PLATFORM_LABELS, DigestContext
from aggregator.sanitize import CLEANER

PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORMATS = {
    "html": "digest.html",
    "paste": "digest-paste.html",
    "markdown": "digest.md",
    "json": None,
}


def make_environment(user_templates: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(user_templates))] if user_templates else []
    loaders.append(FileSystemLoader(str(PACKAGED_TEMPLATES)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        # HTML and XML templates escape for HTML; Markdown templates escape with ``md``.
        autoescape=select_autoescape(("html", "xml"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sanitized"] = sanitized
    env.filters["plural"] = plural
    env.filters["md"] = markdown_escape
    env.filters["platform_label"] = lambda p: PLATFORM_LABELS.get(p, p)
    return env


def sanitized(html: str) -> Markup:
    """Stored HTML was sanitized on the way in; sanitizing again on the way out means
    a bug or an old row can never put script into a page."""
    return Markup(CLEANER.clean(html))


# Inline text only (never at a line start): these are what could make emphasis, code,
# links or raw HTML out of someone's words.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def markdown_escape(text: str) -> str:
    """Text from a platform, inert in Markdown: no links, emphasis or raw HTML of its own."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def render(context: DigestContext, fmt: str, env: Environment | None = None) -> str:
    if fmt == "json":
        return to_json(context)
    template = FORMATS.get(fmt)
    if template is None:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    env = env or make_environment()
    return env.get_template(template).render(d=context)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if hasattr(value, "size") and "replies" in out and "item" in out:
            out["size"] = value.size
        return out
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def to_json(context: DigestContext) -> str:
    return json.dumps(to_jsonable(context), ensure_ascii=False, indent=2) + "\n"
