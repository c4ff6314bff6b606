"""The URL table: (method, pattern) -> handler name, for the part of the path after the version root.

The version root is ``/v1`` or ``/v2-beta``, optionally followed by ``/projects/<id>`` (a project
sub-context, rancher-api.md §1.1); handlers.py strips it before looking a path up here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

API_VERSIONS: tuple[str, ...] = ("v1", "v2-beta")

_ID = r"(?P<id>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    versions: tuple[str, ...] = API_VERSIONS


def _r(method: str, pattern: str, handler: str, versions: tuple[str, ...] = API_VERSIONS) -> Route:
    return Route(method, re.compile(f"^{pattern}$"), handler, versions)


_STACKS = "(?:stacks)"
_ENVS = "(?:environments)"
_INSTANCES = "(?:instances|containers)"

ROUTES: tuple[Route, ...] = (
    _r("GET", "", "version_root"),
    _r("GET", "schemas", "list_schemas"),
    _r("GET", f"schemas/{_ID}", "get_schema"),
    _r("GET", "projects", "list_projects"),
    _r("GET", f"(?:projects|accounts)/{_ID}", "get_project"),
    # stacks: v2-beta names them stacks, v1 environments (§1.1)
    _r("GET", _STACKS, "list_stacks", ("v2-beta",)),
    _r("GET", _ENVS, "list_stacks", ("v1",)),
    _r("POST", _STACKS, "create_stack", ("v2-beta",)),
    _r("POST", _ENVS, "create_stack", ("v1",)),
    _r("GET", f"{_STACKS}/{_ID}", "get_stack", ("v2-beta",)),
    _r("GET", f"{_ENVS}/{_ID}", "get_stack", ("v1",)),
    _r("PUT", f"{_STACKS}/{_ID}", "update_stack", ("v2-beta",)),
    _r("PUT", f"{_ENVS}/{_ID}", "update_stack", ("v1",)),
    _r("DELETE", f"{_STACKS}/{_ID}", "remove_stack", ("v2-beta",)),
    _r("DELETE", f"{_ENVS}/{_ID}", "remove_stack", ("v1",)),
    _r("POST", f"{_STACKS}/{_ID}", "stack_action", ("v2-beta",)),
    _r("POST", f"{_ENVS}/{_ID}", "stack_action", ("v1",)),
    _r("GET", f"{_STACKS}/{_ID}/services", "stack_services", ("v2-beta",)),
    _r("GET", f"{_ENVS}/{_ID}/services", "stack_services", ("v1",)),
    # services
    _r("GET", "services", "list_services"),
    _r("POST", "services", "create_service"),
    _r("GET", f"services/{_ID}", "get_service"),
    _r("PUT", f"services/{_ID}", "update_service"),
    _r("DELETE", f"services/{_ID}", "remove_service"),
    _r("POST", f"services/{_ID}", "service_action"),
    _r("GET", f"services/{_ID}/instances", "service_instances"),
    _r("GET", f"services/{_ID}/(?:consumedservices|consumedbyservices)", "service_links"),
    # containers
    _r("GET", _INSTANCES, "list_instances"),
    _r("GET", f"{_INSTANCES}/{_ID}", "get_instance"),
    _r("GET", f"{_INSTANCES}/{_ID}/services", "instance_services"),
)


@dataclass(frozen=True)
class Match:
    handler: str
    params: dict[str, str]


def resolve(method: str, api_version: str, rest: str) -> Match | None | str:
    """The matching route, None when no path matches (404), "405" when only the method is wrong."""
    rest = rest.strip("/")
    # Type names in paths are case-insensitive (§1.1); ids keep their case.
    head, sep, tail = rest.partition("/")
    rest = head.lower() + sep + tail
    path_matched = False
    for route in ROUTES:
        if api_version not in route.versions:
            continue
        found = route.pattern.match(rest)
        if found is None:
            continue
        path_matched = True
        if route.method == method:
            return Match(route.handler, {k: v for k, v in found.groupdict().items() if v is not None})
    return "405" if path_matched else None
