"""Rancher 2.x clusters and projects as the settings name them, checked through the v3 management API.

A cluster is named by id (`c-xxxxx`, `local`) or name, a project by id (`c-xxxxx:p-xxxxx`) or name.
Each is checked with one request when the user names it, before "Connected", and a wrong one is a
ConfigError naming the setting and listing what this key sees (a second request, paid only then).
Whichever API then serves the workloads, a namespace belongs to the project its
`field.cattle.io/projectId` annotation names (rancher/rancher pkg/namespace/namespace.go,
NsByProjectID), which is how `check_namespace` holds it to the project the settings name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rancher_deploy.errors import ConfigError, NotFound, PermissionDenied, TargetNotFound, listed
from rancher_deploy.http import JSON, RancherSession

PROJECT_ID = re.compile(r"[\w-]+:p-[a-z0-9]+\Z")
CLUSTER_ID = re.compile(r"(local|c-[a-z0-9][a-z0-9-]*)\Z")
# Rancher records a namespace's project in this annotation, `<cluster>:<project>` (rancher-api.md §5.1).
PROJECT_ANNOTATION = "field.cattle.io/projectId"


@dataclass(frozen=True)
class Projects:
    """What a project setting names, checked: the project of an id, or every project of a name that
    this key sees (each cluster has its own `Default`), as (id, name) pairs, never empty.

    `text` is the setting's value as written and `setting` the setting (CATTLE_URL or RANCHER_PROJECT),
    so that a message names both the way the user did.
    """

    text: str
    setting: str
    found: tuple[tuple[str, str], ...]

    @property
    def ids(self) -> tuple[str, ...]:
        """The project ids, `<cluster>:<project>`."""
        return tuple(project_id for project_id, _ in self.found)

    @property
    def clusters(self) -> tuple[str, ...]:
        """The ids of the clusters these projects are in, sorted."""
        return tuple(sorted({project_id.split(":", 1)[0] for project_id in self.ids}))

    def in_cluster(self, cluster: str) -> Projects:
        """Those in `cluster`; ConfigError naming the setting when none is."""
        kept = tuple(pair for pair in self.found if pair[0].split(":", 1)[0] == cluster)
        if not kept:
            raise ConfigError(self.setting, f"project {self} is not in cluster {cluster}")
        return Projects(self.text, self.setting, kept)

    def __str__(self) -> str:
        if len(self.found) > 1:
            return f"{self.text!r} ({', '.join(self.ids)})"
        project_id, name = self.found[0]
        return f"{name} ({project_id})" if name and name != project_id else project_id


def find_projects(session: RancherSession, root: str, wanted: str, setting: str, *,
                  cluster: str | None = None) -> Projects:
    """The project named by id (one GET), or those named so (one filtered list; in `cluster`, an id,
    when given).

    Raises ConfigError naming `setting` when this key sees no such project, listing those it sees.
    """
    if PROJECT_ID.match(wanted):
        try:
            body = session.get(f"{root}/v3/projects/{wanted}", what=f"Reading project {wanted}")
        except (NotFound, PermissionDenied):
            body = None
        if body is not None:
            return Projects(wanted, setting, ((str(body.get("id") or wanted), str(body.get("name") or "")),))
    else:
        params = {"name": wanted, **({"clusterId": cluster} if cluster else {})}
        listing = session.get_all(f"{root}/v3/projects", params=params, what="Listing projects")
        named = tuple((str(item.get("id")), wanted) for item in listing if item.get("name") == wanted)
        if named:
            return Projects(wanted, setting, named)
    where = f" in cluster {cluster}" if cluster and not PROJECT_ID.match(wanted) else ""
    raise ConfigError(setting, f"project {wanted!r} not found{where}; projects this key sees: "
                               f"{visible_projects(session, root)}")


def visible_projects(session: RancherSession, root: str) -> str:
    """`Default (c-x:p-y), System (c-x:p-z)`: every project this key sees, for a not-found message."""
    return _shown(session.get_all(f"{root}/v3/projects", what="Listing projects"))


def describe_project(session: RancherSession, root: str, project_id: str) -> str:
    """`Default (c-x:p-y)` for a project id, or the id alone where the key may not read the project."""
    try:
        body = session.get(f"{root}/v3/projects/{project_id}", what=f"Reading project {project_id}")
    except (NotFound, PermissionDenied):
        return project_id
    return str(Projects(project_id, "", ((project_id, str(body.get("name") or "")),)))


def project_of(namespace: JSON) -> str | None:
    """The project a Namespace object (as the Kubernetes API serves it) belongs to, or None."""
    owner = ((namespace.get("metadata") or {}).get("annotations") or {}).get(PROJECT_ANNOTATION)
    return str(owner) if owner else None


def check_namespace(session: RancherSession, root: str, project: Projects, namespace: str, body: JSON | None,
                    cluster: str) -> None:
    """Hold the namespace (its Namespace object `body`, None when it does not exist) to `project`.

    TargetNotFound when it does not exist; ConfigError naming the project's setting and the truth
    ("namespace 'shop' is in project Default (c-x:p-y), not in Prod (c-x:p-z)") when it belongs to
    another project or to none: the run acts on the namespace, the project only says where it must be.
    """
    if body is None:
        raise TargetNotFound(f"namespace {namespace!r} not found in cluster {cluster}; check RANCHER_NAMESPACE")
    owner = project_of(body)
    if owner in project.ids:
        return
    if owner is None:
        raise ConfigError(project.setting, f"namespace {namespace!r} is in no Rancher project, not in {project}")
    raise ConfigError(project.setting, f"namespace {namespace!r} is in project "
                                       f"{describe_project(session, root, owner)}, not in {project}")


def find_cluster(session: RancherSession, root: str, wanted: str | None, setting: str) -> JSON:
    """The cluster named by id (one GET) or by name (one filtered list), or the only one this key sees.

    Raises ConfigError naming `setting` and the clusters this key sees when there is no such cluster
    (or several, when none was named). A cluster-scoped token reaches `/v3/clusters/<its id>`:
    Rancher reads the cluster of a request from `/v3/clusters/<id>` as from `/k8s/clusters/<id>`
    (rancher/rancher pkg/clusterrouter GetClusterID).
    """
    if wanted and CLUSTER_ID.match(wanted):
        try:
            return session.get(f"{root}/v3/clusters/{wanted}", what=f"Reading cluster {wanted}")
        except (NotFound, PermissionDenied):
            pass  # the listing below says which clusters there are
    elif wanted:
        by_name = session.get_all(f"{root}/v3/clusters", params={"name": wanted}, what="Listing clusters")
        if len(by_name) == 1:
            return dict(by_name[0])
    clusters = session.get_all(f"{root}/v3/clusters", what="Listing clusters")
    seen = _shown(clusters)
    named = [cluster for cluster in clusters if wanted and cluster.get("name") == wanted]
    if len(named) == 1:
        return dict(named[0])  # a name that looks like an id
    if wanted:
        raise ConfigError(setting, f"cluster {wanted!r} not found; clusters this key sees: {seen}")
    if len(clusters) == 1:
        return clusters[0]
    if not clusters:
        raise TargetNotFound("this key sees no cluster; check the key's permissions")
    raise ConfigError("RANCHER_CLUSTER", f"is required: this key sees several clusters: {seen}")


def _shown(items: list[JSON]) -> str:
    return listed([f"{item.get('name')} ({item.get('id')})" for item in items])
