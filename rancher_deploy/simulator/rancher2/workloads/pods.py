"""Pods as the core/v1 API shows them: owner, node, phase, and per container the image digest it runs.

Read-only views of the controllers' pods. ``status.containerStatuses[].imageID`` is the digest the
kubelet started the container from (``repo@sha256:…``, as containerd reports it), so a redeploy
that reused a cached tag can be told from one that pulled.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

from rancher_deploy.simulator.rancher2.workloads.objects import (
    JSON,
    NODE_NAME,
    Pod,
    Revision,
    rfc3339,
    safe_hash,
)



class PodOwner(Protocol):
    """What a pod's rendering reads of the controller that owns it (a `base.Workload`)."""

    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def uid(self) -> str: ...

    def pod_owner(self, rev: Revision) -> JSON:
        """The ownerReference a pod of revision `rev` carries (a ReplicaSet's, or the workload's)."""
        ...

UNSCHEDULABLE = "Unschedulable"


def _container_status(container: JSON, pod: Pod, now: float, started_at: str) -> JSON:
    name = str(container.get("name"))
    ready = pod.ready(now)
    state: JSON
    if ready:
        state = {"running": {"startedAt": started_at}}
    else:
        state = {"waiting": {"reason": pod.waiting_reason or "ContainerCreating"}}
    image_id = pod.image_ids.get(name, "")
    status: JSON = {"name": name, "image": container.get("image"), "imageID": image_id, "ready": ready,
                    "started": ready, "restartCount": 5 if pod.waiting_reason == "CrashLoopBackOff" else 0,
                    "state": state}
    if image_id and (ready or pod.waiting_reason == "CrashLoopBackOff"):
        status["containerID"] = "containerd://" + safe_hash([pod.name, name], 64)
    return status


def pod_to_k8s(workload: PodOwner, rev: Revision, pod: Pod, now: float, wall: Callable[[float], float]) -> JSON:
    """One pod of ``workload``'s revision ``rev`` at simulated time ``now``."""
    template = copy.deepcopy(rev.template)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    if workload.kind == "statefulset":
        labels["statefulset.kubernetes.io/pod-name"] = pod.name
    spec: JSON = dict(template.get("spec") or {})
    scheduled = pod.waiting_reason != UNSCHEDULABLE
    ready = pod.ready(now)
    created = rfc3339(wall(pod.created))
    status: JSON
    if not scheduled:
        status = {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": UNSCHEDULABLE,
             "message": "0/1 nodes are available: 1 Insufficient cpu."}]}
    else:
        spec["nodeName"] = NODE_NAME
        running = ready or pod.waiting_reason == "CrashLoopBackOff"
        ready_at = rfc3339(wall(pod.ready_at)) if ready and pod.ready_at is not None else created
        status = {
            "phase": "Running" if running else "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True" if ready else "False"}],
            "hostIP": "10.0.0.10",
            "startTime": created,
            "containerStatuses": [_container_status(c, pod, now, ready_at) for c in spec.get("containers") or []],
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [_container_status(c, pod, now, ready_at)
                                               for c in spec["initContainers"]]
    metadata: JSON = {
        "name": pod.name,
        "namespace": workload.namespace,
        "uid": safe_hash([workload.uid, pod.name, pod.created], 32),
        "resourceVersion": str(rev.resource_version),
        "creationTimestamp": created,
        "labels": labels,
        "ownerReferences": [workload.pod_owner(rev)],
    }
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}
