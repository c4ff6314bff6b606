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


def _zero(obj: JSON, key: str, value: Any) -> None:
    """A plain (not pointer) number field: Go's zero, 0, is unset too."""
    if obj.get(key) in (None, 0):
        obj[key] = value


def _each(obj: Any, key: str) -> list[JSON]:
    """The objects of the list at ``key`` (none where ``obj`` is not an object or the list is unset)."""
    items = obj.get(key) if isinstance(obj, dict) else None
    return [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []


def _child(obj: Any, key: str) -> JSON | None:
    """The object at ``key`` when the write set one: the generated defaulters only descend into a
    pointer that is not nil (zz_generated.defaults.go ``if a.LivenessProbe != nil``)."""
    child = obj.get(key) if isinstance(obj, dict) else None
    return child if isinstance(child, dict) else None


def _field_ref(holder: JSON | None) -> None:
    """SetDefaults_ObjectFieldSelector: a ``fieldRef`` names the field of the v1 Pod by default."""
    ref = _child(holder, "fieldRef")
    if ref is not None:
        _fill(ref, "apiVersion", "v1")


def _http_get(handler: JSON | None) -> None:
    """SetDefaults_HTTPGetAction on the handler's ``httpGet``: path ``/``, scheme HTTP."""
    action = _child(handler, "httpGet")
    if action is not None:
        _fill(action, "path", "/")
        _fill(action, "scheme", "HTTP")


def default_container(container: JSON) -> None:
    """SetDefaults_Container, in place, with what the generated defaulter
    (``pkg/apis/core/v1/zz_generated.defaults.go``, SetObjectDefaults_Pod and the workloads' alike)
    runs on its parts: ports' ``protocol`` TCP (the ``+default="TCP"`` of ContainerPort), each env
    ``valueFrom.fieldRef`` (SetDefaults_ObjectFieldSelector), each probe (SetDefaults_Probe: 1 s
    timeout, 10 s period, thresholds 1 and 3) and every ``httpGet`` of a probe or lifecycle handler
    (SetDefaults_HTTPGetAction). The same for init and ephemeral containers
    (SetDefaults_EphemeralContainer calls SetDefaults_Container)."""
    if _unset(container, "imagePullPolicy"):
        container["imagePullPolicy"] = default_pull_policy(str(container.get("image") or ""))
    _fill(container, "terminationMessagePath", "/dev/termination-log")
    _fill(container, "terminationMessagePolicy", "File")
    for port in _each(container, "ports"):
        _fill(port, "protocol", "TCP")
    for env in _each(container, "env"):
        _field_ref(_child(env, "valueFrom"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = _child(container, key)
        if probe is not None:
            for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                                 ("failureThreshold", 3)):
                _zero(probe, field, value)
            _http_get(probe)
    lifecycle = _child(container, "lifecycle")
    for key in ("postStart", "preStop"):
        _http_get(_child(lifecycle, key))


# Every field of a Volume's VolumeSource (core/v1 types.go): a volume that sets none of them is an
# emptyDir (SetDefaults_Volume). ``image`` is the newest (ImageVolume, 1.31).
VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image"})
DEFAULT_MODE = 0o644  # 420: Secret-, ConfigMap-, DownwardAPI- and ProjectedVolumeSourceDefaultMode


def _claim_spec(spec: JSON | None, minor: int) -> None:
    """SetDefaults_PersistentVolumeClaimSpec: ``volumeMode`` Filesystem, from 1.13 where the
    BlockVolume gate that adds the field is on by default (beta; GA in 1.18)."""
    if spec is not None and minor >= 13:
        _nil(spec, "volumeMode", "Filesystem")


def default_volume(volume: JSON, minor: int) -> None:
    """SetDefaults_Volume and the defaulters of its source, in place: an emptyDir where no source is
    set; ``hostPath.type`` "" (SetDefaults_HostPathVolumeSource: HostPathUnset); ``defaultMode`` 420
    on secret, configMap, downwardAPI and projected (SetDefaults_SecretVolumeSource and its three
    twins); a downward API item's ``fieldRef`` (SetDefaults_ObjectFieldSelector); a projected service
    account token's ``expirationSeconds`` 3600 (SetDefaults_ServiceAccountTokenProjection); an
    ephemeral volume's claim template (SetDefaults_PersistentVolumeClaimSpec)."""
    if not any(volume.get(key) is not None for key in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    host_path = _child(volume, "hostPath")
    if host_path is not None:
        _nil(host_path, "type", "")
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = _child(volume, key)
        if source is not None:
            _nil(source, "defaultMode", DEFAULT_MODE)
    for item in _each(_child(volume, "downwardAPI"), "items"):
        _field_ref(item)
    for source in _each(_child(volume, "projected"), "sources"):
        for item in _each(_child(source, "downwardAPI"), "items"):
            _field_ref(item)
        token = _child(source, "serviceAccountToken")
        if token is not None:
            _nil(token, "expirationSeconds", 3600)
    _claim_spec(_child(_child(_child(volume, "ephemeral"), "volumeClaimTemplate"), "spec"), minor)


def _host_network_ports(pod_spec: JSON) -> None:
    """defaultHostNetworkPorts: on the host's network a port's ``hostPort`` is its ``containerPort``
    (containers and init containers)."""
    if pod_spec.get("hostNetwork") is True:
        for key in ("initContainers", "containers"):
            for container in _each(pod_spec, key):
                for port in _each(container, "ports"):
                    if port.get("containerPort") is not None:
                        _zero(port, "hostPort", port["containerPort"])


def default_pod_spec(pod_spec: JSON, minor: int) -> None:
    """SetDefaults_PodSpec, each volume's and each container's defaults (init, regular and ephemeral),
    in place, as the generated defaulter of a workload's template runs them. Before 1.28 the PodSpec
    defaults also gave a host-network template's ports their ``hostPort``; from 1.28 only a Pod gets it
    (kubernetes#117696 moved defaultHostNetworkPorts to SetDefaults_Pod: ``pod_defaults``)."""
    _fill(pod_spec, "dnsPolicy", "ClusterFirst")
    _fill(pod_spec, "restartPolicy", "Always")
    _nil(pod_spec, "securityContext", {})
    _nil(pod_spec, "terminationGracePeriodSeconds", 30)
    _fill(pod_spec, "schedulerName", "default-scheduler")
    if minor < 28:
        _host_network_ports(pod_spec)
    for volume in _each(pod_spec, "volumes"):
        default_volume(volume, minor)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _each(pod_spec, key):
            default_container(container)


def pod_defaults(pod_spec: JSON, minor: int) -> JSON:
    """A Pod's ``pod_spec`` (the caller's own copy of a stored template, so already defaulted as one),
    changed in place and returned, with what SetDefaults_Pod adds to a Pod only: ``enableServiceLinks`` true (from 1.13, where the field
    came), the ``hostPort`` of each port on the host's network, and each container's resource
    ``requests`` copied from its ``limits`` where unset."""
    spec = pod_spec
    if minor >= 13:
        _nil(spec, "enableServiceLinks", True)
    _host_network_ports(spec)
    for key in ("initContainers", "containers"):
        for container in _each(spec, key):
            resources = _child(container, "resources")
            limits = _child(resources, "limits")
            if resources is not None and limits:
                requests = _object(resources, "requests")
                for name, value in limits.items():
                    requests.setdefault(name, value)
    return spec


def _claim_templates(spec: JSON, minor: int) -> None:
    """A StatefulSet's ``volumeClaimTemplates``: SetDefaults_PersistentVolumeClaim (``status.phase``
    Pending) and SetDefaults_PersistentVolumeClaimSpec, as SetObjectDefaults_StatefulSet runs them."""
    for claim in _each(spec, "volumeClaimTemplates"):
        _fill(_object(claim, "status"), "phase", "Pending")
        _claim_spec(_object(claim, "spec"), minor)


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
    _claim_templates(spec, minor)


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
        default_pod_spec(template["spec"], minor)
    return spec
