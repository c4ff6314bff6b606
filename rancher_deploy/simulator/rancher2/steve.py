"""Steve, Rancher's /v1 API (2.5+): the same objects as the Kubernetes proxy, in rancher/apiserver's format."""

from __future__ import annotations

import copy

import base64
import binascii
import json
from urllib.parse import urlencode

from rancher_deploy.simulator.rancher2 import patch
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import CLUSTER_ID
from rancher_deploy.simulator.rancher2.discovery import check_cluster
from rancher_deploy.simulator.rancher2.errors import KubeError
from rancher_deploy.simulator.rancher2.kubeapi import (
    create_workload,
    list_objects_of,
    one_object,
    patch_workload,
    served,
    put_workload,
    select,
    workload_of,
)
from rancher_deploy.simulator.rancher2.paging import page
from rancher_deploy.simulator.rancher2.resources import BY_PLURAL, Resource
from rancher_deploy.simulator.rancher2.summary import steve_state
from rancher_deploy.simulator.rancher2.workloads.objects import JSON
from rancher_deploy.simulator.wire import Response

# Steve type -> Kubernetes resource.
STEVE_TYPES: dict[str, str] = {
    "apps.deployments": "deployments",
    "apps.statefulsets": "statefulsets",
    "apps.daemonsets": "daemonsets",
    "batch.cronjobs": "cronjobs",
    "apps.replicasets": "replicasets",
    "pods": "pods",
}
# steve pkg/stores/partition/listprocessor/processor.go: a list without `limit` is cut at 100000.
DEFAULT_LIMIT = 100000


def _steve_resource(call: Call) -> Resource:
    plural = STEVE_TYPES.get(call.match["type"].lower())
    if plural is None:
        raise KubeError(404, "NotFound", f"schema {call.match['type']} not found")
    return BY_PLURAL[plural]


def _steve_base(call: Call) -> str:
    prefix = f"/k8s/clusters/{call.match['cluster']}" if "cluster" in call.match else ""
    return f"{call.root}{prefix}/v1"


def _steve_type(resource: Resource) -> str:
    """Steve's schema id: ``apps.deployment``, ``pod`` (the URL uses the plural)."""
    return next(t for t, r in STEVE_TYPES.items() if r == resource.plural).removesuffix("s")


def steve_object(call: Call, resource: Resource, obj: JSON) -> JSON:
    """A Kubernetes object as Steve formats it: id, type, links and metadata.state on top."""
    meta = obj["metadata"]
    steve_type = _steve_type(resource)
    link = f"{_steve_base(call)}/{steve_type}s/{meta['namespace']}/{meta['name']}"
    obj = served(call, resource, obj)
    api = f"apis/{obj['apiVersion']}" if resource.group else "api/v1"
    doc: JSON = {
        "id": f"{meta['namespace']}/{meta['name']}",
        "type": steve_type,
        "links": {"self": link, "update": link, "remove": link, "patch": link,
                  "view": f"{call.root}/k8s/clusters/{CLUSTER_ID}/{api}/namespaces/{meta['namespace']}/{resource.plural}/{meta['name']}"},
    }
    doc.update(copy.deepcopy(obj))
    state_name, transitioning, message = "active", "no", ""
    if resource.workload is not None:
        state_name, transitioning, message = steve_state(obj, call.version)
    doc["metadata"]["state"] = {
        "name": state_name,
        "error": transitioning == "error",
        "transitioning": transitioning == "yes",
        "message": message,
    }
    doc["metadata"]["relationships"] = []
    doc["metadata"]["fields"] = [meta["name"]]
    return doc


def _steve_token(revision: str, k8s_continue: str, limit: int) -> str:
    """steve's own continue token: base64 JSON of its list state (pkg/stores/partition/parallel.go listState)."""
    state = {"r": revision, "c": k8s_continue, "l": limit}
    return base64.b64encode(json.dumps(state, separators=(",", ":")).encode("utf-8")).decode("ascii")


def _resume(token: str) -> tuple[str, int]:
    """The Kubernetes continue token and limit inside a steve token (a broken one is steve's 500)."""
    try:
        state = json.loads(base64.b64decode(token, validate=True))
        return str(state.get("c") or ""), int(state.get("l") or 0)
    except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise KubeError(500, "ServerError", f"illegal continue token: {exc}") from None


def steve_list(call: Call) -> Response:
    """A Steve collection; ``limit`` and ``continue`` chunk it (rancher/apiserver pkg/writer/encoding.go)."""
    check_cluster(call)
    resource = _steve_resource(call)
    namespace = call.match.get("namespace")
    items = select(call, list_objects_of(call, resource, namespace))
    token = call.param("continue")
    k8s_continue, limit = _resume(token) if token else ("", 0)
    try:
        limit = limit or int(call.param("limit") or DEFAULT_LIMIT)
    except ValueError:
        limit = DEFAULT_LIMIT
    chunk = page(items, str(call.cluster.resource_version), str(limit), k8s_continue or None, selected=True)
    data = [steve_object(call, resource, o) for o in chunk.items]
    steve_type = _steve_type(resource)
    here = f"{call.root}{call.http.path}"
    doc: JSON = {"type": "collection", "links": {"self": here},
                 "createTypes": {steve_type: f"{_steve_base(call)}/{steve_type}s"}, "actions": {},
                 "resourceType": steve_type, "revision": chunk.resource_version, "count": len(data), "data": data}
    if chunk.next_token or token:
        doc["pagination"] = {"first": here, "partial": True}
    if chunk.next_token:
        doc["continue"] = _steve_token(chunk.resource_version, chunk.next_token, limit)
        query = [(k, v) for k, v in call.params if k != "continue"] + [("continue", doc["continue"])]
        doc["pagination"]["next"] = f"{here}?{urlencode(query)}"
    return Response(200, doc)


def steve_get(call: Call) -> Response:
    check_cluster(call)
    resource = _steve_resource(call)
    obj = one_object(call, resource, call.match["namespace"], call.match["name"])
    return Response(200, steve_object(call, resource, obj))


def steve_create(call: Call) -> Response:
    """POST /v1/<type>: the namespace comes from the body's metadata (steve proxy_store.Create)."""
    check_cluster(call)
    resource = _steve_resource(call)
    if resource.workload is None:
        raise KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    body = call.body_json()
    namespace = str(((body.get("metadata") if isinstance(body, dict) else None) or {}).get("namespace") or "default")
    return Response(201, steve_object(call, resource, create_workload(call, resource, namespace, body)))


def steve_put(call: Call) -> Response:
    check_cluster(call)
    resource = _steve_resource(call)
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    obj = put_workload(call, workload, call.body_json(), require_version=True)
    return Response(200, steve_object(call, resource, obj))


def steve_patch(call: Call) -> Response:
    check_cluster(call)
    resource = _steve_resource(call)
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    # steve: no Content-Type means a strategic merge patch; anything else goes to Kubernetes as is.
    obj = patch_workload(call, workload, patch.STRATEGIC)
    return Response(200, steve_object(call, resource, obj))


def steve_delete(call: Call) -> Response:
    """DELETE: 204 once the object is gone (steve proxy_store.Delete answers NoContent when the
    lookup after the delete finds nothing, as with a workload's default background deletion)."""
    check_cluster(call)
    resource = _steve_resource(call)
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    call.cluster.remove_workload(workload)
    return Response(204, None, raw=b"")
