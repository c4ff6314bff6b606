"""Rancher 2.x workloads through the Kubernetes API Rancher proxies: `/k8s/clusters/<cluster>/apis/...`.

Served by every 2.x with the same token (rancher-api.md §6), and what Rancher's own UI uses from
2.6 on. An image change is a strategic merge patch naming only the containers; a rollback puts a
previous pod template back, as `kubectl rollout undo` does on the client side (a Deployment's from
its ReplicaSets, a StatefulSet's or DaemonSet's from its ControllerRevisions, for v3 runs too). It
also reads a namespace (its Rancher project) and deletes the pods a StatefulSet's rollback waits for.
"""

from __future__ import annotations

import copy

from rancher_deploy.creation import Creation, deployment_body
from rancher_deploy.envlabels import CHANGE_CAUSE, env_patch
from rancher_deploy.errors import NotFound, PermissionDenied, RefusedError, TargetMissing, TargetNotFound, listed
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.links import workload_page
from rancher_deploy.plan import WorkloadUpdate
from rancher_deploy.kubewatch import KubeWatch
from rancher_deploy.streams import Lost
from rancher_deploy.fleet import places
from rancher_deploy.fleet_options import Patterns
from rancher_deploy.projects import Projects, check_namespace, project_of
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef, texts
from rancher_deploy.targets import WORKLOAD_KINDS
from rancher_deploy.workload_view import (
    CONTROLLER_REVISION_KINDS,
    Listing,
    NO_EARLIER,
    PLURALS,
    Located,
    REVISION,
    TIMESTAMP,
    UNDO_UNSUPPORTED,
    WorkloadView,
    Written,
    choose_kind,
    int_or_none,
    pod_spec_of,
    previous_revision,
    rollout_of,
    selector_keys,
    selector_of,
    template_of,
    timestamp_now,
)

STRATEGIC = "application/strategic-merge-patch+json"
# The label a StatefulSet's pods carry: the name of the ControllerRevision they run.
REVISION_HASH = "controller-revision-hash"


class KubeWorkloads:
    """`/k8s/clusters/<cluster>/apis/apps/v1/...` (every 2.x; what Rancher's own UI uses from 2.6)."""

    flavour = "k8s"
    env_lists = True  # the Kubernetes object: containers carry `env`

    def __init__(self, session: RancherSession, root: str, cluster: str, project: Projects | None = None, *,
                 quiet_seconds: float = 2.0) -> None:
        """`project`: what the project setting names in this cluster, already checked; each namespace
        the run acts in must belong to it (one GET of the namespace, only when a project is named).
        `quiet_seconds`: how long a watch may be silent during a rollout before one read checks that
        a proxy does not hold it (RANCHER_POLL_INTERVAL; `kubewatch.KubeWatch`)."""
        self._session = session
        self._quiet_seconds = quiet_seconds
        self._watch_lost = Lost()   # set once a watch could not be opened, failed or was held: later waits poll
        self._root = root
        self._base = f"{root}/k8s/clusters/{cluster}"
        self.cluster = cluster
        self._project = project
        self._namespaces: dict[str, JSON | None] = {}
        self._batch: str | None = None  # the batch API version CronJobs are served under, once asked

    def _url(self, kind: str, namespace: str, name: str = "") -> str:
        """The object's URL (its collection's with no name)."""
        return f"{self._group(kind)}/namespaces/{namespace}/{PLURALS[kind]}" + (f"/{name}" if name else "")

    def _group(self, kind: str) -> str:
        """The API group and version `kind` is served under, as a URL."""
        return f"{self._base}/" + (f"apis/batch/{self._batch_version()}" if kind == "cronjob" else "apis/apps/v1")

    def _batch_version(self) -> str:
        """The version of the batch API this cluster serves CronJobs under, asked once: batch/v1 from
        Kubernetes 1.21, batch/v1beta1 before it (an older cluster answers a batch/v1 CronJob 404).

        Read from batch/v1's resource list (`GET /apis/batch/v1`, client-go's
        ServerResourcesForGroupVersion), not from the group's versions: every release serves Jobs in
        batch/v1 (pkg/registry/batch/rest/storage_batch.go), so the group lists v1 either way. v1
        when discovery does not answer (the apiserver's own choice since 1.21)."""
        if self._batch is None:
            try:
                v1 = self._session.get_optional(f"{self._base}/apis/batch/v1",
                                                what="Reading the batch API's resources")
            except PermissionDenied:
                v1 = None
            if v1 is None:
                self._batch = "v1"
            else:
                names = {str(resource.get("name")) for resource in v1.get("resources") or []}
                self._batch = "v1" if "cronjobs" in names else "v1beta1"
        return self._batch

    def locate(self, target: WorkloadTarget) -> Located:
        """One GET of the named kind, or of each kind for a bare name (no Kubernetes request spans
        kinds), whose answer is the workload read; only when nothing is found, one GET of the
        namespace (TargetNotFound when it does not exist) and one list per kind, which says what the
        namespace has. With a project named, the namespace is read first (once per run) and held to
        it (`projects.check_namespace`)."""
        if self._project is not None:
            check_namespace(self._session, self._root, self._project, target.namespace,
                            self._namespace(target.namespace), self.cluster)
        kinds = (target.kind,) if target.kind else WORKLOAD_KINDS
        found: dict[str, JSON] = {}
        for kind in kinds:
            body = self._session.get_optional(self._url(kind, target.namespace, target.name),
                                              what=f"Looking up {kind} {target.name}")
            if body is not None:
                found[kind] = body
        chosen = choose_kind(target, found)
        if chosen is not None:
            return Located(self._ref(chosen, target), found[chosen])
        if self._namespace(target.namespace) is None:
            raise TargetNotFound(f"namespace {target.namespace!r} not found in cluster {self.cluster}; "
                                 "check RANCHER_NAMESPACE")
        first = target.kind or "deployment"
        names: dict[str, set[str]] = {}
        if target.kind is None:
            for kind in WORKLOAD_KINDS[1:]:
                names[kind] = self._names(kind, target.namespace)
        names[first] = self._names(first, target.namespace)
        where = f"in namespace {target.namespace!r} of cluster {self.cluster}"
        if target.kind is not None:
            raise TargetMissing(f"{target.kind} {target.name!r} not found {where}; {PLURALS[target.kind]} there: "
                                f"{listed(names[target.kind])}")
        existing = listed([f"{kind}:{name}" for kind, there in names.items() for name in there])
        raise TargetMissing(f"workload {target.name!r} not found {where} (no {', '.join(WORKLOAD_KINDS)} has that "
                            f"name); workloads there: {existing}")

    def survey(self, namespaces: Patterns | None, labels: tuple[str, ...]) -> Listing:
        """The namespaces (one chunked list; with a project named, those of the project), then per kind
        and opt-in label one chunked list across the cluster with `labelSelector=<label>` (the label's
        existence, so that a value other than true is seen and said): the requests grow with the pages
        of those lists, not with the namespaces or workloads. A key that may not list a kind across the
        cluster (403) lists it per namespace searched instead."""
        every = list_chunks(self._session, f"{self._base}/api/v1/namespaces", {}, what="Listing namespaces")
        names = [str((item.get("metadata") or {}).get("name")) for item in every
                 if self._project is None or project_of(item) in self._project.ids]
        searched, passed = places(names, namespaces)
        kept = set(searched)
        found: dict[str, tuple[TargetRef, JSON]] = {}
        for kind in WORKLOAD_KINDS:
            for label in labels:
                for item in self._listed(kind, label, searched):
                    metadata = item.get("metadata") or {}
                    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
                    if namespace in kept:
                        ref = self._ref(kind, WorkloadTarget(kind, name, namespace))
                        found.setdefault(ref.id, (ref, item))
        return Listing(searched, passed, tuple(found.values()),
                       unlisted=f"workloads without a label {' or '.join(labels)} are not listed: Kubernetes leaves "
                                "them out (labelSelector)")

    def _listed(self, kind: str, label: str, namespaces: tuple[str, ...]) -> list[JSON]:
        """Every `kind` carrying `label`, across the cluster, else (403) in each of `namespaces`."""
        what = f"Listing {PLURALS[kind]} labelled {label}"
        try:
            return list_chunks(self._session, f"{self._group(kind)}/{PLURALS[kind]}", {"labelSelector": label}, what=what)
        except PermissionDenied:
            return [item for namespace in namespaces for item in list_chunks(
                self._session, self._url(kind, namespace), {"labelSelector": label}, what=what)]

    def namespace(self, name: str) -> JSON | None:
        """The Namespace object (None when it does not exist); its annotations say its Rancher project."""
        return self._session.get_optional(f"{self._base}/api/v1/namespaces/{name}", what=f"Reading namespace {name}")

    def _namespace(self, name: str) -> JSON | None:
        """`namespace`, read once per run and namespace."""
        if name not in self._namespaces:
            self._namespaces[name] = self.namespace(name)
        return self._namespaces[name]

    def _names(self, kind: str, namespace: str) -> set[str]:
        listing = self._session.get(self._url(kind, namespace), what=f"Listing {PLURALS[kind]} in {namespace}")
        return {str((item.get("metadata") or {}).get("name")) for item in listing.get("items") or []}

    def ref_for(self, ref: TargetRef) -> TargetRef:
        """The same workload (its id `kind:namespace:name`, as v3 names it too) at its URL here."""
        kind, namespace, name = ref.id.split(":", 2)
        return TargetRef(name=ref.name, id=ref.id, url=self._url(kind, namespace, name), ui_url=ref.ui_url)

    def _ref(self, kind: str, target: WorkloadTarget) -> TargetRef:
        found = WorkloadTarget(kind, target.name, target.namespace)
        return TargetRef(name=str(found), id=f"{kind}:{target.namespace}:{target.name}",
                         url=self._url(kind, target.namespace, target.name),
                         ui_url=workload_page(self._root, flavour="k8s", cluster_or_project=self.cluster, kind=kind,
                                              namespace=target.namespace, name=target.name))

    def watch(self, ref: TargetRef, last: JSON | None = None) -> KubeWatch | None:
        """A watch of the workload (one GET, then one long request; from `last`, the write's answer,
        the long request alone), None once a watch was lost in this run; what `read` raises for the
        GET (a refused watch request comes as StreamLost from `next`)."""
        if self._watch_lost.is_set():
            return None
        return KubeWatch(self._session, ref, self._watch_lost, self._quiet_seconds, last,
                         clock=self._session.clock, sleep=self._session.sleep)

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        return self.parse(ref, self._session.get(ref.url, what=f"Reading {ref.name}"), baseline)

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        kind = str(body.get("kind") or "").lower() or ref.id.split(":")[0]
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        pod = pod_spec_of(body)
        update = spec.get("updateStrategy") or {}
        rollout = rollout_of(kind, str(metadata.get("name")), int(spec.get("replicas", 1) or 0), status,
                             generation=int_or_none(metadata.get("generation")), baseline=None,
                             strategy=update.get("type"), partition=(update.get("rollingUpdate") or {}).get("partition"))
        template_metadata = template_of(body).get("metadata") or {}
        annotations = template_metadata.get("annotations") or {}
        own = metadata.get("annotations") or {}
        return WorkloadView(kind, str(metadata.get("name")), tuple(pod.get("containers") or []),
                            tuple(pod.get("initContainers") or []), rollout, bool(spec.get("paused")),
                            own.get(REVISION), annotations.get(TIMESTAMP), body,
                            dict(template_metadata.get("labels") or {}), selector_keys(spec.get("selector")),
                            own.get(CHANGE_CAUSE), own_labels=texts(metadata.get("labels")),
                            own_annotations=texts(own))

    def write(self, ref: TargetRef, view: WorkloadView, update: WorkloadUpdate) -> Written:
        """One strategic merge patch: containers merge by name, so it names only those it changes, their
        `env` only the entries that change (`envlabels.env_patch`), the pod template's labels only the
        keys edited (null removes one), and the record goes on the workload's own metadata. The
        apiserver answers with the object as patched (its new generation and resourceVersion)."""
        current = {str(c.get("name")): c for c in (*view.containers, *view.init_containers)}
        init_names = {str(c.get("name")) for c in view.init_containers}
        pod: JSON = {}
        for field, init in (("containers", False), ("initContainers", True)):
            entries = []
            for name, image in update.images.items():
                if (name in init_names) is init:
                    entry: JSON = {"name": name, "image": image}
                    env = env_patch(current.get(name, {}).get("env"), update.env) if update.env else []
                    if env:
                        entry["env"] = env
                    entries.append(entry)
            if entries:
                pod[field] = entries
        template: JSON = {"spec": pod} if pod else {}
        template_metadata: JSON = {}
        if update.labels:
            template_metadata["labels"] = {**dict(update.labels.set), **{key: None for key in update.labels.unset}}
        if update.redeploy:
            # What Rancher's redeploy does: a new pod-template annotation forces a rollout of the same tag.
            template_metadata["annotations"] = {TIMESTAMP: timestamp_now(view.timestamp)}
        if template_metadata:
            template["metadata"] = template_metadata
        metadata = {"annotations": {CHANGE_CAUSE: update.cause}} if update.cause else None
        answer = self._patch(ref, template, f"update of {ref.name}", metadata)
        return Written(None, answer if answer.get("metadata") else None)

    def earlier(self, ref: TargetRef, view: WorkloadView) -> WorkloadView | None:
        if view.kind in CONTROLLER_REVISION_KINDS:
            # kubectl's choice: the second highest revision, the one before the current template.
            chosen = self._revisions(ref, view.kind, view.name, selector_of(view.raw))[-2:-1]
            return _revision_view(view, chosen[0]) if chosen else None
        if view.kind != "deployment":
            raise RefusedError(UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
        return self._previous_revision(ref, view)

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None:
        """Put the previous pod template back whole, as `kubectl rollout undo` does.

        A JSON patch `replace` rather than a strategic merge: merging would keep anything added
        since (an env entry, an annotation) and so not return to the previous revision. A
        StatefulSet's or DaemonSet's own revision goes back as kubectl sends it (`undo_to`). The
        workload's change-cause goes back with it: this run's before-image's exactly, else the one
        the revision restored carries (kubectl's DeploymentRollbacker copies a ReplicaSet's
        annotations back), so that the revision the controller reuses is not relabelled.
        """
        before = previous is not None
        if previous is None:
            previous = self.earlier(ref, view)
            if previous is None:
                raise RefusedError(NO_EARLIER.format(name=ref.name) + "; nothing was changed")
            if view.kind in CONTROLLER_REVISION_KINDS:
                self.undo_to(ref, view.kind, view.name, previous.raw)
                return None
        template = copy.deepcopy(template_of(previous.raw))
        labels = (template.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop("pod-template-hash", None)  # the ReplicaSet's own label, not the workload's
        path = "/spec/jobTemplate/spec/template" if ref.id.startswith("cronjob:") else "/spec/template"
        cause = ((previous.raw.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        self._session.patch(ref.url, [{"op": "replace", "path": path, "value": template},
                                      *_cause_operations(view, cause, remove=before)],
                            content_type="application/json-patch+json", what=f"rollback of {ref.name}")
        return None

    def undo(self, ref: TargetRef, kind: str, name: str, selector: str, images: dict[str, str]) -> None:
        """Put a StatefulSet or DaemonSet back on the newest of its revisions that ran `images`
        (container name -> image, what the run replaced), so that a change the controller never took
        still returns to the right template. RefusedError when there is no such revision."""
        chosen = [revision for revision in self._revisions(ref, kind, name, selector) if _images(revision) == images]
        if not chosen:
            raise RefusedError(NO_EARLIER.format(name=ref.name) + "; nothing was changed")
        self.undo_to(ref, kind, name, chosen[-1])

    def undo_to(self, ref: TargetRef, kind: str, name: str, revision: JSON) -> None:
        """`kubectl rollout undo` for a StatefulSet or DaemonSet (kubectl pkg/polymorphichelpers/rollback.go,
        StatefulSetRollbacker and DaemonSetRollbacker): a ControllerRevision holds its template as the
        strategic merge patch that restores it, and its `data` is sent back as is."""
        namespace = ref.id.split(":")[1]
        self._session.patch(self._url(kind, namespace, name), revision.get("data") or {}, content_type=STRATEGIC,
                            what=f"rollback of {ref.name} to revision {revision.get('revision')}")

    def _revisions(self, ref: TargetRef, kind: str, name: str, selector: str) -> list[JSON]:
        """The ControllerRevisions of a StatefulSet or DaemonSet (found by its selector, owned by it),
        oldest first."""
        namespace = ref.id.split(":")[1]
        listing = self._session.get(f"{self._base}/apis/apps/v1/namespaces/{namespace}/controllerrevisions",
                                    params={"labelSelector": selector}, what=f"Reading the revisions of {ref.name}")
        return sorted((revision for revision in listing.get("items") or [] if _owned_by(revision, kind, name)),
                      key=lambda revision: int_or_none(revision.get("revision")) or 0)

    def release(self, ref: TargetRef, view: WorkloadView) -> list[str] | None:
        """Kubernetes' forced rollback of a StatefulSet: delete its pods that run another revision than
        the one it now rolls out to and are not ready, and return their names.

        With the default OrderedReady policy a StatefulSet waits for such a pod forever, even once its
        template is put back (kubernetes/kubernetes#67250; the StatefulSet docs' "Forced rollback" asks
        for exactly this deletion); the pods are not serving, and the controller makes them again from
        the restored revision. None while the controller has not taken the restored template yet.
        """
        namespace, name = ref.id.split(":")[1], view.name
        workload = self._session.get(self._url("statefulset", namespace, name), what=f"Reading {ref.name}")
        metadata, spec, status = (workload.get(part) or {} for part in ("metadata", "spec", "status"))
        target = status.get("updateRevision")
        if not target or (int_or_none(status.get("observedGeneration")) or 0) < (
                int_or_none(metadata.get("generation")) or 0):
            return None
        if spec.get("podManagementPolicy") == "Parallel":
            return []  # the controller replaces them itself
        pods = self._session.get(f"{self._base}/api/v1/namespaces/{namespace}/pods",
                                 params={"labelSelector": selector_of(workload)},
                                 what=f"Reading the pods of {ref.name}")
        stuck = [str((pod.get("metadata") or {}).get("name")) for pod in pods.get("items") or []
                 if _owned_by(pod, "statefulset", name) and not _ready(pod)
                 and ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH) != target]
        for pod in stuck:
            try:
                self._session.delete(f"{self._base}/api/v1/namespaces/{namespace}/pods/{pod}",
                                     what=f"Deleting pod {pod} of {ref.name}")
            except NotFound:
                pass  # already gone
        return stuck

    def create(self, creation: Creation) -> TargetRef:
        """POST an apps/v1 Deployment into its namespace (201); Kubernetes fills in the defaults."""
        target = WorkloadTarget("deployment", creation.target.name, creation.parent)
        self._session.post(self._url("deployment", creation.parent), deployment_body(creation),
                           what=f"Creating {creation.name}")
        return self._ref("deployment", target)

    def remove(self, ref: TargetRef) -> None:
        self._session.delete(ref.url, what=f"Removing {ref.name}")

    def _patch(self, ref: TargetRef, template: JSON, what: str, metadata: JSON | None = None) -> JSON:
        body: JSON = {"spec": {"jobTemplate": {"spec": {"template": template}}}} if ref.id.startswith("cronjob:") \
            else {"spec": {"template": template}}
        if metadata:
            body["metadata"] = metadata
        return self._session.patch(ref.url, body, content_type=STRATEGIC, what=what)

    def _previous_revision(self, ref: TargetRef, view: WorkloadView) -> WorkloadView | None:
        """kubectl rollout undo's choice for a Deployment: the ReplicaSet with the highest revision below
        the current one; None when there is none (revision 1 needs no request to tell)."""
        if previous_revision(view.revision) is None:
            return None
        selector = ((view.raw.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        namespace = ref.id.split(":")[1]
        listing = self._session.get(
            f"{self._base}/apis/apps/v1/namespaces/{namespace}/replicasets",
            params={"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))},
            what=f"Reading the revisions of {ref.name}")
        best: tuple[int, JSON] | None = None
        for replica_set in listing.get("items") or []:
            owners = (replica_set.get("metadata") or {}).get("ownerReferences") or []
            if not any(owner.get("name") == view.name for owner in owners):
                continue
            revision = int_or_none(((replica_set.get("metadata") or {}).get("annotations") or {}).get(REVISION))
            current = int_or_none(view.revision)
            if revision is not None and current is not None and revision < current and (
                    best is None or revision > best[0]):
                best = (revision, replica_set)
        if best is None:
            return None
        pod = pod_spec_of(best[1])
        annotations = ((template_of(best[1]).get("metadata") or {}).get("annotations")) or {}
        return WorkloadView(view.kind, view.name, tuple(pod.get("containers") or []),
                            tuple(pod.get("initContainers") or []), view.rollout, False, str(best[0]),
                            annotations.get(TIMESTAMP), best[1])



def _cause_operations(view: WorkloadView, cause: str | None, *, remove: bool) -> list[JSON]:
    """JSON patch operations that put the workload's change-cause annotation to `cause`; None removes
    it where `remove`, else leaves it. Written against `view`, the workload as just read, so that no
    operation can fail on a path that is not there."""
    annotations = (view.raw.get("metadata") or {}).get("annotations")
    path = "/metadata/annotations/" + CHANGE_CAUSE.replace("~", "~0").replace("/", "~1")
    if cause is not None and cause != view.cause:
        if not isinstance(annotations, dict):
            return [{"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: cause}}]
        return [{"op": "add", "path": path, "value": cause}]
    if cause is None and remove and view.cause is not None:
        return [{"op": "remove", "path": path}]
    return []


def _owned_by(item: JSON, kind: str, name: str) -> bool:
    owners = (item.get("metadata") or {}).get("ownerReferences") or []
    return any(owner.get("kind") == CONTROLLER_REVISION_KINDS.get(kind) and owner.get("name") == name
               for owner in owners)


def _revision_view(view: WorkloadView, revision: JSON) -> WorkloadView:
    """A ControllerRevision as the workload it would restore (its `raw`: the revision itself)."""
    template = ((revision.get("data") or {}).get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return WorkloadView(view.kind, view.name, tuple(pod.get("containers") or []), tuple(pod.get("initContainers") or []),
                        view.rollout, False, str(revision.get("revision")), annotations.get(TIMESTAMP), revision)


def _images(revision: JSON) -> dict[str, str]:
    """Container name -> image of the template a ControllerRevision restores."""
    template = ((revision.get("data") or {}).get("spec") or {}).get("template") or {}
    return {str(c.get("name")): str(c.get("image")) for c in (template.get("spec") or {}).get("containers") or []}


def _ready(pod: JSON) -> bool:
    return any(condition.get("type") == "Ready" and condition.get("status") == "True"
               for condition in (pod.get("status") or {}).get("conditions") or [])


# Items per chunk of a list: kubectl's default `--chunk-size` (kubectl get, staging/src/k8s.io/kubectl
# pkg/cmd/get/get.go), which the apiserver serves with a `continue` token while more remain.
CHUNK = 500


def list_chunks(session: RancherSession, url: str, params: dict[str, str], *, what: str) -> list[JSON]:
    """Every item of a Kubernetes list, chunk after chunk (`limit`, then `continue` from each chunk's
    `metadata.continue`, apimachinery ListMeta), each chunk one read; items carry no `kind`."""
    items: list[JSON] = []
    token: str | None = None
    followed: set[str] = set()
    while True:
        chunk = session.get(url, params={**params, "limit": str(CHUNK), **({"continue": token} if token else {})},
                            what=what)
        items += [item for item in chunk.get("items") or [] if isinstance(item, dict)]
        token = (chunk.get("metadata") or {}).get("continue") or None
        if not isinstance(token, str) or token in followed:  # none left, or a server repeating itself
            return items
        followed.add(token)
