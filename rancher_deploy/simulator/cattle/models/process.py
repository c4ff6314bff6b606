"""The service state machine as data, and the processes in flight on a service.

The state machine is data: ``PROCESSES`` is cattle's process table (rancher-api.md §2.1) and the
actions a service offers in a state are derived from it (§2.3). A running process is a list of
``Step``s; each step starts when the previous one is complete and its completion time is a pure
function of the containers' own timers, so settling to a given simulated time is deterministic.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------------
# The process table (cattle spring-process-context.xml, v1.6 branch)


@dataclass(frozen=True)
class ProcessDef:
    """One cattle service process: which states may start it, its transitioning and done states."""

    name: str
    start_states: frozenset[str]
    transitioning: str
    done: str


def _states(*names: str) -> frozenset[str]:
    return frozenset(names)


PROCESSES: dict[str, ProcessDef] = {
    p.name: p
    for p in (
        ProcessDef("create", _states("requested"), "registering", "inactive"),
        ProcessDef("activate", _states("inactive", "restarting"), "activating", "active"),
        ProcessDef(
            "deactivate",
            _states("restarting", "active", "activating", "updating-inactive", "updating-active"),
            "deactivating",
            "inactive",
        ),
        # update's transitioning/done states depend on where it started: see UPDATE_* below.
        ProcessDef(
            "update",
            _states(
                "inactive",
                "active",
                "updating-active",
                "finishing-upgrade",
                "activating",
                "canceling-upgrade",
                "upgrading",
                "rolling-back",
            ),
            "",
            "",
        ),
        ProcessDef(
            "remove",
            _states(
                "inactive",
                "registering",
                "active",
                "activating",
                "updating-inactive",
                "updating-active",
                "upgrading",
                "canceling-upgrade",
                "rolling-back",
                "deactivating",
                "requested",
                "canceled-upgrade",
                "upgraded",
                "finishing-upgrade",
                "restarting",
            ),
            "removing",
            "removed",
        ),
        ProcessDef(
            "upgrade",
            _states("active", "activating", "inactive", "updating-active"),
            "upgrading",
            "upgraded",
        ),
        ProcessDef("continueupgrade", _states("canceled-upgrade"), "upgrading", "upgraded"),
        ProcessDef(
            "cancelupgrade", _states("upgrading", "finishing-upgrade"), "canceling-upgrade", "canceled-upgrade"
        ),
        ProcessDef(
            "rollback", _states("upgrading", "upgraded", "canceled-upgrade"), "rolling-back", "active"
        ),
        ProcessDef("finishupgrade", _states("upgraded"), "finishing-upgrade", "active"),
        ProcessDef("restart", _states("active"), "restarting", "active"),
    )
}

UPDATE_TRANSITIONING: dict[str, str] = {"inactive": "updating-inactive", "active": "updating-active"}
UPDATE_DONE: dict[str, str] = {
    "updating-inactive": "inactive",
    "updating-active": "active",
    "finishing-upgrade": "active",
    "activating": "active",
    "canceling-upgrade": "canceled-upgrade",
    # cattle quirk (§2.1): an update during an upgrade ends the state as "upgraded".
    "upgrading": "upgraded",
    "rolling-back": "active",
}

# Actions with no process: offered in every state but removing/removed (§2.3).
LINK_ACTIONS: tuple[str, ...] = ("addservicelink", "removeservicelink", "setservicelinks")
# Order in which process actions are listed in an actions map.
SERVICE_PROCESS_ACTIONS: tuple[str, ...] = (
    "activate",
    "cancelupgrade",
    "continueupgrade",
    "deactivate",
    "finishupgrade",
    "remove",
    "restart",
    "rollback",
    "update",
    "upgrade",
)
# v1's frozen schema lists cancelrollback and has no continueupgrade (§7).
V1_MISSING_ACTIONS: frozenset[str] = frozenset({"continueupgrade"})

TRANSITIONING_STATES: frozenset[str] = frozenset(
    {
        "registering",
        "activating",
        "deactivating",
        "updating-active",
        "updating-inactive",
        "removing",
        "upgrading",
        "canceling-upgrade",
        "rolling-back",
        "finishing-upgrade",
        "restarting",
    }
)
RESTING_STATES: frozenset[str] = frozenset(
    {"inactive", "active", "upgraded", "canceled-upgrade", "removed"}
)


def service_actions(state: str, api_version: str = "v2-beta") -> list[str]:
    """The actions a service offers in ``state``, read off the process table."""
    if state in ("removing", "removed"):
        return []
    names = [a for a in SERVICE_PROCESS_ACTIONS if state in PROCESSES[a].start_states]
    if api_version == "v1":
        names = [a for a in names if a not in V1_MISSING_ACTIONS]
    return sorted(names + list(LINK_ACTIONS))


def transitioning_state(action: str, state: str) -> str:
    if action == "update":
        return UPDATE_TRANSITIONING.get(state, state)
    return PROCESSES[action].transitioning


def done_state(action: str, transitioning: str) -> str:
    if action == "update":
        return UPDATE_DONE.get(transitioning, transitioning)
    return PROCESSES[action].done



# --------------------------------------------------------------------------------------------------
# Processes


class StepKind(str, enum.Enum):
    START = "start"  # start existing containers / create new ones
    STOP = "stop"
    REMOVE = "remove"
    # Schedule each container's removal (a running one is stopped first) without waiting for it.
    CLEANUP = "cleanup"
    AWAIT_HEALTHY = "await-healthy"
    SLEEP = "sleep"


@dataclass(frozen=True)
class NewInstance:
    """A container a step will create, with its id allocated when the process was planned."""

    num: int
    unit_index: int
    unit_uuid: str
    config_name: str | None


@dataclass(frozen=True)
class Step:
    kind: StepKind
    instance_ids: tuple[str, ...] = ()
    creates: tuple[NewInstance, ...] = ()
    seconds: float = 0.0


@dataclass
class Process:
    """A process in flight on a service: its remaining steps and where it is."""

    action: str
    transitioning: str
    done: str
    steps: list[Step]
    index: int = 0
    step_started: float = 0.0
    step_begun: bool = False
    failed: str | None = None  # stuck with transitioning "error" (fail_action; a container that exits at start)
    then: str | None = None  # a process to chain when this one is done (create -> activate)
    # Containers the health-check cleanup removed while a step waited on them, each mapped to the
    # container the service created in its place (HealthcheckCleanupMonitorImpl, §2.2).
    replaced: dict[str, str] = field(default_factory=dict)


@dataclass
class Unit:
    """A deployment unit: one primary container plus its sidekicks."""

    index: int
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
