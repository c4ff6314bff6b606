"""The simulator's backend: projects, keys, stacks, services and containers, one method per operation.

Every method takes the project the request is scoped to, works on model objects and raises
``ApiError`` with Rancher's codes; rendering to JSON and HTTP live in handlers.py. Callers hold
``Store.lock`` and call ``settle`` first, so every read sees the state at the current simulated time.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from rancher_deploy.simulator.cattle import lifecycle
from rancher_deploy.simulator.cattle.errors import ApiError, forbidden, not_found
from rancher_deploy.simulator.cattle.models.instance import Instance
from rancher_deploy.simulator.cattle.models.process import (
    LINK_ACTIONS,
    SERVICE_PROCESS_ACTIONS,
    service_actions,
)
from rancher_deploy.simulator.cattle.models.project import Project
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.models.service import Service
from rancher_deploy.simulator.cattle.models.stack import Stack
from rancher_deploy.simulator.clock import SimClock, Timing
from rancher_deploy.simulator.faults import Faults

DEFAULT_PROJECT_ID = "1a5"  # a fresh 1.x install's "Default" environment (§1.1)
ADMIN_ACCOUNT_ID = "1a1"
FIRST_NEW_PROJECT = 7

_ID = re.compile(r"^1([a-z]+)(\d+)$")
_NAME = re.compile(r"^[a-zA-Z0-9-]+$")
# Rancher's "Upgrading service" style activity names, used for fail_action messages.
_ACTIVITY: dict[str, str] = {
    "upgrade": "Upgrading service",
    "continueupgrade": "Upgrading service",
    "finishupgrade": "Finishing upgrade",
    "rollback": "Rolling back service",
    "cancelupgrade": "Canceling upgrade",
    "restart": "Restarting service",
    "activate": "Activating service",
    "deactivate": "Deactivating service",
    "remove": "Removing service",
    "update": "Updating service",
}


def parse_id(text: str) -> int | None:
    """Cattle's parseId: the letters after the leading 1 do not matter, the number does (§1.1)."""
    match = _ID.match(text)
    return int(match.group(2)) if match else None


@dataclass(frozen=True)
class ApiKey:
    access: str
    secret: str
    project_id: str | None  # None: an account (admin) key that sees every project


@dataclass(frozen=True)
class Principal:
    """Who is asking: the key, and the account the key belongs to."""

    key: ApiKey

    @property
    def account_id(self) -> str:
        return self.key.project_id or ADMIN_ACCOUNT_ID

    @property
    def is_environment_key(self) -> bool:
        return self.key.project_id is not None


class Store:
    """All simulator state, guarded by one re-entrant lock."""

    def __init__(self, access_key: str, secret_key: str, timing: Timing, faults: Faults) -> None:
        self.lock = threading.RLock()
        self.timing = timing
        self.faults = faults
        self._admin = ApiKey(access_key, secret_key, None)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh install: only the Default environment and the account key."""
        with self.lock:
            self.clock = SimClock(self.timing.speed)
            self.epoch = time.time()
            self.projects: dict[str, Project] = {
                DEFAULT_PROJECT_ID: Project(DEFAULT_PROJECT_ID, "Default", 0.0, uuid="adminProject")
            }
            self.keys: dict[str, ApiKey] = {self._admin.access: self._admin}
            self.stacks: dict[int, Stack] = {}
            self.services: dict[int, Service] = {}
            self._next_project = FIRST_NEW_PROJECT
            self._next_stack = 1
            self._next_service = 1
            self._next_instance = 1

    # ---- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def wall(self, sim_time: float) -> float:
        """Epoch seconds for a simulated time, for created/removed stamps; squeezed by the speed so
        a fast simulator does not stamp resources weeks into the future."""
        return self.epoch + sim_time / max(self.timing.speed, 1.0)

    def settle(self) -> float:
        """Advance every stack and service to the current simulated time; returns that time."""
        with self.lock:
            now = self.clock.now()
            for stack in self.stacks.values():
                stack.settle(now)
            for svc in self.services.values():
                lifecycle.settle(svc, now, self.context(svc))
            return now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.settle()
            self.clock.advance(seconds)
            self.settle()

    def context(self, svc: Service) -> lifecycle.Context:
        stack = self.stacks.get(int(svc.stack_id[3:]))
        return lifecycle.Context(
            timing=self.timing,
            stack_name=stack.name if stack else "stack",
            next_instance_num=self._take_instance_num,
            unhealthy=self.unhealthy,
            hung=self.faults.is_hung(svc.id),
        )

    def unhealthy(self, inst: Instance) -> bool:
        return self.faults.is_unhealthy(inst.image_uuid)

    def _take_instance_num(self) -> int:
        num = self._next_instance
        self._next_instance += 1
        return num

    # ---- auth and scope ------------------------------------------------------------------------

    def authenticate(self, access: str | None, secret: str | None) -> Principal | None:
        key = self.keys.get(access or "")
        if key is None or key.secret != secret:
            return None
        return Principal(key)

    def project_for(self, who: Principal, requested: str | None) -> str:
        """The project a request acts on; 403 when the key may not see the one asked for (§1.2)."""
        if requested is None:
            return who.key.project_id or DEFAULT_PROJECT_ID
        if requested not in self.projects:
            raise forbidden()
        if who.key.project_id is not None and who.key.project_id != requested:
            raise forbidden()
        return requested

    def visible_projects(self, who: Principal) -> list[Project]:
        return [p for p in self.projects.values() if who.key.project_id in (None, p.id)]

    def get_project(self, who: Principal, project_id: str) -> Project:
        # The project resource itself is not a sub-context: invisible projects are simply not found.
        for project in self.visible_projects(who):
            if project.id == project_id:
                return project
        raise not_found()

    # ---- seeding (facade and control API) ------------------------------------------------------

    def add_project(self, name: str, *, num: int | None = None) -> str:
        with self.lock:
            num = num or self._next_project
            pid = f"1a{num}"
            self._next_project = max(self._next_project, num + 1)
            self.projects[pid] = Project(pid, name, self.now())
            return pid

    def add_key(self, project_id: str | None, access: str | None = None, secret: str | None = None) -> ApiKey:
        with self.lock:
            if project_id is not None and project_id not in self.projects:
                raise KeyError(f"no project {project_id}")
            key = ApiKey(
                access or "ENV" + uuid.uuid4().hex[:16].upper(),
                secret or uuid.uuid4().hex + uuid.uuid4().hex[:8],
                project_id,
            )
            self.keys[key.access] = key
            return key

    def seed_stack(self, name: str, project_id: str | None = None, *, num: int | None = None) -> Stack:
        with self.lock:
            pid = project_id or DEFAULT_PROJECT_ID
            if pid not in self.projects:
                raise KeyError(f"no project {pid}")
            stack = Stack(num or self._next_stack, pid, name, self.now())
            self._next_stack = max(self._next_stack, stack.num + 1)
            self.stacks[stack.num] = stack
            return stack

    def seed_service(
        self,
        stack_id: str,
        name: str,
        launch_config: JSON,
        *,
        scale: int = 1,
        secondary_launch_configs: list[JSON] | None = None,
        state: str = "active",
        retain_ip: bool = False,
        num: int | None = None,
    ) -> Service:
        """A service that is already ``active`` (containers running and healthy) or ``inactive``."""
        with self.lock:
            if state not in ("active", "inactive"):
                raise ValueError("a seeded service is 'active' or 'inactive'")
            stack_num = parse_id(stack_id)
            stack = self.stacks.get(stack_num or -1)
            if stack is None:
                raise KeyError(f"no stack {stack_id}")
            _check_image(launch_config)
            now = self.settle()
            svc = Service(
                num=num or self._next_service,
                project_id=stack.project_id,
                stack_id=stack.id,
                name=name,
                launch_config=launch_config,
                secondary_launch_configs=list(secondary_launch_configs or []),
                scale=scale,
                created=now,
                state=state,
                retain_ip=retain_ip,
                start_on_create=True,
            )
            self._next_service = max(self._next_service, svc.num + 1)
            self.services[svc.num] = svc
            if state == "active":
                lifecycle.create_running_instances(svc, self.context(svc), now)
            return svc

    # ---- stacks --------------------------------------------------------------------------------

    def list_stacks(self, project_id: str) -> list[Stack]:
        return [s for s in self.stacks.values() if s.project_id == project_id]

    def get_stack(self, project_id: str, stack_id: str) -> Stack:
        stack = self.stacks.get(parse_id(stack_id) or -1)
        if stack is None or stack.project_id != project_id:
            raise not_found()
        return stack

    def create_stack(self, project_id: str, body: JSON) -> Stack:
        name = body.get("name")
        if not name:
            raise ApiError.validation("MissingRequired", "name")
        _check_name(str(name))
        if any(s.name == name and s.state != "removed" for s in self.list_stacks(project_id)):
            raise ApiError.validation("NotUnique", "name")
        stack = self.seed_stack(str(name), project_id)
        stack.description = body.get("description")
        stack.state = "activating"
        stack.ready_at = self.now() + self.timing.registering
        return stack

    def update_stack(self, project_id: str, stack_id: str, body: JSON) -> Stack:
        stack = self.get_stack(project_id, stack_id)
        if body.get("name"):
            _check_name(str(body["name"]))
            stack.name = str(body["name"])
        if "description" in body:
            stack.description = body["description"]
        return stack

    def remove_stack(self, project_id: str, stack_id: str) -> Stack:
        stack = self.get_stack(project_id, stack_id)
        if stack.state in ("removing", "removed"):
            raise ApiError.http(405)
        now = self.now()
        stack.state = "removing"
        stack.ready_at = now + self.timing.container_stop + self.timing.finish_cleanup
        stack.removed_at = stack.ready_at
        for svc in self.services.values():
            if svc.stack_id == stack.id and "remove" in service_actions(svc.state):
                ctx = self.context(svc)
                lifecycle.start_process(svc, "remove", now, lifecycle.plan_remove(svc, ctx))
        return stack

    def stack_action(self, project_id: str, stack_id: str, action: str, body: JSON) -> Stack:
        stack = self.get_stack(project_id, stack_id)
        known = ("activateservices", "deactivateservices", "remove", "update")
        if action not in known:
            raise ApiError.validation("InvalidAction", "action")
        if stack.state != "active":
            raise ApiError.validation("ActionNotAvailable", "action")
        if action == "remove":
            return self.remove_stack(project_id, stack_id)
        if action == "update":
            return self.update_stack(project_id, stack_id, body)
        wanted = "activate" if action == "activateservices" else "deactivate"
        for svc in self.services.values():
            if svc.stack_id == stack.id and wanted in service_actions(svc.state):
                self._run(svc, wanted, {})
        return stack

    # ---- services ------------------------------------------------------------------------------

    def list_services(self, project_id: str) -> list[Service]:
        return [s for s in self.services.values() if s.project_id == project_id]

    def get_service(self, project_id: str, service_id: str) -> Service:
        svc = self.services.get(parse_id(service_id) or -1)
        if svc is None or svc.project_id != project_id:
            raise not_found()
        return svc

    def create_service(self, project_id: str, body: JSON) -> Service:
        """POST /services: 201 in ``registering``; startOnCreate chains activate (ServiceCreate)."""
        name = body.get("name")
        if not name:
            raise ApiError.validation("MissingRequired", "name")
        _check_name(str(name))
        stack_ref = body.get("stackId") or body.get("environmentId")
        if not stack_ref:
            raise ApiError.validation("MissingRequired", "stackId")
        stack = self.stacks.get(parse_id(str(stack_ref)) or -1)
        if stack is None or stack.project_id != project_id or stack.state in ("removing", "removed"):
            raise ApiError.validation("InvalidReference", "stackId")
        launch_config = body.get("launchConfig")
        if not isinstance(launch_config, dict):
            raise ApiError.validation("MissingRequired", "launchConfig")
        _check_image(launch_config)
        secondaries = body.get("secondaryLaunchConfigs") or []
        if not isinstance(secondaries, list):
            raise ApiError.validation("InvalidType", "secondaryLaunchConfigs")
        for sec in secondaries:
            if not isinstance(sec, dict) or not sec.get("name"):
                raise ApiError.validation("MissingRequired", "name")
            _check_image(sec)
        scale = _int_field(body, "scale", 1, minimum=0)
        if any(
            s.name == name and s.stack_id == stack.id and s.state != "removed" for s in self.services.values()
        ):
            raise ApiError.validation("NotUnique", "name")
        now = self.now()
        svc = Service(
            num=self._next_service,
            project_id=project_id,
            stack_id=stack.id,
            name=str(name),
            launch_config=copy.deepcopy(launch_config),
            secondary_launch_configs=copy.deepcopy(secondaries),
            scale=scale,
            created=now,
            state="requested",
            retain_ip=bool(body.get("retainIp") or False),
            start_on_create=bool(body.get("startOnCreate") or False),
            description=body.get("description"),
            metadata=body.get("metadata"),
        )
        self._next_service += 1
        self.services[svc.num] = svc
        ctx = self.context(svc)
        then = "activate" if svc.start_on_create else None
        lifecycle.start_process(svc, "create", now, lifecycle.plan_create(ctx), then=then)
        return svc

    def update_service(self, project_id: str, service_id: str, body: JSON) -> Service:
        """PUT: only updatable fields; ``launchConfig`` is create-only and silently ignored (§1.4)."""
        svc = self.get_service(project_id, service_id)
        if "name" in body and body["name"] is not None:
            _check_name(str(body["name"]))
            svc.name = str(body["name"])
        for key, attr in (("description", "description"), ("metadata", "metadata")):
            if key in body:
                setattr(svc, attr, body[key])
        if "retainIp" in body and body["retainIp"] is not None:
            svc.retain_ip = bool(body["retainIp"])
        if "scale" in body and body["scale"] is not None:
            scale = _int_field(body, "scale", svc.scale, minimum=0)
            if scale != svc.scale:
                if "update" not in service_actions(svc.state):
                    # cattle cancels the update process here and answers 500 (rancher/rancher#4290).
                    raise ApiError(500, "Internal Server Error", "Internal Server Error",
                                   detail=f"Cannot run process update in state {svc.state}")
                svc.scale = scale
                if svc.state in ("active", "inactive"):
                    ctx = self.context(svc)
                    steps = lifecycle.plan_scale(svc, ctx, running=svc.state == "active")
                    lifecycle.start_process(svc, "update", self.now(), steps)
        return svc

    def remove_service(self, project_id: str, service_id: str) -> Service:
        svc = self.get_service(project_id, service_id)
        if "remove" not in service_actions(svc.state):
            raise ApiError.http(405)
        return self._run(svc, "remove", {})

    def service_action(self, project_id: str, service_id: str, action: str, body: JSON, api_version: str) -> Service:
        """POST <service>/?action=<name>: validate like cattle, then start the process (202)."""
        svc = self.get_service(project_id, service_id)
        known = set(SERVICE_PROCESS_ACTIONS) | set(LINK_ACTIONS)
        if api_version == "v1":
            known = (known - {"continueupgrade"}) | {"cancelrollback"}
        if action not in known:
            raise ApiError.validation("InvalidAction", "action")
        if action == "upgrade":
            _validate_upgrade(svc, body)
        if action not in service_actions(svc.state, api_version):
            raise ApiError.validation("ActionNotAvailable", "action")
        if action in LINK_ACTIONS:
            return svc  # service links are not modelled; the call is accepted as a no-op
        if action == "update":
            self.update_service(project_id, service_id, body)
            return svc
        return self._run(svc, action, body)

    def _run(self, svc: Service, action: str, body: JSON) -> Service:
        now = self.now()
        ctx = self.context(svc)
        if action == "upgrade":
            names, batch, interval, start_first = _accept_upgrade(svc, body)
            steps = lifecycle.plan_upgrade(svc, ctx, names, batch, interval, start_first)
        elif action == "continueupgrade":
            batch, interval, start_first = _strategy_numbers(svc)
            steps = lifecycle.plan_upgrade(svc, ctx, svc.config_names(), batch, interval, start_first)
        elif action == "rollback":
            _restore_previous(svc)
            batch, interval, _ = _strategy_numbers(svc)
            steps = lifecycle.plan_rollback(svc, ctx, batch, interval)
        elif action == "finishupgrade":
            steps = lifecycle.plan_finish(svc, ctx)
        elif action == "cancelupgrade":
            steps = lifecycle.plan_cancel(ctx)
        elif action == "restart":
            strategy = body.get("rollingRestartStrategy") or {}
            batch = _int_field(strategy, "batchSize", 1, minimum=1)
            interval = _int_field(strategy, "intervalMillis", 2000, minimum=100)
            steps = lifecycle.plan_restart(svc, ctx, batch, interval / 1000.0)
        elif action == "activate":
            steps = lifecycle.plan_activate(svc, ctx)
        elif action == "deactivate":
            steps = lifecycle.plan_deactivate(svc, ctx)
        elif action == "remove":
            steps = lifecycle.plan_remove(svc, ctx)
        else:  # cancelrollback on v1: listed in the frozen schema, no process in 1.6
            raise ApiError.validation("ActionNotAvailable", "action")
        proc = lifecycle.start_process(svc, action, now, steps)
        if self.faults.take_action_failure(svc.id, action):
            proc.failed = f"{_ACTIVITY.get(action, action)}: simulated failure (fault injected)"
            svc.transitioning_error = proc.failed
        return svc

    # ---- containers ----------------------------------------------------------------------------

    def list_instances(self, project_id: str, service_id: str | None = None) -> list[Instance]:
        found: list[Instance] = []
        for svc in self.services.values():
            if svc.project_id == project_id and (service_id is None or svc.id == service_id):
                found += svc.instances
        return sorted(found, key=lambda i: i.num)

    def get_instance(self, project_id: str, instance_id: str) -> Instance:
        num = parse_id(instance_id)
        for inst in self.list_instances(project_id):
            if inst.num == num:
                return inst
        raise not_found()

    # ---- state file ----------------------------------------------------------------------------

    def to_state(self) -> JSON:
        """The resting configuration of everything (format documented in docs/simulator.md)."""
        with self.lock:
            self.settle()
            return {
                "format": "rancher-deploy-simulator/1",
                "projects": [
                    {"id": p.id, "name": p.name} for p in self.projects.values() if p.id != DEFAULT_PROJECT_ID
                ],
                "keys": [
                    {"access": k.access, "secret": k.secret, "projectId": k.project_id}
                    for k in self.keys.values()
                    if k.project_id is not None
                ],
                "stacks": [
                    {"id": s.id, "name": s.name, "projectId": s.project_id}
                    for s in self.stacks.values()
                    if s.state not in ("removing", "removed")
                ],
                "services": [
                    {
                        "id": s.id,
                        "stackId": s.stack_id,
                        "name": s.name,
                        "launchConfig": s.launch_config,
                        "secondaryLaunchConfigs": s.secondary_launch_configs,
                        "scale": s.scale,
                        "state": "inactive" if s.state in ("inactive", "registering", "deactivating") else "active",
                        "retainIp": s.retain_ip,
                    }
                    for s in self.services.values()
                    if s.state not in ("removing", "removed")
                ],
            }


# --------------------------------------------------------------------------------------------------
# Validation helpers (ServiceUpgradeValidationFilter and the generic ValidationHandler)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ApiError.validation("InvalidCharacters", "name")
    if len(name) > 63:
        raise ApiError.validation("MaxLengthExceeded", "name")


def _check_image(config: Any) -> None:
    """No storage driver claims an image without the docker: prefix (§1.4)."""
    image = config.get("imageUuid") if isinstance(config, dict) else None
    if not isinstance(image, str) or not image.startswith(("docker:", "sim:")):
        raise ApiError.validation("InvalidReference", "imageUuid")


def _int_field(body: Any, name: str, default: int, *, minimum: int) -> int:
    value = body.get(name) if isinstance(body, dict) else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError.validation("InvalidType", name)
    try:
        number = int(value)
    except ValueError:
        raise ApiError.validation("InvalidType", name) from None
    if number < minimum:
        raise ApiError.validation("MinLimitExceeded", name)
    return number


def _validate_upgrade(svc: Service, body: JSON) -> None:
    in_service = body.get("inServiceStrategy")
    to_service = body.get("toServiceStrategy")
    if in_service is None and to_service is None:
        raise ApiError.validation("MissingRequired", "Upgrade strategy needs to be set")
    if in_service is None:
        raise ApiError.validation("InvalidOption", "toServiceStrategy is not supported by the simulator")
    if not isinstance(in_service, dict):
        raise ApiError.validation("InvalidType", "inServiceStrategy")
    primary = in_service.get("launchConfig")
    secondaries = in_service.get("secondaryLaunchConfigs")
    if not primary and not secondaries:
        raise ApiError.validation(
            "InvalidOption", "LaunchConfig/secondaryLaunchConfigs need to be specified for inService strategy"
        )
    _int_field(in_service, "batchSize", 1, minimum=1)
    _int_field(in_service, "intervalMillis", 2000, minimum=100)
    if in_service.get("startFirst") and svc.retain_ip:
        raise ApiError.validation("InvalidOption", "StartFirst option can't be used for service with retainIp field set")
    if primary:
        _check_image(primary)
    for sec in secondaries or []:
        if not isinstance(sec, dict) or not sec.get("name"):
            raise ApiError.validation("MissingRequired", "name")
        if sec.get("imageUuid") != "rancher/none":
            _check_image(sec)


def _accept_upgrade(svc: Service, body: JSON) -> tuple[list[str | None], int, float, bool]:
    """Swap the launch configs at acceptance and record the completed request in ``upgrade`` (§3.2)."""
    strategy: JSON = body["inServiceStrategy"]
    batch = _int_field(strategy, "batchSize", 1, minimum=1)
    interval_ms = _int_field(strategy, "intervalMillis", 2000, minimum=100)
    start_first = bool(strategy.get("startFirst") or False)
    previous = copy.deepcopy(svc.launch_config)
    previous_secondaries = copy.deepcopy(svc.secondary_launch_configs)
    version = str(uuid.uuid4())
    names: list[str | None] = []
    primary = strategy.get("launchConfig")
    if primary:
        svc.launch_config = dict(copy.deepcopy(primary), version=version)
        names.append(None)
    upgraded_secondaries: list[JSON] = []
    for sec in strategy.get("secondaryLaunchConfigs") or []:
        name = str(sec["name"])
        kept = [s for s in svc.secondary_launch_configs if s.get("name") != name]
        if sec.get("imageUuid") == "rancher/none":
            svc.secondary_launch_configs = kept  # a sidekick upgraded to rancher/none is dropped
            continue
        new = dict(copy.deepcopy(sec), version=version)
        position = [s.get("name") for s in svc.secondary_launch_configs]
        if name in position:
            svc.secondary_launch_configs[position.index(name)] = new
        else:
            svc.secondary_launch_configs.append(new)
        upgraded_secondaries.append(copy.deepcopy(new))
        names.append(name)
    svc.upgrade = {
        "type": "serviceUpgrade",
        "inServiceStrategy": {
            "type": "inServiceUpgradeStrategy",
            "batchSize": batch,
            "intervalMillis": interval_ms,
            "launchConfig": copy.deepcopy(svc.launch_config) if primary else None,
            "previousLaunchConfig": previous,
            "previousSecondaryLaunchConfigs": previous_secondaries,
            "secondaryLaunchConfigs": upgraded_secondaries or None,
            "startFirst": start_first,
        },
        "toServiceStrategy": None,
    }
    return names, batch, interval_ms / 1000.0, start_first


def _strategy_numbers(svc: Service) -> tuple[int, float, bool]:
    strategy = (svc.upgrade or {}).get("inServiceStrategy") or {}
    return (
        int(strategy.get("batchSize") or 1),
        int(strategy.get("intervalMillis") or 2000) / 1000.0,
        bool(strategy.get("startFirst") or False),
    )


def _restore_previous(svc: Service) -> None:
    """Rollback sets the launch configs back the moment it is accepted (§3.5)."""
    strategy = (svc.upgrade or {}).get("inServiceStrategy") or {}
    previous = strategy.get("previousLaunchConfig")
    if previous:
        svc.launch_config = copy.deepcopy(previous)
    previous_secondaries = strategy.get("previousSecondaryLaunchConfigs")
    if previous_secondaries is not None:
        svc.secondary_launch_configs = copy.deepcopy(previous_secondaries)

