"""Which Rancher is behind the URL, and the backend that speaks to it.

Users paste whatever URL their Rancher shows them: a server root, a 1.x API URL (`/v1`,
`/v2-beta`, `/v2-beta/projects/1a5`), a 2.x one (`/v3`, `/v3/project/c-x:p-y`,
`/v3/clusters/c-x`, `/k8s/clusters/c-x`). A path settles the flavour only where it cannot mean two
things: from Rancher 2.5 on, `/v1` is Steve, not Rancher 1.x, so a bare `/v1` URL is probed like a
server root; any other 1.x path on a 2.x server, and any 2.x path on a 1.x server, is refused
before "Connected", naming what the server is.

What the path leaves open costs one request, whatever the server (`identify`): the 2.x release,
which every 2.x serves as its `server-version` setting, and which a Rancher 1.x answers with its
own release in a header. A 1.x path costs one as well: 1.x's API root (`cattle.connect`).
Lives apart from `backend.py` because it needs both backends, which themselves import `backend`.
Each backend is imported only once this module has chosen it: a 1.x run never loads the 2.x
modules (workloads, kube, v3, projects, workload_view, rollout) nor a 2.x run cattle's, which is
start-up every CI step pays before its upgrade is sent (docs/performance.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from rancher_deploy.backend import Backend
from rancher_deploy.errors import ConfigError, NotCattle, NotFound, NotRancher
from rancher_deploy.http import RancherSession
from rancher_deploy.settings import Settings

_K8S_PATH = re.compile(r"^(?P<prefix>.*?)/k8s/clusters/(?P<cluster>[^/]+)/?$")
_V3_PATH = re.compile(r"^(?P<prefix>.*?)/v3(?:/projects?/(?P<project>[^/]+))?/?$")
# A cluster's own v3 URL names the cluster but not the API to reach its workloads: that follows the version.
_V3_CLUSTER_PATH = re.compile(r"^(?P<prefix>.*?)/v3/clusters/(?P<cluster>[^/]+)/?$")
_CATTLE_PATH = re.compile(r"^(?P<prefix>.*?)/(?:v1|v2-beta)(?:/projects/[^/]+)?/?$")
# Rancher 2.6 moved its own UI to the Kubernetes API (Steve and the proxy); before it, v3 is the way.
KUBE_API_FROM = (2, 6, 0)
SERVER_VERSION = "/v3/settings/server-version"
_NO_RANCHER = "no Rancher API found at {root} (neither /v2-beta nor /v3); check CATTLE_URL"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class GivenUrl:
    """CATTLE_URL read for what its path says: `root` the server's base (a proxy's path prefix kept),
    `path` the API part after it ("/" for none), `generation` 1 or 2 where the path names an API of
    one generation only (None: the server root, or a bare `/v1`, which is Steve from 2.5 on), `hint`
    the 2.x API it names ("v3", "k8s"), and the project and cluster it names."""

    root: str
    path: str
    generation: int | None = None
    hint: str | None = None
    project: str | None = None
    cluster: str | None = None

    @classmethod
    def read(cls, url: str) -> GivenUrl:
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        for pattern, hint, generation in ((_K8S_PATH, "k8s", 2), (_V3_PATH, "v3", 2), (_V3_CLUSTER_PATH, None, 2),
                                          (_CATTLE_PATH, None, 1)):
            match = pattern.match(path)
            if match:
                prefix = match.group("prefix")
                groups = match.groupdict()
                project, cluster = groups.get("project"), groups.get("cluster")
                if project and ":" in project:
                    cluster = project.split(":", 1)[0]
                given = path[len(prefix):]
                return cls(urlunsplit((parts.scheme, parts.netloc, prefix, "", "")), given,
                           None if given == "/v1" else generation, hint, project, cluster)
        return cls(urlunsplit((parts.scheme, parts.netloc, path, "", "")), "/")


@dataclass(frozen=True)
class Server:
    """Which Rancher answered: `generation` 1 or 2 (None: neither said so), and its release where it
    said it ("v1.6.30", "v2.8.5"; None for a 2.x development build or a key that may not read it)."""

    generation: int | None
    release: str | None = None


def identify(session: RancherSession, root: str, *, scoped: bool = False) -> Server:
    """One request: the `server-version` setting, which every 2.x serves to an authenticated client
    (what Rancher's UI reads; `/rancherversion` only exists from 2.7, rancher
    pkg/multiclustermanager/routes.go), and which a Rancher 1.x answers, like any path, with its
    release in `X-Rancher-Version`.

    A key that may not read settings (403; with `scoped`, the URL naming a cluster, also 401: a
    token scoped to one cluster is refused elsewhere, and the cluster's own read says whether it is
    wrong) costs one more, public, request, for the version a 2.7+ gives anyone. Raises what a GET
    raises otherwise (a 401 naming the credentials, exit 3 for an unreachable or failing Rancher).
    """
    what = "Connecting to Rancher"
    probe = session.probe(root + SERVER_VERSION, what=what, allow=(401, 403) if scoped else (403,))
    if probe.cattle is not None:
        return Server(1, probe.cattle)
    body = probe.body or {}
    if body.get("type") == "setting" or "value" in body:
        value = str(body.get("value") or "")
        return Server(2, value if value not in ("", "dev") else None)
    if probe.status in (401, 403):
        public = session.probe(f"{root}/rancherversion", what="Reading Rancher's version").body or {}
        return Server(2, str(public["Version"]) if public.get("Version") else None)
    return Server(None)


def connect(session: RancherSession, settings: Settings, warn: Callable[[str], None]) -> Backend:
    """Detect the flavour (unless forced by RANCHER_FLAVOUR) and connect its backend.

    Nothing is said about the URL before it is checked: a 2.x URL on a 1.x server, a 1.x URL on a 2.x
    server, a cluster, project or environment that does not exist, end here (or in the backend's
    `connect`) with exit 2 naming CATTLE_URL and the wrong part; a 2.x flavour forced on a 1.x
    server names RANCHER_FLAVOUR. Detection costs one request whatever the URL (`identify`, or a
    1.x path's API root); only a refusal spends a second one, to name what the server is.
    """
    given = GivenUrl.read(settings.url)
    flavour = settings.flavour.value
    if flavour == "rancher-1.x" or (flavour == "auto" and given.generation == 1):
        return _cattle_named(session, settings, given, warn)
    server = identify(session, given.root, scoped=given.cluster is not None)
    if server.generation != 2:
        if flavour == "auto" and given.generation is None:
            return _cattle_at(session, settings, given, server, warn)
        raise _not_served(session, given, flavour, server)
    from rancher_deploy import workloads

    if flavour == "auto":
        if given.hint is not None:
            flavour = given.hint
        elif server.release is not None:
            flavour = "k8s" if workloads.at_least(server.release, KUBE_API_FROM) else "v3"
        else:
            flavour = "v3"
    return workloads.connect(session, given.root, flavour, settings, url_project=given.project,
                             url_cluster=given.cluster, version=server.release, warn=warn)


def _cattle_at(session: RancherSession, settings: Settings, given: GivenUrl, server: Server,
               warn: Callable[[str], None]) -> Backend:
    """Rancher 1.x, as its header said, at a URL whose path names no API (the server root, a bare
    `/v1`, or a path of the user's own); or an answer without it, from a 1.x behind a proxy that drops
    it, or from no Rancher at all, which cattle's own probe tells apart.

    The header settles the API's version, so its root is not read: a path that leads elsewhere
    (`/foo`, `/v2-beta/foo`) first shows as a 404 of the environments below it, which would name no
    setting. So a 404 there (or an environment of RANCHER_ENVIRONMENT not found) costs one more
    request, on that failing path only: when the API's own root does not answer either, the error
    names CATTLE_URL and its path.
    """
    from rancher_deploy import cattle

    try:
        return cattle.connect(session, settings.url, settings.environment, warn, server=server.release,
                              fleet=settings.select_image)
    except NotCattle:
        raise NotRancher(_NO_RANCHER.format(root=given.root)) from None
    except (NotFound, ConfigError) as error:
        if isinstance(error, ConfigError) and not isinstance(error.__cause__, NotFound):
            raise
        api = f"{given.root}/{cattle.api_version_of(server.release or '')}"
        if cattle.is_version_root(session.probe(api, what="Connecting to Rancher").body):
            raise
        parts = urlsplit(given.root)
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        segments = parts.path.split("/")
        named = next((i for i, segment in enumerate(segments) if segment in ("v1", "v2-beta", "v3")), None)
        where = (f"names the API {'/'.join(segments[:named + 1])} and then more than a project "
                 f"(/{'/'.join(segments[named + 1:])})" if named is not None
                 else f"leads to no Rancher API ({api} answers 404)")
        raise ConfigError("CATTLE_URL", f"its path {parts.path or '/'} {where}: "
                                        f"use the server root ({origin}, or the path a proxy serves Rancher under) "
                                        "or its /v2-beta API") from None


def _cattle_named(session: RancherSession, settings: Settings, given: GivenUrl,
                  warn: Callable[[str], None]) -> Backend:
    """Rancher 1.x, as the path or RANCHER_FLAVOUR says: its API root is the one probe. On a 2.x
    server the refusal names its release (one more request, paid only then)."""
    from rancher_deploy import cattle

    try:
        return cattle.connect(session, settings.url, settings.environment, warn, fleet=settings.select_image)
    except NotCattle as error:
        server = identify(session, given.root)
        if server.generation != 2:
            raise
        release = server.release or "2.x"
        if settings.flavour.value == "rancher-1.x":
            raise NotRancher(f"{error}: this is Rancher {release}; set RANCHER_WORKLOAD for a 2.x workload "
                             "(and `RANCHER_FLAVOUR=auto`)") from None
        root = given.root
        raise ConfigError("CATTLE_URL", f"{given.path} is a Rancher 1.x API, but this is Rancher {release}; "
                                        f"use the server root ({root}), {root}/v3 or {root}/k8s/clusters/<id>") from None


def _not_served(session: RancherSession, given: GivenUrl, flavour: str, server: Server) -> Exception:
    """Why a 2.x API is not what this server offers: Rancher 1.x (its header said so, or, without it,
    its API root answers: one more request on this failing path), or no Rancher at all. Names
    CATTLE_URL when its path asked for 2.x (or nothing else did), else RANCHER_FLAVOUR, which did."""
    from rancher_deploy import cattle

    root = given.root
    if server.generation is None and not cattle.answers(session, root):
        return NotRancher(_NO_RANCHER.format(root=root))
    api = f"{root}/{cattle.api_version_of(server.release or '')}"
    if given.generation == 2 or flavour == "auto":
        return ConfigError("CATTLE_URL", f"{given.path} is not served here: this is Rancher 1.x (use {api})")
    return ConfigError("RANCHER_FLAVOUR", f"is {flavour}, a Rancher 2.x API, but this is Rancher 1.x (its API is "
                                          f"{api}): set it to auto and name a service with RANCHER_SERVICE")
