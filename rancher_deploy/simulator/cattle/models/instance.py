"""A container (API type ``instance``/``container``): its state timers, health and JSON."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from rancher_deploy.simulator.cattle.models.resource import JSON, iso_time, millis
from rancher_deploy.simulator.clock import Timing


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
    # The failing_image fault: the container exits as soon as it starts (a crash on start).
    crashes: bool = False
    # Seconds a remove chained to the running stop takes (cattle's stop chained to remove, when a
    # remove was scheduled on a running container); None when nothing is chained.
    remove_after_stop: float | None = None

    @property
    def id(self) -> str:
        return f"1i{self.num}"

    def begin(self, target: InstanceState, at: float, seconds: float, timing: Timing) -> None:
        """Start moving towards a resting state; a no-op when already there or going there.

        A container on its way out (removing, or stopping with a remove chained) goes nowhere else.
        """
        leaving = self.state in (InstanceState.REMOVING, InstanceState.REMOVED) or self.remove_after_stop is not None
        if target is not InstanceState.REMOVED and leaving:
            return
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
            self.remove_after_stop = None

    @property
    def moving(self) -> bool:
        """In a transitional state (starting, stopping, removing) that `settle` will end."""
        return self.state in INSTANCE_SETTLES_TO

    def remove(self, at: float, timing: Timing) -> None:
        """Schedule this container's removal on its own, as cattle's cleanupUpgradedInstances does.

        A stopped container goes `removing` for ``timing.finish_cleanup`` seconds; a running (or
        starting) one is stopped first (``container_stop``) with the remove chained after it.
        """
        if self.state in (InstanceState.RUNNING, InstanceState.STARTING):
            self.begin(InstanceState.STOPPED, at, timing.container_stop, timing)
            self.remove_after_stop = timing.finish_cleanup
        elif self.state is InstanceState.STOPPING:
            self.remove_after_stop = timing.finish_cleanup
        else:
            self.begin(InstanceState.REMOVED, at, timing.finish_cleanup, timing)

    def settle(self, now: float) -> None:
        resting = INSTANCE_SETTLES_TO.get(self.state)
        if resting is not None and now >= self.state_until:
            self.state = resting
            if resting is InstanceState.RUNNING and (self.start_once or self.crashes):
                self.state = InstanceState.STOPPED  # it ran its one job, or crashed, and exited
            if resting is InstanceState.REMOVED:
                self.removed_at = self.state_until
            if resting is InstanceState.STOPPED and self.remove_after_stop is not None:
                seconds, self.remove_after_stop = self.remove_after_stop, None
                self.state, self.state_until = InstanceState.REMOVING, self.state_until + seconds
                self.settle(now)

    def done_at(self) -> float:
        """When the current transitional state ends (the past if resting)."""
        return self.state_until if self.state in INSTANCE_SETTLES_TO else -math.inf

    def ready_at(self, unhealthy: bool) -> float:
        """When this container counts as healthy: running, and past its health check if it has one."""
        if self.start_once:
            if self.state is InstanceState.STARTING:
                return self.state_until
            return -math.inf if self.state is InstanceState.STOPPED and self.start_count else math.inf
        if self.crashes or self.state not in (InstanceState.STARTING, InstanceState.RUNNING):
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
                # cattle's InstanceOutputFilter adds serviceIds only for an API version other than
                # v1, from the container's service maps, a removed one skipped.
                "serviceIds": [self.service_id] if api_version != "v1" and not removed else None,
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
