"""The /_sim/ control API: reset, seed (one by one or in bulk), advance time, faults, request log. No auth; not Rancher's.

Control requests are never written to the request log, so tests can count API calls exactly.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

from rancher_deploy.simulator.cattle.errors import ApiError
from rancher_deploy.simulator.seed import bulk_cattle, bulk_rancher2, seed_cattle, seed_rancher2
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.faults import Faults
from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.errors import KubeError
from rancher_deploy.simulator.request_log import RequestLog
from rancher_deploy.simulator.wire import HttpRequest, Response

JSON = dict[str, Any]


class App(Protocol):
    """What the control API reaches into: the server's state, not its sockets."""

    @property
    def store(self) -> Store: ...
    @property
    def cluster(self) -> Cluster | None: ...
    @property
    def faults(self) -> Faults: ...
    @property
    def log(self) -> RequestLog: ...


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
            return Response(201, seed_cattle(app.store, body) if app.cluster is None else seed_rancher2(app.cluster, body))
        if route == ("POST", "/_sim/seed/bulk"):
            return Response(201, bulk_cattle(app.store, body) if app.cluster is None else bulk_rancher2(app.cluster, body))
        if route == ("POST", "/_sim/images") and app.cluster is not None:
            with app.cluster.lock:
                app.cluster.settle()
                image = str(body["image"])
                return Response(200, {"image": image, "digest": app.cluster.node.push(image)})
        if route == ("GET", "/_sim/state"):
            if app.cluster is not None:
                with app.cluster.lock:
                    app.cluster.settle()
                    return Response(200, {**app.cluster.snapshot(), "now": app.cluster.now()})
            doc = app.store.to_state()
            doc["now"] = app.store.now()
            return Response(200, doc)
    except ApiError as refused:   # what Rancher itself refuses (a seed's duplicate name): its status and body
        return Response(refused.status, refused.body())
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
            {"method": r.method, "path": r.path, "query": r.query, "status": r.status, "projectId": r.project_id,
             "received": r.received, "answered": r.answered}
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
