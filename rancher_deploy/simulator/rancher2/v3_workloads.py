"""v3 (Norman) handlers for project workloads: CRUD, actions (redeploy, pause, resume, rollback), history, ReplicaSets."""

from __future__ import annotations

import copy
from collections.abc import Callable

from rancher_deploy.simulator.rancher2 import listing
from rancher_deploy.simulator.rancher2.call import Call
from rancher_deploy.simulator.rancher2.cluster import (
    WORKLOAD_SELECTOR,
)
from rancher_deploy.simulator.rancher2.errors import KubeError, NormanError, not_found
from rancher_deploy.simulator.rancher2.norman import (
    COLLECTION_KINDS,
    V3_TYPES,
    WRITABLE,
    apply_v3,
    iso_time,
    merge_protected,
    merge_v3,
    replicaset_to_v3,
    validate_containers,
    workload_to_v3,
)
from rancher_deploy.simulator.rancher2.environment import refuse_deprecated
from rancher_deploy.simulator.rancher2.kubeapi import check_selector
from rancher_deploy.simulator.rancher2.releases import maps_environment
from rancher_deploy.simulator.rancher2.schemas import WORKLOAD_FIELDS, project_schemas
from rancher_deploy.simulator.rancher2.v3 import (
    api_root,
    collection,
    schemas_response,
    scoped_project,
)
from rancher_deploy.simulator.rancher2.workloads import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import JSON, KINDS
from rancher_deploy.simulator.wire import Response


def _base(call: Call) -> str:
    return f"{call.root}/v3/project/{call.match['project']}"


def render(call: Call, workload: Workload) -> JSON:
    pid = call.cluster.project_of(workload) or call.match["project"]
    return workload_to_v3(workload, pid, call.cluster.to_k8s(workload), _base(call), call.version)


def _kind_of(call: Call) -> str | None:
    return COLLECTION_KINDS[call.match["collection"].lower()]


def _not_found(call: Call) -> NormanError:
    """Norman's wording for an id it cannot look up (api/validate.go ValidateAction): the type is the
    schema's id (`workload`, `statefulSet`), which norman's parse sets as the request's type, not the
    collection's name in the path."""
    kind = _kind_of(call)
    schema_id = "workload" if kind is None else V3_TYPES[kind]
    return NormanError(404, "NotFound", f"Failed to find type: {schema_id} id: {call.match['id']}")


def _find(call: Call) -> Workload:
    """The workload named by a v3 id in this project; the collection's kind must match the id's."""
    project = scoped_project(call)
    parts = call.match["id"].split(":", 2)
    kind = _kind_of(call)
    if len(parts) != 3 or parts[0] not in KINDS or (kind is not None and parts[0] != kind):
        raise _not_found(call)
    try:
        workload = call.cluster.workload(parts[0], parts[1], parts[2])
    except KubeError as err:
        raise NormanError(404, "NotFound", err.message) from None
    if call.cluster.project_of(workload) != project.id:
        raise NormanError(404, "NotFound", not_found(KINDS[parts[0]], parts[2]).message)
    return workload


def project_root(call: Call) -> Response:
    scoped_project(call)
    return api_root(call, _base(call), list(COLLECTION_KINDS) + ["replicasets"], "project.cattle.io", "/v3/project")


def project_schemas_handler(call: Call) -> Response:
    """A project's schemas; without a project (`/v3/project/schemas`, what `/v3/projects` names in
    its ``X-Api-Schemas``) the same types with links outside any project, as norman builds them."""
    if "project" not in call.match:
        return schemas_response(call, project_schemas(f"{call.root}/v3/project", call.version))
    scoped_project(call)
    return schemas_response(call, project_schemas(_base(call), call.version))


def get_project_schema(call: Call) -> Response:
    scoped_project(call)
    for schema in project_schemas(_base(call), call.version):
        if schema["id"].lower() == call.match["schema"].lower():
            return Response(200, schema)
    raise NormanError(404, "NotFound", "Not Found")


def list_workloads(call: Call) -> Response:
    project = scoped_project(call)
    kind = _kind_of(call)
    workloads = {w.v3_id: w for w in call.cluster.workloads_in(project.id, kind=kind)}
    resource_type = "workload" if kind is None else V3_TYPES[kind]
    create_types = {V3_TYPES[k]: f"{_base(call)}/{k}s" for k in KINDS}
    filters = listing.filters_of(WORKLOAD_FIELDS)
    fields = {c.field for c in listing.conditions(call.params, filters)} | {call.param("sort") or "id"}
    if fields <= set(_IDENTITY):
        # What filters, sorts and pages the list is known without rendering each workload: render only
        # the page (the same answer, without a thousand renders for a list of thousands).
        identities = [dict(zip(_IDENTITY, (w.v3_id, w.name, w.namespace))) for w in workloads.values()]
        response = collection(call, identities, resource_type, create_types, WORKLOAD_FIELDS)
        response.body["data"] = [render(call, workloads[str(item["id"])]) for item in response.body["data"]]
        return response
    data = [render(call, w) for w in workloads.values()]
    return collection(call, data, resource_type, create_types, WORKLOAD_FIELDS)


_IDENTITY = ("id", "name", "namespaceId")


def get_workload(call: Call) -> Response:
    return Response(200, render(call, _find(call)))


def create_workload(call: Call) -> Response:
    project = scoped_project(call)
    body = call.norman_body()
    kind = _kind_of(call) or str(body.get("type") or "deployment").lower()
    if kind not in KINDS:
        raise NormanError(422, "InvalidType", f"Invalid type {body.get('type')}")
    name = str(body.get("name") or "")
    namespace = str(body.get("namespaceId") or "")
    if not name:
        raise NormanError(422, "MissingRequired", "name is required", "name")
    if not namespace:
        raise NormanError(422, "MissingRequired", "namespaceId is required", "namespaceId")
    ns = call.cluster.namespaces.get(namespace)
    if ns is None or ns.project_id != project.id:
        raise NormanError(422, "InvalidReference", f"Invalid namespaceId {namespace}", "namespaceId")
    validate_containers(body)
    if not maps_environment(call.version):
        refuse_deprecated(body)
    selector = f"{kind}-{namespace}-{name}"
    spec: JSON = {"selector": {"matchLabels": {WORKLOAD_SELECTOR: selector}},
                  "template": {"metadata": {"labels": {WORKLOAD_SELECTOR: selector}}, "spec": {}}}
    if kind == "cronjob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": spec["template"]}}}
    # Replicas, strategy and the rest left unset are the apiserver's defaults (Cluster.create_workload).
    view = {k: v for k, v in body.items() if k in WRITABLE}
    view["labels"] = {**(view.get("labels") or {}), WORKLOAD_SELECTOR: selector}
    spec = apply_v3(kind, spec, view, call.version)
    labels = {"cattle.io/creator": "norman", WORKLOAD_SELECTOR: selector, **(body.get("workloadLabels") or {})}
    annotations = dict(body.get("workloadAnnotations") or {})
    try:
        workload = call.cluster.create_workload(kind, namespace, name, spec, labels, annotations)
    except KubeError as err:
        raise NormanError.from_kube(err) from None
    return Response(201, render(call, workload))


def update_workload(call: Call) -> Response:
    """PUT: what was sent merged into the live object (rancher-api.md §5.3; norman
    store/proxy/proxy_store.go Update maps only the body's fields and merges them with
    merge.APIUpdateMerge), so a field not sent keeps its value and a sent one is written through
    Rancher's mappers, the environment mapper of 2.5 and before included."""
    workload = _find(call)
    body = call.norman_body()
    if not maps_environment(call.version):
        refuse_deprecated(body)
    current = {k: v for k, v in render(call, workload).items() if k in WRITABLE}
    sent = {k: v for k, v in body.items() if k in WRITABLE}
    if call.param("_replace") == "true":
        merged = {**current, **sent}
    else:
        merged = {k: v for k, v in merge_v3(current, sent).items() if k in sent}
    if "containers" in sent:
        validate_containers(merged)
    spec = apply_v3(workload.kind, workload.spec, merged, call.version)
    check_selector(workload.kind, workload.name, spec)
    call.cluster.replace_spec(workload, spec, merge_protected(workload.labels, sent.get("workloadLabels")),
                              merge_protected(workload.annotations, sent.get("workloadAnnotations")))
    return Response(200, render(call, workload))


def remove_workload(call: Call) -> Response:
    workload = _find(call)
    doc = render(call, workload)
    call.cluster.remove_workload(workload)
    doc["state"] = "removing"
    doc["transitioning"] = "yes"
    return Response(200, doc)


def workload_action(call: Call) -> Response:
    try:
        workload = _find(call)
    except NormanError as err:
        # Norman validates an action's target before the store runs (api/validate.go), so an
        # unknown id gets its own wording rather than Kubernetes' "not found".
        if err.status != 404:
            raise
        raise _not_found(call) from None
    action = call.param("action")
    available = render(call, workload)["actions"]
    if action is None:
        raise NormanError(405, "MethodNotAllow", "Method POST not supported")
    if action not in available:
        raise NormanError(422, "InvalidAction", f"Invalid action: {action}")
    handler = ACTIONS[action]
    handler(call, workload)
    return Response(200, None, raw=b"")


def _redeploy(call: Call, workload: Workload) -> None:
    spec = copy.deepcopy(workload.spec)
    template = spec.get("template") if workload.kind != "cronjob" else spec["jobTemplate"]["spec"]["template"]
    assert isinstance(template, dict)
    stamp = iso_time(call.cluster.wall(call.cluster.now()))
    template.setdefault("metadata", {}).setdefault("annotations", {})["cattle.io/timestamp"] = stamp
    call.cluster.replace_spec(workload, spec)


def _set_paused(workload: Workload, call: Call, paused: bool) -> None:
    spec = copy.deepcopy(workload.spec)
    if paused:
        spec["paused"] = True
    else:
        spec.pop("paused", None)
    call.cluster.replace_spec(workload, spec)


def _pause(call: Call, workload: Workload) -> None:
    if workload.spec.get("paused"):
        raise NormanError(422, "InvalidAction", f"Deployment {workload.v3_id} already paused")
    _set_paused(workload, call, True)


def _resume(call: Call, workload: Workload) -> None:
    if not workload.spec.get("paused"):
        raise NormanError(422, "InvalidAction", f"Pause deployment {workload.v3_id} before resume")
    _set_paused(workload, call, False)


def _rollback(call: Call, workload: Workload) -> None:
    # rancher workload.go rollbackDeployment (apps/v1): the input's replicaSetId names a ReplicaSet
    # whose pod spec is copied into the Deployment; the declared rollbackRevision input is ignored.
    body = call.body_json()
    rs_id = str((body or {}).get("replicaSetId") or "") if isinstance(body, dict) else ""
    split = rs_id.split(":", 2)
    if len(split) != 3 or split[0] != "replicaset":
        raise NormanError(500, "ServerError", f"Invalid ReplicaSet {rs_id}")
    if split[1] != workload.namespace:
        raise NormanError(500, "ServerError", f"ReplicaSet {rs_id} not found for deployment {workload.v3_id}")
    try:
        call.cluster.rollback(workload, split[2])
    except KeyError:
        raise NormanError(500, "ServerError", f"ReplicaSet {rs_id} not found for deployment {workload.v3_id}") from None


ACTIONS: dict[str, Callable[[Call, Workload], None]] = {
    "redeploy": _redeploy,
    "pause": _pause,
    "resume": _resume,
    "rollback": _rollback,
}


def workload_revisions(call: Call) -> Response:
    workload = _find(call)
    if workload.kind != "deployment":
        raise NormanError(404, "NotFound", "Link not found")
    pid = call.cluster.project_of(workload) or ""
    data = [replicaset_to_v3(workload, rs, pid, _base(call), call.version)
            for rs in call.cluster.revisions_to_k8s(workload)]
    # rancher's revisions link handler writes the list itself: no filters, sort or pages applied.
    return collection(call, data, "replicaSet", fields=WORKLOAD_FIELDS, paged=False)


def workload_yaml(call: Call) -> Response:
    workload = _find(call)
    return Response(200, call.cluster.to_k8s(workload))


def list_replicasets(call: Call) -> Response:
    project = scoped_project(call)
    data: list[JSON] = []
    for workload in call.cluster.workloads_in(project.id, kind="deployment"):
        data.extend(replicaset_to_v3(workload, rs, project.id, _base(call), call.version)
                    for rs in call.cluster.revisions_to_k8s(workload))
    return collection(call, data, "replicaSet", fields=WORKLOAD_FIELDS)


def get_replicaset(call: Call) -> Response:
    project = scoped_project(call)
    for workload in call.cluster.workloads_in(project.id, kind="deployment"):
        for rs in call.cluster.revisions_to_k8s(workload):
            doc = replicaset_to_v3(workload, rs, project.id, _base(call), call.version)
            if doc["id"] == call.match["id"]:
                return Response(200, doc)
    raise NormanError(404, "NotFound", f'replicasets.apps "{call.match["id"].split(":")[-1]}" not found')
