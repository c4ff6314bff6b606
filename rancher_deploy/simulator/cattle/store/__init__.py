"""The 1.x backend: projects, keys, stacks, services and containers, one method per operation.

Every method takes the project the request is scoped to, works on model objects and raises
``ApiError`` with Rancher's codes; rendering to JSON and HTTP live in handlers.py and api.py.
Callers hold ``Store.lock`` and call ``settle`` first, so every read sees the state at the current
simulated time.
"""

from __future__ import annotations

from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.store.base import DEFAULT_PROJECT_ID
from rancher_deploy.simulator.cattle.store.stacks import StackStore


class Store(StackStore):
    """All 1.x simulator state and operations: the core (base.py) plus one module per resource family."""

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
                        **({"kind": s.kind, "fields": s.fields} if s.kind != "service" else {}),
                    }
                    for s in self.services.values()
                    if s.state not in ("removing", "removed")
                ],
            }
