"""The simulator's request log, sorted by kind: what each tool asked Rancher for.

A kind is the method, the path with ids replaced by ``{id}``, and the query's keys (with the value
kept for ``action``, the one key whose value says what was asked). The 1.x API version prefix
(``/v1`` for the peer, ``/v2-beta`` for rancher-deploy) is written ``/<api>`` so that the same
request lines up in one row for both tools.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

from rancher_deploy.simulator import RequestRecord

# Rancher 1.x ids (1a5, 1st1, 1s12, 1i40), Rancher 2.x project and cluster ids (p-abcde, c-abcde),
# and v3 ids carrying a colon (local:p-abcde, deployment:default:web).
_ID = re.compile(r"^(1[a-z]{1,3}\d+|[cp]-[a-z0-9]{5}|[^:]+:.+)$")
_API_1X = re.compile(r"^/(v1|v2-beta)(?=/|$)")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def kind(record: RequestRecord, unify_api: bool = True) -> str:
    """``GET /<api>/projects/{id}/services/{id}``, ``POST /<api>/projects/{id}/services/{id}?action=upgrade``;
    with ``unify_api=False`` the 1.x prefix stays as sent (on 2.x a probe of ``/v1`` is not a 1.x call)."""
    path = record.path.rstrip("/") or "/"
    path = _API_1X.sub("/<api>", path) if unify_api else path
    path = "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))
    keys = [f"{key}={value}" if key == "action" else key for key, value in parse_qsl(record.query, keep_blank_values=True)]
    return f"{record.method} {path}" + (f"?{'&'.join(sorted(keys))}" if keys else "")


def kinds(records: Iterable[RequestRecord], unify_api: bool = True) -> Counter[str]:
    return Counter(kind(record, unify_api) for record in records)


def mentions(record: RequestRecord, marker: str) -> bool:
    """Whether the request names ``marker`` as a path segment or in its query: how the ideal
    client's own requests (on its twin target) are told apart from the tool's."""
    return marker in record.path.split("/") or marker in unquote(record.query)


def without(records: Iterable[RequestRecord], marker: str) -> list[RequestRecord]:
    return [record for record in records if not mentions(record, marker)]


def after_first_write(records: list[RequestRecord], target: str) -> list[RequestRecord]:
    """The requests after the first write that names ``target`` (the upgrade action or the patch):
    what a tool asks while it waits. Empty when it never wrote."""
    for index, record in enumerate(records):
        if record.method in WRITES and mentions(record, target):
            return records[index + 1:]
    return []
