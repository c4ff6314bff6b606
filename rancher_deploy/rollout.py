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

    @property
    def health(self) -> Health | None:
        """Updated replicas that are available, of those wanted; a cronjob has no replicas to count."""
        if self.kind == "cronjob":
            return None
        return Health(min(self.available, self.updated), self.desired, counted="updated replicas available")


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


def view_daemonset(rollout: Rollout) -> Judgement:
    """DaemonSetStatusViewer: every scheduled node runs an updated, available pod."""
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
    """StatefulSetStatusViewer: updated and ready, then every pod on the update revision."""
    if (first := _before_counting(rollout)) is not None:
        return first
    want = rollout.desired
    if rollout.updated < want:
        return Judgement(Verdict.WAITING, f"{rollout.updated} out of {want} new replicas have been updated")
    if rollout.ready < want:
        return Judgement(Verdict.WAITING, f"{rollout.ready} of {want} replicas are ready")
    if rollout.update_revision and rollout.current_revision != rollout.update_revision:
        return Judgement(Verdict.WAITING,
                         f"waiting for statefulset {rollout.name!r} to move to revision {rollout.update_revision}")
    return Judgement(Verdict.DONE, f"statefulset {rollout.name!r} rolled out: {rollout.ready}/{want} ready")


def view_cronjob(rollout: Rollout) -> Judgement:
    """kubectl has no viewer for cronjobs: the change is done once accepted; its next job uses it."""
    return Judgement(Verdict.DONE, f"cronjob {rollout.name!r} updated; its next job uses the new image")


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
        return VIEWERS[self.rollout.kind](self.rollout)
