"""Judging a Rancher 1.x service against a goal: waiting, done, or failed; pure, table-tested.

Like kubectl's rollout status, the checks are ordered and Rancher's own failure signal comes first:
`transitioning: error` is how Cattle says a step of the process failed (rancher-api.md §2.2), and
older tools that ignored it waited until their timeout, or forever (rancher/rancher#9692). Cattle
sets it only for a step that fails (a container that does not start); new containers that never
become healthy are waited for for ever with `transitioning: yes` (ActivityLogImpl records the
timeout as not failed), so progress is judged apart, by the wait's `ProgressTracker`, because it
needs the time since the last progress, which no single reading holds.
The service state sets live here, once, and `cattle` reads its phases from them; so does the count
of a service's healthy containers the judge weighs (`count_health`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from rancher_deploy.snapshot import Goal, Health, Judgement, Verdict

JSON = dict[str, Any]

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


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
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
            if health is not None and health.incomplete:
                # Older 1.x releases say `upgraded` before the new containers are healthy
                # (rancher/rancher#3294, #5826): finishing then would remove the old ones too soon.
                return Judgement(Verdict.WAITING, f"upgraded{counts}; waiting for the new containers to be healthy")
            return Judgement(Verdict.DONE, f"upgraded{counts}")
        if state == "upgrading":
            return Judgement(Verdict.WAITING, f"upgrading{counts}")
        return Judgement(Verdict.FAILED,
                         f"the service went to state {state} while the upgrade was running "
                         "(did someone else finish, cancel or roll it back?)")

    # Goal.ACTIVE (and ROLLED_OUT, which a 1.x service reaches by becoming active): a finish, a
    # rollback, a creation. Done once its containers are healthy too, as an upgrade is (above) and a
    # 2.x restore is (kubectl's rule, rollout.py): Cattle ends a rollback `active` as soon as it has
    # started the old containers again, without waiting for their health checks (rancher-api.md §3.5,
    # ServiceRollback: "without health waits"), so `active, 2/4 containers healthy` is not yet restored.
    if state in READY_STATES and resting:
        health = status.health
        if health is not None and health.incomplete:
            return Judgement(Verdict.WAITING, f"active{counts}; waiting for the containers to be healthy")
        return Judgement(Verdict.DONE, f"active{counts}")
    if status.transitioning is Transitioning.YES:
        return Judgement(Verdict.WAITING, f"{state}{counts}")
    return Judgement(Verdict.FAILED, f"the service stopped in state {state} instead of active")


def count_health(service: JSON, instances: list[JSON]) -> Health:
    """Healthy and expected containers of the current launch config versions, and unhealthy ones.

    Counted as Rancher counts a service healthy (calculateServiceHealthState): a running container
    without a health check is healthy, and a start-once container (a sidekick that runs, then
    stops) is done, not missing, once its health state says `started-once`. The total is None
    when the service has no numeric scale to count against (a global service).
    """
    configs = [service.get("launchConfig") or {}, *(service.get("secondaryLaunchConfigs") or [])]
    versions = {str(config.get("version")) for config in configs if config.get("version") is not None}
    scale = service.get("scale")
    healthy = 0
    unhealthy: list[str] = []
    for instance in instances:
        if versions and str(instance.get("version")) not in versions:
            continue
        owners = instance.get("serviceIds")
        if isinstance(owners, list) and service.get("id") is not None and service.get("id") not in owners:
            continue  # listed, but another service's container
        health = instance.get("healthState")
        if health == "unhealthy":
            unhealthy.append(str(instance.get("id")))
        elif health == "started-once" or (instance.get("state") == "running" and health in (None, "healthy")):
            healthy += 1
    total = scale * len(configs) if isinstance(scale, int) else None
    # While an upgrade is pending the current version is the new one, and the old containers are
    # still there (stopped): say which ones the numbers count.
    counted = "new containers healthy" if service.get("state") in UPGRADE_STATES else "containers healthy"
    return Health(healthy, total, tuple(unhealthy), counted)
