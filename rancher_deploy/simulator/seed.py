"""The one reader of seed documents: /_sim/seed and /_sim/seed/bulk bodies, and 1.6 state files (a seed
document with ids)."""

from __future__ import annotations

import copy
from typing import Any

from rancher_deploy.simulator.cattle.errors import ApiError
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import DEFAULT_PROJECT_ID, parse_id
from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.workloads.objects import KINDS

JSON = dict[str, Any]

# The keys a /_sim/seed document and its entries may hold (docs/simulator.md): any other is a 400 naming
# it, so a misspelt or unsupported key ("annotation", "label") is not silently dropped.
_CATTLE_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"projects", "keys", "stacks", "services"}),
    "projects": frozenset({"name", "id"}),
    "keys": frozenset({"projectId", "access", "secret"}),
    "stacks": frozenset({"name", "projectId", "id"}),
    "services": frozenset({"stackId", "stack", "projectId", "name", "launchConfig", "scale", "state",
                           "secondaryLaunchConfigs", "retainIp", "kind", "fields", "id"}),
}
_RANCHER2_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"projects", "namespaces", "workloads"}),
    "projects": frozenset({"name"}),
    "namespaces": frozenset({"name", "projectId", "inProject"}),
    "workloads": frozenset({"namespace", "name", "containers", "kind", "replicas", "initContainers", "strategy",
                            "progressDeadlineSeconds", "labels", "annotations"}),
}

# Entry keys whose value is an object of strings (a null is none at all).
_STRING_MAPS = frozenset({"labels", "annotations"})


def _string_map(value: object) -> bool:
    return value is None or (isinstance(value, dict) and all(isinstance(item, str) for item in value.values()))


def _check_keys(doc: JSON, known: dict[str, frozenset[str]]) -> None:
    """ValueError (the control API's 400) naming the first key `known` does not list, before anything
    is made."""
    if not isinstance(doc, dict):
        raise ValueError("a seed document is a JSON object")
    for key in doc:
        if key not in known[""]:
            raise ValueError(f"unknown key {key!r} in the seed document; known: {', '.join(sorted(known['']))}")
    for section, entries in doc.items():
        # Checked here, not left to the code that makes them: `{"projects": "x"}` answered Python's own
        # "string indices must be integers", which names no key.
        if not isinstance(entries, list):
            raise ValueError(f"{section} must be a list of objects")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"{section}[{index}] must be an object")
            for key, value in entry.items():
                if key not in known[section]:
                    raise ValueError(f"unknown key {key!r} in {section}[{index}]; known: "
                                     f"{', '.join(sorted(known[section]))}")
                if key in _STRING_MAPS and not _string_map(value):
                    # Kubernetes' ObjectMeta: labels and annotations are map[string]string
                    # (k8s.io/apimachinery pkg/apis/meta/v1/types.go); a number there is no workload's.
                    raise ValueError(f"{section}[{index}].{key} must be an object of strings")


def seed_cattle(store: Store, doc: JSON, *, keep_ids: bool = False) -> JSON:
    """Create projects, environment keys, stacks and services in one call; returns their ids.

    Stacks name their project by ``projectId`` (default 1a5); services name their stack by
    ``stackId`` or by ``stack`` (a stack name created earlier in the same call or already present: with
    the service's ``projectId``, that project's stack of that name). A service lives in its stack's
    project, as on Rancher, where a service's stackId must be a stack of the project it is created in:
    a ``projectId`` that names another project than the stack's is refused as Rancher refuses that
    reference (422 InvalidReference on stackId), and a name its stack already holds as Rancher refuses
    it (422 NotUnique on name; `store.validation.check_unique_in_stack`), with Rancher's error body.
    With ``keep_ids`` (a state file) projects, stacks and services keep the ``id`` they were saved with.
    """

    def num(entry: JSON) -> int | None:
        return parse_id(str(entry.get("id", ""))) if keep_ids else None

    if not keep_ids:   # a state file is the simulator's own writing (Store.to_state), read as it wrote it
        _check_keys(doc, _CATTLE_KEYS)

    created: JSON = {"projects": [], "keys": [], "stacks": [], "services": []}
    with store.lock:
        for p in doc.get("projects", []):
            created["projects"].append(store.add_project(str(p["name"]), num=num(p)))
        for k in doc.get("keys", []):
            key = store.add_key(k.get("projectId"), k.get("access"), k.get("secret"))
            created["keys"].append({"access": key.access, "secret": key.secret, "projectId": key.project_id})
        for s in doc.get("stacks", []):
            created["stacks"].append(store.seed_stack(str(s["name"]), s.get("projectId"), num=num(s)).id)
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
            )
            created["services"].append(svc.id)
    return created


def _stack_id(store: Store, service: JSON) -> str:
    """The service's stack: by ``stackId``, else by name (``stack``) among the stacks of its
    ``projectId`` when it names one; without one, the Default environment's (1a5, where a stack without
    ``projectId`` is made too), else the only stack of that name. Several elsewhere and none in Default
    is a bad request (ValueError): taking the last made put services in an environment nobody named."""
    project = service.get("projectId")
    stack_id = service.get("stackId")
    if stack_id is not None:
        stack = store.stacks.get(parse_id(str(stack_id)) or -1)
        if stack is not None and project is not None and stack.project_id != str(project):
            raise ApiError.validation("InvalidReference", "stackId")
        return str(stack_id)
    matching = [st for st in store.stacks.values()
                if st.name == service["stack"] and project in (None, st.project_id)]
    if not matching:
        raise KeyError(f"no stack named {service['stack']}" + (f" in project {project}" if project else ""))
    if project is None and len(matching) > 1:
        default = [st for st in matching if st.project_id == DEFAULT_PROJECT_ID]
        if not default:
            raise ValueError(f"stacks named {service['stack']} are in projects "
                             f"{', '.join(sorted(st.project_id for st in matching))}: give the service a projectId")
        matching = default
    return matching[-1].id


def seed_rancher2(cluster: Cluster, doc: JSON) -> JSON:
    """Rancher 2.x: create projects, namespaces and (rolled-out) workloads in one call.

    ``{"projects": [{"name"}], "namespaces": [{"name", "projectId"?, "inProject"?}], "workloads": [{"namespace",
    "name", "containers", "kind"?, "replicas"?, "initContainers"?, "strategy"?,
    "progressDeadlineSeconds"?, "labels"?, "annotations"?}]}`` (``labels``, ``annotations``: the
    workload's own metadata's, where fleet mode reads `autoupdate.enable` and `autoupdate.policy`);
    answers the new project ids, namespace names and v3 workload ids. Any other key is a ValueError
    naming it, before anything is made.
    A namespace with ``"inProject": false`` belongs to no project (``projectId`` is then ignored).
    """
    _check_keys(doc, _RANCHER2_KEYS)
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
                annotations=dict(w.get("annotations") or {}),
            )
            created["workloads"].append(workload.v3_id)
    return created


# -- many at once -----------------------------------------------------------------------------------


def bulk_cattle(store: Store, doc: JSON) -> JSON:
    """1.6: ``services`` services already ``active`` in one call, settling the store once (one by one,
    every seed settles every service: 10,000 take minutes; at once, about a second).

    ``{"services": N, "launchConfig": {...}, "scale"?: 1, "stacks"?: 1, "environments"?: 1,
    "names"?: {"service": "s{n}", "stack": "stack{n}", "environment": "env{n}"}}``: the services, in
    order, fill the stacks one after the other in equal runs, and the stacks the environments; the first
    environment is the default one (``1a5``), the others are named ``env2`` … . ``{n}`` in a name is the
    number (from 1; needed when there are several); a stack or environment that exists by that name is
    used, a service name its stack holds already is refused. Answers the ids made or used, in order:
    ``{"environments", "stacks", "services"}``.
    """
    count = _count(doc, "services")
    stacks = _count(doc, "stacks", most=count)
    environments = _count(doc, "environments", most=stacks)
    names = {"service": "s{n}", "stack": "stack{n}", "environment": "env{n}", **dict(doc.get("names") or {})}
    launch_config = dict(doc["launchConfig"])
    scale = int(doc.get("scale", 1))
    # Every name first, so that a document that cannot be made changes nothing.
    env_names = [_named(names["environment"], number, environments) for number in range(2, environments + 1)]
    stack_names = [_named(names["stack"], number, stacks) for number in range(1, stacks + 1)]
    service_names = [_named(names["service"], number, count) for number in range(1, count + 1)]
    with store.lock:
        now = store.settle()
        env_ids = [DEFAULT_PROJECT_ID] + [_environment(store, name) for name in env_names]
        homes = [env_ids[number * environments // stacks] for number in range(stacks)]
        held = {(stack.name, stack.project_id): stack.id for stack in store.stacks.values() if stack.state != "removed"}
        # As Rancher compares them (`store.validation.check_unique_in_stack`): whatever the case, sidekicks too.
        taken = {(svc.stack_id, held_name.lower()) for svc in store.services.values() if svc.state != "removed"
                 for held_name in (svc.name, *(str(c.get("name")) for c in svc.secondary_launch_configs))}
        for number, name in enumerate(service_names):
            stack_id = held.get((stack_names[number * stacks // count], homes[number * stacks // count]))
            if (stack_id, name.lower()) in taken:
                raise ValueError(f"stack {stack_id} already has a service {name!r}")
        stack_ids = [held.get((name, home)) or store.seed_stack(name, home).id for name, home in zip(stack_names, homes)]
        services = [store.seed_service(stack_ids[number * stacks // count], name, copy.deepcopy(launch_config),
                                       scale=scale, now=now, names_checked=True).id
                    for number, name in enumerate(service_names)]
    return {"environments": env_ids, "stacks": stack_ids, "services": services}


def bulk_rancher2(cluster: Cluster, doc: JSON) -> JSON:
    """2.x: ``workloads`` workloads already rolled out, in one call.

    ``{"workloads": N, "containers": [...], "kind"?: "deployment", "replicas"?: 1, "namespaces"?: 1,
    "projectId"?: <Default>, "names"?: {"workload": "w{n}", "namespace": "ns{n}"}}``: the workloads, in
    order, fill the namespaces one after the other in equal runs; a namespace that exists by that name
    is used, the others are made in ``projectId``. ``{n}`` as for 1.6. Answers ``{"namespaces",
    "workloads"}`` (names, and v3 ids ``deployment:ns1:w1``), in order.
    """
    count = _count(doc, "workloads")
    spaces = _count(doc, "namespaces", most=count)
    names = {"workload": "w{n}", "namespace": "ns{n}", **dict(doc.get("names") or {})}
    containers = list(doc["containers"])
    kind = str(doc.get("kind", "deployment")).lower()
    if kind not in KINDS:
        raise ValueError(f"unknown workload kind {kind!r}; one of {', '.join(KINDS)}")
    # Every name first, so that a document that cannot be made changes nothing.
    namespaces = [_named(names["namespace"], number, spaces) for number in range(1, spaces + 1)]
    planned = [(namespaces[number * spaces // count], _named(names["workload"], number + 1, count))
               for number in range(count)]
    with cluster.lock:
        cluster.settle()
        if doc.get("projectId") is not None:
            cluster.project(str(doc["projectId"]))  # 404 NotFound (a 400 here) before anything is made
        for namespace, name in planned:
            held = cluster.workloads.get((kind, namespace, name))
            if held is not None and not held.removed:
                raise ValueError(f"namespace {namespace} already has a {kind} {name!r}")
        for namespace in namespaces:
            if namespace not in cluster.namespaces:
                cluster.add_namespace(namespace, str(doc["projectId"]) if doc.get("projectId") else None)
        workloads = [cluster.add_workload(namespace, name, containers, kind=kind,
                                          replicas=int(doc.get("replicas", 1))).v3_id for namespace, name in planned]
    return {"namespaces": namespaces, "workloads": workloads}


def _count(doc: JSON, key: str, *, most: int | None = None) -> int:
    """``doc[key]`` as a count from 1 (to ``most``); 1 when absent, unless ``most`` is None (required)."""
    value = int(doc[key] if most is None else doc.get(key, 1))
    if value < 1 or (most is not None and value > most):
        raise ValueError(f"{key} must be from 1" + (f" to {most}" if most is not None else ""))
    return value


def _named(template: str, number: int, total: int) -> str:
    if total > 1 and "{n}" not in str(template):
        raise ValueError(f"the name {template!r} needs {{n}} for {total} of them")
    return str(template).replace("{n}", str(number))


def _environment(store: Store, name: str) -> str:
    found = [project.id for project in store.projects.values() if project.name == name]
    return found[0] if found else store.add_project(name)

