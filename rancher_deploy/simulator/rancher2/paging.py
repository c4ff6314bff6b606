"""Kubernetes list chunking (``limit``/``continue``), shared by the proxy and Steve.

The apiserver returns at most ``limit`` items in storage-key order (``<namespace>/<name>``), and a
``metadata.continue`` token while more remain, with ``remainingItemCount`` unless a selector
filtered the list (k8s.io/apiserver pkg/storage/etcd3/store.go GetList; the token is base64url
JSON ``{"v": "meta.k8s.io/v1", "rv": <rv>, "start": "<key>\\x00"}``, storage/continue.go). A token
that does not decode is 400 ``invalid continue token: continue key is not valid``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from rancher_deploy.simulator.rancher2.errors import KubeError
from rancher_deploy.simulator.rancher2.workloads.objects import JSON


@dataclass(frozen=True)
class Page:
    items: list[JSON]
    resource_version: str
    next_token: str | None
    remaining: int | None

    def list_meta(self) -> JSON:
        """The list's ``metadata``: resourceVersion, and continue/remainingItemCount while more remain."""
        meta: JSON = {"resourceVersion": self.resource_version}
        if self.next_token:
            meta["continue"] = self.next_token
            if self.remaining is not None:
                meta["remainingItemCount"] = self.remaining
        return meta


def _key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta.get("name"))


def _encode(rv: str, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(token: str) -> tuple[str, str]:
    """(resourceVersion, start key) of a continue token."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise KubeError(400, "BadRequest", f"invalid continue token: continue key is not valid: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != "meta.k8s.io/v1":
        raise KubeError(400, "BadRequest", "invalid continue token: continue key is not valid: "
                                           "server does not recognize this encoded version")
    if not doc.get("rv"):
        raise KubeError(400, "BadRequest", "invalid continue token: continue key is not valid: "
                                           "incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not doc.get("start"):
        raise KubeError(400, "BadRequest", "invalid continue token: continue key is not valid: "
                                           "encoded start key empty (version meta.k8s.io/v1)")
    return str(doc["rv"]), str(doc["start"])


def page(items: list[JSON], resource_version: str, limit: str | None, token: str | None, selected: bool) -> Page:
    """One chunk of ``items`` after ``token``, at most ``limit`` long (0 or absent: all).

    ``selected`` says a label or field selector filtered the list (no remainingItemCount then).
    Later chunks read the current state (the simulator keeps no snapshots) but report the first
    chunk's resourceVersion, as a consistent list does.
    """
    ordered = sorted(items, key=_key)
    if token:
        resource_version, start = _decode(token)
        ordered = [obj for obj in ordered if _key(obj) >= start]
    try:
        size = int(limit) if limit else 0
    except ValueError:
        raise KubeError(400, "BadRequest", f'invalid limit "{limit}"') from None
    if size <= 0 or len(ordered) <= size:
        return Page(ordered, resource_version, None, None)
    chunk = ordered[:size]
    return Page(chunk, resource_version, _encode(resource_version, _key(chunk[-1])),
                None if selected else len(ordered) - size)
