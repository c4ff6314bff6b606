"""Stack (v1: environment) operations of the 1.x store; removing or (de)activating one acts on its services."""

from __future__ import annotations

from rancher_deploy.simulator.cattle import lifecycle
from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.models.process import (
    service_actions,
)
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.models.stack import Stack
from rancher_deploy.simulator.cattle.store.base import DEFAULT_PROJECT_ID, parse_id
from rancher_deploy.simulator.cattle.store.services import ServiceStore
from rancher_deploy.simulator.cattle.store.validation import check_name


class StackStore(ServiceStore):
    """Stacks, on top of the services they hold."""

    def seed_stack(self, name: str, project_id: str | None = None, *, num: int | None = None) -> Stack:
        with self.lock:
            pid = project_id or DEFAULT_PROJECT_ID
            if pid not in self.projects:
                raise KeyError(f"no project {pid}")
            stack = Stack(num or self._next_stack, pid, name, self.now())
            self._next_stack = max(self._next_stack, stack.num + 1)
            self.stacks[stack.num] = stack
            return stack


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
        check_name(str(name))
        if any(s.name == name and s.state != "removed" for s in self.list_stacks(project_id)):
            raise ApiError.validation("NotUnique", "name")
        stack = self.seed_stack(str(name), project_id)
        stack.description = body.get("description")
        stack.state = "activating"
        stack.ready_at = self.now() + self.timing.registering
        return stack

    def update_stack(self, project_id: str, stack_id: str, body: JSON) -> Stack:
        stack = self.get_stack(project_id, stack_id)
        self.touch_stack(stack.id)   # its containers' labels carry its name
        if body.get("name"):
            check_name(str(body["name"]))
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
        self.touch_stack(stack.id)
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
