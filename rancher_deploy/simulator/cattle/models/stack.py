"""A stack (v1: environment): its lifecycle timers and its JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from rancher_deploy.simulator.cattle.models.resource import JSON, iso_time, millis


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
