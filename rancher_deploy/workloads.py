"""The Rancher 2.x backend: workloads through the v3 API (2.0-2.5) or the Kubernetes API Rancher proxies (2.6+).

Both views hold the same Kubernetes object, so one backend serves them through two small adapters:
what differs is how the object is read (v3 flattens it and hides `metadata.generation`), how the
image is changed (v3: PUT of the whole object, arrays replaced whole; Kubernetes: a strategic merge
patch naming only the containers), and how a rollback is asked for (v3's `rollback` action with a
ReplicaSet id; on Kubernetes the previous template's images patched back, as `kubectl rollout
undo` does on the client side). Rollout completion is kubectl's rule, one viewer per kind (`rollout`).
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from rancher_deploy.errors import ConfigError, NotFound, PermissionDenied, RefusedError, TargetNotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.plan import Plan, WorkloadUpdate, plan_workload_update
from rancher_deploy.rollout import Rollout, WorkloadStatus
from rancher_deploy.settings import Settings, Target, WorkloadTarget
from rancher_deploy.snapshot import Goal, Phase, Snapshot, TargetRef, Verdict

REVISION = "deployment.kubernetes.io/revision"
_UNDO_UNSUPPORTED = ("{name}: rolling a {kind} back to an earlier revision is not supported (only deployments "
                     "keep revisions this tool reads); nothing was changed. Use `kubectl rollout undo` or "
                     "upgrade to the previous image")
TIMESTAMP = "cattle.io/timestamp"
_PROJECT_ID = re.compile(r"[\w-]+:p-[a-z0-9]+\Z")
_PLURALS = {"deployment": "deployments", "statefulset": "statefulsets", "daemonset": "daemonsets",
            "cronjob": "cronjobs"}


@dataclass(frozen=True)
class WorkloadView:
    """The parts of a workload the pipeline needs, whichever API it came through."""

    kind: str
    name: str
    containers: tuple[JSON, ...]
    init_containers: tuple[JSON, ...]
    rollout: Rollout
    paused: bool
    revision: str | None
    timestamp: str | None
    raw: JSON = field(repr=False)


class WorkloadAPI(Protocol):
    """One way of reaching workloads: v3 or the Kubernetes proxy."""

    flavour: str

    def locate(self, target: WorkloadTarget) -> TargetRef: ...

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView: ...

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView: ...

    def write(self, ref: TargetRef, view: WorkloadView, images: dict[str, str], redeploy: bool) -> int | None: ...

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None: ...


class WorkloadsBackend:
    """Backend protocol implementation for Rancher 2.x; `api` decides v3 or Kubernetes."""

    def __init__(self, api: WorkloadAPI, where: str) -> None:
        self._api = api
        self._where = where
        self._baseline: dict[str, int | None] = {}
        self._before: dict[str, WorkloadView] = {}

    @property
    def flavour(self) -> str:
        return self._api.flavour

    @property
    def where(self) -> str:
        return self._where

    @property
    def needs_finish(self) -> bool:
        return False

    @property
    def applied_goal(self) -> Goal:
        return Goal.ROLLED_OUT

    @property
    def restored_goal(self) -> Goal:
        return Goal.ROLLED_OUT

    def resolve(self, target: Target) -> TargetRef:
        if not isinstance(target, WorkloadTarget):
            raise ConfigError("RANCHER_SERVICE", "names a Rancher 1.x service, but this is Rancher 2.x; "
                                                 "set RANCHER_WORKLOAD (and RANCHER_NAMESPACE)")
        return self._api.locate(target)

    def _view(self, ref: TargetRef) -> WorkloadView:
        return self._api.read(ref, self._baseline.get(ref.id))

    def fetch(self, ref: TargetRef) -> Snapshot:
        return _snapshot(self._view(ref))

    def observe(self, ref: TargetRef) -> Snapshot:
        return _snapshot(self._view(ref))  # the rollout status carries its own counts

    def plan(self, ref: TargetRef, snapshot: Snapshot, settings: Settings) -> Plan:
        if settings.image is None:
            raise ConfigError("RANCHER_IMAGE", "is required for a Rancher 2.x workload")
        view = self._api.parse(ref, dict(snapshot.raw), self._baseline.get(ref.id))  # the snapshot was just read
        return plan_workload_update(view.containers, view.init_containers, target=ref.name, target_id=ref.id,
                                    image=settings.image, names=settings.containers,
                                    include_init=settings.init_containers, force=settings.force)

    def apply(self, ref: TargetRef, plan: Plan) -> None:
        if not isinstance(plan.request, WorkloadUpdate):
            raise TypeError(f"a Rancher 2.x workload cannot apply {type(plan.request).__name__}")
        view = self._view(ref)
        self._before[ref.id] = view
        self._baseline[ref.id] = self._api.write(ref, view, dict(plan.request.images), plan.request.redeploy)

    def finish(self, ref: TargetRef) -> None:
        raise RefusedError(f"{ref.name} is a Rancher 2.x workload: its rollout finishes on its own")

    def rollback(self, ref: TargetRef) -> None:
        view = self._view(ref)
        self._baseline[ref.id] = self._api.restore(ref, view, self._before.get(ref.id))

    def next_steps(self, snapshot: Snapshot | None) -> str:
        # A rollout has no finish step (`finish` refuses a workload), so a failed or stopped one is
        # undone to the previous revision, or replaced by upgrading to another image.
        if snapshot is None:
            return "check it with `rancher-deploy status`"
        if snapshot.phase is Phase.BLOCKED:
            return f"resume its rollout (it is {snapshot.state}: `kubectl rollout resume`), then upgrade it again"
        if snapshot.can_roll_back:
            return ("restore the previous revision with `rancher-deploy rollback`, or upgrade it to another image "
                    "with `rancher-deploy upgrade`")
        return "upgrade it to another image with `rancher-deploy upgrade`"


def _snapshot(view: WorkloadView) -> Snapshot:
    """A workload in the pipeline's terms; the state words are those Rancher's UI shows for it."""
    status = WorkloadStatus(view.rollout)
    judgement = status.judge(Goal.ROLLED_OUT)
    if view.paused:
        state, phase = "paused", Phase.BLOCKED
    elif judgement.verdict is Verdict.WAITING:
        state, phase = "updating", Phase.BUSY
    elif judgement.verdict is Verdict.FAILED:
        # As Rancher's v3 shows it, a stalled rollout is still `updating`; a new image may fix it.
        state, phase = "updating", Phase.READY
    else:
        state, phase = "active", Phase.READY
    revision = _int(view.revision)
    return Snapshot(
        state=state,
        phase=phase,
        images=tuple((str(c.get("name")), str(c.get("image"))) for c in view.containers),
        status=status,
        message=judgement.message,
        health=view.rollout.health,
        # Only deployments keep revisions this tool reads; for other kinds the rollback itself
        # explains what it cannot do.
        can_roll_back=view.kind != "deployment" or (revision is not None and revision > 1),
        raw=view.raw,
    )


# -- v3 -------------------------------------------------------------------------------------------


class V3Workloads:
    """`/v3/project/<cluster>:<project>/workloads/<type>:<namespace>:<name>` (Rancher 2.0 and later)."""

    flavour = "v3"

    def __init__(self, session: RancherSession, root: str, project: str | None, cluster: str | None) -> None:
        self._session = session
        self._root = root
        self._project = project
        self._cluster = cluster

    def locate(self, target: WorkloadTarget) -> TargetRef:
        workload_id = f"{target.kind}:{target.namespace}:{target.name}"
        for project_id in self._projects():
            url = f"{self._root}/v3/project/{project_id}/workloads/{workload_id}"
            try:
                body = self._session.get(url, what=f"Looking up {target}")
            except (NotFound, PermissionDenied):
                continue
            return TargetRef(name=str(target), id=str(body.get("id") or workload_id),
                             url=str((body.get("links") or {}).get("self") or url))
        raise TargetNotFound(f"workload {target.kind} {target.name!r} not found in namespace {target.namespace!r}"
                             + (f" of project {self._project}" if self._project else " of any project this key sees"))

    def _projects(self) -> list[str]:
        if self._project and _PROJECT_ID.match(self._project):
            return [self._project]
        params = {"name": self._project} if self._project else {}
        if self._cluster:
            params["clusterId"] = self._cluster
        listing = self._session.get(f"{self._root}/v3/projects", params=params, what="Listing projects")
        ids = [str(project["id"]) for project in listing.get("data") or []]
        if self._project and not ids:
            raise TargetNotFound(f"project {self._project!r} not found")
        return ids

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        return self.parse(ref, self._session.get(ref.url, what=f"Reading {ref.name}"), baseline)

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        kind = str(body.get("type") or ref.id.split(":")[0]).lower()
        status = body.get("deploymentStatus") or body.get("statefulSetStatus") or body.get("daemonSetStatus") or {}
        # v3 drops metadata (no generation): wait for observedGeneration to pass the baseline instead.
        rollout = _rollout(kind, str(body.get("name")), int(body.get("scale") or 0), status,
                           generation=None, baseline=baseline)
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

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None:
        baseline = view.rollout.observed_generation
        revisions_url = (view.raw.get("links") or {}).get("revisions")
        wanted = previous.revision if previous is not None else _previous_revision(view.revision)
        if view.kind == "deployment" and revisions_url and wanted:
            revisions = self._session.get(str(revisions_url), what=f"Reading the revisions of {ref.name}")
            for replica_set in revisions.get("data") or []:
                if (replica_set.get("workloadAnnotations") or {}).get(REVISION) == wanted:
                    self._session.post(ref.url, {"replicaSetId": replica_set["id"]}, params={"action": "rollback"},
                                       what=f"rollback of {ref.name}")
                    return baseline
        if previous is None and view.kind != "deployment":
            raise RefusedError(_UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
        if previous is None:
            raise RefusedError(f"{ref.name} has no earlier revision this tool can roll back to")
        body = dict(view.raw)
        body["containers"] = [*previous.containers, *previous.init_containers]
        self._session.put(ref.url, body, what=f"rollback of {ref.name}")
        return baseline


# -- Kubernetes through Rancher's proxy ---------------------------------------------------------------


class KubeWorkloads:
    """`/k8s/clusters/<cluster>/apis/apps/v1/...` (every 2.x; what Rancher's own UI uses from 2.6)."""

    flavour = "k8s"

    def __init__(self, session: RancherSession, root: str, cluster: str) -> None:
        self._session = session
        self._base = f"{root}/k8s/clusters/{cluster}"
        self.cluster = cluster

    def _url(self, target: WorkloadTarget) -> str:
        group = "apis/batch/v1" if target.kind == "cronjob" else "apis/apps/v1"
        return f"{self._base}/{group}/namespaces/{target.namespace}/{_PLURALS[target.kind]}/{target.name}"

    def locate(self, target: WorkloadTarget) -> TargetRef:
        url = self._url(target)
        try:
            self._session.get(url, what=f"Looking up {target}")
        except NotFound:
            listing = self._session.get(url.rsplit("/", 1)[0], what=f"Listing {_PLURALS[target.kind]}")
            names = sorted(str((item.get("metadata") or {}).get("name")) for item in listing.get("items") or [])
            raise TargetNotFound(f"{target.kind} {target.name!r} not found in namespace {target.namespace!r} of "
                                 f"cluster {self.cluster}; {_PLURALS[target.kind]} there: "
                                 f"{', '.join(names) or 'none'}") from None
        return TargetRef(name=str(target), id=f"{target.kind}:{target.namespace}:{target.name}", url=url)

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        return self.parse(ref, self._session.get(ref.url, what=f"Reading {ref.name}"), baseline)

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        kind = str(body.get("kind") or "").lower() or ref.id.split(":")[0]
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        pod = _pod_spec(body)
        rollout = _rollout(kind, str(metadata.get("name")), int(spec.get("replicas", 1) or 0), status,
                           generation=_int(metadata.get("generation")), baseline=None)
        annotations = ((_template(body).get("metadata") or {}).get("annotations")) or {}
        return WorkloadView(kind, str(metadata.get("name")), tuple(pod.get("containers") or []),
                            tuple(pod.get("initContainers") or []), rollout, bool(spec.get("paused")),
                            (metadata.get("annotations") or {}).get(REVISION), annotations.get(TIMESTAMP), body)

    def write(self, ref: TargetRef, view: WorkloadView, images: dict[str, str], redeploy: bool) -> int | None:
        init_names = {str(c.get("name")) for c in view.init_containers}
        pod: JSON = {}
        containers = [{"name": name, "image": image} for name, image in images.items() if name not in init_names]
        inits = [{"name": name, "image": image} for name, image in images.items() if name in init_names]
        if containers:
            pod["containers"] = containers
        if inits:
            pod["initContainers"] = inits
        template: JSON = {"spec": pod} if pod else {}
        if redeploy:
            # What Rancher's redeploy does: a new pod-template annotation forces a rollout of the same tag.
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            template["metadata"] = {"annotations": {TIMESTAMP: now}}
        self._patch(ref, template, f"update of {ref.name}")
        return None

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None:
        """Put the previous pod template back whole, as `kubectl rollout undo` does.

        A JSON patch `replace` rather than a strategic merge: merging would keep anything added
        since (an env entry, an annotation) and so not return to the previous revision.
        """
        if previous is None:
            previous = self._previous_revision(ref, view)
        template = copy.deepcopy(_template(previous.raw))
        labels = (template.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop("pod-template-hash", None)  # the ReplicaSet's own label, not the workload's
        path = "/spec/jobTemplate/spec/template" if ref.id.startswith("cronjob:") else "/spec/template"
        self._session.patch(ref.url, [{"op": "replace", "path": path, "value": template}],
                            content_type="application/json-patch+json", what=f"rollback of {ref.name}")
        return None

    def _patch(self, ref: TargetRef, template: JSON, what: str) -> None:
        body: JSON = {"spec": {"jobTemplate": {"spec": {"template": template}}}} if ref.id.startswith("cronjob:") \
            else {"spec": {"template": template}}
        self._session.patch(ref.url, body, content_type="application/strategic-merge-patch+json", what=what)

    def _previous_revision(self, ref: TargetRef, view: WorkloadView) -> WorkloadView:
        """kubectl rollout undo's choice: the ReplicaSet with the highest revision below the current one."""
        wanted = _previous_revision(view.revision)
        if view.kind != "deployment":
            raise RefusedError(_UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
        if wanted is None:
            raise RefusedError(f"{ref.name} has no earlier revision this tool can roll back to")
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
            revision = _int(((replica_set.get("metadata") or {}).get("annotations") or {}).get(REVISION))
            current = _int(view.revision)
            if revision is not None and current is not None and revision < current and (
                    best is None or revision > best[0]):
                best = (revision, replica_set)
        if best is None:
            raise RefusedError(f"{ref.name} has no earlier revision this tool can roll back to")
        pod = _pod_spec(best[1])
        annotations = ((_template(best[1]).get("metadata") or {}).get("annotations")) or {}
        return WorkloadView(view.kind, view.name, tuple(pod.get("containers") or []),
                            tuple(pod.get("initContainers") or []), view.rollout, False, str(best[0]),
                            annotations.get(TIMESTAMP), best[1])


# -- connecting -------------------------------------------------------------------------------------


def connect(session: RancherSession, root: str, flavour: str, settings: Settings, *,
            url_project: str | None, url_cluster: str | None, version: str | None,
            warn: Callable[[str], None]) -> WorkloadsBackend:
    """Build the 2.x backend for the detected (or forced) flavour."""
    project = url_project or settings.project
    label = f"Rancher {version}" if version else "Rancher 2.x"
    if flavour == "v3":
        cluster = settings.cluster or url_cluster
        return WorkloadsBackend(V3Workloads(session, root, project, cluster), f"{label}, v3 API")
    cluster = url_cluster or settings.cluster or (project.split(":", 1)[0] if project and ":" in project else None)
    cluster = _cluster_id(session, root, cluster)
    return WorkloadsBackend(KubeWorkloads(session, root, cluster),
                            f"{label}, Kubernetes API through Rancher, cluster {cluster}")


def _cluster_id(session: RancherSession, root: str, wanted: str | None) -> str:
    if wanted and (wanted == "local" or re.fullmatch(r"c-[a-z0-9]+", wanted)):
        return wanted
    params = {"name": wanted} if wanted else {}
    listing = session.get(f"{root}/v3/clusters", params=params, what="Listing clusters")
    clusters = listing.get("data") or []
    if len(clusters) == 1:
        return str(clusters[0]["id"])
    if wanted:
        raise TargetNotFound(f"cluster {wanted!r} not found")
    names = ", ".join(f"{c.get('name')} ({c.get('id')})" for c in clusters) or "none"
    raise ConfigError("RANCHER_CLUSTER", f"is required: this key sees several clusters: {names}")


def _rollout(kind: str, name: str, replicas: int, status: JSON, *, generation: int | None,
             baseline: int | None) -> Rollout:
    """Read the status fields kubectl reads, under the names each workload kind gives them."""
    desired = int(status.get("desiredNumberScheduled") or 0) if kind == "daemonset" else replicas
    return Rollout(
        kind=kind,
        name=name,
        generation=generation,
        # A cronjob has no rollout to observe; its change is done once accepted.
        observed_generation=_int(status.get("observedGeneration")) if kind != "cronjob" else 0,
        baseline_generation=baseline,
        desired=desired,
        replicas=_int(status.get("replicas") or status.get("currentNumberScheduled")) or 0,
        updated=_int(status.get("updatedReplicas") or status.get("updatedNumberScheduled")) or 0,
        ready=_int(status.get("readyReplicas") or status.get("numberReady")) or 0,
        available=_int(status.get("availableReplicas") or status.get("numberAvailable")) or 0,
        deadline_exceeded=_deadline_exceeded(status.get("conditions")),
        current_revision=status.get("currentRevision"),
        update_revision=status.get("updateRevision"),
    )


def _template(body: JSON) -> JSON:
    spec = body.get("spec") or {}
    if "jobTemplate" in spec:
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return dict(spec.get("template") or {})


def _pod_spec(body: JSON) -> JSON:
    return dict(_template(body).get("spec") or {})


def _deadline_exceeded(conditions: Any) -> str | None:
    for condition in conditions or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return str(condition.get("message") or "ProgressDeadlineExceeded")
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _previous_revision(revision: str | None) -> str | None:
    number = _int(revision)
    return str(number - 1) if number is not None and number > 1 else None
