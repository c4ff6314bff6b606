"""The 2.x URL table: (method, pattern) -> handler for v3, the Kubernetes proxy and Steve."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum

from rancher_deploy.simulator.rancher2 import discovery, kubeapi, steve, subscribe, v3, v3_workloads
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.releases import RELEASES, has_steve
from rancher_deploy.simulator.wire import Response, Route

Handler = Callable[[Call], Response]
# Steve serves /v1 only from 2.5 on (§7): its rows exist only in those releases.
STEVE_RELEASES: frozenset[str] = frozenset(v for v in RELEASES if has_steve(v))


class Surface(str, Enum):
    """Which API a path belongs to: decides the error body."""

    V3 = "v3"
    K8S = "k8s"
    STEVE = "steve"


_PROJECT = r"(?P<project>[^/:]+:[^/]+)"
_WORKLOADS = r"(?P<collection>workloads|deployments|statefulsets|daemonsets|cronjobs)"
_ID = r"(?P<id>[^/]+)"
_K8S = r"/k8s/clusters/(?P<cluster>[^/]+)"
_NS = r"namespaces/(?P<namespace>[^/]+)"
_RES = r"(?P<resource>[a-z]+)"
_NAME = r"(?P<name>[^/]+)"
# The core group at /api/v1, named groups at /apis/<group>/<version> (resources.py says which exist
# and which Kubernetes releases serve a version: batch/v1beta1 CronJobs before 1.21).
_VERSION = r"(?P<version>v1(?:beta1)?)"
_API = rf"(?:api/v1|apis/(?P<group>[a-z.]+)/{_VERSION})"
_STEVE = r"(?P<type>[a-z]+(?:\.[a-z]+)?)"


def _r(method: str, pattern: str, handler: Handler, versions: frozenset[str] | None = None) -> Route[Handler]:
    return Route(method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler, versions)


ROUTES: tuple[Route[Handler], ...] = (
    # v3 management
    _r("GET", "/v3", v3.v3_root),
    _r("GET", "/v3/schemas", v3.v3_schemas),
    _r("GET", "/v3/(?:cluster|clusters)/schemas", v3.v3_cluster_schemas),
    _r("GET", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/schemas", v3.v3_cluster_schemas),
    _r("GET", "/v3/projects?/schemas", v3_workloads.project_schemas_handler),
    _r("GET", "/v3/clusters", v3.list_clusters),
    _r("GET", "/v3/clusters/(?P<cluster>[^/]+)", v3.get_cluster),
    _r("GET", "/v3/settings/(?P<setting>[^/]+)", v3.get_setting),
    _r("GET", "/v3/subscribe", subscribe.management_subscribe),
    _r("GET", "/v3/projects", v3.list_projects),
    _r("POST", "/v3/projects", v3.create_project),
    _r("GET", f"/v3/projects/{_PROJECT}", v3.get_project),
    _r("GET", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces", v3.list_namespaces),
    _r("POST", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces", v3.create_namespace),
    _r("GET", "/v3/(?:cluster|clusters)/(?P<cluster>[^/]+)/namespaces/(?P<name>[^/]+)", v3.get_namespace),
    # v3 project sub-context
    _r("GET", f"/v3/project/{_PROJECT}", v3_workloads.project_root),
    _r("GET", f"/v3/projects?/{_PROJECT}/schemas", v3_workloads.project_schemas_handler),
    _r("GET", f"/v3/projects?/{_PROJECT}/schemas/(?P<schema>[^/]+)", v3_workloads.get_project_schema),
    _r("GET", f"/v3/project/{_PROJECT}/subscribe", subscribe.project_subscribe),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}", v3_workloads.list_workloads),
    _r("POST", f"/v3/project/{_PROJECT}/{_WORKLOADS}", v3_workloads.create_workload),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", v3_workloads.get_workload),
    _r("PUT", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", v3_workloads.update_workload),
    _r("DELETE", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", v3_workloads.remove_workload),
    _r("POST", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}", v3_workloads.workload_action),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}/revisions", v3_workloads.workload_revisions),
    _r("GET", f"/v3/project/{_PROJECT}/{_WORKLOADS}/{_ID}/yaml", v3_workloads.workload_yaml),
    _r("GET", f"/v3/project/{_PROJECT}/replicasets", v3_workloads.list_replicasets),
    _r("GET", f"/v3/project/{_PROJECT}/replicasets/{_ID}", v3_workloads.get_replicaset),
    # Kubernetes proxy: discovery, then the resources
    _r("GET", f"{_K8S}/version", discovery.k8s_version),
    _r("GET", f"{_K8S}/api", discovery.core_versions),
    _r("GET", f"{_K8S}/api/v1", discovery.resource_list),
    _r("GET", f"{_K8S}/apis", discovery.group_list),
    _r("GET", f"{_K8S}/apis/(?P<group>[a-z.]+)", discovery.group),
    _r("GET", f"{_K8S}/apis/(?P<group>[a-z.]+)/{_VERSION}", discovery.resource_list),
    _r("GET", f"{_K8S}/{_API}/{_RES}", kubeapi.list_objects),
    _r("GET", f"{_K8S}/{_API}/{_NS}/{_RES}", kubeapi.list_objects),
    _r("POST", f"{_K8S}/{_API}/{_NS}/{_RES}", kubeapi.create_object),
    _r("GET", f"{_K8S}/{_API}/watch/{_NS}/{_RES}/{_NAME}", kubeapi.watch_object),
    _r("GET", f"{_K8S}/{_API}/{_RES}/{_NAME}", kubeapi.get_object),
    _r("GET", f"{_K8S}/{_API}/{_NS}/{_RES}/{_NAME}", kubeapi.get_object),
    _r("PUT", f"{_K8S}/{_API}/{_NS}/{_RES}/{_NAME}", kubeapi.put_object),
    _r("PATCH", f"{_K8S}/{_API}/{_NS}/{_RES}/{_NAME}", kubeapi.patch_object),
    _r("DELETE", f"{_K8S}/{_API}/{_NS}/{_RES}/{_NAME}", kubeapi.delete_object),
    # Steve, at /v1 for the local cluster and under the proxy for any
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}", steve.steve_list, STEVE_RELEASES),
    _r("POST", f"(?:{_K8S})?/v1/{_STEVE}", steve.steve_create, STEVE_RELEASES),
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)", steve.steve_list, STEVE_RELEASES),
    _r("GET", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", steve.steve_get, STEVE_RELEASES),
    _r("PUT", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", steve.steve_put, STEVE_RELEASES),
    _r("PATCH", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", steve.steve_patch, STEVE_RELEASES),
    _r("DELETE", f"(?:{_K8S})?/v1/{_STEVE}/(?P<namespace>[^/]+)/(?P<name>[^/]+)", steve.steve_delete, STEVE_RELEASES),
)


def surface_of(path: str) -> Surface:
    if path.startswith("/k8s/"):
        return Surface.STEVE if "/v1/" in path and "/apis/" not in path and "/api/" not in path else Surface.K8S
    if path == "/v1" or path.startswith("/v1/"):
        return Surface.STEVE
    return Surface.V3
