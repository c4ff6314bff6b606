"""Which Rancher is behind the URL, and the backend that speaks to it.

Users paste whatever URL their Rancher shows them: a server root, a 1.x API URL (`/v1`,
`/v2-beta`, `/v2-beta/projects/1a5`), a 2.x one (`/v3`, `/v3/project/c-x:p-y`,
`/v3/clusters/c-x`, `/k8s/clusters/c-x`). A path settles the flavour only where it cannot mean two
things: from Rancher 2.5 on, `/v1` is Steve, not Rancher 1.x, so a bare `/v1` URL is probed like a
server root; any other 1.x path on a 2.x server, and any 2.x path on a 1.x server, is refused
before "Connected", naming what the server is.
Lives apart from `backend.py` because it needs both backends, which themselves import `backend`.
"""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import semver

from rancher_deploy import cattle, workloads
from rancher_deploy.backend import Backend
from rancher_deploy.errors import ConfigError, NotCattle, NotRancher
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.settings import Settings

_K8S_PATH = re.compile(r"^(?P<prefix>.*?)/k8s/clusters/(?P<cluster>[^/]+)/?$")
_V3_PATH = re.compile(r"^(?P<prefix>.*?)/v3(?:/projects?/(?P<project>[^/]+))?/?$")
# A cluster's own v3 URL names the cluster but not the API to reach its workloads: that follows the version.
_V3_CLUSTER_PATH = re.compile(r"^(?P<prefix>.*?)/v3/clusters/(?P<cluster>[^/]+)/?$")
_CATTLE_PATH = re.compile(r"^(?P<prefix>.*?)/(?:v1|v2-beta)(?:/projects/[^/]+)?/?$")
# Rancher 2.6 moved its own UI to the Kubernetes API (Steve and the proxy); before it, v3 is the way.
KUBE_API_FROM = semver.Version(2, 6, 0)


def connect(session: RancherSession, settings: Settings, warn: Callable[[str], None]) -> Backend:
    """Detect the flavour (unless forced by RANCHER_FLAVOUR) and connect its backend.

    Nothing is said about the URL before it is checked: a 2.x URL on a 1.x server, a 1.x URL on a 2.x
    server, a cluster, project or environment that does not exist, end here (or in the backend's
    `connect`) with exit 2 naming CATTLE_URL and the wrong part; a 2.x flavour forced on a 1.x
    server names RANCHER_FLAVOUR.
    """
    parts = urlsplit(settings.url)
    path = parts.path.rstrip("/")
    hint: str | None = None
    url_project = url_cluster = None
    prefix, generation = path, None
    for pattern, flavour, line in ((_K8S_PATH, "k8s", 2), (_V3_PATH, "v3", 2), (_V3_CLUSTER_PATH, None, 2),
                                   (_CATTLE_PATH, None, 1)):
        match = pattern.match(path)
        if match:
            prefix, hint, generation = match.group("prefix"), flavour, line
            groups = match.groupdict()
            url_cluster = groups.get("cluster")
            url_project = groups.get("project")
            if url_project and ":" in url_project:
                url_cluster = url_project.split(":", 1)[0]
            break
    root = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    given = path[len(prefix):] or "/"

    flavour = settings.flavour.value
    if flavour == "rancher-1.x":
        try:
            return cattle.connect(session, settings.url, settings.environment, warn, fleet=settings.select_image)
        except NotCattle as error:
            version = _rancher_version(session, root)
            if version is None:
                raise
            raise NotRancher(f"{error}: this is Rancher {version}; set RANCHER_WORKLOAD for a 2.x workload "
                             "(and RANCHER_FLAVOUR=auto)") from None
    if flavour == "auto" and generation != 2:
        try:
            return cattle.connect(session, settings.url, settings.environment, warn, fleet=settings.select_image)
        except NotCattle:
            pass  # perhaps Rancher 2.x, whose /v1 is Steve
    version = _rancher_version(session, root)
    if version is None:
        _require_v3(session, root, given, "CATTLE_URL" if generation == 2 or flavour == "auto" else "RANCHER_FLAVOUR",
                    flavour)
    if generation == 1 and given != "/v1":
        # From 2.5 on /v1 is Steve, so a bare /v1 may be this server's root; nothing else of 1.x is.
        raise ConfigError("CATTLE_URL", f"{given} is a Rancher 1.x API, but this is Rancher {version or '2.x'}; "
                                        f"use the server root ({root}), {root}/v3 or {root}/k8s/clusters/<id>")
    if flavour == "auto":
        if hint is not None:
            flavour = hint
        elif version is not None:
            flavour = "k8s" if workloads.at_least(version, KUBE_API_FROM) else "v3"
        else:
            flavour = "v3"
    return workloads.connect(session, root, flavour, settings, url_project=url_project, url_cluster=url_cluster,
                             version=version, warn=warn)


def _require_v3(session: RancherSession, root: str, given: str, setting: str, flavour: str) -> None:
    """Rancher 2.x answers `/v3` with its API root; say what the server is when it does not.

    Asked only when `/rancherversion` (public on every 2.x) gave no version, so a 2.x server that
    answers it pays nothing for this check. On a 1.x server the message names `setting`: CATTLE_URL
    when its path is a 2.x one (or nothing else asked for 2.x), else RANCHER_FLAVOUR, which did.
    """
    what = "Connecting to Rancher"
    body = session.get_optional(f"{root}/v3", what=what)
    if body is not None and "apiRoot" in (body.get("type"), body.get("baseType")):
        return
    if _is_cattle(session.get_optional(f"{root}/v2-beta", what=what)):
        if setting == "RANCHER_FLAVOUR":
            raise ConfigError(setting, f"is {flavour}, a Rancher 2.x API, but this is Rancher 1.x (its API is "
                                       f"{root}/v2-beta): set it to auto and name a service with RANCHER_SERVICE")
        raise ConfigError(setting, f"{given} is not served here: this is Rancher 1.x (use {root}/v2-beta)")
    raise NotRancher(f"no Rancher API found at {root} (neither /v2-beta nor /v3); check CATTLE_URL")


def _is_cattle(body: JSON | None) -> bool:
    return body is not None and body.get("type") == "apiVersion"


def _rancher_version(session: RancherSession, root: str) -> str | None:
    """The 2.x release: `/rancherversion` ({"Version": "v2.8.5"}, public, from 2.7 on: rancher
    pkg/multiclustermanager/routes.go), else the `server-version` setting every 2.x serves to an
    authenticated client (what Rancher's UI reads); None when neither answers (not a 2.x)."""
    body = session.get_optional(f"{root}/rancherversion", what="Reading Rancher's version")
    version = (body or {}).get("Version")
    if version:
        return str(version)
    setting = session.get_optional(f"{root}/v3/settings/server-version", what="Reading Rancher's version")
    value = (setting or {}).get("value")
    return str(value) if value and value != "dev" else None
