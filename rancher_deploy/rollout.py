"""Judging a Rancher 2.x workload's rollout: kubectl's status viewers, one per kind; pure, table-tested.

kubectl picks a viewer by kind (`StatusViewerFor`, pkg/polymorphichelpers/rollout_status.go) and
each checks in its own order: spec observed, progress deadline, updated, old replicas gone,
available. The same rule decides every goal of a 2.x wait, because a rollout has no separate
finish step: applied, restored and settled all mean "this template is rolled out".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rancher_deploy.snapshot import Goal, Health, Judgement, Verdict


@dataclass(frozen=True)
class Rollout:
    """What kubectl's rollout status reads from a workload, whatever API it came through."""

    kind: str                         # deployment | statefulset | daemonset | cronjob
    name: str
    generation: int | None            # spec generation; None where the API hides it (v3)
    observed_generation: int | None
    baseline_generation: int | None   # observedGeneration seen before our change (v3 has no generation)
    desired: int                      # spec replicas (desiredNumberScheduled for daemonsets)
    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    deadline_exceeded: str | None = None  # the Progressing=False/ProgressDeadlineExceeded message
    current_revision: str | None = None   # statefulsets
    update_revision: str | None = None
    strategy: str | None = None           # statefulsets, daemonsets: spec.updateStrategy.type
    partition: int | None = None          # statefulsets: spec.updateStrategy.rollingUpdate.partition, when set

    @property
    def on_delete(self) -> bool:
        """An update strategy that replaces no pod by itself (OnDelete): there is no rollout to watch."""
        return self.kind in ("statefulset", "daemonset") and self.strategy not in (None, "RollingUpdate")

    @property
    def wanted(self) -> int:
        """How many pods the rollout updates: all but those below a StatefulSet's partition."""
        return max(self.desired - (self.partition or 0), 0)

    @property
    def observed(self) -> bool:
        """The controller has taken the current spec (for v3: a spec newer than the baseline)."""
        return _observed(self)

    @property
    def health(self) -> Health | None:
        """Updated replicas known to be available, of those the rollout updates; a cronjob or an
        OnDelete set has no replicas to count.

        The status counts available replicas of every revision, and none of the updated ones alone.
        kubectl's rollout status (pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer)
        therefore compares availableReplicas with updatedReplicas only once replicas == updated
        (no old replica left). While old replicas remain, up to `replicas - updated` of the
        available ones may be old: only what is beyond them is surely updated. So a stalled
        rollout (old pods ready, the new one not) counts 0, not min(available, updated); once no
        old replica is left this is kubectl's availableReplicas of updatedReplicas."""
        if self.kind == "cronjob" or self.on_delete:
            return None
        old = max(self.replicas - self.updated, 0)
        known = min(max(self.available - old, 0), self.updated)
        return Health(known, self.wanted, counted="updated replicas available")


Viewer = Callable[[Rollout], Judgement]


def _observed(rollout: Rollout) -> bool:
    if rollout.observed_generation is None:
        return False
    if rollout.generation is not None and rollout.observed_generation < rollout.generation:
        return False
    return rollout.baseline_generation is None or rollout.observed_generation > rollout.baseline_generation


def _before_counting(rollout: Rollout) -> Judgement | None:
    """What every viewer checks first, in kubectl's order: the spec observed, then the progress deadline."""
    if not _observed(rollout):
        return Judgement(Verdict.WAITING, f"waiting for {rollout.kind} {rollout.name!r} spec update to be observed")
    if rollout.deadline_exceeded:
        return Judgement(Verdict.FAILED, f"{rollout.kind} {rollout.name!r} exceeded its progress deadline: "
                                         f"{rollout.deadline_exceeded}")
    return None


def view_deployment(rollout: Rollout) -> Judgement:
    """DeploymentStatusViewer: updated, then old replicas terminated, then updated ones available."""
    if (first := _before_counting(rollout)) is not None:
        return first
    want = rollout.desired
    if rollout.updated < want:
        return Judgement(Verdict.WAITING, f"{rollout.updated} out of {want} new replicas have been updated")
    if rollout.replicas > rollout.updated:
        return Judgement(Verdict.WAITING, f"{rollout.replicas - rollout.updated} old replicas are pending termination")
    if rollout.available < rollout.updated:
        return Judgement(Verdict.WAITING, f"{rollout.available} of {rollout.updated} updated replicas are available")
    return Judgement(Verdict.DONE, f"deployment {rollout.name!r} successfully rolled out: "
                                   f"{rollout.available}/{want} available")


def _on_delete(rollout: Rollout) -> Judgement:
    """An OnDelete set: kubectl stops with "rollout status is only available for RollingUpdate
    strategy type" (rollout_status.go), as it has no viewer for a CronJob. The change is done once
    the controller has seen it; its pods keep what they run until each is deleted."""
    if not _observed(rollout):
        return Judgement(Verdict.WAITING, f"waiting for {rollout.kind} {rollout.name!r} spec update to be observed")
    caveat = (f"its pods take the new image only when they are deleted (updateStrategy {rollout.strategy}); "
              "none was restarted, so they still run the old one")
    return Judgement(Verdict.DONE, f"{rollout.kind} {rollout.name!r} updated; {caveat}", caveat=caveat)


def view_daemonset(rollout: Rollout) -> Judgement:
    """DaemonSetStatusViewer: every scheduled node runs an updated, available pod."""
    if rollout.on_delete:
        return _on_delete(rollout)
    if (first := _before_counting(rollout)) is not None:
        return first
    want = rollout.desired
    if rollout.updated < want:
        return Judgement(Verdict.WAITING, f"{rollout.updated} of {want} updated replicas are available")
    if rollout.available < rollout.updated:
        return Judgement(Verdict.WAITING, f"{rollout.available} of {rollout.updated} updated replicas are available")
    return Judgement(Verdict.DONE, f"daemonset {rollout.name!r} successfully rolled out: "
                                   f"{rollout.available}/{want} available")


def view_statefulset(rollout: Rollout) -> Judgement:
    """StatefulSetStatusViewer, in its order: OnDelete has no rollout; then every pod ready; then,
    with a rolling update's partition, the pods at and above it updated; else every pod on the
    update revision."""
    if rollout.on_delete:
        return _on_delete(rollout)
    if (first := _before_counting(rollout)) is not None:
        return first
    want = rollout.desired
    if rollout.ready < want:
        return Judgement(Verdict.WAITING, f"{rollout.ready} of {want} replicas are ready")
    if rollout.partition is not None:
        if rollout.updated < rollout.wanted:
            return Judgement(Verdict.WAITING, f"partitioned roll out: {rollout.updated} out of {rollout.wanted} "
                                              "new pods have been updated")
        if rollout.partition <= 0:
            return Judgement(Verdict.DONE, f"statefulset {rollout.name!r} rolled out: {rollout.ready}/{want} ready")
        kept = min(rollout.partition, want)
        caveat = (f"the {kept} pod(s) below partition {rollout.partition} keep their image until the partition "
                  "is lowered")
        return Judgement(Verdict.DONE, f"statefulset {rollout.name!r} partitioned roll out complete: "
                                       f"{rollout.updated} new pod(s) updated, ordinals {rollout.partition} and up; "
                                       f"{caveat}", caveat=caveat)
    if rollout.updated < want:
        return Judgement(Verdict.WAITING, f"{rollout.updated} out of {want} new replicas have been updated")
    if rollout.update_revision and rollout.current_revision != rollout.update_revision:
        return Judgement(Verdict.WAITING,
                         f"waiting for statefulset {rollout.name!r} to move to revision {rollout.update_revision}")
    return Judgement(Verdict.DONE, f"statefulset {rollout.name!r} rolled out: {rollout.ready}/{want} ready")


def view_cronjob(rollout: Rollout) -> Judgement:
    """kubectl has no viewer for cronjobs: the change is done once accepted; its next job uses it."""
    caveat = "its next job uses the new image"
    return Judgement(Verdict.DONE, f"cronjob {rollout.name!r} updated; {caveat}", caveat=caveat)


VIEWERS: dict[str, Viewer] = {
    "deployment": view_deployment,
    "statefulset": view_statefulset,
    "daemonset": view_daemonset,
    "cronjob": view_cronjob,
}


@dataclass(frozen=True)
class WorkloadStatus:
    """A workload's rollout as read; judged by its kind's viewer for every goal."""

    rollout: Rollout

    def judge(self, goal: Goal) -> Judgement:
        """The rollout by its kind's viewer (`VIEWERS`, kubectl's StatusViewerFor); every goal but
        REMOVED is the same on 2.x (rolled out, or not yet, or stalled). A workload waited on to be
        removed is gone once the API answers 404, so any reading of it is still waiting. Pure, never raises."""
        if goal is Goal.REMOVED:
            return Judgement(Verdict.WAITING, f"{self.rollout.kind} {self.rollout.name!r} is still there; waiting "
                                              "until it is removed")
        return VIEWERS[self.rollout.kind](self.rollout)
