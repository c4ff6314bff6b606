"""Per-route functions: authenticate, resolve the project scope, call the store, render JSON.

Order follows cattle's handler chain (rancher-api.md §1.2): authentication first (a bad key gets 401
even on a path that does not exist), then the project check (403), then routing (404/405), then the
operation. Every response names its schemas in ``X-API-Schemas``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from rancher_deploy.simulator.cattle import listing
from rancher_deploy.simulator.cattle import routes
from rancher_deploy.simulator.cattle import schemas
from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.models import (
    JSON,
    Instance,
    Service,
    Stack,
    stack_to_resource,
)
from rancher_deploy.simulator.cattle.store import Principal, Store

RANCHER_VERSIONS: dict[str, str] = {"1.6": "v1.6.30"}
REALM = 'Basic realm="Enter API access key and secret key as username and password"'
SERVICE_CREATE_TYPES = (
    "dnsService",
    "externalService",
    "loadBalancerService",
    "networkDriverService",
    "service",
    "storageDriverService",
)


@dataclass(frozen=True)
class HttpRequest:
    """What the server read off the wire (headers lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    root: str  # scheme://host[:port] as the client addressed us


@dataclass
class Response:
    """What to answer. ``body`` is sent as JSON unless ``raw`` (bytes as they are, e.g. Norman's
    empty action answer) or ``stream`` (chunked, e.g. a Kubernetes watch) is set."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    project_id: str | None = None
    raw: bytes | None = None
    stream: Iterator[bytes] | None = None


@dataclass(frozen=True)
class ApiRequest:
    """A request after authentication and scoping."""

    http: HttpRequest
    who: Principal
    api_version: str
    project_id: str
    scoped: bool  # the path carried /projects/<id>/
    base: str  # version root, project-scoped when the request was: links are built under it
    params: list[tuple[str, str]]

    def body_json(self) -> JSON:
        if not self.http.body.strip():
            return {}
        try:
            doc = json.loads(self.http.body)
        except ValueError:
            raise ApiError(400, "InvalidBodyContent", "Bad Request") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "InvalidBodyContent", "Bad Request")
        return doc

    def action(self) -> str | None:
        for key, value in self.params:
            if key == "action":
                return value
        return None

    def collection_params(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k not in ("action", "projectId")]


Handler = Callable[[ApiRequest, Store, dict[str, str]], Response]


def _credentials(headers: dict[str, str]) -> tuple[str | None, str | None]:
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    access, _, secret = decoded.partition(":")
    return access, secret


def _unauthorized(req: HttpRequest) -> Response:
    headers: dict[str, str] = {}
    if req.headers.get("x-api-no-challenge", "").lower() != "true":
        headers["WWW-Authenticate"] = REALM
    return Response(401, ApiError.http(401).body(), headers)


def handle(store: Store, req: HttpRequest, rancher_version: str) -> Response:
    """The API entry point for one request: never raises, always a Rancher-shaped response."""
    segments = [s for s in req.path.split("/") if s]
    with store.lock:
        store.settle()
        who = store.authenticate(*_credentials(req.headers))
        schemas_url = f"{req.root}/v2-beta/schemas"
        if segments and segments[0] in routes.API_VERSIONS:
            schemas_url = f"{req.root}/{segments[0]}/schemas"
        if who is None:
            response = _unauthorized(req)
            response.headers["X-API-Schemas"] = schemas_url
            response.headers["X-Rancher-Version"] = RANCHER_VERSIONS.get(rancher_version, rancher_version)
            return response
        default_account = who.account_id
        response = _dispatch(store, req, who, segments)
        if segments and segments[0] in routes.API_VERSIONS:
            version = segments[0]
            scoped_pid = response.project_id if _is_scoped(segments) else None
            schemas_url = f"{req.root}/{version}" + (f"/projects/{scoped_pid}" if scoped_pid else "") + "/schemas"
        response.headers.setdefault("X-API-Schemas", schemas_url)
        response.headers["X-Rancher-Version"] = RANCHER_VERSIONS.get(rancher_version, rancher_version)
        # The project the request was scoped to, whether by path, X-API-Project-Id or ?projectId=.
        chosen_by_request = _is_scoped(segments) or bool(req.headers.get("x-api-project-id")) or \
            "projectId=" in req.query
        response.headers["X-Api-Account-Id"] = (
            response.project_id if response.project_id and chosen_by_request else default_account
        )
        response.headers["X-Api-User-Id"] = default_account
        response.headers["X-Api-Account-Kind"] = "project" if who.is_environment_key else "admin"
        return response


def _is_scoped(segments: list[str]) -> bool:
    # /<ver>/projects/<id>/... is a sub-context; /<ver>/projects/<id> answers with a scoped
    # X-API-Schemas too (our deviation, docs/simulator.md) so gdapi pointed at it works.
    return len(segments) >= 3 and segments[1] == "projects"


def _dispatch(store: Store, req: HttpRequest, who: Principal, segments: list[str]) -> Response:
    scope: list[str] = []
    try:
        return _route(store, req, who, segments, scope)
    except ApiError as err:
        return Response(err.status, err.body(), project_id=scope[0] if scope else None)


def _route(store: Store, req: HttpRequest, who: Principal, segments: list[str], scope: list[str]) -> Response:
    """Resolve scope and route; ``scope`` receives the project id once it is known (for the log)."""
    params = parse_qsl(req.query, keep_blank_values=True)
    if not segments:
        return _server_root(req)
    version = segments[0]
    if version not in routes.API_VERSIONS:
        raise not_found()
    requested: str | None = None
    rest = segments[1:]
    scoped = False
    if len(rest) >= 3 and rest[0] == "projects":
        requested, rest, scoped = rest[1], rest[2:], True
    else:
        requested = req.headers.get("x-api-project-id") or dict(params).get("projectId") or None
    project_id = store.project_for(who, requested)
    scope.append(project_id)
    base = f"{req.root}/{version}" + (f"/projects/{project_id}" if scoped else "")
    api = ApiRequest(req, who, version, project_id, scoped, base, params)
    if rest[:1] == ["projects"] and len(rest) == 2 and not scoped:
        # The project resource: also fine to call it with the key of that project.
        response = get_project(api, store, {"id": rest[1]})
        response.project_id = rest[1]
        return response
    found = routes.resolve(req.method, version, "/".join(rest))
    if found is None:
        raise not_found()
    if found == "405":
        raise ApiError.http(405)
    assert isinstance(found, routes.Match)
    response = HANDLERS[found.handler](api, store, found.params)
    response.project_id = project_id
    return response


# --------------------------------------------------------------------------------------------------
# Rendering helpers


def _unhealthy(store: Store) -> Callable[[Instance], bool]:
    return store.unhealthy


def render_service(api: ApiRequest, store: Store, svc: Service) -> JSON:
    return svc.to_resource(api.base, api.api_version, store.now(), store.wall, _unhealthy(store))


def render_stack(api: ApiRequest, store: Store, stack: Stack) -> JSON:
    ids = [s.id for s in store.list_services(stack.project_id) if s.stack_id == stack.id and s.state != "removed"]
    return stack_to_resource(stack, api.base, api.api_version, store.wall, ids)


def render_instance(api: ApiRequest, store: Store, inst: Instance) -> JSON:
    return inst.to_resource(api.base, api.api_version, store.now(), store.wall, store.unhealthy(inst))


def _collection(
    api: ApiRequest,
    resources: list[JSON],
    resource_type: str,
    schema_id: str,
    create_types: dict[str, str] | None = None,
) -> Response:
    path = api.http.path.rstrip("/")
    doc = listing.build_collection(
        resources=resources,
        resource_type=resource_type,
        url_base=f"{api.http.root}{path}",
        params=api.collection_params(),
        filterable=schemas.filters_for(api.api_version, schema_id),
        create_types=create_types or {},
    )
    return Response(200, doc)


def _stack_names(api: ApiRequest) -> tuple[str, str]:
    return ("environment", "environments") if api.api_version == "v1" else ("stack", "stacks")


# --------------------------------------------------------------------------------------------------
# Roots and schemas


def _server_root(req: HttpRequest) -> Response:
    data = [_version_doc(req.root, v, f"{req.root}/{v}") for v in routes.API_VERSIONS]
    doc = {
        "type": "collection",
        "resourceType": "apiVersion",
        "links": {"self": f"{req.root}/"},
        "createTypes": {},
        "actions": {},
        "data": data,
        "sortLinks": {},
        "pagination": None,
        "sort": None,
        "filters": {},
        "createDefaults": {},
    }
    return Response(200, doc)


def _version_doc(root: str, version: str, base: str) -> JSON:
    links: JSON = {"self": base}
    for name in schemas.COLLECTIONS[version]:
        links[name] = f"{base}/{name}"
    return {"id": version, "type": "apiVersion", "links": links, "actions": {}, "baseType": "apiVersion"}


def version_root(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    return Response(200, _version_doc(api.http.root, api.api_version, api.base))


def list_schemas(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    data = [schemas.render_schema(d, api.base) for d in schemas.schema_defs(api.api_version).values()]
    doc = listing.build_collection(
        resources=data,
        resource_type="schema",
        url_base=f"{api.http.root}{api.http.path.rstrip('/')}",
        params=[],
        filterable={},
        create_types={},
    )
    return Response(200, doc)


def get_schema(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    for d in schemas.schema_defs(api.api_version).values():
        if d.id.lower() == p["id"].lower():
            return Response(200, schemas.render_schema(d, api.base))
    raise not_found()


# --------------------------------------------------------------------------------------------------
# Projects


def list_projects(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    base = f"{api.http.root}/{api.api_version}"
    data = [
        p.to_resource(base, api.api_version, schemas.COLLECTIONS[api.api_version])
        for p in store.visible_projects(api.who)
    ]
    return _collection(api, data, "project", "project")


def get_project(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    project = store.get_project(api.who, p["id"])
    base = f"{api.http.root}/{api.api_version}"
    return Response(200, project.to_resource(base, api.api_version, schemas.COLLECTIONS[api.api_version]))


# --------------------------------------------------------------------------------------------------
# Stacks


def list_stacks(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    singular, plural = _stack_names(api)
    data = [render_stack(api, store, s) for s in store.list_stacks(api.project_id)]
    return _collection(api, data, singular, singular, {singular: f"{api.base}/{plural}"})


def create_stack(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    stack = store.create_stack(api.project_id, api.body_json())
    return Response(201, render_stack(api, store, stack))


def get_stack(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_stack(api, store, store.get_stack(api.project_id, p["id"])))


def update_stack(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_stack(api, store, store.update_stack(api.project_id, p["id"], api.body_json())))


def remove_stack(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_stack(api, store, store.remove_stack(api.project_id, p["id"])))


def stack_action(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    action = api.action()
    if action is None:
        raise ApiError.http(405)
    stack = store.stack_action(api.project_id, p["id"], action, api.body_json())
    return Response(202, render_stack(api, store, stack))


def stack_services(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    stack = store.get_stack(api.project_id, p["id"])
    data = [render_service(api, store, s) for s in store.list_services(api.project_id) if s.stack_id == stack.id]
    return _collection(api, data, "service", "service")


# --------------------------------------------------------------------------------------------------
# Services


def _service_create_types(api: ApiRequest) -> dict[str, str]:
    return {t: f"{api.base}/{t.lower()}s" if t != "service" else f"{api.base}/services" for t in SERVICE_CREATE_TYPES}


def list_services(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    data = [render_service(api, store, s) for s in store.list_services(api.project_id)]
    return _collection(api, data, "service", "service", _service_create_types(api))


def create_service(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    svc = store.create_service(api.project_id, api.body_json())
    return Response(201, render_service(api, store, svc))


def get_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_service(api, store, store.get_service(api.project_id, p["id"])))


def update_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.update_service(api.project_id, p["id"], api.body_json())
    return Response(200, render_service(api, store, svc))


def remove_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_service(api, store, store.remove_service(api.project_id, p["id"])))


def service_action(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    action = api.action()
    if action is None:
        raise ApiError.http(405)
    svc = store.service_action(api.project_id, p["id"], action, api.body_json(), api.api_version)
    return Response(202, render_service(api, store, svc))


def service_instances(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.get_service(api.project_id, p["id"])
    data = [render_instance(api, store, i) for i in store.list_instances(api.project_id, svc.id)]
    return _collection(api, data, "instance", "instance")


def service_links(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    store.get_service(api.project_id, p["id"])
    return _collection(api, [], "service", "service")


# --------------------------------------------------------------------------------------------------
# Containers


def list_instances(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    data = [render_instance(api, store, i) for i in store.list_instances(api.project_id)]
    return _collection(api, data, "container", "container")


def get_instance(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_instance(api, store, store.get_instance(api.project_id, p["id"])))


def instance_services(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    inst = store.get_instance(api.project_id, p["id"])
    data = [render_service(api, store, store.get_service(api.project_id, inst.service_id))]
    return _collection(api, data, "service", "service")


HANDLERS: dict[str, Handler] = {
    "version_root": version_root,
    "list_schemas": list_schemas,
    "get_schema": get_schema,
    "list_projects": list_projects,
    "get_project": get_project,
    "list_stacks": list_stacks,
    "create_stack": create_stack,
    "get_stack": get_stack,
    "update_stack": update_stack,
    "remove_stack": remove_stack,
    "stack_action": stack_action,
    "stack_services": stack_services,
    "list_services": list_services,
    "create_service": create_service,
    "get_service": get_service,
    "update_service": update_service,
    "remove_service": remove_service,
    "service_action": service_action,
    "service_instances": service_instances,
    "service_links": service_links,
    "list_instances": list_instances,
    "get_instance": get_instance,
    "instance_services": instance_services,
}
assert {r.handler for r in routes.ROUTES} <= set(HANDLERS)
