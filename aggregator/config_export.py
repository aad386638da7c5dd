"""The configuration as it is now, back to TOML: the file's settings, and every event
the store follows (the file's and the admin's) with the sources added to them.

Load the result with ``--config`` and every event becomes the file's (the file wins
for the events it names: ``aggregator.store.admin_ops``). Sources found by other
sources, and imported ones, are left out: they are found or imported again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from aggregator.config import ConsentSettings, Settings
from aggregator.sources import get_source
from aggregator.store import Store

FOLLOWED = ("config", "admin")


def export_toml(settings: Settings, store: Store) -> str:
    data = settings.model_dump(mode="json", exclude_defaults=True, exclude={"events"})
    header = "# Exported by `aggregator config export`.\n"
    url = data.get("database", {}).get("url")
    if url and urlsplit(url).password:
        # A password never goes into a file: give it as AGGREGATOR_DATABASE_URL.
        del data["database"]["url"]
        header += "# database.url left out (it holds a password): set AGGREGATOR_DATABASE_URL.\n"
    if not data.get("database"):
        data.pop("database", None)
    configured = {e.slug: e for e in settings.events}
    meta = store.event_meta()
    sources: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spec, enabled, origin in store.all_sources():
        if enabled and origin in FOLLOWED:
            impl = get_source(spec.platform)
            options = impl.Options.model_validate(dict(spec.options))
            sources[spec.event].append(
                {
                    "platform": spec.platform,
                    **options.model_dump(mode="json", exclude_defaults=True),
                }
            )
    events = []
    for event in store.events():
        entry: dict[str, Any] = {
            "slug": event.slug,
            "title": event.title,
            "hashtags": list(event.hashtags),
            "timezone": event.timezone,
            "starts": event.starts,
            "ends": event.ends,
            "lookback_days": event.lookback_days,
        }
        file_event = configured.get(event.slug)
        if file_event is not None:
            consent = file_event.consent
            delivery = file_event.delivery.model_dump(mode="json", exclude_none=True)
            if delivery:
                entry["delivery"] = delivery
        else:
            m = meta.get(event.slug)
            consent = ConsentSettings.model_validate((m.consent if m else None) or {})
        consent_data = consent.model_dump(mode="json", exclude_defaults=True)
        if consent_data:
            entry["consent"] = consent_data
        entry["sources"] = sources.get(event.slug, [])
        events.append(entry)
    data["events"] = events
    return header + "\n" + tomli_w.dumps(data)
