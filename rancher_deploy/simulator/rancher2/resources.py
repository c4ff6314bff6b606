"""The Kubernetes resources the proxy serves, as data: discovery, routes, lists and tables read it.

One row per resource, with what API discovery says about it (k8s.io/apimachinery
pkg/apis/meta/v1 APIResource: name, singularName, namespaced, kind, verbs, shortNames,
categories), so that kubectl's RESTMapper finds `deployments`, `deploy`, `deployment.apps` the
way it does on a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = ("get", "list", "watch")
# (version, first Kubernetes minor serving it, last one or None): what every resource but CronJobs has.
ALWAYS: tuple[tuple[str, int, int | None], ...] = (("v1", 0, None),)
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
    versions: tuple[tuple[str, int, int | None], ...] = ALWAYS  # preferred first

    def served(self, kube_minor: int) -> tuple[str, ...]:
        """The versions a cluster of Kubernetes 1.<kube_minor> serves this resource under, preferred first."""
        return tuple(version for version, first, last in self.versions
                     if first <= kube_minor and (last is None or kube_minor <= last))

    def group_version(self, version: str = "v1") -> str:
        return f"{self.group}/{version}" if self.group else version

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
    # Jobs are batch/v1 on every release (pkg/registry/batch/rest/storage_batch.go registers them in
    # v1Storage), so /apis/batch lists v1 even where CronJobs are only in v1beta1. The simulator
    # keeps no Jobs: listed for discovery, their collection is empty.
    Resource("jobs", "batch", "Job", verbs=WRITE, categories=("all",)),
    # batch/v1 CronJob is GA from Kubernetes 1.21; batch/v1beta1 is served from 1.8 until its removal
    # in 1.25 (kubernetes CHANGELOG-1.21 and the 1.25 deprecated API migration guide).
    Resource("cronjobs", "batch", "CronJob", verbs=WRITE, short_names=("cj",), categories=("all",),
             workload="cronjob", versions=(("v1", 21, None), ("v1beta1", 8, 24))),
)
BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in RESOURCES if r.group))


def group_versions(group: str, kube_minor: int) -> tuple[str, ...]:
    """The versions of ``group`` a cluster of Kubernetes 1.<kube_minor> serves, preferred first."""
    found: dict[str, None] = {}
    for resource in RESOURCES:
        if resource.group == group:
            found.update(dict.fromkeys(resource.served(kube_minor)))
    return tuple(sorted(found, key=lambda version: (version != "v1", version)))


def resource_at(group: str, plural: str, version: str = "v1", kube_minor: int | None = None) -> Resource | None:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (group "" for ``/api/v1``), if any;
    with ``kube_minor``, only when a cluster of that Kubernetes release serves that version."""
    found = BY_PLURAL.get(plural.lower())
    if found is None or found.group != group:
        return None
    if kube_minor is not None and version not in found.served(kube_minor):
        return None
    return found
