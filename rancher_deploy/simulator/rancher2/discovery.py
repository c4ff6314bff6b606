"""Kubernetes API discovery behind the proxy: /version, /api, /api/v1, /apis, /apis/<group>[/v1].

kubectl and client-go build their RESTMapper from these documents before any other request
(client-go discovery/discovery_client.go: ServerGroupsAndResources). Only the unaggregated form is
served: client-go asks for the aggregated one (`Accept: application/json;g=apidiscovery.k8s.io;
v=v2;as=APIGroupDiscoveryList, ...,application/json`) and falls back to it by the response's
Content-Type (discovery_client.go: ContentTypeIsGVK), as it does with any server that lacks it.
"""

from __future__ import annotations

from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.errors import KubeError
from rancher_deploy.simulator.rancher2.resources import GROUPS, RESOURCES
from rancher_deploy.simulator.wire import Response

# The Kubernetes release each simulated Rancher's `local` cluster runs (its RKE2/k3s default).
KUBERNETES_VERSIONS: dict[str, tuple[str, str]] = {
    "2.4": ("18", "v1.18.20"), "2.5": ("20", "v1.20.15"), "2.6": ("24", "v1.24.17"),
    "2.7": ("26", "v1.26.15"), "2.8": ("28", "v1.28.15"), "2.9": ("30", "v1.30.14"),
}
# What a proxied apiserver reports as its own address (ignored by clients that came through Rancher).
APISERVER_ADDRESS = "127.0.0.1:6443"


def check_cluster(call: Call) -> None:
    """Only cluster `local` exists: any other id is Rancher's own 404."""
    if call.match.get("cluster", "local") != "local":
        raise KubeError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')


def k8s_version(call: Call) -> Response:
    check_cluster(call)
    minor, git = KUBERNETES_VERSIONS.get(call.version, ("28", "v1.28.15"))
    return Response(200, {"major": "1", "minor": minor, "gitVersion": git, "gitCommit": "0" * 40,
                          "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21",
                          "compiler": "gc", "platform": "linux/amd64"})


def core_versions(call: Call) -> Response:
    """GET /api: APIVersions (the legacy group)."""
    check_cluster(call)
    return Response(200, {"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                          "serverAddress": APISERVER_ADDRESS}]})


def _group(name: str) -> dict[str, object]:
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [version], "preferredVersion": version}


def group_list(call: Call) -> Response:
    """GET /apis: APIGroupList."""
    check_cluster(call)
    return Response(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUPS]})


def group(call: Call) -> Response:
    """GET /apis/<group>: APIGroup."""
    check_cluster(call)
    name = call.match["group"]
    if name not in GROUPS:
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return Response(200, {"kind": "APIGroup", "apiVersion": "v1", **_group(name)})


def resource_list(call: Call) -> Response:
    """GET /api/v1 or /apis/<group>/v1: APIResourceList."""
    check_cluster(call)
    name = call.match.get("group", "")
    if name and name not in GROUPS:
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    doc: dict[str, object] = {"kind": "APIResourceList", "groupVersion": f"{name}/v1" if name else "v1",
                              "resources": [r.discovery() for r in RESOURCES if r.group == name]}
    if name:
        doc["apiVersion"] = "v1"
    return Response(200, doc)
