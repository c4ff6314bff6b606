"""Kubernetes workloads and their controllers, as plain objects: the one state every 2.x view reads.

A workload (Deployment, StatefulSet, DaemonSet, CronJob) owns its revisions (ReplicaSets for a
Deployment, ControllerRevisions for the others) and their pods. Nothing moves by itself: ``settle``
replays the controllers event by event (the controller observing a new generation, a pod turning
ready, a progress deadline running out) up to the time it is given, so the same simulated time
always gives the same object. The controller rules follow kube-controller-manager's deployment
controller (pkg/controller/deployment: rolling.go, progress.go, sync.go) closely enough for the
fields kubectl and Rancher read; see docs/simulator.md for what is simplified.
"""

from __future__ import annotations

import copy
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
# The alphabet Kubernetes uses for generated names and hashes (apimachinery rand.SafeEncodeString):
# no vowels, no 0/1/3, so generated names never spell words or look alike.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAME = "local-node"  # the one node of the simulated `local` cluster


def safe_hash(value: Any, length: int = 10) -> str:
    """A stable Kubernetes-looking hash of a JSON value (pod-template-hash, revision names)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


def _without_empties(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {key: _without_empties(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in ({}, [], None)}
    if isinstance(value, list):
        return [_without_empties(item) for item in value]
    return value


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeError(Exception):
    """A Kubernetes API failure; each API surface renders it in its own error body."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def not_found(kind: str, name: str) -> KubeError:
    resource = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
                "DaemonSet": "daemonsets.apps", "CronJob": "cronjobs.batch",
                "ReplicaSet": "replicasets.apps", "ControllerRevision": "controllerrevisions.apps",
                "Namespace": "namespaces"}.get(kind, kind.lower())
    return KubeError(404, "NotFound", f'{resource} "{name}" not found')


@dataclass(frozen=True)
class Environment:
    """What a controller needs from outside the object: timing and the active faults."""

    container_start: float
    health_check: float
    controller_delay: float
    unhealthy: Callable[[str], bool]  # image -> pods of it crash-loop
    capacity: Callable[[str], int | None]  # "ns/name" -> at most this many pods ever become ready
    hung: Callable[[str], bool]  # v3 id -> this workload's controllers are frozen


@dataclass
class Pod:
    name: str
    revision: str  # the hash of the template it runs
    created: float
    ready_at: float | None  # None: never (crash-looping or unschedulable) until the fault clears
    waiting_reason: str = ""  # CrashLoopBackOff / Unschedulable while not ready

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


def _percent_or_int(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: "25%" of total, rounded as the strategy field wants."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def pod_template_images(template: JSON) -> list[str]:
    spec = template.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    return [str(c.get("image", "")) for c in containers]


def _has_readiness_probe(template: JSON) -> bool:
    return any("readinessProbe" in c for c in (template.get("spec") or {}).get("containers") or [])


@dataclass
class Workload:
    """One Kubernetes workload with its controller state. ``metadata``/``spec`` are Kubernetes JSON."""

    kind: str  # deployment | statefulset | daemonset | cronjob
    namespace: str
    name: str
    uid: str
    created: float
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: JSON
    resource_version: int
    generation: int = 1
    observed_generation: int = 1
    spec_changed_at: float = 0.0
    settled_at: float = 0.0
    revisions: list[Revision] = field(default_factory=list)
    conditions: dict[str, Condition] = field(default_factory=dict)
    status: JSON = field(default_factory=dict)
    collision_count: int = 0
    current_revision: str = ""  # statefulsets: the revision every pod ran before the update
    removed: bool = False
    _pod_serial: int = 0

    @property
    def v3_id(self) -> str:
        return f"{self.kind}:{self.namespace}:{self.name}"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    # ---- the pod template ----------------------------------------------------------------------

    def template(self) -> JSON:
        if self.kind == "cronjob":
            job = self.spec.setdefault("jobTemplate", {}).setdefault("spec", {})
            template: JSON = job.setdefault("template", {})
            return template
        result: JSON = self.spec.setdefault("template", {})
        return result

    def template_hash(self) -> str:
        template = copy.deepcopy(self.template())
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop("pod-template-hash", None)
        labels.pop("controller-revision-hash", None)
        # Kubernetes compares templates semantically: an empty map or list equals a missing one,
        # so a rollback that leaves `annotations: {}` must still find the old ReplicaSet.
        return safe_hash([_without_empties(template), self.collision_count])

    def replicas(self) -> int:
        if self.kind == "daemonset":
            return 1  # one schedulable node
        if self.kind == "cronjob":
            return 0
        return int(self.spec.get("replicas", 1))

    def newest(self) -> Revision | None:
        return max(self.revisions, key=lambda r: r.number) if self.revisions else None

    def revision_by_hash(self, template_hash: str) -> Revision | None:
        for rev in self.revisions:
            if rev.hash == template_hash:
                return rev
        return None

    def pods(self) -> list[Pod]:
        return [p for r in self.revisions for p in r.pods]

    # ---- changes ---------------------------------------------------------------------------------

    def spec_changed(self, now: float) -> None:
        """Record a spec change: a new generation the controller has not seen yet."""
        self.generation += 1
        self.spec_changed_at = now

    # ---- the controllers -------------------------------------------------------------------------

    def settle(self, now: float, env: Environment, bump: Callable[[], int]) -> None:
        """Replay the controllers from the last settled time up to ``now``, event by event."""
        if self.removed or self.kind == "cronjob" or now < self.settled_at:
            return
        if env.hung(self.v3_id):
            return
        t = self.settled_at
        for _ in range(100000):
            self._reconcile(t, env, bump)
            upcoming = self._next_event(t, env)
            if upcoming is None or upcoming > now:
                break
            t = upcoming
        self.settled_at = now

    def _next_event(self, t: float, env: Environment) -> float | None:
        times: list[float] = []
        if self.observed_generation < self.generation:
            times.append(self.spec_changed_at + env.controller_delay)
        times.extend(p.ready_at for p in self.pods() if p.ready_at is not None and p.ready_at > t)
        deadline = self._deadline()
        if deadline is not None:
            times.append(deadline)
        future = [x for x in times if x > t]
        return min(future) if future else None

    def _deadline(self) -> float | None:
        if self.kind != "deployment" or self.spec.get("paused"):
            return None
        cond = self.conditions.get("Progressing")
        if cond is None or cond.status != "True" or cond.reason == "NewReplicaSetAvailable":
            return None
        return cond.last_update + float(self.spec.get("progressDeadlineSeconds", 600)) + 1e-6

    def _reconcile(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        before = json.dumps(self.status, sort_keys=True)
        old_counts = dict(self.status)
        self._recover_pods(t, env)
        if self.observed_generation < self.generation and t >= self.spec_changed_at + env.controller_delay:
            self.observed_generation = self.generation
        if self.observed_generation == self.generation:
            if self.kind == "deployment":
                self._sync_deployment(t, env, bump)
            else:
                self._sync_replacing(t, env, bump)
        self._compute_status(t, old_counts)
        if json.dumps(self.status, sort_keys=True) != before:
            self.resource_version = bump()

    def _recover_pods(self, t: float, env: Environment) -> None:
        """Crash-looping pods whose fault was cleared start again (kubelet's restart backoff)."""
        for rev in self.revisions:
            for pod in rev.pods:
                if pod.ready_at is None and not self._pod_blocked(rev, env, exclude=pod):
                    pod.ready_at = t + self._ready_delay(rev, env)
                    pod.waiting_reason = ""

    def _ready_delay(self, rev: Revision, env: Environment) -> float:
        return env.container_start + (env.health_check if _has_readiness_probe(rev.template) else 0.0)

    def _pod_blocked(self, rev: Revision, env: Environment, exclude: Pod | None = None) -> str:
        if any(env.unhealthy(image) for image in pod_template_images(rev.template)):
            return "CrashLoopBackOff"
        cap = env.capacity(self.key)
        if cap is not None:
            schedulable = sum(1 for p in self.pods() if p.ready_at is not None and p is not exclude)
            if schedulable >= cap:
                return "Unschedulable"
        return ""

    def _new_pod(self, rev: Revision, t: float, env: Environment, name: str | None = None) -> Pod:
        self._pod_serial += 1
        blocked = self._pod_blocked(rev, env)
        pod = Pod(
            name=name or f"{rev.name}-{safe_hash([rev.name, self._pod_serial], 5)}",
            revision=rev.hash,
            created=t,
            ready_at=None if blocked else t + self._ready_delay(rev, env),
            waiting_reason=blocked,
        )
        rev.pods.append(pod)
        return pod

    def _revision_for_current_template(self, t: float, bump: Callable[[], int], create: bool) -> Revision | None:
        """Find (or create) the revision of the current template; make it the newest."""
        template_hash = self.template_hash()
        rev = self.revision_by_hash(template_hash)
        newest = self.newest()
        top = newest.number if newest else 0
        if rev is None:
            if not create:
                return None
            template = copy.deepcopy(self.template())
            label = "pod-template-hash" if self.kind == "deployment" else "controller-revision-hash"
            name = f"{self.name}-{template_hash}"
            template.setdefault("metadata", {}).setdefault("labels", {})[label] = (
                template_hash if self.kind == "deployment" else name
            )
            rev = Revision(
                name=name,
                hash=template_hash,
                template=template,
                number=top + 1,
                created=t,
                uid=safe_hash([self.uid, template_hash], 32),
                resource_version=bump(),
            )
            self.revisions.append(rev)
            if self.kind == "deployment":
                self._set_condition(
                    "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rev.name}"', t
                )
        elif rev is not newest:
            # Rolling back to an older template reuses its ReplicaSet: it gets the next revision
            # number (deployment controller: SetNewReplicaSetAnnotations).
            rev.number = top + 1
            rev.resource_version = bump()
        if self.kind == "deployment":
            self.annotations[REVISION_ANNOTATION] = str(rev.number)
        return rev

    # Deployment: rolling.go / recreate.go --------------------------------------------------------

    def _strategy(self) -> tuple[str, int, int]:
        strategy = self.spec.get("strategy") or {}
        kind = str(strategy.get("type") or "RollingUpdate")
        rolling = strategy.get("rollingUpdate") or {}
        replicas = self.replicas()
        surge = _percent_or_int(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = _percent_or_int(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # ResolveFenceposts: never both zero
        return kind, surge, unavailable

    def _sync_deployment(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        paused = bool(self.spec.get("paused"))
        new = self._revision_for_current_template(t, bump, create=not paused)
        if new is None:
            return  # paused: no new ReplicaSet until resumed (sync.go: sync without creating)
        old = [r for r in self.revisions if r is not new]
        replicas = self.replicas()
        kind, surge, max_unavailable = self._strategy()
        for _ in range(1000):
            changed = False
            if paused:
                if new.replicas != replicas and not any(r.replicas for r in old):
                    new.replicas = replicas
                    changed = True
            elif kind == "Recreate":
                for r in old:
                    if r.replicas:
                        r.replicas = 0
                        changed = True
                if not any(r.pods for r in old) and new.replicas != replicas:
                    new.replicas = replicas
                    changed = True
            else:
                changed = self._rolling_step(t, new, old, replicas, surge, max_unavailable)
            changed = self._sync_pods(t, env) or changed
            if not changed:
                break

    def _rolling_step(self, t: float, new: Revision, old: list[Revision], replicas: int, surge: int, max_unavailable: int) -> bool:
        changed = False
        # reconcileNewReplicaSet: scale up within replicas + maxSurge
        total = sum(r.replicas for r in self.revisions)
        if new.replicas > replicas:
            new.replicas = replicas
            changed = True
        elif new.replicas < replicas:
            room = replicas + surge - total
            if room > 0:
                new.replicas = min(replicas, new.replicas + room)
                changed = True
        # reconcileOldReplicaSets: keep replicas - maxUnavailable available
        if any(r.replicas for r in old):
            min_available = replicas - max_unavailable
            all_pods = sum(len(r.pods) for r in self.revisions)
            new_unavailable = sum(1 for p in new.pods if not p.ready(t))
            budget = all_pods - min_available - new_unavailable
            if budget > 0:
                # cleanupUnhealthyReplicas first, then scale down healthy old pods.
                for r in sorted(old, key=lambda r: r.created):
                    unhealthy = sum(1 for p in r.pods if not p.ready(t))
                    cut = min(budget, unhealthy, r.replicas)
                    if cut > 0:
                        r.replicas -= cut
                        budget -= cut
                        changed = True
                available = sum(1 for p in self.pods() if p.ready(t))
                budget = min(budget, available - min_available) if budget > 0 else 0
                for r in sorted(old, key=lambda r: r.created):
                    if budget <= 0:
                        break
                    cut = min(budget, r.replicas)
                    if cut > 0:
                        r.replicas -= cut
                        budget -= cut
                        changed = True
        return changed

    def _sync_pods(self, t: float, env: Environment) -> bool:
        """Each ReplicaSet creates or deletes pods to match its replicas (not-ready, newest first)."""
        changed = False
        for rev in self.revisions:
            while len(rev.pods) < rev.replicas:
                self._new_pod(rev, t, env)
                changed = True
            if len(rev.pods) > rev.replicas:
                order = sorted(rev.pods, key=lambda p: (p.ready(t), -p.created))
                doomed = {id(p) for p in order[: len(rev.pods) - rev.replicas]}
                rev.pods = [p for p in rev.pods if id(p) not in doomed]
                changed = True
        return changed

    # StatefulSet / DaemonSet: replace pods one at a time ------------------------------------------

    def _sync_replacing(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        update = self._revision_for_current_template(t, bump, create=True)
        assert update is not None
        if not self.current_revision:
            self.current_revision = update.name
        replicas = self.replicas()
        for _ in range(1000):
            pods = self.pods()
            changed = False
            names = {p.name for p in pods}
            for ordinal in range(replicas):
                name = self._ordinal_name(ordinal)
                if name not in names:
                    self._new_pod(update, t, env, name)
                    changed = True
            for rev in self.revisions:
                keep = [p for p in rev.pods if self._ordinal_of(p.name) < replicas]
                if len(keep) != len(rev.pods):
                    rev.pods = keep
                    changed = True
            if not changed:
                pods = self.pods()
                stale = [p for p in pods if p.revision != update.hash]
                if stale and all(p.ready(t) for p in pods):
                    # RollingUpdate with maxUnavailable 1: delete the highest-ordinal stale pod; it is
                    # recreated from the update revision on the next pass.
                    victim = max(stale, key=lambda p: self._ordinal_of(p.name))
                    for rev in self.revisions:
                        rev.pods = [p for p in rev.pods if p is not victim]
                    changed = True
                elif not stale and all(p.ready(t) for p in pods):
                    self.current_revision = update.name
            if not changed:
                break

    def _ordinal_name(self, ordinal: int) -> str:
        if self.kind == "statefulset":
            return f"{self.name}-{ordinal}"
        return f"{self.name}-{safe_hash([self.uid, ordinal], 5)}"

    def _ordinal_of(self, pod_name: str) -> int:
        for ordinal in range(max(self.replicas(), 1) + 64):
            if self._ordinal_name(ordinal) == pod_name:
                return ordinal
        return 1 << 30

    # Status ------------------------------------------------------------------------------------

    def _set_condition(self, type_: str, status: str, reason: str, message: str, t: float) -> None:
        """SetDeploymentCondition: same status and reason is a no-op; a new status moves the transition."""
        current = self.conditions.get(type_)
        if current is not None and current.status == status and current.reason == reason:
            return
        transition = current.last_transition if current is not None and current.status == status else t
        self.conditions[type_] = Condition(type_, status, reason, message, t, transition)

    def _compute_status(self, t: float, old: JSON) -> None:
        if self.kind == "deployment":
            self._deployment_status(t, old)
        elif self.kind == "statefulset":
            self._statefulset_status(t)
        elif self.kind == "daemonset":
            self._daemonset_status(t)

    def _deployment_status(self, t: float, old: JSON) -> None:
        replicas = self.replicas()
        newest = self.newest()
        current_hash = self.template_hash()
        new = newest if newest is not None and newest.hash == current_hash else None
        pods = self.pods()
        ready = sum(1 for p in pods if p.ready(t))
        updated = len(new.pods) if new is not None else 0
        desired_total = sum(r.replicas for r in self.revisions)
        status: JSON = {
            "observedGeneration": self.observed_generation,
            "replicas": len(pods),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(desired_total - ready, 0),
        }
        _, _, max_unavailable = self._strategy()
        if ready >= replicas - max_unavailable:
            self._set_condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", t)
        else:
            self._set_condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", t)
        if self.observed_generation == self.generation and new is not None:
            self._progress(t, new, status, old, replicas)
        if self.collision_count:
            status["collisionCount"] = self.collision_count
        self.status = status

    def _progress(self, t: float, new: Revision, status: JSON, old: JSON, replicas: int) -> None:
        """progress.go syncRolloutStatus: paused, complete, progressing, or timed out."""
        if self.spec.get("paused"):
            self._set_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", t)
            return
        current = self.conditions.get("Progressing")
        if current is not None and current.reason == "DeploymentPaused":
            self._set_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", t)
            current = self.conditions["Progressing"]
        complete = (
            status["updatedReplicas"] == replicas
            and status["replicas"] == replicas
            and status["availableReplicas"] == replicas
        )
        old_pods_now = status["replicas"] - status["updatedReplicas"]
        old_pods_before = int(old.get("replicas", 0)) - int(old.get("updatedReplicas", 0))
        progressing = (
            status["updatedReplicas"] > int(old.get("updatedReplicas", 0))
            or old_pods_now < old_pods_before
            or status["readyReplicas"] > int(old.get("readyReplicas", 0))
            or status["availableReplicas"] > int(old.get("availableReplicas", 0))
        )
        if complete:
            self._set_condition(
                "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{new.name}" has successfully progressed.', t
            )
        elif progressing:
            transition = current.last_transition if current is not None and current.status == "True" else t
            self.conditions["Progressing"] = Condition(
                "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{new.name}" is progressing.', t, transition
            )
        elif current is not None and current.status != "False":
            deadline = float(self.spec.get("progressDeadlineSeconds", 600))
            if current.reason != "NewReplicaSetAvailable" and t > current.last_update + deadline:
                self._set_condition(
                    "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new.name}" has timed out progressing.', t
                )

    def _statefulset_status(self, t: float) -> None:
        update = self.newest()
        pods = self.pods()
        ready = sum(1 for p in pods if p.ready(t))
        updated = sum(1 for p in pods if update is not None and p.revision == update.hash)
        current_rev = self.current_revision or (update.name if update else "")
        current = next((r for r in self.revisions if r.name == current_rev), None)
        status: JSON = {
            "observedGeneration": self.observed_generation,
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for p in pods if current is not None and p.revision == current.hash),
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_rev,
            "updateRevision": update.name if update else "",
            "collisionCount": self.collision_count,
        }
        self.status = status

    def _daemonset_status(self, t: float) -> None:
        update = self.newest()
        pods = self.pods()
        ready = sum(1 for p in pods if p.ready(t))
        updated = sum(1 for p in pods if update is not None and p.revision == update.hash)
        self.status = {
            "observedGeneration": self.observed_generation,
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
            "numberUnavailable": max(1 - ready, 0),
        }

    # ---- views ---------------------------------------------------------------------------------

    def settled(self) -> bool:
        """kubectl's rollout-status success rule, for watches and the facade's convenience."""
        if self.kind == "cronjob":
            return True
        s = self.status
        if self.observed_generation < self.generation:
            return False
        if self.kind == "deployment":
            cond = self.conditions.get("Progressing")
            if cond is not None and cond.reason == "ProgressDeadlineExceeded":
                return True
            return bool(
                s.get("updatedReplicas", 0) >= self.replicas()
                and s.get("replicas", 0) <= s.get("updatedReplicas", 0)
                and s.get("availableReplicas", 0) >= s.get("updatedReplicas", 0)
            )
        if self.kind == "statefulset":
            return bool(s.get("updatedReplicas") == self.replicas() and s.get("readyReplicas") == self.replicas())
        return bool(s.get("updatedNumberScheduled") == 1 and s.get("numberAvailable") == 1)

    def to_k8s(self, wall: Callable[[float], float]) -> JSON:
        """The apps/v1 (batch/v1) object as the Kubernetes API serves it."""
        metadata: JSON = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "generation": self.generation,
            "creationTimestamp": rfc3339(wall(self.created)),
        }
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        status = copy.deepcopy(self.status)
        if self.kind == "deployment" and self.conditions:
            order = ["Available", "Progressing"]
            status["conditions"] = [
                self.conditions[c].to_json(wall) for c in order if c in self.conditions
            ]
        return {
            "apiVersion": API_VERSIONS[self.kind],
            "kind": KINDS[self.kind],
            "metadata": metadata,
            "spec": copy.deepcopy(self.spec),
            "status": status,
        }

    def revision_to_k8s(self, rev: Revision, now: float, wall: Callable[[float], float]) -> JSON:
        """A ReplicaSet (deployments) or ControllerRevision (statefulsets, daemonsets)."""
        owner = {
            "apiVersion": API_VERSIONS[self.kind],
            "kind": KINDS[self.kind],
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        metadata: JSON = {
            "name": rev.name,
            "namespace": self.namespace,
            "uid": rev.uid,
            "resourceVersion": str(rev.resource_version),
            "creationTimestamp": rfc3339(wall(rev.created)),
            "labels": dict((rev.template.get("metadata") or {}).get("labels") or {}),
            "ownerReferences": [owner],
        }
        if self.kind != "deployment":
            return {
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": metadata,
                "data": {"spec": {"template": copy.deepcopy(rev.template)}},
                "revision": rev.number,
            }
        metadata["annotations"] = {REVISION_ANNOTATION: str(rev.number)}
        ready = sum(1 for p in rev.pods if p.ready(now))
        status: JSON = {"replicas": len(rev.pods), "observedGeneration": 1}
        if rev.pods:
            status["fullyLabeledReplicas"] = len(rev.pods)
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": metadata,
            "spec": {
                "replicas": rev.replicas,
                "selector": copy.deepcopy(self.spec.get("selector") or {}),
                "template": copy.deepcopy(rev.template),
            },
            "status": status,
        }
