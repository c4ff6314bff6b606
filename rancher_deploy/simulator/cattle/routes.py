"""The 1.x URL table: (method, pattern) -> handler, for the part of the path after the version root.

The version root is ``/v1`` or ``/v2-beta``, optionally followed by ``/projects/<id>`` (a project
sub-context, rancher-api.md §1.1); api.py strips it before looking a path up here.
"""

from __future__ import annotations

import re

from rancher_deploy.simulator.cattle import handlers as h
from rancher_deploy.simulator.cattle.handlers import Handler
from rancher_deploy.simulator.cattle.models.kinds import KIND_BY_COLLECTION
from rancher_deploy.simulator.cattle.subscribe import subscribe
from rancher_deploy.simulator.wire import Match, Miss, Route, resolve

_ID = r"(?P<id>[^/]+)"


def _r(method: str, pattern: str, handler: Handler, versions: tuple[str, ...] | None = None) -> Route[Handler]:
    return Route(method, re.compile(f"^{pattern}$"), handler, frozenset(versions) if versions else None)


_STACKS = "(?:stacks)"
# /services lists every kind of service; each kind's own collection lists that kind (models/kinds.py).
_SERVICES = "(?P<coll>" + "|".join(sorted(KIND_BY_COLLECTION)) + ")"
_ENVS = "(?:environments)"
_INSTANCES = "(?:instances|containers)"

ROUTES: tuple[Route[Handler], ...] = (
    _r("GET", "", h.version_root),
    _r("GET", "schemas", h.list_schemas),
    _r("GET", f"schemas/{_ID}", h.get_schema),
    _r("GET", "projects", h.list_projects),
    _r("GET", f"(?:projects|accounts)/{_ID}", h.get_project),
    # stacks: v2-beta names them stacks, v1 environments (§1.1)
    _r("GET", _STACKS, h.list_stacks, ("v2-beta",)),
    _r("GET", _ENVS, h.list_stacks, ("v1",)),
    _r("POST", _STACKS, h.create_stack, ("v2-beta",)),
    _r("POST", _ENVS, h.create_stack, ("v1",)),
    _r("GET", f"{_STACKS}/{_ID}", h.get_stack, ("v2-beta",)),
    _r("GET", f"{_ENVS}/{_ID}", h.get_stack, ("v1",)),
    _r("PUT", f"{_STACKS}/{_ID}", h.update_stack, ("v2-beta",)),
    _r("PUT", f"{_ENVS}/{_ID}", h.update_stack, ("v1",)),
    _r("DELETE", f"{_STACKS}/{_ID}", h.remove_stack, ("v2-beta",)),
    _r("DELETE", f"{_ENVS}/{_ID}", h.remove_stack, ("v1",)),
    _r("POST", f"{_STACKS}/{_ID}", h.stack_action, ("v2-beta",)),
    _r("POST", f"{_ENVS}/{_ID}", h.stack_action, ("v1",)),
    _r("GET", f"{_STACKS}/{_ID}/services", h.stack_services, ("v2-beta",)),
    _r("GET", f"{_ENVS}/{_ID}/services", h.stack_services, ("v1",)),
    # services
    _r("GET", _SERVICES, h.list_services),
    _r("POST", _SERVICES, h.create_service),
    _r("GET", f"{_SERVICES}/{_ID}", h.get_service),
    _r("PUT", f"{_SERVICES}/{_ID}", h.update_service),
    _r("DELETE", f"{_SERVICES}/{_ID}", h.remove_service),
    _r("POST", f"{_SERVICES}/{_ID}", h.service_action),
    _r("GET", f"{_SERVICES}/{_ID}/instances", h.service_instances),
    _r("GET", f"{_SERVICES}/{_ID}/(?P<link>consumedservices|consumedbyservices)", h.service_links),
    _r("GET", f"{_SERVICES}/{_ID}/(?P<link>networkdrivers|serviceexposemaps|servicelogs|storagedrivers)",
       h.service_links, ("v2-beta",)),
    # containers
    _r("GET", _INSTANCES, h.list_instances),
    _r("GET", f"{_INSTANCES}/{_ID}", h.get_instance),
    _r("GET", f"{_INSTANCES}/{_ID}/services", h.instance_services),
    # the event stream (a websocket upgrade of a GET of the `subscribe` collection)
    _r("GET", "subscribe", subscribe),
)


def find(method: str, api_version: str, rest: str) -> Match[Handler] | Miss:
    """The handler for ``rest`` (the path below the version root) in ``api_version``."""
    rest = rest.strip("/")
    # Type names in paths are case-insensitive (§1.1); ids keep their case.
    head, sep, tail = rest.partition("/")
    return resolve(ROUTES, method, head.lower() + sep + tail, api_version)
