"""The 2.x request entry point: unauthenticated endpoints, the auth filter, then the route table.

Order follows Rancher's server: a few unauthenticated endpoints (/ping, /rancherversion), then the
auth filter (401 before routing), then the route; each surface renders failures its own way.
"""

from __future__ import annotations

from rancher_deploy.simulator.rancher2.call import Call, credentials
from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.errors import (
    KubeError,
    NormanError,
    kube_status,
    steve_error,
    unauthorized,
)
from rancher_deploy.simulator.rancher2.releases import (
    GIT_COMMITS,
    RELEASES,
    minor,
    reports_prime,
)
from rancher_deploy.simulator.rancher2.routes import ROUTES, Surface, surface_of
from rancher_deploy.simulator.rancher2.v3 import schemas_url
from rancher_deploy.simulator.wire import HttpRequest, Miss, Response, resolve

NORMAN_EXPIRES = "Wed 24 Feb 1982 18:42:00 GMT"  # norman api/writer/headers.go


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
        # Added in 2.7 (rancher pkg/multiclustermanager/routes.go); older releases answer 404 to it.
        if minor(version) >= (2, 7):
            return Response(200, _version_doc(version))
        return Response(404, None, {"Content-Type": "text/plain"}, raw=b"404 page not found")
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
        response.headers["X-Api-Schemas"] = schemas_url(req.root, path)
    return response


def _dispatch(cluster: Cluster, req: HttpRequest, version: str, path: str, surface: Surface) -> Response:
    try:
        found = resolve(ROUTES, req.method, path, version)
        if found is Miss.METHOD_NOT_ALLOWED:
            raise KubeError(405, "MethodNotAllowed", f"Method {req.method} not supported")
        if found is Miss.NOT_FOUND:
            raise KubeError(404, "NotFound", "404 page not found" if surface is Surface.K8S else "Not Found")
        call = Call(req, cluster, version, Call.params_of(req.query), found.params)
        response = found.handler(call)
        if "project" in found.params:
            response.project_id = found.params["project"]
        return response
    except NormanError as err:
        return Response(err.status, err.body())
    except KubeError as err:
        if surface is Surface.V3:
            code = "MethodNotAllow" if err.status == 405 else None
            norman_err = NormanError.from_kube(err)
            if code:
                norman_err.code = code
            return Response(norman_err.status, norman_err.body())
        return Response(err.status, error_body(surface, err))
