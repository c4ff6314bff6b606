"""v3 <-> Kubernetes translation: workloads, containers and ReplicaSets as Norman shows and accepts them.

A v3 workload is the Kubernetes object flattened (rancher-api.md §5.2): the pod spec's fields at
the top, containers renamed the Rancher way (``command``→``entrypoint``, ``args``→``command``, and
up to 2.5 ``env``/``envFrom``→``environment``/``environmentFrom``, environment.py), the Deployment's
own metadata as ``workloadLabels``/``workloadAnnotations``, status as ``deploymentStatus``, state
words by release (summary.py); ``metadata`` (generation, resourceVersion) is dropped. PUT maps what
was sent back and merges it into the live object (§5.3).
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from rancher_deploy.simulator.rancher2 import environment
from rancher_deploy.simulator.rancher2.errors import NormanError
from rancher_deploy.simulator.rancher2.releases import has_redeploy, maps_environment
from rancher_deploy.simulator.rancher2.summary import v3_state
from rancher_deploy.simulator.rancher2.workloads import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import JSON

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
# Where a v3 config's strategy lands: (the spec field, its rollingUpdate keys, the spec keys it carries).
STRATEGY_FIELDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "deployment": ("strategy", ("maxSurge", "maxUnavailable"),
                   ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit")),
    "statefulset": ("updateStrategy", ("partition", "maxUnavailable"), ("minReadySeconds", "revisionHistoryLimit")),
    "daemonset": ("updateStrategy", ("maxUnavailable",), ("minReadySeconds", "revisionHistoryLimit")),
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


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)


# --------------------------------------------------------------------------------------------------
# Containers: Kubernetes <-> v3


def container_to_v3(container: JSON, init: bool, version: str) -> JSON:
    """A Kubernetes container as v3 shows it on Rancher ``version`` (its environment: environment.py)."""
    if maps_environment(version):
        container = environment.to_v3(container)
    out: JSON = {}
    for key, value in container.items():
        if key == "command":
            out["entrypoint"] = copy.deepcopy(value)
        elif key == "args":
            out["command"] = copy.deepcopy(value)
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


def container_from_v3(container: JSON, version: str) -> tuple[JSON, bool]:
    """A v3 container back in Kubernetes form on Rancher ``version``, and whether it is an init container."""
    out: JSON = {}
    for key, value in _strip_types(container).items():
        if key == "entrypoint":
            out["command"] = value
        elif key == "command":
            out["args"] = value
        elif key in ("initContainer", "restartCount", "state", "transitioning", "transitioningMessage"):
            continue
        elif key in ("environment", "environmentFrom") and not maps_environment(version):
            continue  # 2.6+: not fields of a container any more (empty ones pass the validator)
        else:
            out[key] = value
    if maps_environment(version):
        out = environment.from_v3(out)
    return out, bool(container.get("initContainer"))


# --------------------------------------------------------------------------------------------------
# Workloads: Kubernetes -> v3


def _status_to_v3(workload: Workload, k8s_status: JSON) -> JSON:
    status: JSON = copy.deepcopy(k8s_status)
    for cond in status.get("conditions", []):
        cond["lastUpdateTimeTS"] = created_ts(cond["lastUpdateTime"])
        cond["lastTransitionTimeTS"] = created_ts(cond["lastTransitionTime"])
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


def workload_to_v3(workload: Workload, project_id: str, k8s: JSON, base: str, version: str) -> JSON:
    """The v3 resource as Rancher ``version`` shows it; ``base`` is the project sub-context URL (links
    go under /workloads)."""
    template = workload.template()
    pod_spec = template.get("spec") or {}
    pod_meta = template.get("metadata") or {}
    self_link = f"{base}/workloads/{workload.v3_id}"
    state, transitioning, message = v3_state(k8s, version)
    created = k8s["metadata"]["creationTimestamp"]
    containers = [container_to_v3(c, True, version) for c in pod_spec.get("initContainers") or []]
    containers += [container_to_v3(c, False, version) for c in pod_spec.get("containers") or []]
    config_field, status_field = CONFIG_FIELDS[workload.kind]
    doc: JSON = {
        "id": workload.v3_id,
        "type": V3_TYPES[workload.kind],
        "baseType": "workload",
        "links": {"self": self_link, "update": self_link, "remove": self_link, "yaml": f"{self_link}/yaml"},
        "actions": {"redeploy": f"{self_link}?action=redeploy"} if has_redeploy(version) else {},
        "name": workload.name,
        "namespaceId": workload.namespace,
        "projectId": project_id,
        "state": state,
        "transitioning": transitioning,
        "transitioningMessage": message,
        "created": created,
        "createdTS": created_ts(created),
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


def replicaset_to_v3(workload: Workload, rs: JSON, project_id: str, base: str, version: str) -> JSON:
    """A ReplicaSet as the v3 ``replicaSet`` type (what the revisions link lists)."""
    meta = rs["metadata"]
    rs_id = f"replicaset:{meta['namespace']}:{meta['name']}"
    link = f"{base}/replicasets/{rs_id}"
    template = rs["spec"]["template"]
    pod_spec = template.get("spec") or {}
    containers = [container_to_v3(c, True, version) for c in pod_spec.get("initContainers") or []]
    containers += [container_to_v3(c, False, version) for c in pod_spec.get("containers") or []]
    ready = rs["status"].get("readyReplicas", 0)
    return {
        "id": rs_id,
        "type": "replicaSet",
        "baseType": "replicaSet",
        "links": {"self": link, "update": link, "remove": link},
        "actions": {"redeploy": f"{link}?action=redeploy"} if has_redeploy(version) else {},
        "name": meta["name"],
        "namespaceId": meta["namespace"],
        "projectId": project_id,
        "state": "active" if ready == rs["spec"]["replicas"] else "updating",
        "transitioning": "no",
        "transitioningMessage": "",
        "created": meta["creationTimestamp"],
        "createdTS": created_ts(meta["creationTimestamp"]),
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


def merge_v3(old: Any, new: Any, key: str = "") -> Any:
    """norman merge.APIUpdateMerge on what a PUT sent: objects merged key by key, arrays and scalars
    replaced, and map fields replaced whole: the pod template's `labels`/`annotations` are exactly
    what was sent (norman's merge returns the source for a map field, types/convert/merge/merge.go
    isMap), `*cattle.io/*` keys included. The workload's own metadata is `merge_protected`'s."""
    if key in ("labels", "annotations"):
        return copy.deepcopy(new)
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for k, v in new.items():
            merged[k] = merge_v3(old.get(k), v, k)
        return merged
    return copy.deepcopy(new)


def merge_protected(current: dict[str, str], sent: Any) -> dict[str, str]:
    """norman merge.mergeMetadata / mergeProtected for the workload's own labels or annotations
    (`workloadLabels`, `workloadAnnotations`): nothing sent keeps them; otherwise the keys sent are
    set, except protected ones (containing `cattle.io/`, but not `field.cattle.io/` other than
    `field.cattle.io/creatorId`), and the current keys not sent are removed, except protected ones
    and `field.cattle.io/` ones."""
    if not isinstance(sent, dict):
        return dict(current)

    def protected(key: str) -> bool:
        field = key.startswith("field.cattle.io/")
        return PROTECTED_SUFFIX in key and (not field or key == "field.cattle.io/creatorId")

    result = dict(current)
    result.update({key: str(value) for key, value in sent.items() if not protected(key)})
    for key in current:
        if not protected(key) and not key.startswith("field.cattle.io/") and key not in sent:
            del result[key]
    return result


def apply_v3(workload_kind: str, current_spec: JSON, v3: JSON, version: str) -> JSON:
    """The Kubernetes spec after applying the fields of a (merged) v3 view onto the current spec;
    fields the view lacks are left as they are."""
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
            converted, init = container_from_v3(c, version)
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
    if workload_kind in STRATEGY_FIELDS:
        _apply_config(workload_kind, spec, v3.get(CONFIG_FIELDS[workload_kind][0]) or {})
    return spec


def _apply_config(workload_kind: str, spec: JSON, config: JSON) -> None:
    """deploymentConfig / statefulSetConfig / daemonSetConfig {strategy, its rolling keys, …} onto the spec."""
    if not config:
        return
    field, rolling_keys, plain_keys = STRATEGY_FIELDS[workload_kind]
    strategy = spec.setdefault(field, {})
    strategy["type"] = config.get("strategy") or strategy.get("type") or "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        for key in rolling_keys:
            if config.get(key) is not None:
                rolling[key] = config[key]
    else:
        strategy.pop("rollingUpdate", None)
    for key in plain_keys:
        if config.get(key) is not None:
            spec[key] = config[key]


def validate_containers(v3: JSON) -> None:
    containers = v3.get("containers")
    if not containers:
        raise NormanError(422, "MissingRequired", "containers is required", "containers")
    for c in containers:
        if not c.get("image"):
            raise NormanError(422, "MissingRequired", "image is required", "image")
        if not c.get("name"):
            raise NormanError(422, "MissingRequired", "name is required", "name")
