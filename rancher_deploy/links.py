"""Rancher's links, placed on the address the run was given: rebased, or refused before they are followed.

Rancher builds every absolute link from the request's headers: 1.x from X-Forwarded-Proto,
X-Forwarded-Host or Host, and X-Forwarded-Port (cattle's DefaultApiRequestParser), 2.x from
X-API-Host, X-Forwarded-Host, X-Forwarded-Proto and X-API-URL-Prefix (norman's urlbuilder). Behind a
TLS-terminating proxy that does not pass X-Forwarded-Proto, Rancher therefore answers with http://
links (rancher/rancher#4697, #7804), and behind a proxy that serves it under a path
(https://host/rancher) with links that lack the path. Following them would send the credentials in
clear text, or to the wrong place. So the run learns where Rancher believes it lives from a link it
sent back for a URL the run requested (both share the API path from the version root on: /v1,
/v2-beta, /v3, /k8s), rebases every later link onto the configured address, and refuses, before the
request, any URL whose scheme, host or port is not the configured one's. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

# The first path segment of every Rancher API: what comes before it is the base Rancher was reached at.
API_ROOTS = frozenset({"v1", "v2-beta", "v3", "k8s"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def api_base(url: str) -> str | None:
    """`scheme://host[:port][/prefix]`: the URL up to its first API root segment, or None without one.

    `https://host/rancher/v2-beta/projects/1a5` -> `https://host/rancher`; `http://h:8080/v3` -> `http://h:8080`.
    """
    parts = urlsplit(url)
    segments = parts.path.split("/")
    for index, segment in enumerate(segments):
        if segment in API_ROOTS:
            return urlunsplit((parts.scheme, parts.netloc, "/".join(segments[:index]), "", ""))
    return None


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit, for comparing addresses.

    Raises ValueError for a URL whose port is not a number (as `urlsplit` does)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def show_origin(url: str) -> str:
    """`http://host:8080`: an address for a message, without any path or credentials."""
    scheme, host, port = origin(url)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS.get(scheme) or port is None else f":{port}")


@dataclass(frozen=True)
class Rebase:
    """Links starting with `theirs` (where Rancher believes it lives) are followed at `ours`."""

    theirs: str
    ours: str

    def apply(self, url: str) -> str | None:
        """The link rebased, or None when it does not start with `theirs` (at a path boundary).

        Placing is idempotent: a URL already under `ours` stays as it is. This matters when one base
        holds the other (`https://host` and `https://host/rancher`, a proxy that passes the scheme
        but not the path prefix): the longer base is matched first, so a placed URL is never
        rebased a second time (`/rancher/rancher/...`).
        """
        for base in sorted((self.theirs, self.ours), key=len, reverse=True):
            if url == base or url.startswith((base + "/", base + "?")):
                return url if base == self.ours else self.ours + url[len(self.theirs):]
        return None


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class LinkMap:
    """Where a run's requests may go (`home`, the configured URL) and the rebases learnt so far."""

    home: str
    rebases: tuple[Rebase, ...] = ()

    def learn(self, requested: str, answered: str) -> LinkMap:
        """The map after Rancher answered `requested` with a `links.self` of `answered`.

        Both name the same resource, so what differs before their API root is the difference
        between where Rancher believes it lives and where the run reaches it."""
        theirs, ours = api_base(answered), api_base(requested)
        if theirs is None or ours is None or theirs == ours:
            return self
        rebase = Rebase(theirs.rstrip("/"), ours.rstrip("/"))
        if rebase in self.rebases:
            return self
        return LinkMap(self.home, (rebase, *self.rebases))

    def place(self, url: str) -> str:
        """The URL to request for `url`: rebased if Rancher's base was learnt, else as it is."""
        for rebase in self.rebases:
            placed = rebase.apply(url)
            if placed is not None:
                return placed
        return url

    def at_home(self, url: str) -> bool:
        """Whether `url` has the configured URL's scheme, host and port."""
        try:
            return origin(url) == origin(self.home)
        except ValueError:
            return False


# -- pages of Rancher's UI, for people (notifications, the JSON result); never requested ---------------


def service_page(api_url: str, project_id: str, stack_id: object, service_id: str) -> str:
    """A 1.x service's page: `<base>/env/1a5/apps/stacks/1st5/services/1s12/containers`, the address
    Rancher 1.6's UI shows for it (rancher/ui 1.6 routes env/:project_id/apps/stacks/:stack_id/...).
    `<base>` is `api_url` (an address the run was given) up to its API path; "" where it has none or
    the stack is unknown."""
    base = api_base(api_url)
    if base is None or not stack_id:
        return ""
    return f"{base}/env/{project_id}/apps/stacks/{stack_id}/services/{service_id}/containers"


def workload_page(base: str, *, flavour: str, cluster_or_project: str, kind: str, namespace: str, name: str) -> str:
    """A 2.x workload's page. Through v3 (Rancher 2.0-2.5) the cluster manager's
    `<base>/p/<cluster>:<project>/workload/<kind>:<namespace>:<name>` (rancher/ui app/router.js:
    project `/p/:project_id`, `workload/:workload_id`); through the Kubernetes API (2.6+) the dashboard's
    `<base>/dashboard/c/<cluster>/explorer/<group>.<kind>/<namespace>/<name>` (rancher/dashboard's
    routing: `c/:cluster/:product/:resource/:namespace/:id`, resource `apps.deployment`, `batch.cronjob`)."""
    if flavour == "v3":
        return f"{base}/p/{cluster_or_project}/workload/{kind}:{namespace}:{name}"
    group = "batch" if kind == "cronjob" else "apps"
    return f"{base}/dashboard/c/{cluster_or_project}/explorer/{group}.{kind}/{namespace}/{name}"
