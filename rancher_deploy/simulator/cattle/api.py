"""The 1.x request entry point: authenticate, resolve the project scope, route, set Rancher's headers.

Order follows cattle's handler chain (rancher-api.md §1.2): authentication first (a bad key gets 401
even on a path that does not exist), then the project check (403), then routing (404/405), then the
operation. Every response names its schemas in ``X-API-Schemas``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import parse_qsl

from rancher_deploy.simulator.cattle import handlers, routes
from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.schemas import API_VERSIONS
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import Principal
from rancher_deploy.simulator.wire import HttpRequest, Miss, Response

RANCHER_VERSIONS: dict[str, str] = {"1.6": "v1.6.30"}
REALM = 'Basic realm="Enter API access key and secret key as username and password"'
# cattle's proxy.protocol.https.ports (default "443"): a request to such a port is taken for https.
HTTPS_PORTS = frozenset({"443"})


def _first(headers: Mapping[str, str], name: str) -> str | None:
    """A header's first comma-separated value (getOverrideHeader), or None."""
    value = headers.get(name.lower())
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items[0] if items else None


def request_root(headers: Mapping[str, str], scheme: str, host: str) -> str:
    """``scheme://host[:port]``, the base of every link, as cattle builds it from the request.

    gdapi-java's DefaultApiRequestParser.getUrlFromStandardHeaders (cattle v1.6, code/framework/
    java-server/.../request/parser/DefaultApiRequestParser.java, with cattle's ApiRequestParser
    .isHttpsPort): the host is X-Forwarded-Host, else Host; the port X-Forwarded-Port (80 and 443
    left out, and replacing a port in the host); the scheme X-Forwarded-Proto, else https when
    the port is one of proxy.protocol.https.ports. Without a scheme from those, the servlet's own
    request URL is used: the connection's scheme and the Host header. That is why a TLS-terminating
    proxy that passes Host but not X-Forwarded-Proto gets http:// links (rancher/rancher#4697).
    ``scheme`` and ``host`` are the connection's scheme and its Host header (or the listening address).
    """
    forwarded_host = _first(headers, "X-Forwarded-Host") or _first(headers, "Host")
    port = _first(headers, "X-Forwarded-Port")
    proto = _first(headers, "X-Forwarded-Proto")
    if proto is None and forwarded_host is not None:
        host_port = port if port is not None else (forwarded_host.split(":", 1)[1] if ":" in forwarded_host else None)
        if host_port in HTTPS_PORTS:
            proto = "https"
    if proto is None or forwarded_host is None:
        return f"{scheme}://{host}"
    if port in ("80", "443"):
        port = None  # default ports are left out of the URL
    if port is not None and ":" in forwarded_host:
        if not forwarded_host.startswith("[") or "]:" in forwarded_host:
            forwarded_host = forwarded_host[: forwarded_host.rindex(":")]
    return f"{proto}://{forwarded_host}" + (f":{port}" if port is not None else "")


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
    # BasicAuthImpl.challenge: no challenge for X-API-No-Challenge, nor for a websocket upgrade
    # (its `Connection` header is compared whole with "upgrade").
    if req.headers.get("x-api-no-challenge", "").lower() != "true" and \
            req.headers.get("connection", "").lower() != "upgrade":
        headers["WWW-Authenticate"] = REALM
    return Response(401, ApiError.http(401).body(), headers)


def handle(store: Store, req: HttpRequest, rancher_version: str) -> Response:
    """The API entry point for one request: never raises, always a Rancher-shaped response."""
    segments = [s for s in req.path.split("/") if s]
    with store.lock:
        store.settle()
        who = store.authenticate(*_credentials(req.headers))
        schemas_url = f"{req.root}/v2-beta/schemas"
        if segments and segments[0] in API_VERSIONS:
            schemas_url = f"{req.root}/{segments[0]}/schemas"
        if who is None:
            response = _unauthorized(req)
            response.headers["X-API-Schemas"] = schemas_url
            response.headers["X-Rancher-Version"] = RANCHER_VERSIONS.get(rancher_version, rancher_version)
            return response
        default_account = who.account_id
        response = _dispatch(store, req, who, segments)
        if segments and segments[0] in API_VERSIONS:
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
        return handlers.server_root(req)
    version = segments[0]
    if version not in API_VERSIONS:
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
    api = handlers.ApiRequest(req, who, version, project_id, scoped, base, params)
    if rest[:1] == ["projects"] and len(rest) == 2 and not scoped:
        # The project resource: also fine to call it with the key of that project.
        response = handlers.get_project(api, store, {"id": rest[1]})
        response.project_id = rest[1]
        return response
    found = routes.find(req.method, version, "/".join(rest))
    if found is Miss.NOT_FOUND:
        raise not_found()
    if found is Miss.METHOD_NOT_ALLOWED:
        raise ApiError.http(405)
    response = found.handler(api, store, found.params)
    response.project_id = project_id
    return response
