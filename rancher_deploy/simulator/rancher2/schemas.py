"""The v3 schema documents: the project (workload) and management types Norman serves at /schemas."""

from __future__ import annotations

from rancher_deploy.simulator.rancher2.cluster import (
    CLUSTER_ID,
)
from rancher_deploy.simulator.rancher2.listing import filters_of
from rancher_deploy.simulator.rancher2.releases import has_redeploy
from rancher_deploy.simulator.rancher2.workloads.objects import JSON


PROJECT_VERSION: JSON = {"group": "project.cattle.io", "path": "/v3/project", "version": "v3"}
CLUSTER_VERSION: JSON = {"group": "cluster.cattle.io", "path": "/v3/cluster", "version": "v3"}


def _schema(schema_id: str, base: str, plural: str, *, collection_methods: list[str], resource_methods: list[str],
            fields: dict[str, str], actions: dict[str, JSON] | None = None, version: JSON = PROJECT_VERSION) -> JSON:
    return {
        "id": schema_id,
        "type": "schema",
        "links": {"self": f"{base}/schemas/{schema_id.lower()}", "collection": f"{base}/{plural}"},
        "pluralName": plural,
        "collectionMethods": collection_methods,
        "resourceMethods": resource_methods,
        "resourceActions": actions or {},
        "collectionActions": {},
        "collectionFilters": {name: {"modifiers": list(modifiers)} for name, modifiers in filters_of(fields).items()},
        "resourceFields": {name: {"type": kind, "nullable": True} for name, kind in fields.items()},
        "version": dict(version),
    }


WORKLOAD_FIELDS = {
    "id": "string", "name": "string", "namespaceId": "reference[namespace]", "projectId": "reference[project]", "scale": "int",
    "paused": "boolean", "containers": "array[container]", "labels": "map[string]", "annotations": "map[string]",
    "workloadLabels": "map[string]", "workloadAnnotations": "map[string]", "state": "string",
    "transitioning": "enum", "transitioningMessage": "string", "created": "date", "uuid": "string",
    "selector": "labelSelector", "volumes": "array[volume]", "scheduling": "scheduling",
}


def project_schemas(base: str, version: str) -> list[JSON]:
    """The project's schemas on Rancher ``version``: `redeploy` only from 2.4 on (releases.has_redeploy)."""
    crud = (["GET", "POST"], ["GET", "PUT", "DELETE"])
    redeploy: JSON = {"redeploy": {}} if has_redeploy(version) else {}
    rollback_actions = {**redeploy, "pause": {}, "resume": {}, "rollback": {"input": "rollbackRevision"}}
    schemas = [
        _schema("workload", base, "workloads", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "deploymentConfig": "deploymentConfig", "deploymentStatus": "deploymentStatus"},
                actions=rollback_actions),
        _schema("deployment", base, "deployments", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "deploymentConfig": "deploymentConfig", "deploymentStatus": "deploymentStatus"},
                actions={**rollback_actions, "rollback": {"input": "deploymentRollbackInput"}}),
        _schema("statefulSet", base, "statefulsets", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "statefulSetConfig": "statefulSetConfig", "statefulSetStatus": "statefulSetStatus"},
                actions=redeploy),
        _schema("daemonSet", base, "daemonsets", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "daemonSetConfig": "daemonSetConfig", "daemonSetStatus": "daemonSetStatus"},
                actions=redeploy),
        _schema("cronJob", base, "cronjobs", collection_methods=crud[0], resource_methods=crud[1],
                fields={**WORKLOAD_FIELDS, "cronJobConfig": "cronJobConfig", "cronJobStatus": "cronJobStatus"},
                actions=redeploy),
        _schema("replicaSet", base, "replicasets", collection_methods=["GET"], resource_methods=["GET", "PUT", "DELETE"],
                fields=WORKLOAD_FIELDS, actions=redeploy),
        subscribe_schema(base),
    ]
    for nested in ("container", "containerPort", "deploymentConfig", "deploymentStatus", "deploymentCondition",
                   "deploymentRollbackInput", "rollbackRevision", "labelSelector", "statefulSetStatus",
                   "daemonSetStatus", "replicaSetStatus", "ownerReference"):
        schemas.append({
            "id": nested, "type": "schema", "links": {"self": f"{base}/schemas/{nested.lower()}"},
            "pluralName": nested + "s", "collectionMethods": [], "resourceMethods": [],
            "resourceFields": {"replicaSetId": {"type": "reference[replicaSet]"}} if nested == "deploymentRollbackInput" else {},
            "version": {"group": "project.cattle.io", "path": "/v3/project", "version": "v3"},
        })
    return schemas


MANAGEMENT_FIELDS: dict[str, dict[str, str]] = {
    "cluster": {"id": "string", "name": "string", "state": "string"},
    "project": {"id": "string", "name": "string", "clusterId": "reference[cluster]", "state": "string"},
    "namespace": {"id": "string", "name": "string", "projectId": "reference[project]"},
}


def subscribe_schema(base: str, version: JSON = PROJECT_VERSION) -> JSON:
    """Norman's `subscribe` type, registered for each API version (pkg/subscribe/register.go): GET on
    its collection is the websocket (`subscribe.py`); no store, so never one of the types watched."""
    return _schema("subscribe", base, "subscribe", collection_methods=["GET"], resource_methods=[], fields={},
                   version=version)


def cluster_schemas(base: str) -> list[JSON]:
    """The cluster sub-context's schemas (`/v3/cluster[/<id>]/schemas`, what a cluster's
    ``X-Api-Schemas`` names): of its types, the simulator serves namespaces."""
    return [
        subscribe_schema(base, CLUSTER_VERSION),
        _schema("namespace", base, "namespaces", collection_methods=["GET", "POST"],
                resource_methods=["GET", "PUT", "DELETE"], fields=MANAGEMENT_FIELDS["namespace"], version=CLUSTER_VERSION),
    ]


def management_schemas(base: str) -> list[JSON]:
    return [
        subscribe_schema(base),
        _schema("cluster", base, "clusters", collection_methods=["GET"], resource_methods=["GET"],
                fields=MANAGEMENT_FIELDS["cluster"]),
        _schema("project", base, "projects", collection_methods=["GET", "POST"], resource_methods=["GET", "PUT", "DELETE"],
                fields=MANAGEMENT_FIELDS["project"]),
        _schema("namespace", f"{base}/cluster/{CLUSTER_ID}", "namespaces", collection_methods=["GET", "POST"],
                resource_methods=["GET", "PUT", "DELETE"], fields=MANAGEMENT_FIELDS["namespace"]),
    ]
