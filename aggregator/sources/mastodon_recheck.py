"""Looking at stored Mastodon statuses again: edits, deletions, consent withdrawn.

``GET /api/v1/statuses?id[]=…`` (Mastodon 4.3+, at most 20 ids) returns only the
statuses still visible; older servers answer it with 404, and then each status is
asked for alone (``GET /api/v1/statuses/:id``, 404 when deleted). Ids are
server-local: a status is checked on the server that served it, through the alias
``mastodon-local:<host>/<id>`` stored with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from aggregator import http
from aggregator.exceptions import ParseError
from aggregator.models import ItemData, RecheckResult, StoredRef
from aggregator.sources import FetchContext, keys
from aggregator.sources.mastodon_parse import exclusion_reason, parse_status

BATCH = 20


async def recheck_statuses(
    instance: str,
    headers: Mapping[str, str],
    refs: Sequence[StoredRef],
    ctx: FetchContext,
) -> RecheckResult:
    host = urlsplit(instance).netloc.lower()
    prefix = keys.mastodon_local(host, "")
    local: dict[str, StoredRef] = {}
    for ref in refs:
        for alias in ref.aliases:
            if alias.startswith(prefix):
                local[alias.removeprefix(prefix)] = ref
                break
    items: dict[str, ItemData] = {}
    excluded: dict[str, str] = {}
    seen: set[str] = set()
    requests = 0
    ids = list(local)
    batch_api = True
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        statuses: list[Any] = []
        if batch_api:
            requests += 1
            response = await http.get(
                ctx.client,
                f"{instance}/api/v1/statuses",
                now=ctx.now,
                params={"id[]": chunk},
                headers=headers,
                allow=frozenset({404}),
            )
            if response.status_code == 404:
                batch_api = False  # before Mastodon 4.3
            else:
                body = http.json_body(response)
                if not isinstance(body, list):
                    raise ParseError(f"{instance}: expected a list of statuses")
                statuses = body
        if not batch_api:
            for status_id in chunk:
                requests += 1
                response = await http.get(
                    ctx.client,
                    f"{instance}/api/v1/statuses/{status_id}",
                    now=ctx.now,
                    headers=headers,
                    allow=frozenset({404}),
                )
                if response.status_code == 200:
                    statuses.append(http.json_body(response))
        for obj in statuses:
            if not isinstance(obj, dict):
                raise ParseError(f"{instance}: a status is not an object")
            reason = exclusion_reason(obj, ctx.consent)
            status_id = str(obj.get("id"))
            found = local.get(status_id)
            if found is None:
                continue
            seen.add(status_id)
            if reason is not None:
                excluded[found.key] = reason
            else:
                items[found.key] = parse_status(obj, instance)
    gone = {local[i].key for i in ids if i not in seen} | set(excluded)
    return RecheckResult(
        items=tuple(items.values()),
        gone=frozenset(gone),
        excluded=dict(Counter(excluded.values())),
        excluded_keys=excluded,
        requests=requests,
    )
