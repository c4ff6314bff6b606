"""The seam between the flavour-agnostic pipeline (`deploy`) and each Rancher flavour's API.

`deploy` only ever sees these values and this Protocol, so Rancher 1.x services and Rancher 2.x
workloads share one pipeline: resolve, plan, apply, observe, finish or roll back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from rancher_deploy.plan import Plan
from rancher_deploy.settings import Settings, Target


@dataclass(frozen=True)
class TargetRef:
    """A resolved target: enough to find it again and to name it in the log."""

    name: str            # "stack/service"
    id: str              # Rancher id, "1s12"
    url: str             # the resource's self link


class Goal(enum.Enum):
    """What a wait is for."""

    UPGRADED = "upgraded"       # Rancher 1.x: the new containers run and are healthy; finish may follow
    ACTIVE = "active"           # Rancher 1.x: finish or rollback completed
    ROLLED_OUT = "rolled out"   # Rancher 2.x: the workload's rollout completed (kubectl's rule)
    SETTLED = "settled"         # any resting state: an earlier process has ended
    RELEASED = "released"       # another run's pending upgrade was finished or rolled back by its owner


class Phase(enum.Enum):
    """Where a target stands, in the terms the pipeline decides on (not Rancher's own names)."""

    READY = "ready"              # resting, may be upgraded (active)
    PENDING_FINISH = "pending"   # upgraded by someone; finish or roll back before anything else
    BUSY = "busy"                # a process runs; wait for it to settle
    BLOCKED = "blocked"          # resting in a state the tool will not upgrade from (inactive, ...)
    GONE = "gone"                # removed


@dataclass(frozen=True)
class Observation:
    """One look at a target while waiting: what the judge and the progress lines need."""

    state: str
    transitioning: str               # "yes" | "no" | "error" (Rancher's own error signal)
    message: str | None
    healthy: int | None
    total: int | None
    unhealthy: tuple[str, ...] = ()  # ids of new containers reported unhealthy
    images: tuple[tuple[str, str], ...] = ()  # (container, image) as Rancher reports them now


class Backend(Protocol):
    """What each flavour implements; errors are DeployErrors from `errors`."""

    @property
    def flavour(self) -> str: ...

    @property
    def where(self) -> str: ...

    @property
    def needs_finish(self) -> bool:
        """Rancher 1.x upgrades end `upgraded` and need finishupgrade; 2.x rollouts end on their own."""
        ...

    @property
    def applied_goal(self) -> Goal: ...

    @property
    def restored_goal(self) -> Goal: ...

    def resolve(self, target: Target) -> TargetRef: ...

    def fetch(self, ref: TargetRef) -> dict[str, Any]: ...

    def phase(self, resource: dict[str, Any]) -> Phase: ...

    def plan(self, ref: TargetRef, resource: dict[str, Any], settings: Settings) -> Plan: ...

    def apply(self, ref: TargetRef, plan: Plan) -> None: ...

    def observe(self, ref: TargetRef) -> Observation: ...

    def finish(self, ref: TargetRef) -> None: ...

    def rollback(self, ref: TargetRef) -> None: ...

    def images(self, resource: dict[str, Any]) -> tuple[tuple[str, str], ...]: ...

    def can_roll_back(self, resource: dict[str, Any]) -> bool:
        """Whether there is something to roll back to (the `rollback` command's question)."""
        ...
