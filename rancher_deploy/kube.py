"""Rancher 2.x workloads through the Kubernetes API Rancher proxies: `/k8s/clusters/<cluster>/apis/...`.

Served by every 2.x with the same token (rancher-api.md §6), and what Rancher's own UI uses from
2.6 on. An image change is a strategic merge patch naming only the containers; a rollback puts a
previous pod template back, as `kubectl rollout undo` does on the client side.
"""

from __future__ import annotations

import copy
import datetime

from rancher_deploy.errors import NotFound, RefusedError, TargetNotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.targets import WORKLOAD_KINDS
from rancher_deploy.workload_view import (
    PLURALS,
    REVISION,
    TIMESTAMP,
    UNDO_UNSUPPORTED,
    WorkloadView,
    choose_kind,
    int_or_none,
    listed,
    pod_spec_of,
    previous_revision,
    rollout_of,
    template_of,
)


class KubeWorkloads:
    """`/k8s/clusters/<cluster>/apis/apps/v1/...` (every 2.x; what Rancher's own UI uses from 2.6)."""

    flavour = "k8s"

    def __init__(self, session: RancherSession, root: str, cluster: str) -> None:
        self._session = session
        self._base = f"{root}/k8s/clusters/{cluster}"
        self.cluster = cluster

    def _url(self, kind: str, namespace: str, name: str = "") -> str:
        """The object's URL (its collection's with no name)."""
        group = "apis/batch/v1" if kind == "cronjob" else "apis/apps/v1"
        return f"{self._base}/{group}/namespaces/{namespace}/{PLURALS[kind]}" + (f"/{name}" if name else "")

    def locate(self, target: WorkloadTarget) -> TargetRef:
        """One GET of the named kind (a bare name: of the deployment); only when it misses, one list per
        other kind that may hold the name, which also says what the namespace has."""
        first = target.kind or "deployment"
        try:
            self._session.get(self._url(first, target.namespace, target.name), what=f"Looking up {target}")
            return self._ref(first, target)
        except NotFound:
            pass
        names: dict[str, set[str]] = {}
        if target.kind is None:
            for kind in WORKLOAD_KINDS[1:]:
                names[kind] = self._names(kind, target.namespace)
            chosen = choose_kind(target, [kind for kind, there in names.items() if target.name in there])
            if chosen is not None:
                return self._ref(chosen, target)
        names[first] = self._names(first, target.namespace)
        where = f"in namespace {target.namespace!r} of cluster {self.cluster}"
        if target.kind is not None:
            raise TargetNotFound(f"{target.kind} {target.name!r} not found {where}; {PLURALS[target.kind]} there: "
                                 f"{listed(names[target.kind])}")
        existing = listed([f"{kind}:{name}" for kind, there in names.items() for name in there])
        raise TargetNotFound(f"workload {target.name!r} not found {where} (no {', '.join(WORKLOAD_KINDS)} has that "
                             f"name); workloads there: {existing}")

    def namespace(self, name: str) -> JSON | None:
        """The Namespace object (None when it does not exist); its annotations say its Rancher project."""
        return self._session.get_optional(f"{self._base}/api/v1/namespaces/{name}", what=f"Reading namespace {name}")

    def _names(self, kind: str, namespace: str) -> set[str]:
        listing = self._session.get(self._url(kind, namespace), what=f"Listing {PLURALS[kind]} in {namespace}")
        return {str((item.get("metadata") or {}).get("name")) for item in listing.get("items") or []}

    def _ref(self, kind: str, target: WorkloadTarget) -> TargetRef:
        found = WorkloadTarget(kind, target.name, target.namespace)
        return TargetRef(name=str(found), id=f"{kind}:{target.namespace}:{target.name}",
                         url=self._url(kind, target.namespace, target.name))

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        return self.parse(ref, self._session.get(ref.url, what=f"Reading {ref.name}"), baseline)

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        kind = str(body.get("kind") or "").lower() or ref.id.split(":")[0]
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        pod = pod_spec_of(body)
        rollout = rollout_of(kind, str(metadata.get("name")), int(spec.get("replicas", 1) or 0), status,
                           generation=int_or_none(metadata.get("generation")), baseline=None)
        annotations = ((template_of(body).get("metadata") or {}).get("annotations")) or {}
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
        template = copy.deepcopy(template_of(previous.raw))
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
        wanted = previous_revision(view.revision)
        if view.kind != "deployment":
            raise RefusedError(UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
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
            revision = int_or_none(((replica_set.get("metadata") or {}).get("annotations") or {}).get(REVISION))
            current = int_or_none(view.revision)
            if revision is not None and current is not None and revision < current and (
                    best is None or revision > best[0]):
                best = (revision, replica_set)
        if best is None:
            raise RefusedError(f"{ref.name} has no earlier revision this tool can roll back to")
        pod = pod_spec_of(best[1])
        annotations = ((template_of(best[1]).get("metadata") or {}).get("annotations")) or {}
        return WorkloadView(view.kind, view.name, tuple(pod.get("containers") or []),
                            tuple(pod.get("initContainers") or []), view.rollout, False, str(best[0]),
                            annotations.get(TIMESTAMP), best[1])

