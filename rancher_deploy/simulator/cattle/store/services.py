"""Service and container operations of the 1.x store, one method per API operation."""

from __future__ import annotations

import copy

from rancher_deploy.simulator.cattle import lifecycle
from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.models.instance import Instance
from rancher_deploy.simulator.cattle.models.kinds import KINDS
from rancher_deploy.simulator.cattle.models.process import (
    LINK_ACTIONS,
    SERVICE_PROCESS_ACTIONS,
    service_actions,
)
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.models.service import Service
from rancher_deploy.simulator.cattle.store.base import Backend, parse_id
from rancher_deploy.simulator.cattle.store.upgrade import (
    accept_upgrade,
    restore_previous,
    strategy_numbers,
    validate_upgrade,
)
from rancher_deploy.simulator.cattle.store.validation import (
    check_image,
    check_name,
    check_unique_in_stack,
    int_field,
)

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



class ServiceStore(Backend):
    """Services (their processes) and the containers they own."""

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
        kind: str = "service",
        fields: JSON | None = None,
        now: float | None = None,
        names_checked: bool = False,
    ) -> Service:
        """A service that is already ``active`` (containers running and healthy) or ``inactive``.

        ``kind`` is one of kinds.KINDS; ``fields`` its own fields (``{"lbConfig": {...}}``). ``now``:
        the simulated time the caller has just settled the store to (a bulk seed, which settles once),
        else the store is settled first. ``names_checked``: the caller has checked the name is new to
        the stack (a bulk seed, against an index of them all: checking here costs a scan per service)."""
        with self.lock:
            if state not in ("active", "inactive"):
                raise ValueError("a seeded service is 'active' or 'inactive'")
            stack_num = parse_id(stack_id)
            stack = self.stacks.get(stack_num or -1)
            if stack is None:
                raise KeyError(f"no stack {stack_id}")
            if kind not in KINDS:
                raise ValueError(f"no service kind {kind!r}; one of {', '.join(KINDS)}")
            if KINDS[kind].containers:
                check_image(launch_config)
            # A seed is held to the rule the API's create keeps: Rancher never holds two such services.
            if not names_checked:
                check_unique_in_stack(self._names_in(stack.id), name, secondary_launch_configs or [])
            if now is None:
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
                kind=kind,
                fields=copy.deepcopy(fields or {}),
            )
            if not KINDS[kind].containers:
                svc.scale = 0
            self._next_service = max(self._next_service, svc.num + 1)
            self.services[svc.num] = svc
            if state == "active":
                lifecycle.create_running_instances(svc, self.context(svc), now)
            self.touch(svc)
            return svc


    def _names_in(self, stack_id: str) -> list[tuple[str, list[str]]]:
        """Each service of the stack that is not removed: its name and its sidekicks' names."""
        return [(s.name, [str(c.get("name")) for c in s.secondary_launch_configs if c.get("name")])
                for s in self.services.values() if s.stack_id == stack_id and s.state != "removed"]

    # ---- services ------------------------------------------------------------------------------

    def list_services(self, project_id: str, kind: str | None = None) -> list[Service]:
        """The project's services; of one kind when listed through that kind's collection."""
        return [s for s in self.services.values() if s.project_id == project_id and kind in (None, s.kind)]

    def get_service(self, project_id: str, service_id: str, kind: str | None = None) -> Service:
        svc = self.services.get(parse_id(service_id) or -1)
        if svc is None or svc.project_id != project_id or kind not in (None, svc.kind):
            raise not_found()
        return svc

    def create_service(self, project_id: str, body: JSON, kind: str = "service") -> Service:
        """POST /services (or a kind's collection): 201 in ``registering``; startOnCreate chains
        activate (ServiceCreate). A kind without containers keeps scale 0 and needs no image."""
        spec = KINDS[kind]
        for required in spec.required:
            if body.get(required) in (None, "", {}, []):
                raise ApiError.validation("MissingRequired", required)
        name = body.get("name")
        if not name:
            raise ApiError.validation("MissingRequired", "name")
        check_name(str(name))
        stack_ref = body.get("stackId") or body.get("environmentId")
        if not stack_ref:
            raise ApiError.validation("MissingRequired", "stackId")
        stack = self.stacks.get(parse_id(str(stack_ref)) or -1)
        if stack is None or stack.project_id != project_id or stack.state in ("removing", "removed"):
            raise ApiError.validation("InvalidReference", "stackId")
        launch_config = body.get("launchConfig")
        if launch_config is None and not spec.containers:
            launch_config = {}
        if not isinstance(launch_config, dict):
            raise ApiError.validation("MissingRequired", "launchConfig")
        if spec.containers:
            check_image(launch_config)
        secondaries = body.get("secondaryLaunchConfigs") or []
        if not isinstance(secondaries, list):
            raise ApiError.validation("InvalidType", "secondaryLaunchConfigs")
        for sec in secondaries:
            if not isinstance(sec, dict) or not sec.get("name"):
                raise ApiError.validation("MissingRequired", "name")
            check_image(sec)
        scale = int_field(body, "scale", 1, minimum=0)
        check_unique_in_stack(self._names_in(stack.id), str(name), secondaries)
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
            kind=kind,
            fields={name: copy.deepcopy(body[name]) for name in spec.fields if body.get(name) is not None},
        )
        if not spec.containers:
            svc.scale = 0
        self._next_service += 1
        self.services[svc.num] = svc
        self.touch(svc)
        ctx = self.context(svc)
        then = "activate" if svc.start_on_create else None
        lifecycle.start_process(svc, "create", now, lifecycle.plan_create(ctx), then=then)
        return svc

    def update_service(self, project_id: str, service_id: str, body: JSON, kind: str | None = None) -> Service:
        """PUT: only updatable fields; ``launchConfig`` is create-only and silently ignored (§1.4).
        A kind's own fields are replaced as sent (lbConfig, networkDriver, …: scheduleUpdate)."""
        svc = self.get_service(project_id, service_id, kind)
        self.touch(svc)
        for name in KINDS[svc.kind].fields:
            if name in body and name != "healthCheck":
                svc.fields[name] = copy.deepcopy(body[name])
        if "name" in body and body["name"] is not None:
            check_name(str(body["name"]))
            svc.name = str(body["name"])
        for key, attr in (("description", "description"), ("metadata", "metadata")):
            if key in body:
                setattr(svc, attr, body[key])
        if "retainIp" in body and body["retainIp"] is not None:
            svc.retain_ip = bool(body["retainIp"])
        if "scale" in body and body["scale"] is not None and KINDS[svc.kind].containers:
            scale = int_field(body, "scale", svc.scale, minimum=0)
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

    def remove_service(self, project_id: str, service_id: str, kind: str | None = None) -> Service:
        svc = self.get_service(project_id, service_id, kind)
        if "remove" not in service_actions(svc.state):
            raise ApiError.http(405)
        return self._run(svc, "remove", {})

    def service_action(self, project_id: str, service_id: str, action: str, body: JSON, api_version: str,
                       kind: str | None = None) -> Service:
        """POST <service>/?action=<name>: validate like cattle, then start the process (202)."""
        svc = self.get_service(project_id, service_id, kind)
        known = set(SERVICE_PROCESS_ACTIONS) | set(LINK_ACTIONS)
        if api_version == "v1":
            known = (known - {"continueupgrade"}) | {"cancelrollback"}
        if action not in known:
            raise ApiError.validation("InvalidAction", "action")
        if action == "upgrade":
            validate_upgrade(svc, body)
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
        self.touch(svc)
        ctx = self.context(svc)
        if action == "upgrade":
            names, batch, interval, start_first = accept_upgrade(svc, body)
            steps = lifecycle.plan_upgrade(svc, ctx, names, batch, interval, start_first)
        elif action == "continueupgrade":
            batch, interval, start_first = strategy_numbers(svc)
            steps = lifecycle.plan_upgrade(svc, ctx, svc.config_names(), batch, interval, start_first)
        elif action == "rollback":
            restore_previous(svc)
            batch, interval, _ = strategy_numbers(svc)
            steps = lifecycle.plan_rollback(svc, ctx, batch, interval)
        elif action == "finishupgrade":
            steps = lifecycle.plan_finish(svc, ctx)
        elif action == "cancelupgrade":
            steps = lifecycle.plan_cancel(ctx)
        elif action == "restart":
            strategy = body.get("rollingRestartStrategy") or {}
            batch = int_field(strategy, "batchSize", 1, minimum=1)
            interval = int_field(strategy, "intervalMillis", 2000, minimum=100)
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
