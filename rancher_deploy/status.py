"""Judging a Rancher 1.x service against a goal: waiting, done, or failed; pure, table-tested.

Like kubectl's rollout status, the checks are ordered and Rancher's own failure signal comes first:
`transitioning: error` is how Cattle says a step of the process failed (rancher-api.md §2.2), and
older tools that ignored it waited until their timeout, or forever (rancher/rancher#9692). Cattle
sets it only for a step that fails (a container that does not start); new containers that never
become healthy are waited for for ever with `transitioning: yes` (ActivityLogImpl records the
timeout as not failed), so progress is judged apart, by the wait's `ProgressTracker`, because it
needs the time since the last progress, which no single reading holds.
The service state sets live here, once, and `cattle` reads its phases from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rancher_deploy.snapshot import Goal, Health, Judgement, Verdict

# The service state machine's resting and moving states (cattle's service.state.* transitions,
# rancher-api.md §2.1), grouped by what the pipeline may do from each.
READY_STATES = frozenset({"active"})
PENDING_STATES = frozenset({"upgraded"})
REMOVED_STATES = frozenset({"removed", "purged"})
BUSY_STATES = frozenset({
    "registering", "activating", "updating-active", "updating-inactive", "deactivating", "restarting",
    "upgrading", "finishing-upgrade", "rolling-back", "canceling-upgrade", "removing",
})
# An upgrade is pending: the launch config is the new one, and the old containers are still there.
UPGRADE_STATES = frozenset({"upgrading", "upgraded", "finishing-upgrade", "canceling-upgrade", "canceled-upgrade"})
# Going or gone: nothing can be finished or rolled back any more.
LEAVING_STATES = REMOVED_STATES | {"removing"}


class Transitioning(enum.Enum):
    """Cattle's `transitioning` field: is a process running, and did a step of it fail."""

    YES = "yes"
    NO = "no"
    ERROR = "error"

    @classmethod
    def parse(cls, value: object) -> Transitioning:
        """Rancher omits it (or sends null) on resting resources."""
        try:
            return cls(str(value or "no"))
        except ValueError:
            return cls.NO


@dataclass(frozen=True)
class ServiceStatus:
    """What Rancher 1.x shows of a service's progress."""

    state: str
    transitioning: Transitioning = Transitioning.NO
    message: str | None = None
    health: Health | None = None

    def judge(self, goal: Goal) -> Judgement:
        """This reading against `goal` by the 1.x rule (`judge_service`): Rancher's own error signal
        first, then the state and health the goal needs; pure, never raises."""
        return judge_service(self, goal)


def judge_service(status: ServiceStatus, goal: Goal) -> Judgement:
    """Decide one reading against the goal; the message is what the log shows."""
    state = status.state
    if goal is Goal.REMOVED:
        # A removed service stays readable by id in state `removed` (rancher-api.md §2.1).
        if state in REMOVED_STATES:
            return Judgement(Verdict.DONE, f"removed (state {state})")
        return Judgement(Verdict.WAITING, f"{state}; waiting until it is removed")
    if state in LEAVING_STATES:
        return Judgement(Verdict.FAILED, f"the service was removed (state {state})", gone=True)
    if status.transitioning is Transitioning.ERROR:
        detail = status.message or "no message"
        return Judgement(Verdict.FAILED, f"Rancher reports an error in state {state}: {detail}")
    counts = status.health.counts if status.health else ""
    resting = status.transitioning is Transitioning.NO

    if goal is Goal.SETTLED:
        if resting:
            return Judgement(Verdict.DONE, f"settled in state {state}")
        return Judgement(Verdict.WAITING, f"{state}{counts}")

    if goal is Goal.RELEASED:
        if state not in PENDING_STATES and resting:
            return Judgement(Verdict.DONE, f"settled in state {state}")
        return Judgement(Verdict.WAITING, f"{state}{counts}")

    if goal is Goal.UPGRADED:
        health = status.health
        if health is not None and health.unhealthy:
            return Judgement(Verdict.FAILED, f"new container(s) unhealthy: {', '.join(health.unhealthy)}")
        if state == "upgraded" and resting:
            if health is not None and health.total is not None and health.healthy < health.total:
                # Older 1.x releases say `upgraded` before the new containers are healthy
                # (rancher/rancher#3294, #5826): finishing then would remove the old ones too soon.
                return Judgement(Verdict.WAITING, f"upgraded{counts}; waiting for the new containers to be healthy")
            return Judgement(Verdict.DONE, f"upgraded{counts}")
        if state == "upgrading":
            return Judgement(Verdict.WAITING, f"upgrading{counts}")
        return Judgement(Verdict.FAILED,
                         f"the service went to state {state} while the upgrade was running "
                         "(did someone else finish, cancel or roll it back?)")

    # Goal.ACTIVE (and ROLLED_OUT, which a 1.x service reaches by becoming active)
    if state in READY_STATES and resting:
        return Judgement(Verdict.DONE, f"active{counts}")
    if status.transitioning is Transitioning.YES:
        return Judgement(Verdict.WAITING, f"{state}{counts}")
    return Judgement(Verdict.FAILED, f"the service stopped in state {state} instead of active")
