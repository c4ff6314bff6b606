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
from rancher_deploy.simulator.rancher2.resources import GROUPS, RESOURCES, group_versions
from rancher_deploy.simulator.wire import Response

# What a proxied apiserver reports as its own address (ignored by clients that came through Rancher).
APISERVER_ADDRESS = "127.0.0.1:6443"


def check_cluster(call: Call) -> None:
    """Only cluster `local` exists: any other id is Rancher's own 404."""
    if call.match.get("cluster", "local") != "local":
        raise KubeError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')


def k8s_version(call: Call) -> Response:
    check_cluster(call)
    minor, git = call.cluster.kubernetes
    return Response(200, {"major": "1", "minor": str(minor), "gitVersion": git, "gitCommit": "0" * 40,
                          "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21",
                          "compiler": "gc", "platform": "linux/amd64"})


def core_versions(call: Call) -> Response:
    """GET /api: APIVersions (the legacy group)."""
    check_cluster(call)
    return Response(200, {"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                          "serverAddress": APISERVER_ADDRESS}]})


def _group(name: str, kube_minor: int) -> dict[str, object]:
    """A group's versions as this cluster's Kubernetes release serves them (batch: v1 from 1.21,
    v1beta1 up to 1.24), the preferred one first, as the apiserver's discovery lists them."""
    versions = [{"groupVersion": f"{name}/{version}", "version": version}
                for version in group_versions(name, kube_minor)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_list(call: Call) -> Response:
    """GET /apis: APIGroupList."""
    check_cluster(call)
    kube_minor = call.cluster.kubernetes[0]
    return Response(200, {"kind": "APIGroupList", "apiVersion": "v1",
                          "groups": [_group(g, kube_minor) for g in GROUPS]})


def group(call: Call) -> Response:
    """GET /apis/<group>: APIGroup."""
    check_cluster(call)
    name = call.match["group"]
    if name not in GROUPS:
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return Response(200, {"kind": "APIGroup", "apiVersion": "v1", **_group(name, call.cluster.kubernetes[0])})


def resource_list(call: Call) -> Response:
    """GET /api/v1 or /apis/<group>/<version>: APIResourceList (404 for a version not served)."""
    check_cluster(call)
    name = call.match.get("group", "")
    version = call.match.get("version", "v1")
    kube_minor = call.cluster.kubernetes[0]
    if (name and name not in GROUPS) or (name and version not in group_versions(name, kube_minor)):
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    doc: dict[str, object] = {"kind": "APIResourceList", "groupVersion": f"{name}/{version}" if name else "v1",
                              "resources": [r.discovery() for r in RESOURCES
                                            if r.group == name and version in r.served(kube_minor)]}
    if name:
        doc["apiVersion"] = "v1"
    return Response(200, doc)
