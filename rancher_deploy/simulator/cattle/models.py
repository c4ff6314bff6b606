"""Rancher 1.6 objects (project, stack, service, container) and the service state machine; no HTTP.

The state machine is data: ``PROCESSES`` is cattle's process table (rancher-api.md §2.1) and the
actions a service offers in a state are derived from it (§2.3). A running process is a list of
``Step``s; each step starts when the previous one is complete and its completion time is a pure
function of the containers' own timers, so settling to a given simulated time is deterministic.
"""

from __future__ import annotations

import copy
import enum
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rancher_deploy.simulator.clock import Timing

JSON = dict[str, Any]

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
# Time formatting


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis(epoch: float) -> int:
    return int(epoch * 1000)


# --------------------------------------------------------------------------------------------------
# Entities


@dataclass
class Project:
    """A Rancher environment (API type ``project``)."""

    id: str
    name: str
    created: float
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    description: str | None = None

    def to_resource(self, base_url: str, api_version: str, collections: Iterable[str]) -> JSON:
        scoped = f"{base_url}/projects/{self.id}"
        links: JSON = {"self": scoped}
        for name in collections:
            links[name] = f"{scoped}/{name}"
        doc: JSON = {
            "id": self.id,
            "type": "project",
            "links": links,
            "actions": {},
        }
        if api_version != "v1":
            doc["baseType"] = "project"
        doc.update(
            {
                "name": self.name,
                "state": "active",
                "accountId": None,
                "created": iso_time(self.created),
                "createdTS": millis(self.created),
                "description": self.description,
                "kind": "project",
                "members": [],
                "orchestration": "cattle",
                "removed": None,
                "transitioning": "no",
                "transitioningMessage": None,
                "transitioningProgress": None,
                "uuid": self.uuid,
            }
        )
        return doc


@dataclass
class Stack:
    """A stack (``environment`` in /v1)."""

    num: int
    project_id: str
    name: str
    created: float
    state: str = "active"
    description: str | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    ready_at: float | None = None  # end of "activating" after an API create
    removed_at: float | None = None

    @property
    def id(self) -> str:
        return f"1st{self.num}"

    def settle(self, now: float) -> None:
        if self.state == "activating" and self.ready_at is not None and now >= self.ready_at:
            self.state = "active"
            self.ready_at = None
        if self.state == "removing" and self.ready_at is not None and now >= self.ready_at:
            self.state = "removed"
            self.ready_at = None


class InstanceState(str, enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    REMOVING = "removing"
    REMOVED = "removed"


# A transitional container state ends in this resting state when its timer runs out.
INSTANCE_SETTLES_TO: dict[InstanceState, InstanceState] = {
    InstanceState.STARTING: InstanceState.RUNNING,
    InstanceState.STOPPING: InstanceState.STOPPED,
    InstanceState.REMOVING: InstanceState.REMOVED,
}


@dataclass
class Instance:
    """A container of a service deployment unit; it carries its own timers."""

    num: int
    service_id: str
    stack_id: str
    project_id: str
    unit_uuid: str
    unit_index: int
    config_name: str | None  # None for the primary launch config, else the sidekick's name
    name: str
    image_uuid: str
    version: str
    health_checked: bool
    created: float
    state: InstanceState = InstanceState.STARTING
    state_until: float = 0.0
    healthy_at: float | None = None
    start_count: int = 0
    removed_at: float | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Label io.rancher.container.start_once: the container runs once and stops (a data or init
    # sidekick); Rancher then reports healthState "started-once" and counts it as healthy.
    start_once: bool = False

    @property
    def id(self) -> str:
        return f"1i{self.num}"

    def begin(self, target: InstanceState, at: float, seconds: float, timing: Timing) -> None:
        """Start moving towards a resting state; a no-op when already there or going there."""
        if target is InstanceState.RUNNING:
            if self.state in (InstanceState.RUNNING, InstanceState.STARTING):
                return
            self.state, self.state_until = InstanceState.STARTING, at + seconds
            self.start_count += 1
            self.healthy_at = at + seconds + timing.health_check if self.health_checked else None
        elif target is InstanceState.STOPPED:
            if self.state in (InstanceState.STOPPED, InstanceState.STOPPING, InstanceState.REMOVED):
                return
            self.state, self.state_until = InstanceState.STOPPING, at + seconds
        elif target is InstanceState.REMOVED:
            if self.state in (InstanceState.REMOVED, InstanceState.REMOVING):
                return
            self.state, self.state_until = InstanceState.REMOVING, at + seconds

    def settle(self, now: float) -> None:
        resting = INSTANCE_SETTLES_TO.get(self.state)
        if resting is not None and now >= self.state_until:
            self.state = resting
            if resting is InstanceState.RUNNING and self.start_once:
                self.state = InstanceState.STOPPED  # it ran its one job and exited
            if resting is InstanceState.REMOVED:
                self.removed_at = self.state_until

    def done_at(self) -> float:
        """When the current transitional state ends (the past if resting)."""
        return self.state_until if self.state in INSTANCE_SETTLES_TO else -math.inf

    def ready_at(self, unhealthy: bool) -> float:
        """When this container counts as healthy: running, and past its health check if it has one."""
        if self.start_once:
            if self.state is InstanceState.STARTING:
                return self.state_until
            return -math.inf if self.state is InstanceState.STOPPED and self.start_count else math.inf
        if self.state not in (InstanceState.STARTING, InstanceState.RUNNING):
            return math.inf
        running_at = self.state_until if self.state is InstanceState.STARTING else -math.inf
        if not self.health_checked:
            return running_at
        if unhealthy or self.healthy_at is None:
            return math.inf
        return max(running_at, self.healthy_at)

    def health_state(self, now: float, unhealthy: bool) -> str | None:
        if self.start_once and self.state is InstanceState.STOPPED and self.start_count:
            return "started-once"
        if not self.health_checked:
            return None
        if self.state is not InstanceState.RUNNING:
            return None if self.state in (InstanceState.STOPPED, InstanceState.REMOVED) else "initializing"
        return "healthy" if self.ready_at(unhealthy) <= now else "initializing"

    def to_resource(self, base_url: str, api_version: str, now: float, wall: Callable[[float], float], unhealthy: bool) -> JSON:
        self_url = f"{base_url}/containers/{self.id}"
        stack_key = "environmentId" if api_version == "v1" else "stackId"
        doc: JSON = {
            "id": self.id,
            "type": "container",
            "links": {
                "self": self_url,
                "account": f"{base_url}/accounts/{self.project_id}",
                "services": f"{self_url}/services",
            },
            "actions": {},
        }
        if api_version != "v1":
            doc["baseType"] = "instance"
        removed = self.state is InstanceState.REMOVED
        transitioning = self.state in INSTANCE_SETTLES_TO
        doc.update(
            {
                "name": self.name,
                "state": self.state.value,
                "accountId": self.project_id,
                "created": iso_time(wall(self.created)),
                "createdTS": millis(wall(self.created)),
                "deploymentUnitUuid": self.unit_uuid,
                "description": None,
                "firstRunning": None,
                "healthState": self.health_state(now, unhealthy),
                "hostId": "1h1",
                "imageUuid": self.image_uuid,
                "kind": "container",
                "labels": {
                    "io.rancher.service.deployment.unit": self.unit_uuid,
                    "io.rancher.service.launch.config": self.config_name
                    or "io.rancher.service.primary.launch.config",
                },
                "primaryIpAddress": f"10.42.{self.num // 250}.{self.num % 250 + 2}",
                "removed": iso_time(wall(self.removed_at)) if removed and self.removed_at is not None else None,
                "serviceIds": [self.service_id],
                stack_key: self.stack_id if api_version != "v1" else "1e" + self.stack_id[3:],
                "startCount": self.start_count,
                "transitioning": "yes" if transitioning else "no",
                "transitioningMessage": "In Progress" if transitioning else None,
                "transitioningProgress": None,
                "uuid": self.uuid,
                "version": self.version,
            }
        )
        return doc


# --------------------------------------------------------------------------------------------------
# Processes


class StepKind(str, enum.Enum):
    START = "start"  # start existing containers / create new ones
    STOP = "stop"
    REMOVE = "remove"
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
    failed: str | None = None  # a fail_action fault: stuck with transitioning "error"
    then: str | None = None  # a process to chain when this one is done (create -> activate)


@dataclass
class Unit:
    """A deployment unit: one primary container plus its sidekicks."""

    index: int
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


def launch_config_names(primary: Mapping[str, Any], secondaries: list[JSON]) -> list[str | None]:
    del primary
    return [None] + [str(s.get("name")) for s in secondaries]


def has_health_check(config: Mapping[str, Any]) -> bool:
    return bool(config.get("healthCheck"))


@dataclass
class Service:
    """A service: configuration, deployment units, containers, state and the process in flight."""

    num: int
    project_id: str
    stack_id: str
    name: str
    launch_config: JSON
    secondary_launch_configs: list[JSON]
    scale: int
    created: float
    state: str = "inactive"
    retain_ip: bool = False
    start_on_create: bool = False
    description: str | None = None
    metadata: JSON | None = None
    upgrade: JSON | None = None
    units: list[Unit] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    process: Process | None = None
    transitioning_error: str | None = None
    removed_at: float | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    kind: str = "service"

    @property
    def id(self) -> str:
        return f"1s{self.num}"

    # ---- configuration lookups --------------------------------------------------------------

    def config(self, name: str | None) -> JSON | None:
        if name is None:
            return self.launch_config
        for sec in self.secondary_launch_configs:
            if sec.get("name") == name:
                return sec
        return None

    def config_names(self) -> list[str | None]:
        return launch_config_names(self.launch_config, self.secondary_launch_configs)

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.state is not InstanceState.REMOVED]

    def latest(self, unit: Unit, name: str | None) -> Instance | None:
        """The newest container of a unit and launch config that still exists."""
        found = [i for i in self.live() if i.unit_uuid == unit.uuid and i.config_name == name]
        return found[-1] if found else None

    def instance(self, instance_id: str) -> Instance | None:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        return None

    # ---- derived views -----------------------------------------------------------------------

    def health_state(self, now: float, unhealthy: Callable[[Instance], bool]) -> str:
        """calculateServiceHealthState (§1.4)."""
        expected = self.scale * len(self.config_names())
        healthy = [
            i
            for i in self.live()
            if (i.state is InstanceState.RUNNING and i.health_state(now, unhealthy(i)) in (None, "healthy"))
            or i.health_state(now, unhealthy(i)) == "started-once"
        ]
        if len(healthy) >= expected:
            return "healthy"
        if any(i.health_state(now, unhealthy(i)) == "initializing" for i in self.live()):
            return "initializing"
        return "degraded" if healthy else "unhealthy"

    def transitioning_fields(self) -> tuple[str, str | None]:
        """§2.2: yes/"In Progress" while transitioning, error + message when a step failed."""
        if self.state in TRANSITIONING_STATES:
            if self.transitioning_error is not None:
                return "error", self.transitioning_error
            return "yes", "In Progress"
        return "no", None

    def to_resource(
        self,
        base_url: str,
        api_version: str,
        now: float,
        wall: Callable[[float], float],
        unhealthy: Callable[[Instance], bool],
    ) -> JSON:
        """The service as Rancher renders it; ``base_url`` already holds version and project scope."""
        v1 = api_version == "v1"
        self_url = f"{base_url}/services/{self.id}"
        stack_link = f"{base_url}/environments/1e{self.stack_id[3:]}" if v1 else f"{base_url}/stacks/{self.stack_id}"
        links: JSON = {
            "self": self_url,
            "account": f"{base_url}/accounts/{self.project_id}",
            "consumedbyservices": f"{self_url}/consumedbyservices",
            "consumedservices": f"{self_url}/consumedservices",
            "instances": f"{self_url}/instances",
        }
        links["environment" if v1 else "stack"] = stack_link
        actions = {a: f"{self_url}/?action={a}" for a in service_actions(self.state, api_version)}
        transitioning, message = self.transitioning_fields()
        live = self.live()
        doc: JSON = {"id": self.id, "type": "service", "links": links, "actions": actions}
        if not v1:
            doc["baseType"] = "service"
        fields: JSON = {
            "name": self.name,
            "state": self.state,
            "accountId": self.project_id,
            "assignServiceIpAddress": False,
            "createIndex": max((u.index for u in self.units), default=0),
            "created": iso_time(wall(self.created)),
            "createdTS": millis(wall(self.created)),
            "currentScale": sum(
                1 for i in live if i.config_name is None and i.state is InstanceState.RUNNING
            ),
            "description": self.description,
            "externalId": None,
            "fqdn": None,
            "healthState": self.health_state(now, unhealthy),
            "instanceIds": [i.id for i in live],
            "kind": self.kind,
            "launchConfig": render_launch_config(self.launch_config, api_version),
            "lbConfig": None,
            "linkedServices": None,
            "metadata": self.metadata,
            "publicEndpoints": None,
            "removeTime": None,
            "removed": iso_time(wall(self.removed_at)) if self.removed_at is not None else None,
            "retainIp": self.retain_ip,
            "scale": self.scale,
            "scalePolicy": None,
            "secondaryLaunchConfigs": [
                render_launch_config(s, api_version) for s in self.secondary_launch_configs
            ],
            "secrets": None,
            "selectorContainer": None,
            "selectorLink": None,
            "stackId": self.stack_id,
            "startOnCreate": self.start_on_create,
            "system": False,
            "transitioning": transitioning,
            "transitioningMessage": message,
            "transitioningProgress": None,
            "upgrade": render_upgrade(self.upgrade, api_version),
            "uuid": self.uuid,
            "vip": None,
        }
        if v1:
            for hidden in V1_HIDDEN_SERVICE_FIELDS:
                fields.pop(hidden, None)
            fields["environmentId"] = "1e" + self.stack_id[3:]
        doc.update(dict(sorted(fields.items())))
        return doc


def version_of(config: Mapping[str, Any] | None) -> str | None:
    if config is None:
        return None
    return str(config.get("version") or "0")


# v1's frozen schema (§7) lacks these service fields and launchConfig keys; v1 views drop them, which
# is how a client that round-trips a v1 launchConfig loses its secrets.
V1_HIDDEN_SERVICE_FIELDS: tuple[str, ...] = (
    "stackId",
    "instanceIds",
    "linkedServices",
    "lbConfig",
    "system",
    "secrets",
)
V1_HIDDEN_LAUNCH_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "secrets",
        "healthCmd",
        "healthInterval",
        "healthRetries",
        "healthTimeout",
        "cpuPeriod",
        "cpuQuota",
        "memoryReservation",
        "ulimits",
        "tmpfs",
        "sysctls",
        "stopSignal",
        "runInit",
        "drainTimeoutMs",
        "ipcMode",
        "shmSize",
        "pidsLimit",
        "netAlias",
    }
)


def render_launch_config(config: Mapping[str, Any] | None, api_version: str) -> JSON | None:
    """The stored launch config as sent, plus Rancher's version "0" default (and v2-beta's type)."""
    if config is None:
        return None
    doc = copy.deepcopy(dict(config))
    doc.setdefault("version", "0")
    if api_version == "v1":
        for key in V1_HIDDEN_LAUNCH_CONFIG_KEYS:
            doc.pop(key, None)
        doc.pop("type", None)
    else:
        doc.setdefault("type", "launchConfig")
    return doc


def render_upgrade(upgrade: JSON | None, api_version: str) -> JSON | None:
    if upgrade is None:
        return None
    doc = copy.deepcopy(upgrade)
    strategy = doc.get("inServiceStrategy")
    if isinstance(strategy, dict):
        for key in ("launchConfig", "previousLaunchConfig"):
            strategy[key] = render_launch_config(strategy.get(key), api_version)
        for key in ("secondaryLaunchConfigs", "previousSecondaryLaunchConfigs"):
            value = strategy.get(key)
            if isinstance(value, list):
                strategy[key] = [render_launch_config(s, api_version) for s in value]
    if api_version == "v1":
        doc.pop("type", None)
        if isinstance(strategy, dict):
            strategy.pop("type", None)
    return doc


def stack_to_resource(stack: Stack, base_url: str, api_version: str, wall: Callable[[float], float], service_ids: list[str]) -> JSON:
    v1 = api_version == "v1"
    sid = ("1e" + stack.id[3:]) if v1 else stack.id
    self_url = f"{base_url}/{'environments' if v1 else 'stacks'}/{sid}"
    links: JSON = {
        "self": self_url,
        "account": f"{base_url}/accounts/{stack.project_id}",
        "services": f"{self_url}/services",
    }
    actions: JSON = {}
    if stack.state == "active":
        actions = {
            a: f"{self_url}/?action={a}"
            for a in ("activateservices", "deactivateservices", "remove", "update")
        }
    transitioning = stack.state in ("activating", "removing")
    doc: JSON = {"id": sid, "type": "environment" if v1 else "stack", "links": links, "actions": actions}
    if not v1:
        doc["baseType"] = "stack"
    fields: JSON = {
        "name": stack.name,
        "state": stack.state,
        "accountId": stack.project_id,
        "answers": None,
        "binding": None,
        "created": iso_time(wall(stack.created)),
        "createdTS": millis(wall(stack.created)),
        "description": stack.description,
        "dockerCompose": None,
        "environment": None,
        "externalId": None,
        "group": None,
        "healthState": "healthy",
        "kind": "stack",
        "outputs": None,
        "previousEnvironment": None,
        "previousExternalId": None,
        "rancherCompose": None,
        "removed": iso_time(wall(stack.removed_at)) if stack.removed_at is not None else None,
        "serviceIds": service_ids,
        "startOnCreate": True,
        "system": False,
        "templates": None,
        "transitioning": "yes" if transitioning else "no",
        "transitioningMessage": "In Progress" if transitioning else None,
        "transitioningProgress": None,
        "uuid": stack.uuid,
    }
    if v1:
        for hidden in ("answers", "binding", "group", "serviceIds", "system", "templates"):
            fields.pop(hidden)
    doc.update(dict(sorted(fields.items())))
    return doc
