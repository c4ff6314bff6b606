"""A service: its launch configs, containers by deployment unit, process in flight, and JSON."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rancher_deploy.simulator.cattle.models.instance import Instance, InstanceState
from rancher_deploy.simulator.cattle.models.kinds import KINDS
from rancher_deploy.simulator.cattle.models.process import (
    TRANSITIONING_STATES,
    Process,
    Unit,
    service_actions,
)
from rancher_deploy.simulator.cattle.models.resource import JSON, iso_time, millis


# A v2-beta service's links to the resources that name it (rancher-api.md §1.4: cattle renders a link per
# child type whose `serviceId` references the service, at `<self>/<link, lower-cased>`), and each one's
# resource type. The simulator keeps none of these (network and storage drivers, expose maps, service
# logs), so each link lists an empty collection; v1 does not render them.
CHILD_LINKS: dict[str, str] = {
    "networkDrivers": "networkDriver",
    "serviceExposeMaps": "serviceExposeMap",
    "serviceLogs": "serviceLog",
    "storageDrivers": "storageDriver",
}


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
    transitioning_error: str | None = None  # a step failed: transitioning "error" with this message
    transitioning_message: str | None = None  # the last activity's message, shown with transitioning "yes"
    removed_at: float | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    kind: str = "service"  # a key of kinds.KINDS
    fields: JSON = field(default_factory=dict)  # the kind's own fields (lbConfig, networkDriver, …) as sent

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
        """calculateServiceHealthState (§1.4): other kinds than service and loadBalancerService are healthy."""
        if not KINDS[self.kind].computed_health:
            return "healthy"
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
        """§2.2: yes and the last activity's message (default "In Progress") while transitioning;
        error and its message only when a step failed (ActivityLogImpl.close: a timeout is not one)."""
        if self.state in TRANSITIONING_STATES:
            if self.transitioning_error is not None:
                return "error", self.transitioning_error
            return "yes", self.transitioning_message or "In Progress"
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
        kind = KINDS[self.kind]
        self_url = f"{base_url}/{kind.collection}/{self.id}"
        stack_link = f"{base_url}/environments/1e{self.stack_id[3:]}" if v1 else f"{base_url}/stacks/{self.stack_id}"
        links: JSON = {
            "self": self_url,
            "account": f"{base_url}/accounts/{self.project_id}",
            "consumedbyservices": f"{self_url}/consumedbyservices",
            "consumedservices": f"{self_url}/consumedservices",
            "instances": f"{self_url}/instances",
        }
        links["environment" if v1 else "stack"] = stack_link
        if not v1:
            links.update((name, f"{self_url}/{name.lower()}") for name in CHILD_LINKS)
        actions = {a: f"{self_url}/?action={a}" for a in service_actions(self.state, api_version)}
        transitioning, message = self.transitioning_fields()
        live = self.live()
        doc: JSON = {"id": self.id, "type": self.kind, "links": links, "actions": actions}
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
        fields.update({name: copy.deepcopy(self.fields.get(name)) for name in kind.fields})
        for hidden in kind.hidden:
            fields.pop(hidden, None)
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
