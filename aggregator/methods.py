"""The methods note: how an export was collected, for the people who use the data
(researchers, organisers writing up an event). Names no author.

It says which servers and APIs were queried for which hashtags, over which time
window, with which consent rules, how many items were left out and why (counts only),
how the fetches went, and which version of aggregator did it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from aggregator import __version__
from aggregator.models import ConsentPolicy
from aggregator.store import EventRecord, SourceHealth, Store


def methods_note(
    store: Store,
    event: EventRecord,
    *,
    consent: ConsentPolicy,
    horizon: datetime,
    now: datetime,
) -> str:
    health = store.health(event.slug)
    runs = {h.id: store.fetch_runs(h.id) for h in health}
    lines = [
        f"# Methods: {event.title}",
        "",
        f"Collected by aggregator {__version__}. Note written {now:%Y-%m-%d %H:%M} UTC.",
        "",
        "## What was collected",
        "",
        f"- Hashtags: {', '.join('#' + t for t in event.hashtags)} (case-insensitive).",
        f"- Event: {event.starts} to {event.ends} ({event.timezone}); posts from "
        f"{horizon:%Y-%m-%d %H:%M} UTC on (look-back: {event.lookback_days} days).",
        f"- Items stored: {store.counts(event.slug)['items']}.",
        "",
        "## Where it was collected",
        "",
        *_sources(health, runs),
        "",
        "## Consent",
        "",
        *_consent(consent),
        f"- Organisers' opt-out list: {len(store.optout_rules())} rules (people or servers; "
        "not listed here).",
        *_exclusions(store.exclusions(event.slug)),
        f"- Removed by their authors after collection (deleted, made private): "
        f"{store.removed_count(event.slug, since=horizon, until=now)} "
        "(content and payload purged).",
        "",
        "## How the fetches went",
        "",
        *_runs(health, runs),
        "",
    ]
    return "\n".join(lines)


def _sources(health: Sequence[SourceHealth], runs: dict[str, list[dict[str, object]]]) -> list[str]:
    out = []
    for h in health:
        origin = "" if h.enabled else " (no longer followed)"
        dated = [r for r in runs[h.id] if r["status"] != "error"]
        window = (
            f"fetched {dated[0]['started_at']:%Y-%m-%d %H:%M} to "
            f"{dated[-1]['finished_at']:%Y-%m-%d %H:%M} UTC"
            if dated
            else "never fetched successfully"
        )
        out.append(f"- {h.platform}: {h.target}{origin}; {window}; {h.items} items.")
    return out or ["- No sources."]


def _consent(policy: ConsentPolicy) -> list[str]:
    rules = asdict(policy)
    out = ["- Non-public posts are never collected."]
    out += [f"- `{k}` = {v}" for k, v in rules.items()]
    return out


def _exclusions(counts: dict[str, int]) -> list[str]:
    if not counts:
        return ["- Items left out: none."]
    total = sum(counts.values())
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))
    return [f"- Items left out: {total} ({detail}); each counted once, never named."]


def _runs(health: Sequence[SourceHealth], runs: dict[str, list[dict[str, object]]]) -> list[str]:
    out = []
    for h in health:
        statuses = Counter(str(r["status"]) for r in runs[h.id])
        errors = Counter(str(r["error"]) for r in runs[h.id] if r["error"])
        requests = sum(int(r["requests"] or 0) for r in runs[h.id])  # type: ignore[call-overload]
        summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
        out.append(f"- {h.platform} {h.target}: {summary}; {requests} requests.")
        out += [f"  - error ×{n}: {e}" for e, n in errors.most_common(5)]
    return out or ["- No fetches."]
