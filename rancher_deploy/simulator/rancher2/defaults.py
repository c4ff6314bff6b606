"""Kubernetes defaulting: what the apiserver fills in when it decodes a workload for a create or an update.

The apiserver runs the defaulting functions on every object it decodes from a write, so the stored
object holds the defaults and every reader (kubectl, v3, Steve, the controllers) sees them; a field
the write sets keeps its value, and only a field the write leaves unset is filled. Read in
kubernetes: ``pkg/apis/core/v1/defaults.go`` (SetDefaults_PodSpec, SetDefaults_Container, with
``pkg/util/parsers/parsers.go`` ParseImageName), ``pkg/apis/apps/v1/defaults.go``
(SetDefaults_Deployment, SetDefaults_StatefulSet, SetDefaults_DaemonSet) and
``pkg/apis/batch/v1/defaults.go`` (SetDefaults_CronJob). The consequence that matters to a deploy
tool: a container created as ``app:1`` stores ``imagePullPolicy: IfNotPresent``, and keeps it when
a later write moves it to ``app:latest``, so redeploying that tag does not pull.
"""

from __future__ import annotations

import copy
from typing import Any

# Imports nothing of the simulator: the node (node.py), under the workload controllers, reads it too.
JSON = dict[str, Any]
ALWAYS, IF_NOT_PRESENT = "Always", "IfNotPresent"


def split_reference(image: str) -> tuple[str, str | None, str | None]:
    """``repo:tag@sha256:…`` -> (repository, tag or None, digest or None)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest or None
    return name, None, digest or None


def default_pull_policy(image: str) -> str:
    """SetDefaults_Container's imagePullPolicy for ``image``: Always when its tag is ``latest``, which
    ParseImageName also answers for a reference with neither tag nor digest; else IfNotPresent."""
    _, tag, digest = split_reference(image)
    if tag is None and digest is None:
        tag = "latest"
    return ALWAYS if tag == "latest" else IF_NOT_PRESENT


def _unset(obj: JSON, key: str) -> bool:
    """Go's zero value for a string field: absent, null, or empty."""
    return obj.get(key) in (None, "")


def _fill(obj: JSON, key: str, value: Any) -> None:
    if _unset(obj, key):
        obj[key] = value


def _nil(obj: JSON, key: str, value: Any) -> None:
    """A pointer field (a number, a bool, an object): only nil, absent or null, is unset."""
    if obj.get(key) is None:
        obj[key] = value


def _object(obj: JSON, key: str) -> JSON:
    """The object at ``key``, made an empty one where it is unset (a struct the defaults fill in)."""
    child: JSON = obj.get(key) or {}
    obj[key] = child
    return child


def default_container(container: JSON) -> None:
    """SetDefaults_Container, in place."""
    if _unset(container, "imagePullPolicy"):
        container["imagePullPolicy"] = default_pull_policy(str(container.get("image") or ""))
    _fill(container, "terminationMessagePath", "/dev/termination-log")
    _fill(container, "terminationMessagePolicy", "File")


def default_pod_spec(pod_spec: JSON) -> None:
    """SetDefaults_PodSpec and SetDefaults_Container of each of its containers, in place."""
    _fill(pod_spec, "dnsPolicy", "ClusterFirst")
    _fill(pod_spec, "restartPolicy", "Always")
    _nil(pod_spec, "securityContext", {})
    _nil(pod_spec, "terminationGracePeriodSeconds", 30)
    _fill(pod_spec, "schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            if isinstance(container, dict):
                default_container(container)


def _rolling_update(strategy: JSON, rolling_defaults: JSON) -> None:
    """A Deployment's or DaemonSet's strategy: RollingUpdate when unset, and its own defaults then."""
    _fill(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _object(strategy, "rollingUpdate")
        for key, value in rolling_defaults.items():
            _nil(rolling, key, value)


def _deployment(spec: JSON) -> None:
    """SetDefaults_Deployment: 1 replica, RollingUpdate 25%/25%, 10 revisions kept, a 600 s deadline."""
    _nil(spec, "replicas", 1)
    _rolling_update(_object(spec, "strategy"), {"maxUnavailable": "25%", "maxSurge": "25%"})
    _nil(spec, "revisionHistoryLimit", 10)
    _nil(spec, "progressDeadlineSeconds", 600)


def _statefulset(spec: JSON, minor: int) -> None:
    """SetDefaults_StatefulSet; the PVC retention policy from 1.27, where the StatefulSetAutoDeletePVC
    gate it depends on is on by default (pkg/features/kube_features.go)."""
    _fill(spec, "podManagementPolicy", "OrderedReady")
    strategy = _object(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        _nil(strategy, "rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        _nil(rolling, "partition", 0)
    if minor >= 27:
        policy = _object(spec, "persistentVolumeClaimRetentionPolicy")
        _fill(policy, "whenDeleted", "Retain")
        _fill(policy, "whenScaled", "Retain")
    _nil(spec, "replicas", 1)
    _nil(spec, "revisionHistoryLimit", 10)


def _daemonset(spec: JSON, minor: int) -> None:
    """SetDefaults_DaemonSet; ``maxSurge`` 0 from 1.22, where the DaemonSetUpdateSurge gate that adds
    the field is on by default (beta; alpha and off in 1.21)."""
    _rolling_update(_object(spec, "updateStrategy"), {"maxUnavailable": 1, **({"maxSurge": 0} if minor >= 22 else {})})
    _nil(spec, "revisionHistoryLimit", 10)


def _cronjob(spec: JSON) -> None:
    """SetDefaults_CronJob (batch/v1, as batch/v1beta1 before it)."""
    _fill(spec, "concurrencyPolicy", "Allow")
    _nil(spec, "suspend", False)
    _nil(spec, "successfulJobsHistoryLimit", 3)
    _nil(spec, "failedJobsHistoryLimit", 1)


def workload_defaults(kind: str, spec: JSON, minor: int) -> JSON:
    """A copy of ``spec`` (a workload of ``kind``: deployment, statefulset, daemonset or cronjob) with
    what the apiserver of Kubernetes 1.``minor`` fills in where the write left a field unset: the
    workload's own defaults, then the pod template's (its pod spec and each container)."""
    spec = copy.deepcopy(spec)
    if kind == "deployment":
        _deployment(spec)
    elif kind == "statefulset":
        _statefulset(spec, minor)
    elif kind == "daemonset":
        _daemonset(spec, minor)
    elif kind == "cronjob":
        _cronjob(spec)
    holder = ((spec.get("jobTemplate") or {}).get("spec") or {}) if kind == "cronjob" else spec
    template = holder.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])
    return spec
