"""The Kubernetes API Rancher proxies at /k8s/clusters/<id>/: workloads, namespaces, pods, history, watches.

It and Steve (steve.py) read and write the workloads held by ``Cluster``: GET, PUT and PATCH
(strategic merge, merge and JSON patch by Content-Type, rancher-api.md §6), lists with label/field
selectors, ``watch`` streams, ReplicaSets and ControllerRevisions for history, pods (list, delete).
Failures are ``Status`` objects on the proxy and rancher/apiserver error bodies on Steve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from rancher_deploy.simulator.rancher2 import patch
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import CLUSTER_ID
from rancher_deploy.simulator.rancher2.errors import KubeError, not_found
from rancher_deploy.simulator.rancher2.workloads import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import (
    API_VERSIONS,
    JSON,
    KINDS,
)
from rancher_deploy.simulator.wire import Response

# Kubernetes resource (plural) -> our workload kind.
RESOURCES: dict[str, str] = {
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
    "cronjobs": "cronjob",
}
GROUPS: dict[str, str] = {"deployments": "apps", "statefulsets": "apps", "daemonsets": "apps", "cronjobs": "batch",
                          "replicasets": "apps", "controllerrevisions": "apps"}
LIST_KINDS: dict[str, str] = {"deployments": "DeploymentList", "statefulsets": "StatefulSetList",
                              "daemonsets": "DaemonSetList", "cronjobs": "CronJobList",
                              "replicasets": "ReplicaSetList", "controllerrevisions": "ControllerRevisionList"}
KUBERNETES_VERSIONS: dict[str, tuple[str, str]] = {
    "2.4": ("18", "v1.18.20"), "2.5": ("20", "v1.20.15"), "2.6": ("24", "v1.24.17"),
    "2.7": ("26", "v1.26.15"), "2.8": ("28", "v1.28.15"), "2.9": ("30", "v1.30.14"),
}
WATCH_POLL = 0.02  # real seconds between looks at the store while a watch is open


def check_cluster(call: Call) -> None:
    if call.match.get("cluster", CLUSTER_ID) != CLUSTER_ID:
        raise KubeError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')


def _resource(call: Call) -> str:
    resource = call.match["resource"].lower()
    group = call.match.get("group")
    if resource not in GROUPS or (group is not None and GROUPS[resource] != group):
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return resource


# --------------------------------------------------------------------------------------------------
# Selectors


def label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a`` joined by commas."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str, obj: JSON) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = term.replace("!=", "=").replace("==", "=").split("=", 1)
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if (str(node) == value) == negate:
            return False
    return True


# --------------------------------------------------------------------------------------------------
# Objects


def list_objects_of(call: Call, resource: str, namespace: str | None) -> list[JSON]:
    cluster = call.cluster
    if namespace is not None:
        cluster.namespace(namespace)
    if resource in RESOURCES:
        return [cluster.to_k8s(w) for w in cluster.workloads_in(namespace=namespace, kind=RESOURCES[resource])]
    owners = "deployment" if resource == "replicasets" else None
    items: list[JSON] = []
    for w in cluster.workloads_in(namespace=namespace):
        if w.kind == "cronjob" or (owners is not None and w.kind != owners) or (owners is None and w.kind == "deployment"):
            continue
        items.extend(cluster.revisions_to_k8s(w))
    return items


def select(call: Call, items: list[JSON]) -> list[JSON]:
    labels = call.param("labelSelector")
    fields = call.param("fieldSelector")
    if labels:
        items = [i for i in items if label_selector_matches(labels, i["metadata"].get("labels") or {})]
    if fields:
        items = [i for i in items if field_selector_matches(fields, i)]
    return items


def one_object(call: Call, resource: str, namespace: str, name: str) -> JSON:
    for item in list_objects_of(call, resource, namespace):
        if item["metadata"]["name"] == name:
            return item
    kind = {"replicasets": "ReplicaSet", "controllerrevisions": "ControllerRevision"}.get(resource) or KINDS[RESOURCES[resource]]
    raise not_found(kind, name)


def workload_of(call: Call, resource: str, namespace: str, name: str) -> Workload:
    if resource not in RESOURCES:
        raise KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    call.cluster.namespace(namespace)
    return call.cluster.workload(RESOURCES[resource], namespace, name)


def _validate(workload: Workload, obj: JSON) -> None:
    spec = obj.get("spec")
    kind = KINDS[workload.kind]
    if not isinstance(spec, dict):
        raise KubeError(422, "Invalid", f'{kind}.{API_VERSIONS[workload.kind].split("/")[0]} "{workload.name}" is invalid: spec: Required value')
    template = spec.get("jobTemplate", {}).get("spec", {}).get("template") if workload.kind == "cronjob" else spec.get("template")
    containers = ((template or {}).get("spec") or {}).get("containers")
    group = API_VERSIONS[workload.kind].split("/")[0]
    path = "spec.jobTemplate.spec.template.spec.containers" if workload.kind == "cronjob" else "spec.template.spec.containers"
    if not isinstance(containers, list) or not containers:
        raise KubeError(422, "Invalid", f'{kind}.{group} "{workload.name}" is invalid: {path}: Required value')
    for n, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("image"):
            raise KubeError(422, "Invalid", f'{kind}.{group} "{workload.name}" is invalid: {path}[{n}].image: Required value')
        if not c.get("name"):
            raise KubeError(422, "Invalid", f'{kind}.{group} "{workload.name}" is invalid: {path}[{n}].name: Required value')
    if workload.kind != "cronjob" and "replicas" in spec and int(spec["replicas"]) < 0:
        raise KubeError(422, "Invalid", f'{kind}.{group} "{workload.name}" is invalid: spec.replicas: Invalid value: {spec["replicas"]}: must be greater than or equal to 0')


def _store(call: Call, workload: Workload, obj: JSON) -> JSON:
    """Write a whole new object (after PUT or PATCH): spec, labels and annotations; status is ignored."""
    _validate(workload, obj)
    meta = obj.get("metadata") or {}
    if meta.get("name") not in (None, workload.name):
        raise KubeError(400, "BadRequest", f'the name of the object ({meta.get("name")}) does not match the name on the URL ({workload.name})')
    call.cluster.replace_spec(workload, obj["spec"], dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))
    return call.cluster.to_k8s(workload)


def _conflict(workload: Workload) -> KubeError:
    group = API_VERSIONS[workload.kind].split("/")[0]
    plural = f"{workload.kind}s.{group}"
    return KubeError(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{workload.name}": the object has been modified; please apply your changes to the latest version and try again')


def put_workload(call: Call, workload: Workload, body: Any, require_version: bool) -> JSON:
    if not isinstance(body, dict):
        raise KubeError(400, "BadRequest", "the body of the request could not be decoded")
    version = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if not version and require_version:
        # steve proxy_store.Update refuses an update without a resourceVersion (§6).
        raise KubeError(422, "Invalid", "metadata.resourceVersion is required for update")
    if version and version != str(workload.resource_version):
        raise _conflict(workload)
    return _store(call, workload, body)


def patch_workload(call: Call, workload: Workload, default_type: str) -> JSON:
    content_type = call.http.headers.get("content-type") or default_type
    current = call.cluster.to_k8s(workload)
    patched = patch.apply(content_type, current, call.body_json())
    if not isinstance(patched, dict):
        raise KubeError(422, "Invalid", "the patch produced something that is not an object")
    version = str((patched.get("metadata") or {}).get("resourceVersion") or "")
    if version and version != current["metadata"]["resourceVersion"]:
        raise _conflict(workload)
    return _store(call, workload, patched)


# --------------------------------------------------------------------------------------------------
# Watch


def _watch(call: Call, lister: Callable[[], list[JSON]], wrap: Callable[[JSON], JSON]) -> Response:
    """Stream watch events as JSON lines until timeoutSeconds (real or simulated) run out."""
    timeout = float(call.param("timeoutSeconds") or 1800)
    since = call.param("resourceVersion")
    cluster = call.cluster

    def events() -> Iterator[bytes]:
        start_real = time.monotonic()
        with cluster.lock:
            start_sim = cluster.settle()
            current = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in lister()}
        seen: dict[tuple[Any, Any], str] = {}
        for key, obj in current.items():
            if since in (None, "", "0") or int(obj["metadata"]["resourceVersion"]) > int(since or 0):
                yield _event("ADDED", wrap(obj))
            seen[key] = obj["metadata"]["resourceVersion"]
        while True:
            time.sleep(WATCH_POLL)
            with cluster.lock:
                now = cluster.settle()
                current = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in lister()}
            for key, obj in current.items():
                version = obj["metadata"]["resourceVersion"]
                if key not in seen:
                    yield _event("ADDED", wrap(obj))
                elif seen[key] != version:
                    yield _event("MODIFIED", wrap(obj))
                seen[key] = version
            for key in [k for k in seen if k not in current]:
                del seen[key]
                yield _event("DELETED", {"metadata": {"namespace": key[0], "name": key[1]}})
            if time.monotonic() - start_real >= timeout or now - start_sim >= timeout:
                return

    return Response(200, None, {"Content-Type": "application/json"}, stream=events())


def _event(kind: str, obj: JSON) -> bytes:
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode("utf-8")


def _watching(call: Call) -> bool:
    return (call.param("watch") or "").lower() in ("true", "1")


# --------------------------------------------------------------------------------------------------
# Kubernetes proxy handlers


def k8s_version(call: Call) -> Response:
    check_cluster(call)
    minor, git = KUBERNETES_VERSIONS.get(call.version, ("28", "v1.28.15"))
    return Response(200, {"major": "1", "minor": minor, "gitVersion": git, "gitCommit": "0" * 40,
                          "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21",
                          "compiler": "gc", "platform": "linux/amd64"})


def list_namespaces(call: Call) -> Response:
    check_cluster(call)
    items = select(call, [call.cluster.namespace_to_k8s(ns) for ns in call.cluster.namespaces.values()])
    return Response(200, {"kind": "NamespaceList", "apiVersion": "v1",
                          "metadata": {"resourceVersion": str(call.cluster._resource_version)}, "items": items})


def get_namespace(call: Call) -> Response:
    check_cluster(call)
    return Response(200, call.cluster.namespace_to_k8s(call.cluster.namespace(call.match["namespace"])))


def list_pods(call: Call) -> Response:
    check_cluster(call)
    namespace = call.match["namespace"]
    call.cluster.namespace(namespace)
    items = select(call, call.cluster.pods_to_k8s(namespace))
    return Response(200, {"kind": "PodList", "apiVersion": "v1",
                          "metadata": {"resourceVersion": str(call.cluster._resource_version)}, "items": items})


def delete_pod(call: Call) -> Response:
    check_cluster(call)
    call.cluster.namespace(call.match["namespace"])
    return Response(200, call.cluster.delete_pod(call.match["namespace"], call.match["name"]))


def list_objects(call: Call) -> Response:
    check_cluster(call)
    resource = _resource(call)
    namespace = call.match.get("namespace")
    if _watching(call):
        return _watch(call, lambda: select(call, list_objects_of(call, resource, namespace)), lambda o: o)
    items = select(call, list_objects_of(call, resource, namespace))
    group = GROUPS[resource]
    return Response(200, {"kind": LIST_KINDS[resource], "apiVersion": f"{group}/v1",
                          "metadata": {"resourceVersion": str(call.cluster._resource_version)}, "items": items})


def get_object(call: Call) -> Response:
    check_cluster(call)
    resource = _resource(call)
    return Response(200, one_object(call, resource, call.match["namespace"], call.match["name"]))


def watch_object(call: Call) -> Response:
    check_cluster(call)
    resource = _resource(call)
    namespace, name = call.match["namespace"], call.match["name"]
    one_object(call, resource, namespace, name)
    return _watch(call, lambda: [o for o in list_objects_of(call, resource, namespace) if o["metadata"]["name"] == name], lambda o: o)


def put_object(call: Call) -> Response:
    check_cluster(call)
    workload = workload_of(call, _resource(call), call.match["namespace"], call.match["name"])
    return Response(200, put_workload(call, workload, call.body_json(), require_version=False))


def patch_object(call: Call) -> Response:
    check_cluster(call)
    workload = workload_of(call, _resource(call), call.match["namespace"], call.match["name"])
    if not call.http.headers.get("content-type"):
        raise KubeError(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
    return Response(200, patch_workload(call, workload, patch.STRATEGIC))
