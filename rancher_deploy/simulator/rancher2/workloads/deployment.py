"""The Deployment controller: ReplicaSets rolled by strategy, and progress against a deadline.

Follows kube-controller-manager's deployment controller (pkg/controller/deployment: rolling.go,
recreate.go, progress.go, sync.go) closely enough for the fields kubectl and Rancher read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rancher_deploy.simulator.rancher2.workloads.base import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import (
    DESIRED_REPLICAS_ANNOTATION,
    JSON,
    MAX_REPLICAS_ANNOTATION,
    NOT_COPIED,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    Condition,
    Environment,
    Revision,
    percent_or_int,
)


MAX_REVISION_HISTORY_CHARS = 2000  # sync.go maxRevHistoryLengthInChars


@dataclass
class Deployment(Workload):
    kind: ClassVar[str] = "deployment"
    revision_label: ClassVar[str] = "pod-template-hash"

    def _deadline(self) -> float | None:
        if self.spec.get("paused"):
            return None
        cond = self.conditions.get("Progressing")
        if cond is None or cond.status != "True" or cond.reason == "NewReplicaSetAvailable":
            return None
        return cond.last_update + float(self.spec.get("progressDeadlineSeconds", 600)) + 1e-6

    def _sync(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        self._sync_deployment(t, env, bump)

    def _revision_label_value(self, template_hash: str, name: str) -> str:
        return template_hash

    def _revision_created(self, rev: Revision, t: float) -> None:
        self._set_condition("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rev.name}"', t)
        self._set_replicas_annotations(rev)

    def _revision_reused(self, rev: Revision, previous: int) -> None:
        """A ReplicaSet rolled back to keeps the revisions it served before (deployment_util.go
        SetNewReplicaSetAnnotations: `revision-history`, at most 2000 characters, sync.go
        maxRevHistoryLengthInChars, the oldest dropped first)."""
        old = str(previous)
        history = rev.annotations.get(REVISION_HISTORY_ANNOTATION, "")
        if not history:
            rev.annotations[REVISION_HISTORY_ANNOTATION] = old
            return
        kept = history.split(",")
        total = len(history) + len(old) + 1
        while total > MAX_REVISION_HISTORY_CHARS and kept:
            total -= len(kept.pop(0)) + 1
        if total <= MAX_REVISION_HISTORY_CHARS:
            rev.annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*kept, old])

    def _scale(self, rev: Revision, replicas: int) -> None:
        """sync.go scaleReplicaSet: a ReplicaSet's new size, written with the Deployment's size now."""
        rev.replicas = replicas
        self._set_replicas_annotations(rev)

    def _set_replicas_annotations(self, rev: Revision) -> None:
        """deployment_util.go SetReplicasAnnotations: `desired-replicas` (the Deployment's replicas) and
        `max-replicas` (those plus maxSurge), set on a ReplicaSet when the controller creates or
        scales it, so that a later scaling of a rollout in flight can be shared out proportionally."""
        kind, surge, _ = self._strategy()
        replicas = self.replicas()
        rev.annotations[DESIRED_REPLICAS_ANNOTATION] = str(replicas)
        rev.annotations[MAX_REPLICAS_ANNOTATION] = str(replicas + (surge if kind == "RollingUpdate" else 0))

    def _revision_chosen(self, rev: Revision) -> None:
        self.annotations[REVISION_ANNOTATION] = str(rev.number)
        # Each sync copies the Deployment's annotations onto its new ReplicaSet, overwriting but never
        # removing (deployment_util.go SetNewReplicaSetAnnotations, copyDeploymentAnnotationsToReplicaSet):
        # how `kubectl rollout history` finds each revision's change-cause.
        rev.annotations.update((k, v) for k, v in self.annotations.items() if k not in NOT_COPIED)

    # Deployment: rolling.go / recreate.go --------------------------------------------------------

    def _strategy(self) -> tuple[str, int, int]:
        strategy = self.spec.get("strategy") or {}
        kind = str(strategy.get("type") or "RollingUpdate")
        rolling = strategy.get("rollingUpdate") or {}
        replicas = self.replicas()
        surge = percent_or_int(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = percent_or_int(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
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
                    self._scale(new, replicas)
                    changed = True
            elif kind == "Recreate":
                for r in old:
                    if r.replicas:
                        self._scale(r, 0)
                        changed = True
                if not any(r.pods for r in old) and new.replicas != replicas:
                    self._scale(new, replicas)
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
            self._scale(new, replicas)
            changed = True
        elif new.replicas < replicas:
            room = replicas + surge - total
            if room > 0:
                self._scale(new, min(replicas, new.replicas + room))
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
                        self._scale(r, r.replicas - cut)
                        budget -= cut
                        changed = True
                available = sum(1 for p in self.pods() if p.ready(t))
                budget = min(budget, available - min_available) if budget > 0 else 0
                for r in sorted(old, key=lambda r: r.created):
                    if budget <= 0:
                        break
                    cut = min(budget, r.replicas)
                    if cut > 0:
                        self._scale(r, r.replicas - cut)
                        budget -= cut
                        changed = True
        return changed

    def _next_event(self, t: float, env: Environment) -> float | None:
        upcoming = super()._next_event(t, env)
        starts = [r.created + env.controller_delay for r in self.revisions
                  if len(r.pods) < r.replicas and r.created + env.controller_delay > t]
        return min([x for x in (upcoming, *starts) if x is not None], default=None)

    def _sync_pods(self, t: float, env: Environment) -> bool:
        """Each ReplicaSet creates or deletes pods to match its replicas (not-ready, newest first).

        A new ReplicaSet's pods come one controller step after it (the ReplicaSet controller acts
        on it, then reports them), so the Deployment shows Progressing=NewReplicaSetCreated with no
        updated replicas first, as kube-controller-manager does (sync.go getNewReplicaSet sets the
        reason; progress.go replaces it with ReplicaSetUpdated once the new pods count).
        """
        changed = False
        for rev in self.revisions:
            if t < rev.created + env.controller_delay:
                continue
            while len(rev.pods) < rev.replicas:
                self._new_pod(rev, t, env)
                changed = True
            if len(rev.pods) > rev.replicas:
                order = sorted(rev.pods, key=lambda p: (p.ready(t), -p.created))
                doomed = {id(p) for p in order[: len(rev.pods) - rev.replicas]}
                rev.pods = [p for p in rev.pods if id(p) not in doomed]
                changed = True
        return changed

    # Status ------------------------------------------------------------------------------------

    def _compute_status(self, t: float, old: JSON) -> None:
        self._deployment_status(t, old)

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

    def _rolled_out(self) -> bool:
        s = self.status
        cond = self.conditions.get("Progressing")
        if cond is not None and cond.reason == "ProgressDeadlineExceeded":
            return True
        return bool(
            s.get("updatedReplicas", 0) >= self.replicas()
            and s.get("replicas", 0) <= s.get("updatedReplicas", 0)
            and s.get("availableReplicas", 0) >= s.get("updatedReplicas", 0)
        )

    def pod_owner(self, rev: Revision) -> JSON:
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rev.name, "uid": rev.uid,
                "controller": True, "blockOwnerDeletion": True}

    def _replica_set_selector(self, rev: Revision) -> JSON:
        """The Deployment's selector with the ReplicaSet's `pod-template-hash` added, so that each
        ReplicaSet selects only its own pods (sync.go getNewReplicaSet, labelsutil
        CloneSelectorAndAddLabel)."""
        selector = copy.deepcopy(self.spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), self.revision_label: rev.hash}
        return selector

    def revision_to_k8s(self, rev: Revision, now: float, wall: Callable[[float], float]) -> JSON:
        """A ReplicaSet, with the revision annotation and its pods' counts."""
        metadata = self._revision_metadata(rev, wall)
        metadata["annotations"] = {**rev.annotations, REVISION_ANNOTATION: str(rev.number)}
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
                "selector": self._replica_set_selector(rev),
                "template": copy.deepcopy(rev.template),
            },
            "status": status,
        }
