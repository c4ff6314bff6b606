"""Judging one observation: waiting, done, or failed; pure, so every rule has a table test.

Like kubectl's rollout status, the checks are ordered and Rancher's own failure signal comes first:
`transitioning: error` is how Cattle says a step of the process failed (rancher-api.md §2.2), and
older tools that ignored it waited until their timeout, or forever (rancher/rancher#9692).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rancher_deploy.backend import Goal, Observation

class Verdict(enum.Enum):
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str


# States of a service that is going or gone: nothing can be finished or rolled back any more.
GONE_STATES = frozenset({"removed", "removing", "purged"})


def judge(observation: Observation, goal: Goal) -> Judgement:
    """Decide one observation against the goal; the message is what the log shows."""
    state = observation.state
    if state in GONE_STATES:
        return Judgement(Verdict.FAILED, f"the service was removed (state {state})")
    if observation.transitioning == "error":
        detail = observation.message or "no message"
        return Judgement(Verdict.FAILED, f"Rancher reports an error in state {state}: {detail}")
    counts = _counts(observation)

    if goal is Goal.SETTLED:
        if observation.transitioning == "no":
            return Judgement(Verdict.DONE, f"settled in state {state}")
        return Judgement(Verdict.WAITING, f"{state}{counts}")

    if goal is Goal.ROLLED_OUT:
        if observation.transitioning == "no":
            return Judgement(Verdict.DONE, observation.message or "rolled out")
        return Judgement(Verdict.WAITING, observation.message or state)

    if goal is Goal.RELEASED:
        if state != "upgraded" and observation.transitioning == "no":
            return Judgement(Verdict.DONE, f"settled in state {state}")
        return Judgement(Verdict.WAITING, f"{state}{counts}")

    if goal is Goal.UPGRADED:
        if observation.unhealthy:
            return Judgement(Verdict.FAILED,
                             f"new container(s) unhealthy: {', '.join(observation.unhealthy)}")
        if state == "upgraded" and observation.transitioning == "no":
            if observation.healthy is not None and observation.total is not None \
                    and observation.healthy < observation.total:
                # Older 1.x releases say `upgraded` before the new containers are healthy
                # (rancher/rancher#3294, #5826): finishing then would remove the old ones too soon.
                return Judgement(Verdict.WAITING, f"upgraded{counts}; waiting for the new containers to be healthy")
            return Judgement(Verdict.DONE, f"upgraded{counts}")
        if state == "upgrading":
            return Judgement(Verdict.WAITING, f"upgrading{counts}")
        return Judgement(Verdict.FAILED,
                         f"the service went to state {state} while the upgrade was running "
                         "(did someone else finish, cancel or roll it back?)")

    if state == "active" and observation.transitioning == "no":
        return Judgement(Verdict.DONE, f"active{counts}")
    if observation.transitioning == "yes":
        return Judgement(Verdict.WAITING, f"{state}{counts}")
    return Judgement(Verdict.FAILED, f"the service stopped in state {state} instead of active")


def _counts(observation: Observation) -> str:
    if observation.healthy is None or observation.total is None:
        return ""
    return f", {observation.healthy}/{observation.total} healthy"


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


def judge_rollout(rollout: Rollout) -> tuple[Verdict, str]:
    """kubectl's rule (rollout_status.go), in its order: observed, deadline, updated, old gone, available."""
    kind, name = rollout.kind, rollout.name
    if rollout.kind == "cronjob":
        return Verdict.DONE, f"cronjob {name!r} updated; its next job uses the new image"
    if rollout.observed_generation is None or (
        rollout.generation is not None and rollout.observed_generation < rollout.generation
    ) or (rollout.baseline_generation is not None and rollout.observed_generation <= rollout.baseline_generation):
        return Verdict.WAITING, f"waiting for {kind} {name!r} spec update to be observed"
    if rollout.deadline_exceeded:
        return Verdict.FAILED, f"{kind} {name!r} exceeded its progress deadline: {rollout.deadline_exceeded}"
    want = rollout.desired
    if rollout.updated < want:
        return Verdict.WAITING, f"{rollout.updated} of {want} updated replicas are available" \
            if kind == "daemonset" else f"{rollout.updated} out of {want} new replicas have been updated"
    if kind == "statefulset":
        if rollout.ready < want:
            return Verdict.WAITING, f"{rollout.ready} of {want} replicas are ready"
        if rollout.update_revision and rollout.current_revision != rollout.update_revision:
            return Verdict.WAITING, f"waiting for statefulset {name!r} to move to revision {rollout.update_revision}"
        return Verdict.DONE, f"statefulset {name!r} rolled out: {rollout.ready}/{want} ready"
    if rollout.replicas > rollout.updated:
        return Verdict.WAITING, f"{rollout.replicas - rollout.updated} old replicas are pending termination"
    if rollout.available < rollout.updated:
        return Verdict.WAITING, f"{rollout.available} of {rollout.updated} updated replicas are available"
    return Verdict.DONE, f"{kind} {name!r} successfully rolled out: {rollout.available}/{want} available"
