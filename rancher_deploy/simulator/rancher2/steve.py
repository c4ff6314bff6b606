"""Steve, Rancher's /v1 API (2.5+): the same objects as the Kubernetes proxy, in rancher/apiserver's format."""

from __future__ import annotations

import copy

from rancher_deploy.simulator.rancher2 import norman, patch
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import CLUSTER_ID
from rancher_deploy.simulator.rancher2.errors import KubeError

# Kubernetes resource (plural) -> our workload kind.
from rancher_deploy.simulator.rancher2.kubeapi import (
    GROUPS,
    RESOURCES,
    check_cluster,
    list_objects_of,
    one_object,
    patch_workload,
    put_workload,
    select,
    workload_of,
)
from rancher_deploy.simulator.rancher2.workloads.objects import (
    JSON,
)
from rancher_deploy.simulator.wire import Response

# Steve type -> Kubernetes resource.
STEVE_TYPES: dict[str, str] = {
    "apps.deployments": "deployments",
    "apps.statefulsets": "statefulsets",
    "apps.daemonsets": "daemonsets",
    "batch.cronjobs": "cronjobs",
    "apps.replicasets": "replicasets",
}


def _steve_resource(call: Call) -> str:
    resource = STEVE_TYPES.get(call.match["type"].lower())
    if resource is None:
        raise KubeError(404, "NotFound", f"schema {call.match['type']} not found")
    return resource


def _steve_base(call: Call) -> str:
    prefix = f"/k8s/clusters/{call.match['cluster']}" if "cluster" in call.match else ""
    return f"{call.root}{prefix}/v1"


def steve_object(call: Call, resource: str, obj: JSON) -> JSON:
    """A Kubernetes object as Steve formats it: id, type, links and metadata.state on top."""
    meta = obj["metadata"]
    steve_type = next(t for t, r in STEVE_TYPES.items() if r == resource).removesuffix("s")
    link = f"{_steve_base(call)}/{steve_type}s/{meta['namespace']}/{meta['name']}"
    group = GROUPS[resource]
    doc: JSON = {
        "id": f"{meta['namespace']}/{meta['name']}",
        "type": steve_type,
        "links": {"self": link, "update": link, "remove": link, "patch": link,
                  "view": f"{call.root}/k8s/clusters/{CLUSTER_ID}/apis/{group}/v1/namespaces/{meta['namespace']}/{resource}/{meta['name']}"},
    }
    doc.update(copy.deepcopy(obj))
    state_name, transitioning, message = "active", "no", ""
    if resource in RESOURCES:
        workload = call.cluster.workload(RESOURCES[resource], meta["namespace"], meta["name"])
        state_name, transitioning, message = norman.summary(workload)
    doc["metadata"]["state"] = {
        "name": state_name,
        "error": transitioning == "error",
        "transitioning": transitioning == "yes",
        "message": message,
    }
    doc["metadata"]["relationships"] = []
    doc["metadata"]["fields"] = [meta["name"]]
    return doc


def steve_list(call: Call) -> Response:
    check_cluster(call)
    resource = _steve_resource(call)
    namespace = call.match.get("namespace")
    items = select(call, list_objects_of(call, resource, namespace))
    data = [steve_object(call, resource, o) for o in items]
    steve_type = call.match["type"].lower().removesuffix("s")
    return Response(200, {"type": "collection", "links": {"self": f"{call.root}{call.http.path}"},
                          "createTypes": {steve_type: f"{_steve_base(call)}/{steve_type}s"}, "actions": {},
                          "resourceType": steve_type, "revision": str(call.cluster._resource_version),
                          "count": len(data), "data": data})


def steve_get(call: Call) -> Response:
    check_cluster(call)
    resource = _steve_resource(call)
    obj = one_object(call, resource, call.match["namespace"], call.match["name"])
    return Response(200, steve_object(call, resource, obj))


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
