"""Norman's subscribe websocket (2.x v3): `/v3/subscribe`, `/v3/project/<id>/subscribe?resourceTypes=...`.

What rancher/norman does (pkg/subscribe/handler.go): the schemas of the request's API version whose
id is one of the `resourceTypes` asked for (all of them when none is) and that have a store are
watched; none matching is a 404 "no resources types matched" before any upgrade. The upgrade is
gorilla's `Upgrader{}` with its defaults (400 "Bad Request" for a request that is not a websocket
handshake, 403 for an `Origin` on another host). Each store's Watch (store/proxy/proxy_store.go
realWatch) is a Kubernetes watch from resourceVersion "0", narrowed to the `namespaceId` the query
names, so it first sends every object there is, then each change; a deleted object comes as
`resource.remove`. Each message is one text frame `{"name":"resource.change","data":<resource as a
GET renders it>}`, and `{"name":"ping","data":{}}` comes every 5 s (a time.Ticker). The watch ends
after 30 minutes (`TimeoutSeconds` 1800), and with it the handler, whose deferred `Conn.Close` drops
the connection without a close frame. What the client sends is read and dropped.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.errors import NormanError
from rancher_deploy.simulator.rancher2.norman import V3_TYPES
from rancher_deploy.simulator.rancher2.schemas import project_schemas
from rancher_deploy.simulator.rancher2.v3 import cluster_doc, project_doc, scoped_project
from rancher_deploy.simulator.rancher2.v3_workloads import render
from rancher_deploy.simulator.rancher2.workloads.objects import JSON
from rancher_deploy.simulator.upgrade import TICK, handshake
from rancher_deploy.simulator.wire import Response, StreamCut, Websocket

PING_SECONDS = 5.0        # handler.go: time.NewTicker(5 * time.Second); simulated time
WATCH_SECONDS = 1800.0    # proxy_store.go realWatch: TimeoutSeconds 60 * 30 (real or simulated)
# The management schemas with a store that the simulator serves (/v3/clusters, /v3/projects).
MANAGEMENT_TYPES = ("cluster", "project")

# An object one watch sends: its key, what changes when it changes, its rendering, whether it is gone.
Watched = tuple[str, object, Callable[[], JSON], bool]


def project_subscribe(call: Call) -> Response:
    scoped_project(call)
    types = [s["id"] for s in project_schemas("", call.version) if s["collectionMethods"] and s["id"] != "subscribe"]
    return _subscribe(call, types)


def management_subscribe(call: Call) -> Response:
    return _subscribe(call, list(MANAGEMENT_TYPES))


def _subscribe(call: Call, types: list[str]) -> Response:
    asked = [value for key, value in call.params if key == "resourceTypes"]
    matched = [name for name in types if not asked or name in asked]
    if not matched:
        raise NormanError(404, "NotFound", "no resources types matched")
    session = handshake(call.http)
    if session is None:
        return _refused(400)
    origin = call.http.headers.get("origin")
    if origin is not None and (urlsplit(origin).netloc.lower() != call.http.headers.get("host", "").lower()):
        return _refused(403)  # gorilla's checkSameOrigin
    return Response(101, None, websocket=Websocket(session, _Publisher(call, matched).poll, closes_cleanly=False))


def _refused(status: int) -> Response:
    """gorilla's Upgrader.returnError: the status text as plain text, and the version it speaks."""
    text = {400: "Bad Request", 403: "Forbidden"}[status]
    return Response(status, None, {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
                                   "Sec-Websocket-Version": "13"}, raw=f"{text}\n".encode())


class _Publisher:
    """One subscription: what is due on it at each look (``poll``)."""

    def __init__(self, call: Call, types: list[str]) -> None:
        self._call = call
        self._types = types
        self._generation = call.cluster.faults.stream_generation()
        self._seen: dict[str, object] = {}
        self._started: tuple[float, float] | None = None   # (real, simulated) when the first look was made
        self._next_ping = 0.0

    def poll(self) -> list[str] | None:
        cluster = self._call.cluster
        if cluster.faults.stream_generation() != self._generation:
            raise StreamCut()
        messages: list[str] = []
        with cluster.lock:
            now = cluster.settled_lately(TICK / 2)
            if self._started is None:
                self._started, self._next_ping = (time.monotonic(), now), now + PING_SECONDS
            for key, version, rendering, gone in self._watched():
                if gone:
                    if self._seen.pop(key, None) is not None:
                        messages.append(_message("resource.remove", rendering()))
                elif self._seen.get(key) != version:
                    self._seen[key] = version
                    messages.append(_message("resource.change", rendering()))
            if now >= self._next_ping:
                messages.append(_message("ping", {}))
                self._next_ping = now + PING_SECONDS
            if time.monotonic() - self._started[0] >= WATCH_SECONDS or now - self._started[1] >= WATCH_SECONDS:
                return None
        return messages

    def _watched(self) -> Iterator[Watched]:
        call, cluster = self._call, self._call.cluster
        if "project" not in call.match:
            if "cluster" in self._types:
                yield "cluster", json.dumps(cluster_doc(call), sort_keys=True), lambda: cluster_doc(call), False
            if "project" in self._types:
                for project in list(cluster.projects.values()):
                    doc = project_doc(call, project)
                    yield f"project:{project.id}", json.dumps(doc, sort_keys=True), doc.copy, False
            return
        namespace = call.param("namespaceId")
        kinds = {kind for kind, name in V3_TYPES.items() if name in self._types or "workload" in self._types}
        for workload in list(cluster.workloads.values()):
            if workload.kind not in kinds or (namespace and workload.namespace != namespace):
                continue
            if cluster.project_of(workload) != call.match["project"]:
                continue
            yield workload.v3_id, workload.resource_version, functools.partial(render, call, workload), workload.removed


def _message(name: str, data: JSON) -> str:
    """One frame as handler.go writes it: the name, then the resource as the writer encodes it."""
    return json.dumps({"name": name, "data": data}, separators=(",", ":"))
