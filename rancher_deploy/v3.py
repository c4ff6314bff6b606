"""Rancher 2.x workloads through the v3 API: `/v3/project/<cluster>:<project>/workloads/<type>:<ns>:<name>`.

Served by every 2.x (rancher-api.md §5). The object is flattened (no `metadata`, so no generation:
a wait compares `observedGeneration` with the one seen before the change), an image change is a PUT
of the whole object (arrays are replaced whole), and a deployment rolls back by its `rollback`
action naming the ReplicaSet of the revision to return to. v3 keeps no revisions of StatefulSets
and DaemonSets, and sees no namespace outside a Rancher project: for those it turns to the
Kubernetes API Rancher proxies (`kube`), reachable with the same token on every 2.x.
"""

from __future__ import annotations

import dataclasses

from rancher_deploy.errors import (
    ConfigError,
    DeployError,
    NotFound,
    PermissionDenied,
    RefusedError,
    TargetNotFound,
    listed,
)
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.kube import KubeWorkloads
from rancher_deploy.projects import Projects, check_namespace, find_cluster, project_of
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.workload_view import (
    CONTROLLER_REVISION_KINDS,
    NO_EARLIER,
    REVISION,
    TIMESTAMP,
    UNDO_UNSUPPORTED,
    OutsideProjects,
    WorkloadView,
    choose_kind,
    previous_revision,
    rollout_of,
    selector_of,
)

class V3Workloads:
    """`/v3/project/<cluster>:<project>/workloads/<type>:<namespace>:<name>` (Rancher 2.0 and later)."""

    flavour = "v3"

    def __init__(self, session: RancherSession, root: str, project: Projects | None, cluster: str | None, *,
                 cluster_setting: str = "RANCHER_CLUSTER") -> None:
        """`project`: what the project setting names, already checked (`projects.find_projects`);
        `cluster`: the cluster setting's text, checked only when a lookup misses."""
        self._session = session
        self._root = root
        self._project = project
        self._cluster = cluster
        # Where it came from (the URL or its own setting), so that a wrong one is named as the user set it.
        self._cluster_setting = cluster_setting

    def locate(self, target: WorkloadTarget) -> TargetRef:
        """One request per project this key may look in: a GET by id for `kind:name`, a listing
        filtered by name and namespace for a bare name (it answers every kind at once)."""
        projects = self._projects()
        for project_id in projects:
            base = f"{self._root}/v3/project/{project_id}/workloads"
            body: JSON | None
            try:
                if target.kind is not None:
                    body = self._session.get(f"{base}/{target.kind}:{target.namespace}:{target.name}",
                                             what=f"Looking up {target}")
                else:
                    body = self._by_name(base, target)
            except (NotFound, PermissionDenied):
                continue
            if body is not None:
                kind = str(body.get("type") or target.kind).lower()
                workload_id = f"{kind}:{target.namespace}:{target.name}"
                return TargetRef(name=str(WorkloadTarget(kind, target.name, target.namespace)),
                                 id=str(body.get("id") or workload_id),
                                 url=str((body.get("links") or {}).get("self") or f"{base}/{workload_id}"))
        raise self._not_found(target, projects)

    def _by_name(self, base: str, target: WorkloadTarget) -> JSON | None:
        listing = self._session.get(base, params={"name": target.name, "namespaceId": target.namespace},
                                    what=f"Looking up {target}")
        found = {str(item.get("type")).lower(): item for item in listing.get("data") or []
                 if item.get("name") == target.name and item.get("namespaceId") == target.namespace}
        chosen = choose_kind(target, found)
        return None if chosen is None else dict(found[chosen])

    def _projects(self) -> list[str]:
        """The projects to look in: those the project setting names, else every one this key sees (in
        the cluster setting's cluster, when given)."""
        if self._project is not None:
            return list(self._project.ids)
        params = {"clusterId": self._cluster} if self._cluster else {}
        listing = self._session.get(f"{self._root}/v3/projects", params=params, what="Listing projects")
        ids = [str(project["id"]) for project in listing.get("data") or []]
        if not ids and self._cluster:
            find_cluster(self._session, self._root, self._cluster, self._cluster_setting)
        return ids

    # -- when a lookup missed: say why in plain words (these requests are paid only then) --------------

    def _not_found(self, target: WorkloadTarget, projects: list[str]) -> DeployError | OutsideProjects:
        """Name the wrong part: the namespace (absent, in another project than the one the settings
        name, or in none), or the workload (listing what the namespace has). The project itself was
        checked when connecting."""
        clusters = sorted({project.split(":", 1)[0] for project in projects}
                          | ({self._cluster} if self._cluster else set()))
        if not clusters:
            clusters = [str(find_cluster(self._session, self._root, None, self._cluster_setting)["id"])]
        refused: PermissionDenied | None = None
        for cluster in clusters:
            kube = KubeWorkloads(self._session, self._root, cluster)
            try:
                namespace = kube.namespace(target.namespace)
            except PermissionDenied as error:
                refused = error
                continue
            if namespace is None:
                continue
            if self._project is not None:
                try:
                    check_namespace(self._session, self._root, self._project, target.namespace, namespace, cluster)
                except ConfigError as wrong:
                    return wrong
            owner = project_of(namespace)
            if not owner:
                return OutsideProjects(kube, f"namespace {target.namespace!r} is in no Rancher project, so the v3 "
                                             f"API cannot see its workloads; using the Kubernetes API through Rancher "
                                             f"(cluster {cluster}) for this run")
            if owner not in projects:
                return TargetNotFound(f"namespace {target.namespace!r} is in project {owner}, which this key "
                                      "does not see; check the key's permissions (or RANCHER_NAMESPACE)")
            listing = self._session.get(f"{self._root}/v3/project/{owner}/workloads",
                                        params={"namespaceId": target.namespace},
                                        what=f"Listing the workloads in {target.namespace}")
            existing = listed([f"{str(item.get('type')).lower()}:{item.get('name')}"
                               for item in listing.get("data") or []])
            what = f"{target.kind} {target.name!r}" if target.kind else f"workload {target.name!r}"
            return TargetNotFound(f"{what} not found in namespace {target.namespace!r} of project {owner}; "
                                  f"workloads there: {existing}")
        if refused is not None:
            return TargetNotFound(
                f"workload {target.name!r} not found in namespace {target.namespace!r} of any project this key sees; "
                f"a namespace in no Rancher project is invisible to v3, and the Kubernetes API that would tell was "
                f"refused ({refused.status}): check RANCHER_NAMESPACE, or set RANCHER_FLAVOUR=k8s")
        return TargetNotFound(f"namespace {target.namespace!r} not found in cluster {', '.join(clusters)}; "
                              "check RANCHER_NAMESPACE")

    def watch(self, ref: TargetRef) -> None:
        return None  # v3's subscribe websocket is not read yet: waits poll

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        return self.parse(ref, self._session.get(ref.url, what=f"Reading {ref.name}"), baseline)

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        kind = str(body.get("type") or ref.id.split(":")[0]).lower()
        status = body.get("deploymentStatus") or body.get("statefulSetStatus") or body.get("daemonSetStatus") or {}
        # v3 drops metadata (no generation): wait for observedGeneration to pass the baseline instead.
        config = body.get("statefulSetConfig") or body.get("daemonSetConfig") or {}
        rollout = rollout_of(kind, str(body.get("name")), int(body.get("scale") or 0), status,
                             generation=None, baseline=baseline, strategy=config.get("strategy"),
                             partition=config.get("partition"))
        containers = tuple(c for c in body.get("containers") or [] if c.get("initContainer") is not True)
        init = tuple(c for c in body.get("containers") or [] if c.get("initContainer") is True)
        annotations = body.get("annotations") or {}
        return WorkloadView(kind, str(body.get("name")), containers, init, rollout, bool(body.get("paused")),
                            (body.get("workloadAnnotations") or {}).get(REVISION), annotations.get(TIMESTAMP),
                            body)

    def write(self, ref: TargetRef, view: WorkloadView, images: dict[str, str], redeploy: bool) -> int | None:
        baseline = view.rollout.observed_generation
        if redeploy:
            self._session.post(ref.url, {}, params={"action": "redeploy"}, what=f"redeploy of {ref.name}")
            return baseline
        body = dict(view.raw)
        body["containers"] = [
            {**container, "image": images[str(container.get("name"))]}
            if str(container.get("name")) in images else container
            for container in view.raw.get("containers") or []
        ]
        self._session.put(ref.url, body, what=f"update of {ref.name}")
        return baseline

    def earlier(self, ref: TargetRef, view: WorkloadView) -> WorkloadView | None:
        if view.kind in CONTROLLER_REVISION_KINDS:
            # v3 keeps no revisions for them; the Kubernetes API Rancher proxies does, with the same token.
            try:
                return self._kube(view).earlier(ref, view)
            except (NotFound, PermissionDenied) as error:
                raise RefusedError(f"{ref.name}: a {view.kind} keeps its revisions only in the Kubernetes API (v3 "
                                   f"has none), which this key cannot reach (HTTP {error.status}); nothing was "
                                   "changed") from None
        if view.kind != "deployment":
            raise RefusedError(UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
        wanted = previous_revision(view.revision)
        revisions_url = (view.raw.get("links") or {}).get("revisions")
        if wanted is None or not revisions_url:
            return None
        revisions = self._session.get(str(revisions_url), what=f"Reading the revisions of {ref.name}")
        for replica_set in revisions.get("data") or []:
            if (replica_set.get("workloadAnnotations") or {}).get(REVISION) == wanted:
                return dataclasses.replace(self.parse(ref, replica_set, None), kind=view.kind)
        return None

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None:
        baseline = view.rollout.observed_generation
        if previous is None:
            previous = self.earlier(ref, view)
            if previous is None:
                raise RefusedError(NO_EARLIER.format(name=ref.name) + "; nothing was changed")
            if view.kind in CONTROLLER_REVISION_KINDS:
                self._kube(view).undo_to(ref, view.kind, view.name, previous.raw)
            else:
                self._rollback_to(ref, previous.raw)
            return baseline
        revisions_url = (view.raw.get("links") or {}).get("revisions")
        if view.kind == "deployment" and revisions_url and previous.revision:
            revisions = self._session.get(str(revisions_url), what=f"Reading the revisions of {ref.name}")
            for replica_set in revisions.get("data") or []:
                if (replica_set.get("workloadAnnotations") or {}).get(REVISION) == previous.revision:
                    self._rollback_to(ref, replica_set)
                    return baseline
        if view.kind in CONTROLLER_REVISION_KINDS and self._undo(ref, view, previous):
            return baseline
        body = dict(view.raw)
        body["containers"] = [*previous.containers, *previous.init_containers]
        self._session.put(ref.url, body, what=f"rollback of {ref.name}")
        return baseline

    def _rollback_to(self, ref: TargetRef, replica_set: JSON) -> None:
        """v3's `rollback` action of a deployment, to one of the ReplicaSets its revisions link lists."""
        self._session.post(ref.url, {"replicaSetId": replica_set["id"]}, params={"action": "rollback"},
                           what=f"rollback of {ref.name}")

    def _undo(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView) -> bool:
        """A StatefulSet or DaemonSet rolls back through the Kubernetes API Rancher proxies (reachable with
        the same token on every 2.x), because v3 keeps no revisions for them. False when that API is not
        reachable or holds no revision of this run's previous containers: a v3 PUT of them follows."""
        images = {str(c.get("name")): str(c.get("image")) for c in previous.containers}
        try:
            self._kube(view).undo(ref, view.kind, view.name, selector_of(view.raw), images)
        except (NotFound, PermissionDenied, RefusedError):
            return False
        return True

    def release(self, ref: TargetRef, view: WorkloadView) -> list[str] | None:
        return self._kube(view).release(ref, view)

    def _kube(self, view: WorkloadView) -> KubeWorkloads:
        """The Kubernetes API of the workload's cluster (its project id is `<cluster>:<project>`)."""
        project = str(view.raw.get("projectId") or (self._project.ids[0] if self._project else ""))
        return KubeWorkloads(self._session, self._root, project.split(":", 1)[0] or str(self._cluster or "local"))
