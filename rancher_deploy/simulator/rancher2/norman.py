"""The v3 ("Norman") API of Rancher 2.x: clusters, projects, namespaces and project workloads.

A v3 workload is the Kubernetes object flattened (rancher-api.md §5.2): the pod spec's fields at
the top, containers renamed the Rancher way (``command``→``entrypoint``, ``args``→``command``,
``env``→``environment``), the Deployment's own metadata as ``workloadLabels``/``workloadAnnotations``,
status as ``deploymentStatus``; ``metadata`` (generation, resourceVersion) is dropped. PUT maps the
body back and merges it into the live object (§5.3).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import (
    CLUSTER_ID,
    WORKLOAD_SELECTOR,
    Namespace,
    Project2,
)
from rancher_deploy.simulator.rancher2.errors import KubeError, NormanError, not_found
from rancher_deploy.simulator.rancher2.workloads import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import JSON, KINDS
from rancher_deploy.simulator.wire import Response

SCHEMA_PREFIX = "/v3/project/schemas"
# v3 type name, collection path and Kubernetes kind key per workload kind.
V3_TYPES: dict[str, str] = {
    "deployment": "deployment",
    "statefulset": "statefulSet",
    "daemonset": "daemonSet",
    "cronjob": "cronJob",
}
COLLECTION_KINDS: dict[str, str | None] = {
    "workloads": None,
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
    "cronjobs": "cronjob",
}
CONFIG_FIELDS: dict[str, tuple[str, str]] = {
    "deployment": ("deploymentConfig", "deploymentStatus"),
    "statefulset": ("statefulSetConfig", "statefulSetStatus"),
    "daemonset": ("daemonSetConfig", "daemonSetStatus"),
    "cronjob": ("cronJobConfig", "cronJobStatus"),
}
# Pod spec fields shown at the top level of a v3 workload under the same name.
POD_FIELDS = (
    "volumes",
    "dnsPolicy",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "hostNetwork",
    "hostIPC",
    "hostPID",
    "imagePullSecrets",
    "serviceAccountName",
    "hostname",
    "subdomain",
    "priorityClassName",
    "dnsConfig",
    "hostAliases",
    "securityContext",
    "affinity",
    "tolerations",
)
# Fields a client may send; anything else in a PUT body (state, status, created, links) is ignored.
WRITABLE = (
    "containers", "scale", "paused", "labels", "annotations", "workloadLabels", "workloadAnnotations",
    "deploymentConfig", "statefulSetConfig", "daemonSetConfig", "cronJobConfig", "scheduling", "selector",
) + POD_FIELDS
PROTECTED_SUFFIX = "cattle.io/"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)


# --------------------------------------------------------------------------------------------------
# Containers: Kubernetes <-> v3


def container_to_v3(container: JSON, init: bool) -> JSON:
    out: JSON = {}
    for key, value in container.items():
        if key == "command":
            out["entrypoint"] = copy.deepcopy(value)
        elif key == "args":
            out["command"] = copy.deepcopy(value)
        elif key == "env":
            plain = {e["name"]: e.get("value", "") for e in value if "valueFrom" not in e}
            sourced = [copy.deepcopy(e) for e in value if "valueFrom" in e]
            if plain:
                out["environment"] = plain
            if sourced:
                out["environmentFrom"] = sourced
        elif key == "ports":
            out["ports"] = [{**copy.deepcopy(p), "type": f"{SCHEMA_PREFIX}/containerPort"} for p in value]
        else:
            out[key] = copy.deepcopy(value)
    out["initContainer"] = init
    out["type"] = f"{SCHEMA_PREFIX}/container"
    return out


def _strip_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_types(v) for k, v in value.items() if not (k == "type" and isinstance(v, str) and v.startswith("/v3/"))}
    if isinstance(value, list):
        return [_strip_types(v) for v in value]
    return value


def container_from_v3(container: JSON) -> tuple[JSON, bool]:
    """A v3 container back in Kubernetes form, and whether it is an init container."""
    out: JSON = {}
    env: list[JSON] = []
    for key, value in _strip_types(container).items():
        if key == "entrypoint":
            out["command"] = value
        elif key == "command":
            out["args"] = value
        elif key == "environment":
            env.extend({"name": str(k), "value": str(v)} for k, v in (value or {}).items())
        elif key == "environmentFrom":
            env.extend(value or [])
        elif key in ("initContainer", "restartCount", "state", "transitioning", "transitioningMessage"):
            continue
        else:
            out[key] = value
    if env:
        out["env"] = env
    return out, bool(container.get("initContainer"))


# --------------------------------------------------------------------------------------------------
# Workloads: Kubernetes -> v3


def summary(workload: Workload) -> tuple[str, str, str]:
    """(state, transitioning, transitioningMessage) by §5.2 (wrangler summary + Rancher's replicas rule)."""
    if workload.kind == "cronjob":
        return "active", "no", ""
    status = workload.status
    conditions = workload.conditions
    progressing = conditions.get("Progressing")
    available = conditions.get("Available")
    state, transitioning, message = "active", "no", ""
    if progressing is not None and progressing.status == "False":
        state, transitioning, message = "updating", "error", progressing.message
    elif available is not None and available.status == "False":
        state, transitioning, message = "updating", "yes", available.message
    elif workload.observed_generation != workload.generation:
        state, transitioning = "in-progress", "yes"
    if transitioning == "no" or (transitioning == "error" and state == "active"):
        if workload.kind == "daemonset":
            mismatch = status.get("desiredNumberScheduled") != status.get("numberReady")
        else:
            mismatch = status.get("replicas", 0) != status.get("readyReplicas", 0)
        if mismatch:
            state = "updating"
            if transitioning == "no":
                transitioning, message = "yes", "upgrading workload"
    return state, transitioning, message


def _status_to_v3(workload: Workload, k8s_status: JSON) -> JSON:
    status: JSON = copy.deepcopy(k8s_status)
    for cond in status.get("conditions", []):
        cond["lastUpdateTimeTS"] = _ts(cond["lastUpdateTime"])
        cond["lastTransitionTimeTS"] = _ts(cond["lastTransitionTime"])
    status["type"] = f"{SCHEMA_PREFIX}/{CONFIG_FIELDS[workload.kind][1]}"
    return status


def _config_to_v3(workload: Workload) -> JSON:
    spec = workload.spec
    if workload.kind == "deployment":
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        config: JSON = {"strategy": strategy.get("type", "RollingUpdate")}
        if "maxSurge" in rolling:
            config["maxSurge"] = rolling["maxSurge"]
        if "maxUnavailable" in rolling:
            config["maxUnavailable"] = rolling["maxUnavailable"]
        config["minReadySeconds"] = spec.get("minReadySeconds", 0)
        config["progressDeadlineSeconds"] = spec.get("progressDeadlineSeconds", 600)
        config["revisionHistoryLimit"] = spec.get("revisionHistoryLimit", 10)
        return config
    if workload.kind == "cronjob":
        return {k: copy.deepcopy(v) for k, v in spec.items() if k != "jobTemplate"}
    strategy = spec.get("updateStrategy") or {}
    config = {"strategy": strategy.get("type", "RollingUpdate")}
    rolling = strategy.get("rollingUpdate") or {}
    if "partition" in rolling:
        config["partition"] = rolling["partition"]
    if "maxUnavailable" in rolling:
        config["maxUnavailable"] = rolling["maxUnavailable"]
    for key in ("serviceName", "podManagementPolicy", "revisionHistoryLimit", "minReadySeconds"):
        if key in spec:
            config[key] = spec[key]
    return config


def workload_to_v3(workload: Workload, project_id: str, k8s: JSON, base: str) -> JSON:
    """The v3 resource; ``base`` is the project sub-context URL (links go under /workloads)."""
    template = workload.template()
    pod_spec = template.get("spec") or {}
    pod_meta = template.get("metadata") or {}
    self_link = f"{base}/workloads/{workload.v3_id}"
    state, transitioning, message = summary(workload)
    created = k8s["metadata"]["creationTimestamp"]
    containers = [container_to_v3(c, True) for c in pod_spec.get("initContainers") or []]
    containers += [container_to_v3(c, False) for c in pod_spec.get("containers") or []]
    config_field, status_field = CONFIG_FIELDS[workload.kind]
    doc: JSON = {
        "id": workload.v3_id,
        "type": V3_TYPES[workload.kind],
        "baseType": "workload",
        "links": {"self": self_link, "update": self_link, "remove": self_link, "yaml": f"{self_link}/yaml"},
        "actions": {"redeploy": f"{self_link}?action=redeploy"},
        "name": workload.name,
        "namespaceId": workload.namespace,
        "projectId": project_id,
        "state": state,
        "transitioning": transitioning,
        "transitioningMessage": message,
        "created": created,
        "createdTS": _ts(created),
        "creatorId": workload.annotations.get("field.cattle.io/creatorId"),
        "uuid": workload.uid,
        "containers": containers,
        "scheduling": {"scheduler": pod_spec.get("schedulerName", "default-scheduler"),
                       **({"node": {"nodeId": None, "requireAll": [f"{k}={v}" for k, v in pod_spec["nodeSelector"].items()]}}
                          if pod_spec.get("nodeSelector") else {})},
        "labels": dict(pod_meta.get("labels") or {}),
        "annotations": dict(pod_meta.get("annotations") or {}),
        "workloadLabels": dict(workload.labels),
        "workloadAnnotations": dict(workload.annotations),
        config_field: _config_to_v3(workload),
        "publicEndpoints": [],
        "workloadMetrics": None,
        "hostIPC": False,
        "hostNetwork": False,
        "hostPID": False,
    }
    for key in POD_FIELDS:
        if key in pod_spec:
            doc[key] = copy.deepcopy(pod_spec[key])
    doc.setdefault("volumes", [])
    if workload.kind != "cronjob":
        doc["selector"] = {**copy.deepcopy(workload.spec.get("selector") or {}), "type": f"{SCHEMA_PREFIX}/labelSelector"}
        doc[status_field] = _status_to_v3(workload, k8s.get("status") or {})
    else:
        doc[status_field] = {"type": f"{SCHEMA_PREFIX}/cronJobStatus"}
    if workload.kind in ("deployment", "statefulset"):
        doc["scale"] = workload.replicas()
    if workload.kind == "deployment":
        doc["paused"] = bool(workload.spec.get("paused", False))
        doc["links"]["revisions"] = f"{self_link}/revisions"
        doc["actions"].update(
            {"pause": f"{self_link}?action=pause", "resume": f"{self_link}?action=resume", "rollback": f"{self_link}?action=rollback"}
        )
    return doc


def replicaset_to_v3(workload: Workload, rs: JSON, project_id: str, base: str) -> JSON:
    """A ReplicaSet as the v3 ``replicaSet`` type (what the revisions link lists)."""
    meta = rs["metadata"]
    rs_id = f"replicaset:{meta['namespace']}:{meta['name']}"
    link = f"{base}/replicasets/{rs_id}"
    template = rs["spec"]["template"]
    pod_spec = template.get("spec") or {}
    containers = [container_to_v3(c, True) for c in pod_spec.get("initContainers") or []]
    containers += [container_to_v3(c, False) for c in pod_spec.get("containers") or []]
    ready = rs["status"].get("readyReplicas", 0)
    return {
        "id": rs_id,
        "type": "replicaSet",
        "baseType": "replicaSet",
        "links": {"self": link, "update": link, "remove": link},
        "actions": {"redeploy": f"{link}?action=redeploy"},
        "name": meta["name"],
        "namespaceId": meta["namespace"],
        "projectId": project_id,
        "state": "active" if ready == rs["spec"]["replicas"] else "updating",
        "transitioning": "no",
        "transitioningMessage": "",
        "created": meta["creationTimestamp"],
        "createdTS": _ts(meta["creationTimestamp"]),
        "uuid": meta["uid"],
        "scale": rs["spec"]["replicas"],
        "containers": containers,
        "labels": dict((template.get("metadata") or {}).get("labels") or {}),
        "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
        "workloadLabels": dict(meta.get("labels") or {}),
        "workloadAnnotations": dict(meta.get("annotations") or {}),
        "ownerReferences": [{**o, "type": f"{SCHEMA_PREFIX}/ownerReference"} for o in meta["ownerReferences"]],
        "replicaSetStatus": {**copy.deepcopy(rs["status"]), "type": f"{SCHEMA_PREFIX}/replicaSetStatus"},
        "selector": {**copy.deepcopy(rs["spec"].get("selector") or {}), "type": f"{SCHEMA_PREFIX}/labelSelector"},
    }


# --------------------------------------------------------------------------------------------------
# Workloads: v3 -> Kubernetes (create and PUT)


def _merge(old: Any, new: Any, key: str = "") -> Any:
    """norman merge.APIUpdateMerge: objects merged key by key, arrays and scalars replaced; label and
    annotation maps replaced whole but keeping the protected ``*cattle.io/*`` keys."""
    if key in ("labels", "annotations", "workloadLabels", "workloadAnnotations") and isinstance(new, dict):
        kept = {k: v for k, v in (old or {}).items() if PROTECTED_SUFFIX in k and k not in new}
        return {**kept, **new}
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for k, v in new.items():
            merged[k] = _merge(old.get(k), v, k)
        return merged
    return copy.deepcopy(new)


def apply_v3(workload_kind: str, current_spec: JSON, v3: JSON) -> JSON:
    """The Kubernetes spec after applying a (merged) v3 view onto the current spec."""
    spec = copy.deepcopy(current_spec)
    if workload_kind == "cronjob":
        template = spec.setdefault("jobTemplate", {}).setdefault("spec", {}).setdefault("template", {})
    else:
        template = spec.setdefault("template", {})
    pod_spec = template.setdefault("spec", {})
    meta = template.setdefault("metadata", {})
    if "containers" in v3:
        containers: list[JSON] = []
        inits: list[JSON] = []
        for c in v3["containers"] or []:
            converted, init = container_from_v3(c)
            (inits if init else containers).append(converted)
        pod_spec["containers"] = containers
        if inits:
            pod_spec["initContainers"] = inits
        else:
            pod_spec.pop("initContainers", None)
    for key in POD_FIELDS:
        if key in v3:
            if v3[key] is None:
                pod_spec.pop(key, None)
            else:
                pod_spec[key] = _strip_types(copy.deepcopy(v3[key]))
    if "labels" in v3:
        meta["labels"] = dict(v3["labels"] or {})
    if "annotations" in v3:
        if v3["annotations"]:
            meta["annotations"] = dict(v3["annotations"])
        else:
            meta.pop("annotations", None)
    scheduling = v3.get("scheduling") or {}
    if scheduling.get("scheduler"):
        pod_spec["schedulerName"] = scheduling["scheduler"]
    if "scale" in v3 and v3["scale"] is not None and workload_kind in ("deployment", "statefulset"):
        spec["replicas"] = int(v3["scale"])
    if workload_kind == "deployment":
        if "paused" in v3:
            if v3["paused"]:
                spec["paused"] = True
            else:
                spec.pop("paused", None)
        config = v3.get("deploymentConfig") or {}
        if config:
            strategy = spec.setdefault("strategy", {})
            strategy["type"] = config.get("strategy", strategy.get("type", "RollingUpdate"))
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                for key in ("maxSurge", "maxUnavailable"):
                    if config.get(key) is not None:
                        rolling[key] = config[key]
            else:
                strategy.pop("rollingUpdate", None)
            for key in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit"):
                if config.get(key) is not None:
                    spec[key] = config[key]
    return spec


def _validate_containers(v3: JSON) -> None:
    containers = v3.get("containers")
    if not containers:
        raise NormanError(422, "MissingRequired", "containers is required", "containers")
    for c in containers:
        if not c.get("image"):
            raise NormanError(422, "MissingRequired", "image is required", "image")
        if not c.get("name"):
            raise NormanError(422, "MissingRequired", "name is required", "name")


# --------------------------------------------------------------------------------------------------
# Collections and schemas


def collection(call: Call, data: list[JSON], resource_type: str, create_types: dict[str, str] | None = None) -> Response:
    """A Norman collection; equality filters on any top-level scalar field (name, namespaceId, id…)."""
    skip = {"limit", "marker", "sort", "order", "action", "_replace", "hidden"}
    for key, value in call.params:
        if key in skip:
            continue
        field, _, modifier = key.partition("_")
        if modifier == "ne":
            data = [d for d in data if str(d.get(field)) != value]
        elif not modifier:
            data = [d for d in data if field in d and str(d.get(field)) == value]
    doc: JSON = {
        "type": "collection",
        "links": {"self": f"{call.root}{call.http.path}"},
        "createTypes": create_types or {},
        "actions": {},
        "pagination": {"limit": 1000, "total": len(data)},
        "sort": {"order": "asc", "reverse": f"{call.root}{call.http.path}?order=desc"},
        "filters": {},
        "resourceType": resource_type,
        "data": data,
    }
    return Response(200, doc)


def _schema(schema_id: str, base: str, plural: str, *, collection_methods: list[str], resource_methods: list[str],
            fields: dict[str, str], actions: dict[str, JSON] | None = None) -> JSON:
    return {
        "id": schema_id,
        "type": "schema",
        "links": {"self": f"{base}/schemas/{schema_id.lower()}", "collection": f"{base}/{plural}"},
        "pluralName": plural,
        "collectionMethods": collection_methods,
        "resourceMethods": resource_methods,
        "resourceActions": actions or {},
        "collectionActions": {},
        "collectionFilters": {f: {"modifiers": ["eq", "ne"]} for f in ("name", "namespaceId", "id", "state", "uuid")},
        "resourceFields": {name: {"type": kind, "nullable": True} for name, kind in fields.items()},
        "version": {"group": "project.cattle.io", "path": "/v3/project", "version": "v3"},
    }


WORKLOAD_FIELDS = {
    "name": "string", "namespaceId": "reference[namespace]", "projectId": "reference[project]", "scale": "int",
    "paused": "boolean", "containers": "array[container]", "labels": "map[string]", "annotations": "map[string]",
    "workloadLabels": "map[string]", "workloadAnnotations": "map[string]", "state": "string",
    "transitioning": "enum", "transitioningMessage": "string", "created": "date", "uuid": "string",
    "selector": "labelSelector", "volumes": "array[volume]", "scheduling": "scheduling",
}


def project_schemas(base: str) -> list[JSON]:
    crud = (["GET", "POST"], ["GET", "PUT", "DELETE"])
    rollback_actions = {
        "redeploy": {}, "pause": {}, "resume": {},
        "rollback": {"input": "rollbackRevision"},
    }
    schemas = [
        _schema("workload", base, "workloads", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "deploymentConfig": "deploymentConfig", "deploymentStatus": "deploymentStatus"},
                actions=rollback_actions),
        _schema("deployment", base, "deployments", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "deploymentConfig": "deploymentConfig", "deploymentStatus": "deploymentStatus"},
                actions={**rollback_actions, "rollback": {"input": "deploymentRollbackInput"}}),
        _schema("statefulSet", base, "statefulsets", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "statefulSetConfig": "statefulSetConfig", "statefulSetStatus": "statefulSetStatus"},
                actions={"redeploy": {}}),
        _schema("daemonSet", base, "daemonsets", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "daemonSetConfig": "daemonSetConfig", "daemonSetStatus": "daemonSetStatus"},
                actions={"redeploy": {}}),
        _schema("cronJob", base, "cronjobs", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "cronJobConfig": "cronJobConfig", "cronJobStatus": "cronJobStatus"},
                actions={"redeploy": {}}),
        _schema("replicaSet", base, "replicasets", collection_methods=["GET"], resource_methods=["GET", "PUT", "DELETE"],
                fields=WORKLOAD_FIELDS, actions={"redeploy": {}}),
    ]
    for nested in ("container", "containerPort", "deploymentConfig", "deploymentStatus", "deploymentCondition",
                   "deploymentRollbackInput", "rollbackRevision", "labelSelector", "statefulSetStatus",
                   "daemonSetStatus", "replicaSetStatus", "ownerReference"):
        schemas.append({
            "id": nested, "type": "schema", "links": {"self": f"{base}/schemas/{nested.lower()}"},
            "pluralName": nested + "s", "collectionMethods": [], "resourceMethods": [],
            "resourceFields": {"replicaSetId": {"type": "reference[replicaSet]"}} if nested == "deploymentRollbackInput" else {},
            "version": {"group": "project.cattle.io", "path": "/v3/project", "version": "v3"},
        })
    return schemas


def management_schemas(base: str) -> list[JSON]:
    return [
        _schema("cluster", base, "clusters", collection_methods=["GET"], resource_methods=["GET"],
                fields={"name": "string", "state": "string"}),
        _schema("project", base, "projects", collection_methods=["GET", "POST"], resource_methods=["GET", "PUT", "DELETE"],
                fields={"name": "string", "clusterId": "reference[cluster]", "state": "string"}),
        _schema("namespace", f"{base}/cluster/{CLUSTER_ID}", "namespaces", collection_methods=["GET", "POST"],
                resource_methods=["GET", "PUT", "DELETE"], fields={"name": "string", "projectId": "reference[project]"}),
    ]


def _schemas_response(call: Call, schemas: list[JSON]) -> Response:
    response = collection(call, schemas, "schema")
    # Norman names the schemas of the request's own sub-context; Rancher's client, built on a
    # project's `/schemas` URL as Rancher's integration tests do, compares it with its base URL.
    response.headers["X-Api-Schemas"] = f"{call.root}{call.http.path}"
    return response


def _api_root(call: Call, base: str, collections: list[str], group: str, path: str) -> Response:
    links: JSON = {"root": f"{call.root}/v3", "self": base, "schemas": f"{base}/schemas"}
    for name in collections:
        links[name] = f"{base}/{name}"
    doc: JSON = {
        "apiVersion": {"group": group, "path": path, "version": "v3"},
        "baseType": "apiRoot",
        "id": "v3",
        "links": links,
        "type": "apiRoot",
        "actions": {},
    }
    return Response(200, doc, {"X-Api-Schemas": f"{base}/schemas"})


# --------------------------------------------------------------------------------------------------
# Management: clusters, projects, namespaces


def cluster_doc(call: Call) -> JSON:
    link = f"{call.root}/v3/clusters/{CLUSTER_ID}"
    return {
        "id": CLUSTER_ID, "type": "cluster", "baseType": "cluster", "name": CLUSTER_ID, "state": "active",
        "transitioning": "no", "transitioningMessage": "", "internal": True, "driver": "imported",
        "links": {"self": link, "projects": f"{call.root}/v3/projects?clusterId={CLUSTER_ID}",
                  "namespaces": f"{call.root}/v3/cluster/{CLUSTER_ID}/namespaces"},
        "actions": {},
    }


def project_doc(call: Call, project: Project2) -> JSON:
    link = f"{call.root}/v3/projects/{project.id}"
    sub = f"{call.root}/v3/project/{project.id}"
    created = _iso(call.cluster.wall(project.created))
    links: JSON = {"self": link, "update": link, "remove": link, "schemas": f"{sub}/schemas"}
    for name in ("workloads", "deployments", "statefulSets", "daemonSets", "cronJobs", "replicaSets"):
        links[name] = f"{sub}/{name.lower()}"
    return {
        "id": project.id, "type": "project", "baseType": "project", "name": project.name, "clusterId": CLUSTER_ID,
        "namespaceId": CLUSTER_ID, "state": "active", "transitioning": "no", "transitioningMessage": "",
        "created": created, "createdTS": _ts(created), "uuid": project.short_id, "links": links, "actions": {},
    }


def namespace_doc(call: Call, ns: Namespace) -> JSON:
    link = f"{call.root}/v3/cluster/{CLUSTER_ID}/namespaces/{ns.name}"
    created = _iso(call.cluster.wall(ns.created))
    return {
        "id": ns.name, "type": "namespace", "baseType": "namespace", "name": ns.name, "projectId": ns.project_id,
        "clusterId": CLUSTER_ID, "state": "active", "transitioning": "no", "transitioningMessage": "",
        "created": created, "createdTS": _ts(created), "uuid": ns.uid,
        "links": {"self": link, "update": link, "remove": link}, "actions": {},
    }


def v3_root(call: Call) -> Response:
    return _api_root(call, f"{call.root}/v3", ["clusters", "projects"], "management.cattle.io", "/v3")


def v3_schemas(call: Call) -> Response:
    return _schemas_response(call, management_schemas(f"{call.root}/v3"))


def list_clusters(call: Call) -> Response:
    return collection(call, [cluster_doc(call)], "cluster")


def get_cluster(call: Call) -> Response:
    if call.match["cluster"] != CLUSTER_ID:
        raise NormanError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')
    return Response(200, cluster_doc(call))


def list_projects(call: Call) -> Response:
    data = [project_doc(call, p) for p in call.cluster.projects.values()]
    return collection(call, data, "project", {"project": f"{call.root}/v3/projects"})


def get_project(call: Call) -> Response:
    return Response(200, project_doc(call, _project(call)))


def create_project(call: Call) -> Response:
    body = call.body_json()
    if not body.get("name"):
        raise NormanError(422, "MissingRequired", "name is required", "name")
    pid = call.cluster.add_project(str(body["name"]))
    return Response(201, project_doc(call, call.cluster.projects[pid]))


def list_namespaces(call: Call) -> Response:
    _cluster(call)
    data = [namespace_doc(call, ns) for ns in call.cluster.namespaces.values()]
    return collection(call, data, "namespace")


def get_namespace(call: Call) -> Response:
    _cluster(call)
    return Response(200, namespace_doc(call, call.cluster.namespace(call.match["name"])))


def create_namespace(call: Call) -> Response:
    _cluster(call)
    body = call.body_json()
    name = str(body.get("name") or "")
    if not name:
        raise NormanError(422, "MissingRequired", "name is required", "name")
    call.cluster.add_namespace(name, body.get("projectId") or None)
    return Response(201, namespace_doc(call, call.cluster.namespace(name)))


def _cluster(call: Call) -> None:
    if call.match.get("cluster", CLUSTER_ID) != CLUSTER_ID:
        raise NormanError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')


def _project(call: Call) -> Project2:
    pid = call.match["project"]
    project = call.cluster.projects.get(pid)
    if project is None:
        raise NormanError(404, "NotFound", f'projects.management.cattle.io "{pid.split(":")[-1]}" not found')
    return project


# --------------------------------------------------------------------------------------------------
# Project workloads


def _base(call: Call) -> str:
    return f"{call.root}/v3/project/{call.match['project']}"


def render(call: Call, workload: Workload) -> JSON:
    pid = call.cluster.project_of(workload) or call.match["project"]
    return workload_to_v3(workload, pid, call.cluster.to_k8s(workload), _base(call))


def _kind_of(call: Call) -> str | None:
    return COLLECTION_KINDS[call.match["collection"].lower()]


def _find(call: Call) -> Workload:
    """The workload named by a v3 id in this project; the collection's kind must match the id's."""
    project = _project(call)
    parts = call.match["id"].split(":", 2)
    kind = _kind_of(call)
    if len(parts) != 3 or parts[0] not in KINDS or (kind is not None and parts[0] != kind):
        raise NormanError(404, "NotFound", f"Failed to find type: {call.match['collection']} id: {call.match['id']}")
    try:
        workload = call.cluster.workload(parts[0], parts[1], parts[2])
    except KubeError as err:
        raise NormanError(404, "NotFound", err.message) from None
    if call.cluster.project_of(workload) != project.id:
        raise NormanError(404, "NotFound", not_found(KINDS[parts[0]], parts[2]).message)
    return workload


def project_root(call: Call) -> Response:
    _project(call)
    return _api_root(call, _base(call), list(COLLECTION_KINDS) + ["replicasets"], "project.cattle.io", "/v3/project")


def project_schemas_handler(call: Call) -> Response:
    _project(call)
    return _schemas_response(call, project_schemas(_base(call)))


def get_project_schema(call: Call) -> Response:
    _project(call)
    for schema in project_schemas(_base(call)):
        if schema["id"].lower() == call.match["schema"].lower():
            return Response(200, schema)
    raise NormanError(404, "NotFound", "Not Found")


def list_workloads(call: Call) -> Response:
    project = _project(call)
    kind = _kind_of(call)
    data = [render(call, w) for w in call.cluster.workloads_in(project.id, kind=kind)]
    resource_type = "workload" if kind is None else V3_TYPES[kind]
    create_types = {V3_TYPES[k]: f"{_base(call)}/{k}s" for k in KINDS}
    return collection(call, data, resource_type, create_types)


def get_workload(call: Call) -> Response:
    return Response(200, render(call, _find(call)))


def create_workload(call: Call) -> Response:
    project = _project(call)
    body = call.body_json()
    kind = _kind_of(call) or str(body.get("type") or "deployment").lower()
    if kind not in KINDS:
        raise NormanError(422, "InvalidType", f"Invalid type {body.get('type')}")
    name = str(body.get("name") or "")
    namespace = str(body.get("namespaceId") or "")
    if not name:
        raise NormanError(422, "MissingRequired", "name is required", "name")
    if not namespace:
        raise NormanError(422, "MissingRequired", "namespaceId is required", "namespaceId")
    ns = call.cluster.namespaces.get(namespace)
    if ns is None or ns.project_id != project.id:
        raise NormanError(422, "InvalidReference", f"Invalid namespaceId {namespace}", "namespaceId")
    _validate_containers(body)
    selector = f"{kind}-{namespace}-{name}"
    spec: JSON = {"selector": {"matchLabels": {WORKLOAD_SELECTOR: selector}},
                  "template": {"metadata": {"labels": {WORKLOAD_SELECTOR: selector}}, "spec": {}}}
    if kind == "cronjob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": spec["template"]}}}
    if kind in ("deployment", "statefulset"):
        spec["replicas"] = 1
    if kind == "deployment":
        spec["progressDeadlineSeconds"] = 600
        spec["revisionHistoryLimit"] = 10
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    view = {k: v for k, v in body.items() if k in WRITABLE}
    view["labels"] = {**(view.get("labels") or {}), WORKLOAD_SELECTOR: selector}
    spec = apply_v3(kind, spec, view)
    labels = {"cattle.io/creator": "norman", WORKLOAD_SELECTOR: selector, **(body.get("workloadLabels") or {})}
    annotations = dict(body.get("workloadAnnotations") or {})
    try:
        workload = call.cluster.create_workload(kind, namespace, name, spec, labels, annotations)
    except KubeError as err:
        raise NormanError.from_kube(err) from None
    return Response(201, render(call, workload))


def update_workload(call: Call) -> Response:
    workload = _find(call)
    body = call.body_json()
    if not isinstance(body, dict):
        raise NormanError(422, "InvalidBodyContent", "Failed to parse body")
    current = {k: v for k, v in render(call, workload).items() if k in WRITABLE}
    sent = {k: v for k, v in body.items() if k in WRITABLE}
    if call.param("_replace") == "true":
        merged = {**current, **sent}
    else:
        merged = _merge(current, sent)
    if "containers" in sent:
        _validate_containers(merged)
    spec = apply_v3(workload.kind, workload.spec, merged)
    call.cluster.replace_spec(workload, spec, dict(merged.get("workloadLabels") or {}),
                              dict(merged.get("workloadAnnotations") or {}))
    return Response(200, render(call, workload))


def remove_workload(call: Call) -> Response:
    workload = _find(call)
    doc = render(call, workload)
    call.cluster.remove_workload(workload)
    doc["state"] = "removing"
    doc["transitioning"] = "yes"
    return Response(200, doc)


def workload_action(call: Call) -> Response:
    try:
        workload = _find(call)
    except NormanError as err:
        # Norman validates an action's target before the store runs (api/validate.go), so an
        # unknown id gets its own wording rather than Kubernetes' "not found".
        if err.status != 404:
            raise
        raise NormanError(404, "NotFound",
                          f"Failed to find type: {call.match['collection']} id: {call.match['id']}") from None
    action = call.param("action")
    available = render(call, workload)["actions"]
    if action is None:
        raise NormanError(405, "MethodNotAllow", "Method POST not supported")
    if action not in available:
        raise NormanError(422, "InvalidAction", f"Invalid action: {action}")
    handler = ACTIONS[action]
    handler(call, workload)
    return Response(200, None, raw=b"")


def _redeploy(call: Call, workload: Workload) -> None:
    spec = copy.deepcopy(workload.spec)
    template = spec.get("template") if workload.kind != "cronjob" else spec["jobTemplate"]["spec"]["template"]
    assert isinstance(template, dict)
    stamp = _iso(call.cluster.wall(call.cluster.now()))
    template.setdefault("metadata", {}).setdefault("annotations", {})["cattle.io/timestamp"] = stamp
    call.cluster.replace_spec(workload, spec)


def _set_paused(workload: Workload, call: Call, paused: bool) -> None:
    spec = copy.deepcopy(workload.spec)
    if paused:
        spec["paused"] = True
    else:
        spec.pop("paused", None)
    call.cluster.replace_spec(workload, spec)


def _pause(call: Call, workload: Workload) -> None:
    if workload.spec.get("paused"):
        raise NormanError(422, "InvalidAction", f"Deployment {workload.v3_id} already paused")
    _set_paused(workload, call, True)


def _resume(call: Call, workload: Workload) -> None:
    if not workload.spec.get("paused"):
        raise NormanError(422, "InvalidAction", f"Pause deployment {workload.v3_id} before resume")
    _set_paused(workload, call, False)


def _rollback(call: Call, workload: Workload) -> None:
    # rancher workload.go rollbackDeployment (apps/v1): the input's replicaSetId names a ReplicaSet
    # whose pod spec is copied into the Deployment; the declared rollbackRevision input is ignored.
    body = call.body_json()
    rs_id = str((body or {}).get("replicaSetId") or "") if isinstance(body, dict) else ""
    split = rs_id.split(":", 2)
    if len(split) != 3 or split[0] != "replicaset":
        raise NormanError(500, "ServerError", f"Invalid ReplicaSet {rs_id}")
    if split[1] != workload.namespace:
        raise NormanError(500, "ServerError", f"ReplicaSet {rs_id} not found for deployment {workload.v3_id}")
    try:
        call.cluster.rollback(workload, split[2])
    except KeyError:
        raise NormanError(500, "ServerError", f"ReplicaSet {rs_id} not found for deployment {workload.v3_id}") from None


ACTIONS: dict[str, Callable[[Call, Workload], None]] = {
    "redeploy": _redeploy,
    "pause": _pause,
    "resume": _resume,
    "rollback": _rollback,
}


def workload_revisions(call: Call) -> Response:
    workload = _find(call)
    if workload.kind != "deployment":
        raise NormanError(404, "NotFound", "Link not found")
    pid = call.cluster.project_of(workload) or ""
    data = [replicaset_to_v3(workload, rs, pid, _base(call)) for rs in call.cluster.revisions_to_k8s(workload)]
    return collection(call, data, "replicaSet")


def workload_yaml(call: Call) -> Response:
    workload = _find(call)
    return Response(200, call.cluster.to_k8s(workload))


def list_replicasets(call: Call) -> Response:
    project = _project(call)
    data: list[JSON] = []
    for workload in call.cluster.workloads_in(project.id, kind="deployment"):
        data.extend(replicaset_to_v3(workload, rs, project.id, _base(call)) for rs in call.cluster.revisions_to_k8s(workload))
    return collection(call, data, "replicaSet")


def get_replicaset(call: Call) -> Response:
    project = _project(call)
    for workload in call.cluster.workloads_in(project.id, kind="deployment"):
        for rs in call.cluster.revisions_to_k8s(workload):
            doc = replicaset_to_v3(workload, rs, project.id, _base(call))
            if doc["id"] == call.match["id"]:
                return Response(200, doc)
    raise NormanError(404, "NotFound", f'replicasets.apps "{call.match["id"].split(":")[-1]}" not found')
