"""Per-route functions of the 1.x API: parse the request, call the store, render Rancher's JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from rancher_deploy.simulator.cattle import listing, schemas
from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.models.instance import Instance
from rancher_deploy.simulator.cattle.models.kinds import KIND_BY_COLLECTION, KINDS
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.models.service import CHILD_LINKS, Service
from rancher_deploy.simulator.cattle.models.stack import Stack, stack_to_resource
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import Principal, parse_id
from rancher_deploy.simulator.wire import HttpRequest, Response


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
        # BodyParserRequestHandler: ClientVisibleException(400, INVALID_BODY_CONTENT), whose message
        # is its code (gdapi ClientVisibleException), so code and message both say InvalidBodyContent.
        try:
            doc = json.loads(self.http.body)
        except ValueError:
            raise ApiError(400, "InvalidBodyContent", "InvalidBodyContent") from None
        # BodyParserRequestHandler.getObject keeps only a Map (or a List, which no route here takes):
        # JSON that parses to anything else is ignored, as an empty body is.
        return doc if isinstance(doc, dict) else {}

    def action(self) -> str | None:
        for key, value in self.params:
            if key == "action":
                return value
        return None

    def collection_params(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k not in ("action", "projectId")]


Handler = Callable[[ApiRequest, Store, dict[str, str]], Response]


# --------------------------------------------------------------------------------------------------
# Rendering helpers


def _unhealthy(store: Store) -> Callable[[Instance], bool]:
    return store.unhealthy


def render_service(api: ApiRequest, store: Store, svc: Service) -> JSON:
    store.rendered += 1
    return svc.to_resource(api.base, api.api_version, store.now(), store.wall, _unhealthy(store))


def render_stack(api: ApiRequest, store: Store, stack: Stack) -> JSON:
    ids = [s.id for s in store.list_services(stack.project_id) if s.stack_id == stack.id and s.state != "removed"]
    return stack_to_resource(stack, api.base, api.api_version, store.wall, ids)


def render_instance(api: ApiRequest, store: Store, inst: Instance) -> JSON:
    store.rendered += 1
    doc = inst.to_resource(api.base, api.api_version, store.now(), store.wall, store.unhealthy(inst))
    svc, stack = store.services.get(parse_id(inst.service_id) or -1), store.stacks.get(parse_id(inst.stack_id) or -1)
    if svc is not None and stack is not None:
        # The names cattle labels each container of a service with (what a container's inspect shows;
        # traefik's rancher provider and rancher-dns attribute containers by io.rancher.stack_service.name).
        doc["labels"].update({"io.rancher.stack.name": stack.name, "io.rancher.stack_service.name": f"{stack.name}/{svc.name}",
                              "io.rancher.project.name": stack.name, "io.rancher.project_service.name": f"{stack.name}/{svc.name}"})
    return doc


def _collection(
    api: ApiRequest,
    resources: list[JSON],
    resource_type: str,
    schema_id: str | None,
    create_types: dict[str, str] | None = None,
    paged: int | None = None,
) -> Response:
    path = api.http.path.rstrip("/")
    doc = listing.build_collection(
        resources=resources,
        resource_type=resource_type,
        url_base=f"{api.http.root}{path}",
        params=api.collection_params(),
        # A type without a schema here (a service's child links) has no filters to list.
        filterable=schemas.filters_for(api.api_version, schema_id) if schema_id else {},
        create_types=create_types or {},
        paged=paged,
    )
    return Response(200, doc)


_Model = TypeVar("_Model", Stack, Service)


def _narrowed(api: ApiRequest, models: Iterable[_Model], schema_id: str) -> list[_Model]:
    """The models an equality filter on name or stack can still match, before any is rendered.

    Rendering is what a list costs (a service computes its state, health and links), so lists
    filtered the way clients look things up (`?name=web`, `?stackId=1st5`) render only what can
    match; `listing.build_collection` then applies every filter with cattle's exact rules to the
    rendered few. A superset by construction: only plain `name=`/`stackId=` narrow.
    """
    wanted: dict[str, set[str]] = {}
    filterable = schemas.filters_for(api.api_version, schema_id)  # unknown filters are ignored
    for key, value in api.collection_params():
        if key in ("name", "stackId", "environmentId") and key in filterable:
            wanted.setdefault("stack" if key != "name" else "name", set()).add(value)
    kept = list(models)
    if "name" in wanted:
        kept = [model for model in kept if model.name in wanted["name"]]
    if "stack" in wanted:
        numbers = {listing.id_number(value) for value in wanted["stack"]}
        kept = [model for model in kept if not isinstance(model, Service)
                or listing.id_number(model.stack_id) in numbers]
    return kept


def _stack_names(api: ApiRequest) -> tuple[str, str]:
    return ("environment", "environments") if api.api_version == "v1" else ("stack", "stacks")


# --------------------------------------------------------------------------------------------------
# Roots and schemas


def server_root(req: HttpRequest) -> Response:
    data = [_version_doc(req.root, v, f"{req.root}/{v}") for v in schemas.API_VERSIONS]
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
    data = [render_stack(api, store, s) for s in _narrowed(api, store.list_stacks(api.project_id), singular)]
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
    services = [s for s in _narrowed(api, store.list_services(api.project_id), "service") if s.stack_id == stack.id]
    return _services(api, store, services, "service", {})


# --------------------------------------------------------------------------------------------------
# Services


def _service_create_types(api: ApiRequest) -> dict[str, str]:
    return {name: f"{api.base}/{KINDS[name].collection}" for name in sorted(KINDS)}


def _kind(p: dict[str, str]) -> str | None:
    """The kind a service collection is limited to; None for `/services`, which has them all."""
    collection = p.get("coll", "services").lower()
    return None if collection == "services" else KIND_BY_COLLECTION[collection].name


def list_services(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    kind = _kind(p)
    creates = _service_create_types(api)
    return _services(api, store, _narrowed(api, store.list_services(api.project_id, kind), "service"), kind or "service",
                     creates if kind is None else {kind: creates[kind]})


def _services(api: ApiRequest, store: Store, services: list[Service], resource_type: str,
              create_types: dict[str, str]) -> Response:
    """A collection of services (narrowed by `_narrowed`) that renders only its page when the
    request's filters were all applied by that narrowing (`listing.page_first`): `?limit=5` of
    10,000 renders 5, not 10,000."""
    filterable = schemas.filters_for(api.api_version, "service")
    keys = {key for key, _ in api.collection_params()}
    # `_narrowed` takes stackId and environmentId together as one set of stacks: exact for one of them.
    exact = frozenset({"name", "stackId", "environmentId"} - ({"environmentId"} if {"stackId", "environmentId"} <= keys
                                                              else set()))
    shown = [svc for svc in services if svc.state != "removed"]
    page = listing.page_first(api.collection_params(), filterable, exact, len(shown))
    if page is None:
        return _collection(api, [render_service(api, store, s) for s in services], resource_type, "service", create_types)
    return _collection(api, [render_service(api, store, shown[i]) for i in page], resource_type, "service", create_types,
                       paged=len(shown))


def create_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.create_service(api.project_id, api.body_json(), _kind(p) or "service")
    return Response(201, render_service(api, store, svc))


def get_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.get_service(api.project_id, p["id"], _kind(p))
    return Response(200, with_included(api, store, svc, render_service(api, store, svc)))


def with_included(api: ApiRequest, store: Store, svc: Service, doc: JSON) -> JSON:
    """The service with `include=instances` honoured: its containers (those its `instances` link
    lists) embedded as `instances`, in one answer.

    gdapi's ParseCollectionAttributes keeps only the first `include` of a request, and cattle's
    AbstractJooqResourceManager joins the linked table in the same query, whose row limit is the
    page's (`limit`, 100 by default): MultiTableMapper drops the joined rows past it, so a service
    with more containers than that shows only the first ones. Another first link embeds nothing here.
    """
    links = [value.lower() for key, value in api.params if key == "include"]
    if links[:1] != ["instances"]:
        return doc
    shown = [render_instance(api, store, i) for i in store.list_instances(api.project_id, svc.id)]
    limits = [value for key, value in api.params if key == "limit"]
    limit = listing.limit_of(limits[-1] if limits else None)
    doc["instances"] = [r for r in shown if r.get("state") != "removed"][:limit]
    return doc


def update_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.update_service(api.project_id, p["id"], api.body_json(), _kind(p))
    return Response(200, render_service(api, store, svc))


def remove_service(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    return Response(200, render_service(api, store, store.remove_service(api.project_id, p["id"], _kind(p))))


def service_action(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    action = api.action()
    if action is None:
        raise ApiError.http(405)
    svc = store.service_action(api.project_id, p["id"], action, api.body_json(), api.api_version, _kind(p))
    return Response(202, render_service(api, store, svc))


def service_instances(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    svc = store.get_service(api.project_id, p["id"], _kind(p))
    data = [render_instance(api, store, i) for i in store.list_instances(api.project_id, svc.id)]
    return _collection(api, data, "instance", "instance")


def service_links(api: ApiRequest, store: Store, p: dict[str, str]) -> Response:
    """A service's links to other services (none: service links are not modelled) and, on v2-beta,
    to the child resources the simulator keeps none of (`CHILD_LINKS`): empty collections."""
    store.get_service(api.project_id, p["id"], _kind(p))
    child = {name.lower(): resource_type for name, resource_type in CHILD_LINKS.items()}.get(p["link"].lower())
    if child is None:
        return _collection(api, [], "service", "service")
    return _collection(api, [], child, None)


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
