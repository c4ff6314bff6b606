"""Rancher 2.x: the URL table for v3, the Kubernetes proxy and Steve, and the request entry point.

Order follows Rancher's server: a few unauthenticated endpoints (/ping, /rancherversion), then the
auth filter (401 before routing), then the route; each surface renders failures its own way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from rancher_deploy.simulator.rancher2 import kubeapi
from rancher_deploy.simulator.rancher2 import norman
from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.cattle.handlers import HttpRequest, Response
from rancher_deploy.simulator.rancher2.kube import KubeError
from rancher_deploy.simulator.rancher2.call import (
    GIT_COMMITS,
    NORMAN_EXPIRES,
    RELEASES,
    Call,
    NormanError,
    credentials,
    has_steve,
    kube_status,
    reports_prime,
    steve_error,
    unauthorized,
)


class Surface(str, Enum):
    """Which API a path belongs to: decides the error body."""

    V3 = "v3"
    K8S = "k8s"
    STEVE = "steve"


@dataclass(frozen=True)
class Route2:
    method: str
    pattern: re.Pattern[str]
    surface: Surface
    handler: Callable[[Call], Response]
    steve: bool = False  # only where Steve exists (2.5+)


_PROJECT = r"(?P<project>[^/:]+:[^/]+)"
_WORKLOADS = r"(?P<collection>workloads|deployments|statefulsets|daemonsets|cronjobs)"
_ID = r"(?P<id>[^/]+)"
_K8S = r"/k8s/clusters/(?P<cluster>[^/]+)"
_NS = r"namespaces/(?P<namespace>[^/]+)"
_RES = r"(?P<resource>[a-z]+)"
_GROUP = r"apis/(?P<group>apps|batch)/v1"
_STEVE = r"(?P<type>[a-z]+\.[a-z]+)"


def _r(method: str, pattern: str, surface: Surface, handler: Callable[[Call], Response], steve: bool = False) -> Route2:
    return Route2(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), surface, handler, steve)


ROUTES: tuple[Route2, ...] = (
    # v3 management
    _r("GET", "/v3", Surface.V3, norman.v3_root),
    _r("GET", "/v3/schemas", Surface.V3, norman.v3_schemas),
    _r("GET", "/v3/clusters", Surface.V3, norman.list_clusters),
    _r("GET", "/v3/clusters/(?P<cluster>[^/]+)", Surface.V3, norman.get_cluster),
    _r("GET", "/v3/projects", Surface.V3, norman.list_projects),
    _r("POST", "/v3/projects", Surface.V3, norman.create_project),
    _r("GET", f"/v3/projects/{_PROJECT}", Surface.V3, norman.get_project),
    _r("GET", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces", Surface.V3, norman.list_namespaces),
    _r("POST", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces", Surface.V3, norman.create_namespace),
    _r("GET", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces/(?P<name>[^/]+)", Surface.V3, norman.get_namespace),
    # v3 project sub-context
    _r("GET", f"/v3/project/{_PROJECT}", Surface.V3, norman.project_root),
    _r("GET", f"/v3/projects?/{_PROJECT}/schemas", Surface.V3, norman.project_schemas_handler),
    _r("GET", f"/v3/projects?/{_PROJECT}/schemas/(?P<schema>[^/]+)", Surface.V3, norman.get_project_schema),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}", Surface.V3, norman.list_workloads),
    _r("POST", f"/v3/project/{_PROJECT}/{_WORKLOADS}", Surface.V3, norman.create_workload),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", Surface.V3, norman.get_workload),
    _r("PUT", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", Surface.V3, norman.update_workload),
    _r("DELETE", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", Surface.V3, norman.remove_workload),
    _r("POST", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", Surface.V3, norman.workload_action),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}/revisions", Surface.V3, norman.workload_revisions),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}/yaml", Surface.V3, norman.workload_yaml),
    _r("GET", f"/v3/project/{_PROJECT}/replicasets", Surface.V3, norman.list_replicasets),
    _r("GET", f"/v3/project/{_PROJECT}/replicasets/{_ID}", Surface.V3, norman.get_replicaset),
    # Kubernetes proxy
    _r("GET", f"{_K8S}/version", Surface.K8S, kubeapi.k8s_version),
    _r("GET", f"{_K8S}/api/v1/namespaces", Surface.K8S, kubeapi.list_namespaces),
    _r("GET", f"{_K8S}/api/v1/{_NS}", Surface.K8S, kubeapi.get_namespace),
    _r("GET", f"{_K8S}/{_GROUP}/{_RES}", Surface.K8S, kubeapi.list_objects),
    _r("GET", f"{_K8S}/{_GROUP}/{_NS}/{_RES}", Surface.K8S, kubeapi.list_objects),
    _r("GET", f"{_K8S}/{_GROUP}/watch/{_NS}/{_RES}/(?P<name>[^/]+)", Surface.K8S, kubeapi.watch_object),
    _r("GET", f"{_K8S}/{_GROUP}/{_NS}/{_RES}/(?P<name>[^/]+)", Surface.K8S, kubeapi.get_object),
    _r("PUT", f"{_K8S}/{_GROUP}/{_NS}/{_RES}/(?P<name>[^/]+)", Surface.K8S, kubeapi.put_object),
    _r("PATCH", f"{_K8S}/{_GROUP}/{_NS}/{_RES}/(?P<name>[^/]+)", Surface.K8S, kubeapi.patch_object),
    # Steve, at /v1 for the local cluster and under the proxy for any
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}", Surface.STEVE, kubeapi.steve_list, steve=True),
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)", Surface.STEVE, kubeapi.steve_list, steve=True),
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", Surface.STEVE, kubeapi.steve_get, steve=True),
    _r("PUT", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", Surface.STEVE, kubeapi.steve_put, steve=True),
    _r("PATCH", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", Surface.STEVE, kubeapi.steve_patch, steve=True),
)


def surface_of(path: str) -> Surface:
    if path.startswith("/k8s/"):
        return Surface.STEVE if "/v1/" in path and "/apis/" not in path and "/api/" not in path else Surface.K8S
    if path == "/v1" or path.startswith("/v1/"):
        return Surface.STEVE
    return Surface.V3


def error_body(surface: Surface, err: KubeError) -> object:
    """The body each surface sends for a failure (also used for injected fail_next faults)."""
    if surface is Surface.K8S:
        return kube_status(err)
    if surface is Surface.STEVE:
        return steve_error(err)
    return NormanError.from_kube(err).body()


def _version_doc(version: str) -> dict[str, str]:
    doc = {"Version": RELEASES[version], "GitCommit": GIT_COMMITS[version]}
    if reports_prime(version):
        doc["RancherPrime"] = "false"
    return doc


def handle(cluster: Cluster, req: HttpRequest, version: str) -> Response:
    """The 2.x entry point for one request: never raises."""
    path = req.path.rstrip("/") or "/"
    if req.method == "GET" and path == "/rancherversion":
        return Response(200, _version_doc(version))
    if req.method == "GET" and path in ("/ping", "/healthz"):
        return Response(200, None, {"Content-Type": "text/plain"}, raw=b"pong" if path == "/ping" else b"ok")
    surface = surface_of(path)
    with cluster.lock:
        cluster.settle()
        if not cluster.authenticate(*credentials(req.headers)):
            return unauthorized()
        response = _dispatch(cluster, req, version, path, surface)
    if surface is Surface.V3:
        response.headers.setdefault("Expires", NORMAN_EXPIRES)
        response.headers.setdefault("X-Api-Schemas", f"{req.root}/v3/schemas")
    return response


def _dispatch(cluster: Cluster, req: HttpRequest, version: str, path: str, surface: Surface) -> Response:
    path_matched = False
    try:
        for route in ROUTES:
            if route.steve and not has_steve(version):
                continue
            found = route.pattern.match(path)
            if found is None:
                continue
            path_matched = True
            if route.method != req.method:
                continue
            params = Call.params_of(req.query)
            match = {k: v for k, v in found.groupdict().items() if v is not None}
            call = Call(req, cluster, version, params, match)
            response = route.handler(call)
            if "project" in match:
                response.project_id = match["project"]
            return response
        if path_matched:
            raise KubeError(405, "MethodNotAllowed", f"Method {req.method} not supported")
        raise KubeError(404, "NotFound", "404 page not found" if surface is Surface.K8S else "Not Found")
    except NormanError as err:
        return Response(err.status, err.body())
    except KubeError as err:
        if surface is Surface.V3:
            code = "MethodNotAllow" if err.status == 405 else None
            norman_err = NormanError.from_kube(err)
            if code:
                norman_err.code = code
            return Response(err.status, norman_err.body())
        return Response(err.status, error_body(surface, err))
