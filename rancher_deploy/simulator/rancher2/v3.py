"""v3 (Norman) handlers for the API roots, schemas, clusters, projects and namespaces, and Norman collections."""

from __future__ import annotations

from rancher_deploy.simulator.rancher2 import listing
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import (
    CLUSTER_ID,
    Namespace,
    Project2,
)
from rancher_deploy.simulator.rancher2.errors import NormanError
from rancher_deploy.simulator.rancher2.norman import created_ts, iso_time
from rancher_deploy.simulator.rancher2.releases import RELEASES
from rancher_deploy.simulator.rancher2.schemas import MANAGEMENT_FIELDS, cluster_schemas, management_schemas
from rancher_deploy.simulator.rancher2.workloads.objects import JSON
from rancher_deploy.simulator.wire import Response


def collection(call: Call, data: list[JSON], resource_type: str, create_types: dict[str, str] | None = None,
               fields: dict[str, str] | None = None, *, paged: bool = True) -> Response:
    """A Norman collection of ``data``, filtered, sorted and paged as norman's store wrapper does
    (listing.py) by the collection filters of a schema with ``fields``; a link's list (``paged``
    False: a workload's revisions, written by its link handler) is shown whole."""
    url = f"{call.root}{call.http.path}"
    filters = listing.filters_of(fields or {})
    if paged:
        data, pagination, shown, sort = listing.page(data, call.params, filters, url)
    else:
        pagination, shown = {"limit": listing.limit_of(call.param("limit"))}, {name: None for name in filters}
        sort = {"order": "asc", "reverse": f"{url}?order=desc"}
    doc: JSON = {
        "type": "collection",
        "links": {"self": url},
        "createTypes": create_types or {},
        "actions": {},
        "pagination": pagination,
        "sort": sort,
        "filters": shown,
        "resourceType": resource_type,
        "data": data,
    }
    return Response(200, doc)


def schemas_response(call: Call, schemas: list[JSON]) -> Response:
    return collection(call, schemas, "schema")


# The sub-context API versions Rancher registers beside the management one at `/v3` (rancher
# pkg/schemas: cluster.cattle.io at `/v3/cluster`, project.cattle.io at `/v3/project`, both
# `SubContext: true`).
SUB_CONTEXT_VERSIONS = ("/v3/cluster", "/v3/project")


def schemas_url(root: str, path: str) -> str:
    """The ``X-Api-Schemas`` of a v3 answer to ``path``: the schemas of the API version and
    sub-context norman parsed the path into (rancher/norman parse/parse.go
    parseVersionAndSubContext, api/writer/headers.go addSchemasHeader, urlbuilder/url.go
    constructBasicURL). `/v3/project/<p>/workloads` and `/v3/projects/<p>` name
    `/v3/project/<p>/schemas`, `/v3/clusters/<c>` `/v3/cluster/<c>/schemas`, the bare lists
    `/v3/clusters` and `/v3/projects` the sub-context's own `/v3/cluster/schemas` and
    `/v3/project/schemas`; anything else under `/v3` is the management version's `/v3/schemas`.
    """
    path = path.rstrip("/")
    for version in SUB_CONTEXT_VERSIONS:
        after = path[len(version):]
        # versionsForPath: `/v3/cluster` also takes `/v3/clusters…`, not `/v3/clusterstuff`.
        if path.startswith(version) and (len(after) < 3 or "/" in after[:3]):
            break
    else:
        return f"{root}/v3/schemas"
    parts = path.split("/")[3:]  # what follows `/v3/<cluster|clusters|project|projects>`
    if parts[:1] in (["schema"], ["schemas"]) or not parts:
        return f"{root}{version}/schemas"
    # `/v3/projects/<p>` (one part: SchemasVersion is the version with the id appended) and
    # `/v3/project/<p>/<type>` (the sub-context prefix) name the same URL.
    return f"{root}{version}/{parts[0]}/schemas"


def api_root(call: Call, base: str, collections: list[str], group: str, path: str) -> Response:
    links: JSON = {"root": f"{call.root}/v3", "self": base, "schemas": f"{base}/schemas"}
    for name in collections:
        links[name] = f"{base}/{name}"
    doc: JSON = {
        "apiVersion": {"group": group, "path": path, "version": "v3"},
        "baseType": "apiRoot",
        "id": "v3",
        "links": links,
        "type": "apiRoot",
        "actions": {},
    }
    return Response(200, doc)


# --------------------------------------------------------------------------------------------------
# Management: clusters, projects, namespaces


def cluster_doc(call: Call) -> JSON:
    link = f"{call.root}/v3/clusters/{CLUSTER_ID}"
    return {
        "id": CLUSTER_ID, "type": "cluster", "baseType": "cluster", "name": CLUSTER_ID, "state": "active",
        "transitioning": "no", "transitioningMessage": "", "internal": True, "driver": "imported",
        "links": {"self": link, "projects": f"{call.root}/v3/projects?clusterId={CLUSTER_ID}",
                  "namespaces": f"{call.root}/v3/cluster/{CLUSTER_ID}/namespaces"},
        "actions": {},
    }


def project_doc(call: Call, project: Project2) -> JSON:
    link = f"{call.root}/v3/projects/{project.id}"
    sub = f"{call.root}/v3/project/{project.id}"
    created = iso_time(call.cluster.wall(project.created))
    links: JSON = {"self": link, "update": link, "remove": link, "schemas": f"{sub}/schemas"}
    for name in ("workloads", "deployments", "statefulSets", "daemonSets", "cronJobs", "replicaSets"):
        links[name] = f"{sub}/{name.lower()}"
    return {
        "id": project.id, "type": "project", "baseType": "project", "name": project.name, "clusterId": CLUSTER_ID,
        "namespaceId": CLUSTER_ID, "state": "active", "transitioning": "no", "transitioningMessage": "",
        "created": created, "createdTS": created_ts(created), "uuid": project.short_id, "links": links, "actions": {},
    }


def namespace_doc(call: Call, ns: Namespace) -> JSON:
    link = f"{call.root}/v3/cluster/{CLUSTER_ID}/namespaces/{ns.name}"
    created = iso_time(call.cluster.wall(ns.created))
    return {
        "id": ns.name, "type": "namespace", "baseType": "namespace", "name": ns.name, "projectId": ns.project_id,
        "clusterId": CLUSTER_ID, "state": "active", "transitioning": "no", "transitioningMessage": "",
        "created": created, "createdTS": created_ts(created), "uuid": ns.uid,
        "links": {"self": link, "update": link, "remove": link}, "actions": {},
    }


def v3_root(call: Call) -> Response:
    return api_root(call, f"{call.root}/v3", ["clusters", "projects"], "management.cattle.io", "/v3")


def v3_schemas(call: Call) -> Response:
    return schemas_response(call, management_schemas(f"{call.root}/v3"))


def v3_cluster_schemas(call: Call) -> Response:
    """`/v3/cluster/schemas` and `/v3/cluster/<id>/schemas`: the URLs a cluster's answers name."""
    if "cluster" not in call.match:
        return schemas_response(call, cluster_schemas(f"{call.root}/v3/cluster"))
    _cluster(call)
    return schemas_response(call, cluster_schemas(f"{call.root}/v3/cluster/{call.match['cluster']}"))


def list_clusters(call: Call) -> Response:
    return collection(call, [cluster_doc(call)], "cluster", fields=MANAGEMENT_FIELDS["cluster"])


def get_cluster(call: Call) -> Response:
    if call.match["cluster"] != CLUSTER_ID:
        raise NormanError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')
    return Response(200, cluster_doc(call))


def get_setting(call: Call) -> Response:
    """`GET /v3/settings/server-version`: how every 2.x tells its release to an authenticated client.

    Rancher's UI reads it (dashboard shell/config/settings.ts, SETTING.VERSION_RANCHER, adapted from
    rancher/ui's constants); `/rancherversion` only exists from 2.7 (rancher pkg/multiclustermanager
    routes.go), so a client that must know the release of a 2.0-2.6 server asks here.
    """
    name = call.match["setting"]
    if name != "server-version":
        raise NormanError(404, "NotFound", f'settings.management.cattle.io "{name}" not found')
    value = RELEASES[call.version]
    return Response(200, {"id": name, "type": "setting", "name": name, "value": value, "default": "dev",
                          "customized": False, "source": "", "baseType": "setting",
                          "links": {"self": f"{call.root}/v3/settings/{name}"}, "actions": {}})


def list_projects(call: Call) -> Response:
    data = [project_doc(call, p) for p in call.cluster.projects.values()]
    return collection(call, data, "project", {"project": f"{call.root}/v3/projects"}, MANAGEMENT_FIELDS["project"])


def get_project(call: Call) -> Response:
    return Response(200, project_doc(call, scoped_project(call)))


def create_project(call: Call) -> Response:
    body = call.norman_body()
    if not body.get("name"):
        raise NormanError(422, "MissingRequired", "name is required", "name")
    pid = call.cluster.add_project(str(body["name"]))
    return Response(201, project_doc(call, call.cluster.projects[pid]))


def list_namespaces(call: Call) -> Response:
    _cluster(call)
    data = [namespace_doc(call, ns) for ns in call.cluster.namespaces.values()]
    return collection(call, data, "namespace", fields=MANAGEMENT_FIELDS["namespace"])


def get_namespace(call: Call) -> Response:
    _cluster(call)
    return Response(200, namespace_doc(call, call.cluster.namespace(call.match["name"])))


def create_namespace(call: Call) -> Response:
    _cluster(call)
    body = call.norman_body()
    name = str(body.get("name") or "")
    if not name:
        raise NormanError(422, "MissingRequired", "name is required", "name")
    call.cluster.add_namespace(name, body.get("projectId") or None)
    return Response(201, namespace_doc(call, call.cluster.namespace(name)))


def _cluster(call: Call) -> None:
    if call.match.get("cluster", CLUSTER_ID) != CLUSTER_ID:
        raise NormanError(404, "NotFound", f'clusters.management.cattle.io "{call.match["cluster"]}" not found')


def scoped_project(call: Call) -> Project2:
    pid = call.match["project"]
    project = call.cluster.projects.get(pid)
    if project is None:
        raise NormanError(404, "NotFound", f'projects.management.cattle.io "{pid.split(":")[-1]}" not found')
    return project
