"""The one reader of seed documents: /_sim/seed bodies, and 1.6 state files (a seed document with ids)."""

from __future__ import annotations

from typing import Any

from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import parse_id
from rancher_deploy.simulator.rancher2.cluster import Cluster

JSON = dict[str, Any]


def seed_cattle(store: Store, doc: JSON, *, keep_ids: bool = False) -> JSON:
    """Create projects, environment keys, stacks and services in one call; returns their ids.

    Stacks name their project by ``projectId`` (default 1a5); services name their stack by
    ``stackId`` or by ``stack`` (a stack name created earlier in the same call or already present).
    With ``keep_ids`` (a state file) projects, stacks and services keep the ``id`` they were saved with.
    """

    def num(entry: JSON) -> int | None:
        return parse_id(str(entry.get("id", ""))) if keep_ids else None

    created: JSON = {"projects": [], "keys": [], "stacks": [], "services": []}
    with store.lock:
        for p in doc.get("projects", []):
            created["projects"].append(store.add_project(str(p["name"]), num=num(p)))
        for k in doc.get("keys", []):
            key = store.add_key(k.get("projectId"), k.get("access"), k.get("secret"))
            created["keys"].append({"access": key.access, "secret": key.secret, "projectId": key.project_id})
        for s in doc.get("stacks", []):
            created["stacks"].append(store.seed_stack(str(s["name"]), s.get("projectId"), num=num(s)).id)
        store.settle()
        for v in doc.get("services", []):
            svc = store.seed_service(
                _stack_id(store, v),
                str(v["name"]),
                dict(v["launchConfig"]),
                scale=int(v.get("scale", 1)),
                secondary_launch_configs=list(v.get("secondaryLaunchConfigs") or []),
                state=str(v.get("state", "active")),
                retain_ip=bool(v.get("retainIp", False)),
                num=num(v),
                kind=str(v.get("kind", "service")),
                fields=dict(v.get("fields") or {}),
                settled=True,
            )
            created["services"].append(svc.id)
    return created


def _stack_id(store: Store, service: JSON) -> str:
    stack_id = service.get("stackId")
    if stack_id is not None:
        return str(stack_id)
    matching = [st for st in store.stacks.values() if st.name == service["stack"]]
    if not matching:
        raise KeyError(f"no stack named {service['stack']}")
    return matching[-1].id


def seed_rancher2(cluster: Cluster, doc: JSON) -> JSON:
    """Rancher 2.x: create projects, namespaces and (rolled-out) workloads in one call.

    ``{"projects": [{"name"}], "namespaces": [{"name", "projectId"?, "inProject"?}], "workloads": [{"namespace",
    "name", "containers", "kind"?, "replicas"?, "initContainers"?, "strategy"?,
    "progressDeadlineSeconds"?, "labels"?}]}`` (``labels``: the workload's own metadata labels); answers the new project ids, namespace names and v3 workload ids.
    A namespace with ``"inProject": false`` belongs to no project (``projectId`` is then ignored).
    """
    created: JSON = {"projects": [], "namespaces": [], "workloads": []}
    with cluster.lock:
        cluster.settle()
        for p in doc.get("projects", []):
            created["projects"].append(cluster.add_project(str(p["name"])))
        for n in doc.get("namespaces", []):
            created["namespaces"].append(cluster.add_namespace(str(n["name"]), n.get("projectId"),
                                                               in_project=bool(n.get("inProject", True))))
        for w in doc.get("workloads", []):
            workload = cluster.add_workload(
                str(w["namespace"]),
                str(w["name"]),
                list(w["containers"]),
                kind=str(w.get("kind", "deployment")),
                replicas=int(w.get("replicas", 1)),
                init_containers=w.get("initContainers"),
                strategy=w.get("strategy"),
                progress_deadline_seconds=int(w.get("progressDeadlineSeconds", 600)),
                labels=dict(w.get("labels") or {}),
            )
            created["workloads"].append(workload.v3_id)
    return created
