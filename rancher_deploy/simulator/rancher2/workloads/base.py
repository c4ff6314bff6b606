"""The workload object every kind shares: its template, revisions and pods, and the settle loop.

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
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from rancher_deploy.simulator.rancher2.node import NEVER_PULL_REASON
from rancher_deploy.simulator.rancher2.workloads.pods import pod_to_k8s
from rancher_deploy.simulator.rancher2.workloads.objects import (
    API_VERSIONS,
    JSON,
    KINDS,
    Condition,
    Environment,
    Pod,
    Revision,
    has_readiness_probe,
    pod_template_containers,
    pod_template_images,
    rfc3339,
    safe_hash,
    NOT_COPIED,
    without_empties,
)


@dataclass
class Workload:
    """One Kubernetes workload with its controller state. ``metadata``/``spec`` are Kubernetes JSON.

    Each kind is a subclass holding its own controller (deployment.py, statefulset.py, daemonset.py,
    cronjob.py); this class holds what they share.
    """

    kind: ClassVar[str]  # deployment | statefulset | daemonset | cronjob
    revision_label: ClassVar[str] = "controller-revision-hash"

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
        result: JSON = self.spec.setdefault("template", {})
        return result

    def template_hash(self) -> str:
        template = copy.deepcopy(self.template())
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop("pod-template-hash", None)
        labels.pop("controller-revision-hash", None)
        # Kubernetes compares templates semantically: an empty map or list equals a missing one,
        # so a rollback that leaves `annotations: {}` must still find the old ReplicaSet.
        return safe_hash([without_empties(template), self.collision_count])

    def replicas(self) -> int:
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
        if self.removed or now < self.settled_at:
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
        """When the controller must look again with no other event (a progress deadline)."""
        return None

    def _reconcile(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        # A condition is status too: the controller writing one bumps resourceVersion, so a watch sees it.
        before = json.dumps(self.status, sort_keys=True) + repr(sorted(self.conditions.items()))
        old_counts = dict(self.status)
        self._recover_pods(t, env)
        if self.observed_generation < self.generation and t >= self.spec_changed_at + env.controller_delay:
            self.observed_generation = self.generation
        if self.observed_generation == self.generation:
            self._sync(t, env, bump)
        self._compute_status(t, old_counts)
        if json.dumps(self.status, sort_keys=True) + repr(sorted(self.conditions.items())) != before:
            self.resource_version = bump()

    def _sync(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        """The kind's controller: move revisions and pods one step toward the spec."""
        raise NotImplementedError

    def _compute_status(self, t: float, old: JSON) -> None:
        """The kind's ``status`` from its pods (``old``: the status before this reconcile)."""
        raise NotImplementedError

    def _recover_pods(self, t: float, env: Environment) -> None:
        """Crash-looping pods whose fault was cleared start again (kubelet's restart backoff);
        pods that could not be scheduled or pull their image try again."""
        for rev in self.revisions:
            for pod in rev.pods:
                if pod.ready_at is not None or self._pod_blocked(rev, env, exclude=pod):
                    continue
                if not pod.image_ids:
                    pulled = self._pull(rev, env)
                    if pulled is None:
                        continue
                    pod.image_ids = pulled
                pod.ready_at = t + self._ready_delay(rev, env)
                pod.waiting_reason = ""

    def _pull(self, rev: Revision, env: Environment) -> dict[str, str] | None:
        """The kubelet pulling (or not) each image of a starting pod: container name -> imageID."""
        pulled: dict[str, str] = {}
        for container in pod_template_containers(rev.template):
            image_id = env.pull(container)
            if image_id is None:
                return None
            pulled[str(container.get("name"))] = image_id
        return pulled

    def _ready_delay(self, rev: Revision, env: Environment) -> float:
        return env.container_start + (env.health_check if has_readiness_probe(rev.template) else 0.0)

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
        pulled = self._pull(rev, env) if blocked != "Unschedulable" else {}
        if pulled is None:
            blocked = NEVER_PULL_REASON
        pod = Pod(
            name=name or f"{rev.name}-{safe_hash([rev.name, self._pod_serial], 5)}",
            revision=rev.hash,
            created=t,
            ready_at=None if blocked else t + self._ready_delay(rev, env),
            waiting_reason=blocked,
            image_ids=pulled or {},
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
            name = f"{self.name}-{template_hash}"
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels[self.revision_label] = self._revision_label_value(template_hash, name)
            rev = Revision(
                name=name,
                hash=template_hash,
                template=template,
                number=top + 1,
                created=t,
                uid=safe_hash([self.uid, template_hash], 32),
                resource_version=bump(),
                # A new revision carries the workload's annotations, a change-cause among them
                # (StatefulSet and DaemonSet: newRevision / snapshot copy them; Deployment: below).
                annotations={k: v for k, v in self.annotations.items() if k not in NOT_COPIED},
            )
            self.revisions.append(rev)
            self._revision_created(rev, t)
        elif rev is not newest:
            # Rolling back to an older template reuses its ReplicaSet: it gets the next revision
            # number (deployment controller: SetNewReplicaSetAnnotations).
            self._revision_reused(rev, rev.number)
            rev.number = top + 1
            rev.resource_version = bump()
        self._revision_chosen(rev)
        return rev

    def _revision_label_value(self, template_hash: str, name: str) -> str:
        return name

    def _revision_created(self, rev: Revision, t: float) -> None:
        """Hook: a revision was just created for the current template."""

    def _revision_reused(self, rev: Revision, previous: int) -> None:
        """Hook: the earlier revision ``rev`` (number ``previous``) is the current template's again."""

    def _revision_chosen(self, rev: Revision) -> None:
        """Hook: ``rev`` is the revision of the current template (new or reused)."""

    # Status ------------------------------------------------------------------------------------

    def _set_condition(self, type_: str, status: str, reason: str, message: str, t: float) -> None:
        """SetDeploymentCondition: same status and reason is a no-op; a new status moves the transition."""
        current = self.conditions.get(type_)
        if current is not None and current.status == status and current.reason == reason:
            return
        transition = current.last_transition if current is not None and current.status == status else t
        self.conditions[type_] = Condition(type_, status, reason, message, t, transition)

    # ---- views ---------------------------------------------------------------------------------

    def settled(self) -> bool:
        """kubectl's rollout-status success rule, for watches and the facade's convenience."""
        return self.observed_generation >= self.generation and self._rolled_out()

    def _rolled_out(self) -> bool:
        raise NotImplementedError

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
        if self.conditions:  # only deployments keep conditions
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
        """The revision as the API serves it: a ControllerRevision (deployments serve a ReplicaSet).

        Its ``data`` is the strategic merge patch that puts this template back, as the StatefulSet
        and DaemonSet controllers record it (``getPatch``: the workload's own template, without the
        pods' revision label, marked ``$patch: replace``); ``kubectl rollout undo`` sends it as is.
        """
        template = copy.deepcopy(rev.template)
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(self.revision_label, None)
        template["$patch"] = "replace"
        metadata = self._revision_metadata(rev, wall)
        if rev.annotations:
            metadata["annotations"] = dict(rev.annotations)
        return {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": metadata,
            "data": {"spec": {"template": template}},
            "revision": rev.number,
        }

    def pod_to_k8s(self, pod: Pod, now: float, wall: Callable[[float], float]) -> JSON:
        """A pod as the API serves it (workloads/pods.py): owner, node, readiness, image digests."""
        rev = next(r for r in self.revisions if r.hash == pod.revision)
        return pod_to_k8s(self, rev, pod, now, wall)

    def pod_owner(self, rev: Revision) -> JSON:
        """The pod's controller: the workload itself (deployments: the ReplicaSet of the revision)."""
        return {"apiVersion": API_VERSIONS[self.kind], "kind": KINDS[self.kind], "name": self.name,
                "uid": self.uid, "controller": True, "blockOwnerDeletion": True}

    def delete_pod(self, name: str) -> bool:
        """Delete a pod (instantly: no Terminating); its controller replaces it as it settles."""
        for rev in self.revisions:
            kept = [pod for pod in rev.pods if pod.name != name]
            if len(kept) != len(rev.pods):
                rev.pods = kept
                return True
        return False

    def _revision_metadata(self, rev: Revision, wall: Callable[[float], float]) -> JSON:
        owner = {
            "apiVersion": API_VERSIONS[self.kind],
            "kind": KINDS[self.kind],
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        return {
            "name": rev.name,
            "namespace": self.namespace,
            "uid": rev.uid,
            "resourceVersion": str(rev.resource_version),
            "creationTimestamp": rfc3339(wall(rev.created)),
            "labels": dict((rev.template.get("metadata") or {}).get("labels") or {}),
            "ownerReferences": [owner],
        }
