"""The Kubernetes resources the proxy serves, as data: discovery, routes, lists and tables read it.

One row per resource, with what API discovery says about it (k8s.io/apimachinery
pkg/apis/meta/v1 APIResource: name, singularName, namespaced, kind, verbs, shortNames,
categories), so that kubectl's RESTMapper finds `deployments`, `deploy`, `deployment.apps` the
way it does on a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One served resource: ``plural`` is its URL segment (``deployments``)."""

    plural: str
    group: str                      # "" for the core group (/api/v1)
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = READ
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    workload: str | None = None     # our workload kind when this is one (deployment, ...)

    @property
    def version(self) -> str:
        return "v1"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """How apiserver messages name it: ``deployments.apps``, ``namespaces``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> dict[str, object]:
        """The APIResource entry of /api/v1 or /apis/<group>/v1."""
        doc: dict[str, object] = {"name": self.plural, "singularName": self.singular,
                                  "namespaced": self.namespaced, "kind": self.kind, "verbs": list(self.verbs)}
        if self.short_names:
            doc["shortNames"] = list(self.short_names)
        if self.categories:
            doc["categories"] = list(self.categories)
        return doc


# What kube-apiserver's discovery says about each (pkg/registry/*/rest storage: ShortNames,
# Categories); the controllers own pods, replicasets and controllerrevisions (a pod can be deleted).
RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "", "Namespace", namespaced=False, short_names=("ns",)),
    Resource("pods", "", "Pod", verbs=("delete", *READ), short_names=("po",), categories=("all",)),
    Resource("deployments", "apps", "Deployment", verbs=WRITE, short_names=("deploy",), categories=("all",),
             workload="deployment"),
    Resource("statefulsets", "apps", "StatefulSet", verbs=WRITE, short_names=("sts",), categories=("all",),
             workload="statefulset"),
    Resource("daemonsets", "apps", "DaemonSet", verbs=WRITE, short_names=("ds",), categories=("all",),
             workload="daemonset"),
    Resource("replicasets", "apps", "ReplicaSet", short_names=("rs",), categories=("all",)),
    Resource("controllerrevisions", "apps", "ControllerRevision"),
    Resource("cronjobs", "batch", "CronJob", verbs=WRITE, short_names=("cj",), categories=("all",),
             workload="cronjob"),
)
BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in RESOURCES if r.group))


def resource_at(group: str, plural: str) -> Resource | None:
    """The resource served at ``/apis/<group>/v1/<plural>`` (group "" for ``/api/v1``), if any."""
    found = BY_PLURAL.get(plural.lower())
    return found if found is not None and found.group == group else None
