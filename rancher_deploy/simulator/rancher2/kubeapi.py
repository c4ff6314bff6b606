"""The Kubernetes API Rancher proxies at /k8s/clusters/<id>/: workloads, namespaces, pods, history, watches.

It and Steve (steve.py) read and write the workloads held by ``Cluster``: POST, GET, PUT, PATCH
(strategic merge, merge and JSON patch by Content-Type, rancher-api.md §6) and DELETE; lists with
label/field selectors and ``limit``/``continue`` chunks, as JSON or as a ``Table`` (tables.py);
``watch`` streams; ReplicaSets and ControllerRevisions for history; pods (list, delete). Any
resource of resources.py is reached by the same handlers. Failures are ``Status`` objects on the
proxy and rancher/apiserver error bodies on Steve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from rancher_deploy.simulator.rancher2 import patch
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.discovery import check_cluster
from rancher_deploy.simulator.rancher2.errors import KubeError
from rancher_deploy.simulator.rancher2.paging import Page, page
from rancher_deploy.simulator.rancher2.resources import Resource, resource_at
from rancher_deploy.simulator.rancher2.tables import table, wants_table
from rancher_deploy.simulator.rancher2.workloads import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import (
    API_VERSIONS,
    JSON,
    KINDS,
)
from rancher_deploy.simulator.wire import Response, StreamCut

WATCH_POLL = 0.02  # real seconds between looks at the store while a watch is open


def resource_of(call: Call) -> Resource:
    """The resource a proxy URL names (``/api/v1/<plural>`` or ``/apis/<group>/<version>/<plural>``), or
    404 when this cluster's Kubernetes release does not serve it under that version (batch/v1 CronJobs
    before 1.21, batch/v1beta1 from 1.25): the apiserver's "could not find the requested resource"."""
    found = resource_at(call.match.get("group", ""), call.match["resource"], call.match.get("version", "v1"),
                        call.cluster.kubernetes[0])
    if found is None or ("namespace" in call.match and not found.namespaced):
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return found


def served(call: Call, resource: Resource, obj: JSON) -> JSON:
    """``obj`` under the version the request named (Steve: the preferred one): one stored object is
    served by every version of its resource, each with its own ``apiVersion``, as the apiserver does."""
    if resource.workload is not None:
        version = call.match.get("version") or resource.served(call.cluster.kubernetes[0])[0]
        obj["apiVersion"] = resource.group_version(version)
    return obj


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


def list_objects_of(call: Call, resource: Resource, namespace: str | None) -> list[JSON]:
    """Every object of ``resource`` (in ``namespace``, or everywhere), as the API serves it."""
    cluster = call.cluster
    if namespace is not None:
        cluster.namespace(namespace)
    if resource.plural == "namespaces":
        return [cluster.namespace_to_k8s(ns) for ns in cluster.namespaces.values()]
    if resource.plural == "pods":
        return cluster.pods_to_k8s(namespace)
    if resource.workload is not None:
        return [served(call, resource, cluster.to_k8s(w))
                for w in cluster.workloads_in(namespace=namespace, kind=resource.workload)]
    if resource.plural == "jobs":
        return []  # not modelled: a CronJob's runs are not simulated
    # ReplicaSets belong to Deployments; ControllerRevisions to StatefulSets and DaemonSets.
    owners = {"deployment"} if resource.plural == "replicasets" else {"statefulset", "daemonset"}
    items: list[JSON] = []
    for w in cluster.workloads_in(namespace=namespace):
        if w.kind in owners:
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


def listed(call: Call, resource: Resource, namespace: str | None) -> Page:
    """The selected objects, one ``limit``/``continue`` chunk of them."""
    items = select(call, list_objects_of(call, resource, namespace))
    chosen = bool(call.param("labelSelector") or call.param("fieldSelector"))
    return page(items, str(call.cluster.resource_version), call.param("limit"), call.param("continue"), chosen)


def one_object(call: Call, resource: Resource, namespace: str | None, name: str) -> JSON:
    for item in list_objects_of(call, resource, namespace):
        if item["metadata"]["name"] == name:
            return item
    raise KubeError(404, "NotFound", f'{resource.qualified} "{name}" not found')


def workload_of(call: Call, resource: Resource, namespace: str, name: str) -> Workload:
    if resource.workload is None:
        raise KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    call.cluster.namespace(namespace)
    return call.cluster.workload(resource.workload, namespace, name)


def _validate(workload_kind: str, name: str, obj: JSON) -> None:
    spec = obj.get("spec")
    kind = KINDS[workload_kind]
    group = API_VERSIONS[workload_kind].split("/")[0]
    invalid = f'{kind}.{group} "{name}" is invalid'
    if not isinstance(spec, dict):
        raise KubeError(422, "Invalid", f"{invalid}: spec: Required value")
    template = spec.get("jobTemplate", {}).get("spec", {}).get("template") if workload_kind == "cronjob" else spec.get("template")
    containers = ((template or {}).get("spec") or {}).get("containers")
    path = "spec.jobTemplate.spec.template.spec.containers" if workload_kind == "cronjob" else "spec.template.spec.containers"
    if not isinstance(containers, list) or not containers:
        raise KubeError(422, "Invalid", f"{invalid}: {path}: Required value")
    for n, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("image"):
            raise KubeError(422, "Invalid", f"{invalid}: {path}[{n}].image: Required value")
        if not c.get("name"):
            raise KubeError(422, "Invalid", f"{invalid}: {path}[{n}].name: Required value")
    if workload_kind != "cronjob" and "replicas" in spec and int(spec["replicas"]) < 0:
        raise KubeError(422, "Invalid", f'{invalid}: spec.replicas: Invalid value: {spec["replicas"]}: must be greater than or equal to 0')
    if workload_kind != "cronjob" and not (spec.get("selector") or {}).get("matchLabels"):
        raise KubeError(422, "Invalid", f"{invalid}: spec.selector: Required value")
    check_selector(workload_kind, name, spec)


def check_selector(workload_kind: str, name: str, spec: JSON) -> None:
    """The pod template's labels must carry the selector's (apps validation ValidateDeploymentSpec and
    its StatefulSet and DaemonSet twins: "`selector` does not match template `labels`")."""
    if workload_kind == "cronjob":
        return
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in wanted.items()):
        shown = ", ".join(f'"{key}":"{value}"' for key, value in sorted(labels.items()))
        group = API_VERSIONS[workload_kind].split("/")[0]
        raise KubeError(422, "Invalid", f'{KINDS[workload_kind]}.{group} "{name}" is invalid: '
                                        f"spec.template.metadata.labels: Invalid value: map[string]string{{{shown}}}: "
                                        "`selector` does not match template `labels`")


def _store(call: Call, workload: Workload, obj: JSON) -> JSON:
    """Write a whole new object (after PUT or PATCH): spec, labels and annotations; status is ignored."""
    _validate(workload.kind, workload.name, obj)
    meta = obj.get("metadata") or {}
    if meta.get("name") not in (None, workload.name):
        raise KubeError(400, "BadRequest", f'the name of the object ({meta.get("name")}) does not match the name on the URL ({workload.name})')
    call.cluster.replace_spec(workload, obj["spec"], dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))
    return call.cluster.to_k8s(workload)


def create_workload(call: Call, resource: Resource, namespace: str, body: Any) -> JSON:
    """A new workload from a whole Kubernetes object (POST on the collection)."""
    assert resource.workload is not None
    if not isinstance(body, dict):
        raise KubeError(400, "BadRequest", "the body of the request could not be decoded")
    if body.get("kind") not in (None, resource.kind):
        raise KubeError(400, "BadRequest", f'the kind in the data ({body.get("kind")}) does not match the expected kind ({resource.kind})')
    meta = body.get("metadata") or {}
    name = str(meta.get("name") or "")
    if not name:
        raise KubeError(422, "Invalid", f'{resource.kind}.{resource.group} "" is invalid: metadata.name: Required value: '
                                        "name or generateName is required")
    if meta.get("namespace") not in (None, namespace):
        raise KubeError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
    _validate(resource.workload, name, body)
    call.cluster.namespace(namespace)
    # The stored object is defaulted as the apiserver defaults it (Cluster.create_workload: defaults.py).
    workload = call.cluster.create_workload(resource.workload, namespace, name, body["spec"],
                                            dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))
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

    faults = cluster.faults
    generation = faults.stream_generation()
    expired = since not in (None, "", "0") and faults.take_watch_expiry()

    def events() -> Iterator[bytes]:
        if expired:
            # The watch cache no longer holds that version (etcd compacted past it): the apiserver
            # answers 200, then one ERROR event carrying a 410 Expired Status, and ends the watch
            # (apiserver pkg/storage/cacher/watch_cache.go "too old resource version"; client-go's
            # reflector then re-lists: tools/cache/reflector.go isExpiredError).
            with cluster.lock:
                newest = max((int(o["metadata"]["resourceVersion"]) for o in lister()), default=0)
            yield _event("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": f"too old resource version: {since} ({newest})",
                                   "reason": "Expired", "code": 410})
            return
        start_real = time.monotonic()
        with cluster.lock:
            start_sim = cluster.settle()
            current = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in lister()}
        seen: dict[tuple[Any, Any], JSON] = {}  # the last state sent of each object
        for key, obj in current.items():
            if since in (None, "", "0") or int(obj["metadata"]["resourceVersion"]) > int(since or 0):
                yield _event("ADDED", wrap(obj))
            seen[key] = obj
        while True:
            time.sleep(WATCH_POLL)
            if faults.stream_generation() != generation:
                raise StreamCut()
            with cluster.lock:
                now = cluster.settle()
                current = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in lister()}
            for key, obj in current.items():
                if key not in seen:
                    yield _event("ADDED", wrap(obj))
                elif seen[key]["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                    yield _event("MODIFIED", wrap(obj))
                seen[key] = obj
            for key in [k for k in seen if k not in current]:
                # A DELETED event carries the object's last state (apiserver watch cache).
                yield _event("DELETED", wrap(seen.pop(key)))
            if time.monotonic() - start_real >= timeout or now - start_sim >= timeout:
                return

    return Response(200, None, {"Content-Type": "application/json"}, stream=events())


def _as_sent(call: Call, resource: Resource) -> Callable[[JSON], JSON]:
    """What a watch sends of each object: the object itself, or, when ``Accept`` asks for a Table
    (what `kubectl get -w` sends), a one-row Table with the list's columns, the column definitions only
    in the first event (apiserver handlers/response.go watchEmbeddedEncoder: TableOptions.NoHeaders
    after the first object). Watches serve Tables from Kubernetes 1.15 (kubernetes/kubernetes#71548);
    before, the apiserver answers such a watch with the objects, as the Accept's fallback allows."""
    version = wants_table(call.http.headers.get("accept", ""))
    if version is None or call.cluster.kubernetes[0] < 15:
        return lambda obj: obj
    include = call.param("includeObject") or "Metadata"
    sent = [0]

    def one_row(obj: JSON) -> JSON:
        sent[0] += 1
        return table(resource.plural, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, version,
                     include, call.cluster.wall(call.cluster.now()), headers=sent[0] == 1)
    return one_row


def _event(kind: str, obj: JSON) -> bytes:
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode("utf-8")


def _watching(call: Call) -> bool:
    return (call.param("watch") or "").lower() in ("true", "1")


# --------------------------------------------------------------------------------------------------
# Kubernetes proxy handlers


def _list_response(call: Call, resource: Resource, chunk: Page) -> Response:
    version = wants_table(call.http.headers.get("accept", ""))
    if version is not None:
        doc = table(resource.plural, chunk.items, chunk.list_meta(), version,
                    call.param("includeObject") or "Metadata", call.cluster.wall(call.cluster.now()))
        return Response(200, doc, {"Content-Type": f"application/json;as=Table;v={version};g=meta.k8s.io"})
    return Response(200, {"kind": resource.list_kind, "apiVersion": resource.group_version(call.match.get("version", "v1")),
                          "metadata": chunk.list_meta(), "items": chunk.items})


def list_objects(call: Call) -> Response:
    check_cluster(call)
    resource = resource_of(call)
    namespace = call.match.get("namespace")
    if _watching(call):
        return _watch(call, lambda: select(call, list_objects_of(call, resource, namespace)), _as_sent(call, resource))
    return _list_response(call, resource, listed(call, resource, namespace))


def get_object(call: Call) -> Response:
    check_cluster(call)
    resource = resource_of(call)
    obj = one_object(call, resource, call.match.get("namespace"), call.match["name"])
    if wants_table(call.http.headers.get("accept", "")):
        return _list_response(call, resource, Page([obj], obj["metadata"]["resourceVersion"], None, None))
    return Response(200, obj)


def watch_object(call: Call) -> Response:
    check_cluster(call)
    resource = resource_of(call)
    namespace, name = call.match["namespace"], call.match["name"]
    one_object(call, resource, namespace, name)
    return _watch(call, lambda: [o for o in list_objects_of(call, resource, namespace) if o["metadata"]["name"] == name],
                  _as_sent(call, resource))


def create_object(call: Call) -> Response:
    """POST a workload into a namespace: 201 with the object as stored (not yet observed)."""
    check_cluster(call)
    resource = resource_of(call)
    if resource.workload is None:
        raise KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    return Response(201, served(call, resource, create_workload(call, resource, call.match["namespace"],
                                                                 call.body_json())))


def put_object(call: Call) -> Response:
    check_cluster(call)
    resource = resource_of(call)
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    return Response(200, served(call, resource, put_workload(call, workload, call.body_json(), require_version=False)))


def patch_object(call: Call) -> Response:
    check_cluster(call)
    resource = resource_of(call)
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    if not call.http.headers.get("content-type"):
        raise KubeError(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
    return Response(200, served(call, resource, patch_workload(call, workload, patch.STRATEGIC)))


def delete_object(call: Call) -> Response:
    """DELETE a workload: gone at once with its ReplicaSets and pods (background propagation).

    The apiserver answers a ``Status`` of Success whose details name the resource, not the kind
    (k8s.io/apiserver pkg/registry/generic/registry/store.go finalizeDelete).
    """
    check_cluster(call)
    resource = resource_of(call)
    if resource.plural == "pods":
        # Deleted at once here (no grace period); the apiserver answers with the pod.
        call.cluster.namespace(call.match["namespace"])
        return Response(200, call.cluster.delete_pod(call.match["namespace"], call.match["name"]))
    workload = workload_of(call, resource, call.match["namespace"], call.match["name"])
    call.cluster.remove_workload(workload)
    return Response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": {"name": workload.name, "group": resource.group, "kind": resource.plural,
                                      "uid": workload.uid}})
