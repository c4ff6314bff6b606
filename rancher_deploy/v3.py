"""Rancher 2.x workloads through the v3 API: `/v3/project/<cluster>:<project>/workloads/<type>:<ns>:<name>`.

Served by every 2.x (rancher-api.md §5). The object is flattened (no `metadata`, so no generation:
a wait compares `observedGeneration` with the one seen before the change), an image change is a PUT
of the whole object (arrays are replaced whole), and a deployment rolls back by its `rollback`
action naming the ReplicaSet of the revision to return to. v3 keeps no revisions of StatefulSets
and DaemonSets, and sees no namespace outside a Rancher project: for those it turns to the
Kubernetes API Rancher proxies (`kube`), reachable with the same token on every 2.x. So it does
for every change (and its rollback) that Rancher 2.5 and before would otherwise write through
their environment mapper, which rewrites the containers' variables.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from rancher_deploy.envlabels import CHANGE_CAUSE, edit_map, edit_v3_env
from rancher_deploy.errors import (
    ConfigError,
    DeployError,
    NotFound,
    PermissionDenied,
    RefusedError,
    TargetMissing,
    TargetNotFound,
    listed,
)
from rancher_deploy.creation import Creation, v3_body
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.kube import KubeWorkloads
from rancher_deploy.links import workload_page
from rancher_deploy.plan import WorkloadUpdate
from rancher_deploy.fleet import places
from rancher_deploy.fleet_options import Patterns
from rancher_deploy.projects import Projects, check_namespace, find_cluster, project_of
from rancher_deploy.targets import WORKLOAD_KINDS
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef, texts
from rancher_deploy.streams import Lost
from rancher_deploy.subscribe import WorkloadEvents
from rancher_deploy.workload_view import (
    CONTROLLER_REVISION_KINDS,
    Listing,
    NO_EARLIER,
    REVISION,
    TIMESTAMP,
    UNDO_UNSUPPORTED,
    Located,
    OutsideProjects,
    WorkloadView,
    Written,
    choose_kind,
    previous_revision,
    rollout_of,
    selector_keys,
    selector_of,
    timestamp_now,
)

class V3Workloads:
    """`/v3/project/<cluster>:<project>/workloads/<type>:<namespace>:<name>` (Rancher 2.0 and later)."""

    flavour = "v3"

    def __init__(self, session: RancherSession, root: str, project: Projects | None, cluster: str | None, *,
                 cluster_setting: str = "RANCHER_CLUSTER", warn: Callable[[str], None] = lambda text: None,
                 env_lists: bool = False) -> None:
        """`project`: what the project setting names, already checked (`projects.find_projects`);
        `cluster`: the cluster setting's text, checked only when a lookup misses; `warn` says what
        the run does differently from what the user may expect (a write through another API);
        `env_lists`: this Rancher is 2.6 or later, whose v3 containers carry Kubernetes' `env`
        (`envlabels.edit_v3_env`)."""
        self.env_lists = env_lists
        self._session = session
        self._warn = warn
        self._kubes: dict[str, KubeWorkloads] = {}
        # Workload id -> the workload as the Kubernetes API held it before this run changed it there
        # (`_through_kube`), so that a rollback puts exactly that back.
        self._kube_before: dict[str, WorkloadView] = {}
        self._homes: dict[str, str] = {}  # namespace -> the project it was found in, when a lookup missed
        self._root = root
        self._project = project
        self._seen_projects: list[str] | None = None  # every project this key sees, once listed
        self._cluster = cluster
        # Where it came from (the URL or its own setting), so that a wrong one is named as the user set it.
        self._cluster_setting = cluster_setting
        # Set once a subscribe stream could not be opened, broke or went silent: later waits poll (said once).
        self._stream_lost = Lost()

    def locate(self, target: WorkloadTarget) -> Located:
        """One request per project this key may look in: a GET by id for `kind:name`, a listing
        filtered by name and namespace for a bare name (it answers every kind at once, each item the
        whole workload, as a GET of it would)."""
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
                return Located(TargetRef(name=str(WorkloadTarget(kind, target.name, target.namespace)),
                                         id=str(body.get("id") or workload_id),
                                         url=str((body.get("links") or {}).get("self") or f"{base}/{workload_id}"),
                                         ui_url=workload_page(self._root, flavour="v3", cluster_or_project=project_id,
                                                              kind=kind, namespace=target.namespace, name=target.name)),
                               body)
        raise self._not_found(target, projects)

    def survey(self, namespaces: Patterns | None, labels: tuple[str, ...]) -> Listing:
        """One paged list of workloads per project this key sees (the project setting's, when named):
        v3 filters a list by fields such as the name or the namespace, not by label (norman
        parse/collection.go; rancher-api.md §5), so the namespaces are chosen here, from the
        workloads' `namespaceId`. v3 sees no namespace outside a Rancher project."""
        everything: list[tuple[str, JSON]] = []
        for project_id in self._projects():
            base = f"{self._root}/v3/project/{project_id}/workloads"
            listing = self._session.get_all(base, what=f"Listing the workloads of project {project_id}")
            everything += [(str(item.get("type")).lower(), {"links": {"self": f"{base}/{item.get('id')}"}, **item})
                           for item in listing]
        everything = [(kind, item) for kind, item in everything if kind in WORKLOAD_KINDS]
        searched, passed = places(list(dict.fromkeys(str(item.get("namespaceId")) for _, item in everything)),
                                  namespaces)
        found = []
        for kind, item in everything:
            namespace = str(item.get("namespaceId"))
            if namespace in searched:
                workload_id = f"{kind}:{namespace}:{item.get('name')}"
                page = workload_page(self._root, flavour="v3", cluster_or_project=str(item.get("projectId")), kind=kind,
                                     namespace=namespace, name=str(item.get("name")))
                found.append((TargetRef(name=str(WorkloadTarget(kind, str(item.get("name")), namespace)),
                                        id=str(item.get("id") or workload_id),
                                        url=str((item.get("links") or {}).get("self")), ui_url=page), item))
        return Listing(searched, passed, tuple(found),
                       unlisted="namespaces in no Rancher project are not searched: the v3 API sees none")

    def _by_name(self, base: str, target: WorkloadTarget) -> JSON | None:
        listing = self._session.get_all(base, params={"name": target.name, "namespaceId": target.namespace},
                                        what=f"Looking up {target}")
        found = {str(item.get("type")).lower(): item for item in listing
                 if item.get("name") == target.name and item.get("namespaceId") == target.namespace}
        chosen = choose_kind(target, found)
        return None if chosen is None else dict(found[chosen])

    def _projects(self) -> list[str]:
        """The projects to look in: those the project setting names, else every one this key sees (in
        the cluster setting's cluster, when given), listed once per run however many targets."""
        if self._project is not None:
            return list(self._project.ids)
        if self._seen_projects is None:
            params = {"clusterId": self._cluster} if self._cluster else {}
            listing = self._session.get_all(f"{self._root}/v3/projects", params=params, what="Listing projects")
            self._seen_projects = [str(project["id"]) for project in listing]
            if not self._seen_projects and self._cluster:
                find_cluster(self._session, self._root, self._cluster, self._cluster_setting)
        return self._seen_projects

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
            listing = self._session.get_all(f"{self._root}/v3/project/{owner}/workloads",
                                        params={"namespaceId": target.namespace},
                                        what=f"Listing the workloads in {target.namespace}")
            existing = listed([f"{str(item.get('type')).lower()}:{item.get('name')}"
                               for item in listing])
            what = f"{target.kind} {target.name!r}" if target.kind else f"workload {target.name!r}"
            self._homes[target.namespace] = owner  # where RANCHER_CREATE would make it
            return TargetMissing(f"{what} not found in namespace {target.namespace!r} of project {owner}; "
                                  f"workloads there: {existing}")
        if refused is not None:
            return TargetNotFound(
                f"workload {target.name!r} not found in namespace {target.namespace!r} of any project this key sees; "
                f"a namespace in no Rancher project is invisible to v3, and the Kubernetes API that would tell was "
                f"refused ({refused.status}): check RANCHER_NAMESPACE, or set `RANCHER_FLAVOUR=k8s`")
        return TargetNotFound(f"namespace {target.namespace!r} not found in cluster {', '.join(clusters)}; "
                              "check RANCHER_NAMESPACE")

    def watch(self, ref: TargetRef, last: JSON | None = None) -> WorkloadEvents | None:
        """Norman's subscribe websocket of the workload's project, narrowed to its kind and
        namespace (no read: norman sends the workload as it is first); None once a stream was
        lost in this run (`last`, the write's answer, is not needed for that reason). Raises
        StreamLost when it cannot be opened."""
        if self._stream_lost.is_set():
            return None
        return WorkloadEvents(self._session, ref, lambda: self._session.get(ref.url, what=f"Reading {ref.name}"),
                              self._stream_lost)

    def create(self, creation: Creation) -> TargetRef:
        """POST the deployment to `/v3/project/<id>/workloads` of the project holding its namespace (201)."""
        project = self._homes.get(creation.parent)
        if project is None:  # `locate` names it whenever it misses a workload in a namespace that exists
            raise RefusedError(f"cannot tell which project holds namespace {creation.parent!r}; nothing was changed")
        base = f"{self._root}/v3/project/{project}/workloads"
        body = self._session.post(base, v3_body(creation, env_lists=self.env_lists), what=f"Creating {creation.name}")
        workload_id = f"deployment:{creation.parent}:{creation.target.name}"
        return TargetRef(name=creation.name, id=str(body.get("id") or workload_id),
                         url=str((body.get("links") or {}).get("self") or f"{base}/{workload_id}"))

    def remove(self, ref: TargetRef) -> None:
        self._session.delete(ref.url, what=f"Removing {ref.name}")

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
        # v3 shows the pod template's metadata as `labels`/`annotations` and the workload's own as
        # `workloadLabels`/`workloadAnnotations` (rancher/types NewWorkloadTypeMapper; rancher-api.md §5.2).
        workload_annotations = body.get("workloadAnnotations") or {}
        return WorkloadView(kind, str(body.get("name")), containers, init, rollout, bool(body.get("paused")),
                            workload_annotations.get(REVISION), annotations.get(TIMESTAMP), body,
                            labels=dict(body.get("labels") or {}), selector=selector_keys(body.get("selector")),
                            cause=workload_annotations.get(CHANGE_CAUSE),
                            state=str(body["state"]) if body.get("state") else None,
                            own_labels=texts(body.get("workloadLabels")), own_annotations=texts(workload_annotations))

    def write(self, ref: TargetRef, view: WorkloadView, update: WorkloadUpdate) -> Written:
        """The update in one write, where Rancher's environment mapper cannot rewrite the variables.

        A redeploy (same images; the plan makes one only when the edits change nothing) is Rancher's
        `redeploy` action, or where Rancher has none (2.0-2.3, rancher/rancher#23053) or the record
        goes with it, one PUT of the pod template's annotations with a new `cattle.io/timestamp`
        (as Rancher's own UI did then) and the record in `workloadAnnotations`. Where Rancher maps the
        containers' environment (2.5 and before) every other change goes through the Kubernetes API
        (`_through_kube`); else a PUT of the whole object. A PUT answers the object as updated
        (norman's update handler writes what the store returned), which `Written` carries.
        """
        baseline = view.rollout.observed_generation
        if update.redeploy and "redeploy" in (view.raw.get("actions") or {}) and not update.cause:
            self._session.post(ref.url, {}, params={"action": "redeploy"}, what=f"redeploy of {ref.name}")
            return Written(baseline)  # actions answer an empty body
        if update.redeploy:
            # Only the fields it changes: norman maps and merges only what a PUT sends
            # (store/proxy/proxy_store.go Update), so nothing else, the environment included, is rewritten.
            stamped = {**(view.raw.get("annotations") or {}), TIMESTAMP: timestamp_now(view.timestamp)}
            body: JSON = {"annotations": stamped}
            if update.cause:
                body["workloadAnnotations"] = _recorded(view, update.cause)
            return Written(baseline, self._session.put(ref.url, body, what=f"redeploy of {ref.name}") or None)
        if _rewrites_environment(view, update, self.env_lists) and self._through_kube(ref, view, update):
            return Written(baseline)  # the answer is the Kubernetes object, not v3's
        # The whole object goes back: a PUT replaces each field it sends (arrays and label and
        # annotation maps whole, norman merge.APIUpdateMerge), so every container and every pod-template
        # label and annotation, `cattle.io/*` ones included, is sent as read.
        body = dict(view.raw)
        body["containers"] = [self._updated(container, update) for container in view.raw.get("containers") or []]
        if update.labels:
            body["labels"] = edit_map(view.raw.get("labels"), update.labels, "labels")[0]
        if update.cause:
            body["workloadAnnotations"] = _recorded(view, update.cause)
        return Written(baseline, self._session.put(ref.url, body, what=f"update of {ref.name}") or None)

    def _updated(self, container: JSON, update: WorkloadUpdate) -> JSON:
        name = str(container.get("name"))
        if name not in update.images:
            return container
        changed = {**container, "image": update.images[name]}
        return edit_v3_env(changed, update.env, name, lists=self.env_lists)[0] if update.env else changed

    def _through_kube(self, ref: TargetRef, view: WorkloadView, update: WorkloadUpdate) -> bool:
        """Make the update through the Kubernetes API Rancher proxies: one strategic merge patch that
        names only the images, the `env` entries and labels edited and the record (`KubeWorkloads.write`),
        against the object read there just before (its `env` in its own order); False when that API
        is not reachable with this key (the v3 PUT follows).

        Rancher 2.0-2.5 show a container's variables as `environment`/`environmentFrom` and rebuild
        `env` and `envFrom` from them on every write, whatever the PUT changes (rancher
        pkg/schemas/mapper/env.go ToInternal): plain variables sorted by name before the sourced ones,
        so a `$(VAR)` reference to a later variable breaks, and unset `optional` flags written out.
        """
        kube = self._kube(view)
        there = kube.ref_for(ref)
        try:
            before = kube.read(there, None)
            # Kept before the patch is sent: one that times out may still have been taken.
            self._kube_before[ref.id] = before
            kube.write(there, before, update)
        except (NotFound, PermissionDenied) as error:
            self._kube_before.pop(ref.id, None)
            self._warn(f"{ref.name}: Rancher's v3 API rewrites the containers' environment variables on every "
                       f"change (plain ones sorted by name first), and the Kubernetes API that would keep them "
                       f"as they are was refused (HTTP {error.status}); changing it through v3")
            return False
        return True

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
        revisions = self._session.get_all(str(revisions_url), what=f"Reading the revisions of {ref.name}")
        for replica_set in revisions:
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
        before = self._kube_before.pop(ref.id, None)
        if before is not None and self._restore_through_kube(ref, view, before):
            return baseline
        revisions_url = (view.raw.get("links") or {}).get("revisions")
        # v3's rollback copies only the ReplicaSet's pod spec (workload.go rollbackDeployment): labels,
        # pod annotations and the record this run changed go back by the PUT below instead.
        spec_only = (view.labels, view.raw.get("annotations"), view.cause) == (
            previous.labels, previous.raw.get("annotations"), previous.cause)
        if view.kind == "deployment" and revisions_url and previous.revision and spec_only:
            revisions = self._session.get_all(str(revisions_url), what=f"Reading the revisions of {ref.name}")
            for replica_set in revisions:
                if (replica_set.get("workloadAnnotations") or {}).get(REVISION) == previous.revision:
                    self._rollback_to(ref, replica_set)
                    return baseline
        if view.kind in CONTROLLER_REVISION_KINDS and self._undo(ref, view, previous):
            return baseline
        # The before-image's pod-template maps and record, sent whole (a PUT replaces them), and its
        # containers only where they differ: norman maps only what a PUT sends, so a redeploy's
        # rollback leaves the environment to no mapper (2.5 and before) either.
        annotations = {key: value for key, value in (view.raw.get("workloadAnnotations") or {}).items()
                       if key != CHANGE_CAUSE}
        body: JSON = {
            "labels": previous.raw.get("labels") or {},
            "annotations": previous.raw.get("annotations") or {},
            "workloadAnnotations": {**annotations, **({CHANGE_CAUSE: previous.cause} if previous.cause else {})},
        }
        if view.raw.get("containers") != previous.raw.get("containers"):
            body["containers"] = [*previous.containers, *previous.init_containers]
        self._session.put(ref.url, body, what=f"rollback of {ref.name}")
        return baseline

    def _restore_through_kube(self, ref: TargetRef, view: WorkloadView, before: WorkloadView) -> bool:
        """Put back, through the Kubernetes API, what this run changed there (`_through_kube`): its
        before-image's pod template whole and its record (`KubeWorkloads.restore`), so that no
        mapper reorders the variables on the way back either. False when that API now refuses this
        key: v3 restores it instead, with a warning that its mapper rewrites the variables."""
        kube = self._kube(view)
        there = kube.ref_for(ref)
        try:
            kube.restore(there, kube.read(there, None), before)
        except (NotFound, PermissionDenied) as error:
            self._warn(f"{ref.name}: the Kubernetes API that changed it refused its rollback (HTTP {error.status}); "
                       "rolling it back through v3, which rewrites the containers' environment variables "
                       "(plain ones sorted by name first)")
            return False
        return True

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
        """The Kubernetes API of the workload's cluster (its project id is `<cluster>:<project>`), one
        per cluster and run, so that what it discovers (the batch API version) is asked once."""
        project = str(view.raw.get("projectId") or (self._project.ids[0] if self._project else ""))
        cluster = project.split(":", 1)[0] or str(self._cluster or "local")
        if cluster not in self._kubes:
            self._kubes[cluster] = KubeWorkloads(self._session, self._root, cluster)
        return self._kubes[cluster]


def _rewrites_environment(view: WorkloadView, update: WorkloadUpdate, env_lists: bool) -> bool:
    """Whether a v3 PUT of this update would have Rancher's environment mapper rewrite variables:
    a container shows them mapped (`environment`/`environmentFrom`), or the update adds some on a
    Rancher that maps them (before 2.6: `env_lists` false), which would sort them by name."""
    mapped = any("environment" in container or "environmentFrom" in container
                 for container in view.raw.get("containers") or [])
    return mapped or (bool(update.env) and not env_lists)


def _recorded(view: WorkloadView, cause: str) -> JSON:
    """The workload's own annotations with the deploy record: its own metadata starts no rollout, and a
    PUT keeps the `cattle.io/` keys and replaces the rest (merge.go mergeProtected), so the map goes whole."""
    return {**(view.raw.get("workloadAnnotations") or {}), CHANGE_CAUSE: cause}
