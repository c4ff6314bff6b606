"""The /_sim/ control API: reset, seed, advance time, faults, request log. No auth; not Rancher's.

Control requests are never written to the request log, so tests can count API calls exactly.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from rancher_deploy.simulator.wire import HttpRequest, Response
from rancher_deploy.simulator.rancher2.kube import KubeError

if TYPE_CHECKING:
    from rancher_deploy.simulator.server import App

JSON = dict[str, Any]


def _error(status: int, message: str) -> Response:
    return Response(status, {"type": "error", "status": status, "message": message})


def handle(app: App, req: HttpRequest) -> Response:
    route = (req.method, req.path.rstrip("/"))
    try:
        body = json.loads(req.body) if req.body.strip() else {}
    except ValueError:
        return _error(400, "body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    try:
        if route == ("GET", "/_sim/requests"):
            return Response(200, requests_doc(app))
        if route == ("DELETE", "/_sim/requests"):
            app.log.clear()
            return Response(200, {"cleared": True})
        if route == ("POST", "/_sim/reset"):
            app.faults.clear()
            app.store.reset()
            if app.cluster is not None:
                app.cluster.reset()
            app.log.clear()
            return Response(200, {"reset": True})
        if route == ("POST", "/_sim/advance"):
            clock = app.cluster if app.cluster is not None else app.store
            clock.advance(float(body.get("seconds", 0)))
            return Response(200, {"now": clock.now()})
        if route == ("GET", "/_sim/faults"):
            return Response(200, app.faults.describe())
        if route == ("POST", "/_sim/faults"):
            return _set_fault(app, body)
        if route == ("DELETE", "/_sim/faults"):
            app.faults.clear()
            return Response(200, app.faults.describe())
        if route == ("POST", "/_sim/seed"):
            return Response(201, seed(app, body) if app.cluster is None else seed2(app, body))
        if route == ("GET", "/_sim/state"):
            if app.cluster is not None:
                with app.cluster.lock:
                    app.cluster.settle()
                    return Response(200, {**app.cluster.snapshot(), "now": app.cluster.now()})
            doc = app.store.to_state()
            doc["now"] = app.store.now()
            return Response(200, doc)
    except (KeyError, TypeError, ValueError, KubeError) as exc:
        return _error(400, f"bad control request: {exc}")
    return _error(404, f"no control endpoint {req.method} {req.path}")


def requests_doc(app: App) -> JSON:
    records = app.log.records()
    by_method: dict[str, int] = {}
    for r in records:
        by_method[r.method] = by_method.get(r.method, 0) + 1
    return {
        "requests": [
            {"method": r.method, "path": r.path, "query": r.query, "status": r.status, "projectId": r.project_id}
            for r in records
        ],
        "counts": {"total": len(records), "byMethod": by_method},
    }


def _set_fault(app: App, body: JSON) -> Response:
    args = dict(body)
    kind = str(args.pop("kind"))
    renames = {"pathContains": "path_contains", "serviceId": "service_id", "workloadId": "service_id"}
    args = {renames.get(k, k): v for k, v in args.items()}
    if kind == "refuse_connections":
        # Closing the listener also drops open connections, this one included: answer first.
        threading.Timer(0.1, app.faults.refuse_connections, args=(float(args["seconds"]),)).start()
    else:
        app.faults.apply(kind, args)
    return Response(200, app.faults.describe())


def seed(app: App, body: JSON) -> JSON:
    """Create projects, environment keys, stacks and services in one call; returns their ids.

    Stacks name their project by ``projectId`` (default 1a5); services name their stack by
    ``stackId`` or by ``stack`` (a stack name created earlier in the same call or already present).
    """
    store = app.store
    created: JSON = {"projects": [], "keys": [], "stacks": [], "services": []}
    with store.lock:
        for p in body.get("projects", []):
            created["projects"].append(store.add_project(str(p["name"])))
        for k in body.get("keys", []):
            key = store.add_key(k.get("projectId"), k.get("access"), k.get("secret"))
            created["keys"].append({"access": key.access, "secret": key.secret, "projectId": key.project_id})
        for s in body.get("stacks", []):
            created["stacks"].append(store.seed_stack(str(s["name"]), s.get("projectId")).id)
        for v in body.get("services", []):
            stack_id = v.get("stackId")
            if stack_id is None:
                matching = [st for st in store.stacks.values() if st.name == v["stack"]]
                if not matching:
                    raise KeyError(f"no stack named {v['stack']}")
                stack_id = matching[-1].id
            svc = store.seed_service(
                str(stack_id),
                str(v["name"]),
                dict(v["launchConfig"]),
                scale=int(v.get("scale", 1)),
                secondary_launch_configs=list(v.get("secondaryLaunchConfigs") or []),
                state=str(v.get("state", "active")),
                retain_ip=bool(v.get("retainIp", False)),
            )
            created["services"].append(svc.id)
    return created


def seed2(app: App, body: JSON) -> JSON:
    """Rancher 2.x: create projects, namespaces and (rolled-out) workloads in one call.

    ``{"projects": [{"name"}], "namespaces": [{"name", "projectId"?}], "workloads": [{"namespace",
    "name", "containers", "kind"?, "replicas"?, "initContainers"?, "strategy"?,
    "progressDeadlineSeconds"?}]}``; answers the new project ids, namespace names and v3 workload ids.
    """
    cluster = app.cluster
    assert cluster is not None
    created: JSON = {"projects": [], "namespaces": [], "workloads": []}
    with cluster.lock:
        cluster.settle()
        for p in body.get("projects", []):
            created["projects"].append(cluster.add_project(str(p["name"])))
        for n in body.get("namespaces", []):
            created["namespaces"].append(cluster.add_namespace(str(n["name"]), n.get("projectId")))
        for w in body.get("workloads", []):
            workload = cluster.add_workload(
                str(w["namespace"]),
                str(w["name"]),
                list(w["containers"]),
                kind=str(w.get("kind", "deployment")),
                replicas=int(w.get("replicas", 1)),
                init_containers=w.get("initContainers"),
                strategy=w.get("strategy"),
                progress_deadline_seconds=int(w.get("progressDeadlineSeconds", 600)),
            )
            created["workloads"].append(workload.v3_id)
    return created
