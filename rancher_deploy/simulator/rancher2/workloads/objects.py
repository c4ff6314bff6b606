"""What every workload controller shares: kinds, hashes, timestamps, pods, revisions, conditions."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

JSON = dict[str, Any]

KINDS: dict[str, str] = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "cronjob": "CronJob",
}
API_VERSIONS: dict[str, str] = {
    "deployment": "apps/v1",
    "statefulset": "apps/v1",
    "daemonset": "apps/v1",
    "cronjob": "batch/v1",
}
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# What the deployment controller writes on its ReplicaSets (kubernetes
# pkg/controller/deployment/util/deployment_util.go).
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# The workload annotations its controller does not copy onto a ReplicaSet (deployment_util.go,
# skipCopyAnnotation).
NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION,
                        REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
                        "deprecated.deployment.rollback.to"})
# The alphabet Kubernetes uses for generated names and hashes (apimachinery rand.SafeEncodeString):
# no vowels, no 0/1/3, so generated names never spell words or look alike.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAME = "local-node"  # the one node of the simulated `local` cluster


def safe_hash(value: Any, length: int = 10) -> str:
    """A stable Kubernetes-looking hash of a JSON value (pod-template-hash, revision names)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


def without_empties(value: Any) -> Any:
    """`value` as Kubernetes compares templates: an empty map or list, a null and a false bool equal a
    missing field (the API's bools are `omitempty`, so `hostNetwork: false` is never stored). The
    apiserver's defaults (`schedulerName` and the rest) are in every stored template alike
    (defaults.py), so they need no rule here."""
    if isinstance(value, dict):
        cleaned = {key: without_empties(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item is not False and item not in ({}, [], None)}
    if isinstance(value, list):
        return [without_empties(item) for item in value]
    return value


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")



@dataclass(frozen=True)
class Environment:
    """What a controller needs from outside the object: timing and the active faults."""

    container_start: float
    health_check: float
    controller_delay: float
    unhealthy: Callable[[str], bool]  # image -> pods of it crash-loop
    capacity: Callable[[str], int | None]  # "ns/name" -> at most this many pods ever become ready
    hung: Callable[[str], bool]  # v3 id -> this workload's controllers are frozen
    pull: Callable[[JSON], str | None]  # container -> the imageID its new container runs (None: cannot pull)


@dataclass
class Pod:
    name: str
    revision: str  # the hash of the template it runs
    created: float
    ready_at: float | None  # None: never (crash-looping or unschedulable) until the fault clears
    waiting_reason: str = ""  # CrashLoopBackOff / Unschedulable / ErrImageNeverPull while not ready
    image_ids: dict[str, str] = field(default_factory=dict)  # container name -> imageID, once pulled

    def ready(self, now: float) -> bool:
        return self.ready_at is not None and self.ready_at <= now


@dataclass
class Revision:
    """A ReplicaSet (deployments) or ControllerRevision (statefulsets, daemonsets)."""

    name: str
    hash: str
    template: JSON
    number: int
    created: float
    uid: str
    replicas: int = 0  # desired pods (ReplicaSet spec.replicas)
    resource_version: int = 0
    pods: list[Pod] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)  # copied from the workload (below)


@dataclass
class Condition:
    type: str
    status: str
    reason: str
    message: str
    last_update: float
    last_transition: float

    def to_json(self, wall: Callable[[float], float]) -> JSON:
        return {
            "type": self.type,
            "status": self.status,
            "lastUpdateTime": rfc3339(wall(self.last_update)),
            "lastTransitionTime": rfc3339(wall(self.last_transition)),
            "reason": self.reason,
            "message": self.message,
        }


def percent_or_int(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: "25%" of total, rounded as the strategy field wants."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def pod_template_containers(template: JSON) -> list[JSON]:
    """Every container a pod of this template runs, init containers included."""
    spec = template.get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def pod_template_images(template: JSON) -> list[str]:
    return [str(c.get("image", "")) for c in pod_template_containers(template)]


def has_readiness_probe(template: JSON) -> bool:
    return any("readinessProbe" in c for c in (template.get("spec") or {}).get("containers") or [])
