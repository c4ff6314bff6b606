"""The three Kubernetes PATCH flavours, as pure functions on JSON: strategic merge, merge, JSON patch.

Strategic merge keys lists by the field Kubernetes declares as ``patchMergeKey`` (containers and
initContainers by ``name``, ports by ``containerPort``, env by ``name``, volumes and volumeMounts by
name/mountPath); other lists are replaced. ``$patch: delete`` in a keyed list entry removes it;
``$patch: replace`` in a map replaces the map whole.
"""

from __future__ import annotations

import copy
from typing import Any

from rancher_deploy.simulator.rancher2.errors import KubeError

# patchMergeKey per list field name (k8s.io/api core/v1 and apps/v1 struct tags).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "tolerations": "key",
    "conditions": "type",
}

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Merge patch, except lists with a merge key are merged entry by entry, and a map carrying
    ``$patch: replace`` replaces the target's map whole (what a ControllerRevision's data does to
    a pod template: apimachinery strategicpatch, replaceDirective)."""
    if isinstance(patch, list) and field in MERGE_KEYS and isinstance(target, list):
        return _merge_keyed_list(target, patch, MERGE_KEYS[field])
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return strategic_merge_patch({}, {key: value for key, value in patch.items() if key != "$patch"})
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # directives ($patch, $retainKeys, $setElementOrder/...) beyond the list rule
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _merge_keyed_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    result = copy.deepcopy(target)
    for entry in patch:
        if not isinstance(entry, dict) or key not in entry:
            raise KubeError(422, "Invalid", f"map: {entry!r} does not contain declared merge key: {key}")
        index = next((i for i, item in enumerate(result) if isinstance(item, dict) and item.get(key) == entry[key]), None)
        if entry.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(strategic_merge_patch({}, entry))
        else:
            result[index] = strategic_merge_patch(result[index], entry)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KubeError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise KubeError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise KubeError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}") from None
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    parts = _pointer(str(op["path"]))
    if kind == "test":
        if _get(doc, parts) != op["value"]:
            raise ValueError(f"testing value {op['path']} failed")
        return doc
    if kind in ("move", "copy"):
        source = _pointer(str(op["from"]))
        value = copy.deepcopy(_get(doc, source))
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        return copy.deepcopy(op["value"]) if kind in ("add", "replace") else None
    parent = _parent(doc, parts)
    last = parts[-1]
    if kind == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    elif kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
        else:
            parent[last] = copy.deepcopy(op["value"])
    elif kind == "replace":
        if isinstance(parent, list):
            parent[int(last)] = copy.deepcopy(op["value"])
        else:
            if last not in parent:
                raise KeyError(f"replace operation does not apply: doc is missing key: {op['path']}")
            parent[last] = copy.deepcopy(op["value"])
    else:
        raise ValueError(f"Unexpected kind: {kind}")
    return doc


def apply(content_type: str, target: Any, patch: Any) -> Any:
    """Dispatch on the PATCH Content-Type as the API server does (415 for anything else)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == STRATEGIC:
        return strategic_merge_patch(target, patch)
    if media == MERGE:
        return merge_patch(target, patch)
    if media == JSON_PATCH:
        return json_patch(target, patch)
    raise KubeError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format - accepted media types include: {JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}',
    )
