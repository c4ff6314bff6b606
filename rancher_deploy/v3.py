"""Rancher 2.x workloads through the v3 API: `/v3/project/<cluster>:<project>/workloads/<type>:<ns>:<name>`.

Served by every 2.x (rancher-api.md §5). The object is flattened (no `metadata`, so no generation:
a wait compares `observedGeneration` with the one seen before the change), an image change is a PUT
of the whole object (arrays are replaced whole), and a deployment rolls back by its `rollback`
action naming the ReplicaSet of the revision to return to.
"""

from __future__ import annotations

import re

from rancher_deploy.errors import NotFound, PermissionDenied, RefusedError, TargetNotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.workload_view import (
    REVISION,
    TIMESTAMP,
    UNDO_UNSUPPORTED,
    WorkloadView,
    choose_kind,
    previous_revision,
    rollout_of,
)

_PROJECT_ID = re.compile(r"[\w-]+:p-[a-z0-9]+\Z")


class V3Workloads:
    """`/v3/project/<cluster>:<project>/workloads/<type>:<namespace>:<name>` (Rancher 2.0 and later)."""

    flavour = "v3"

    def __init__(self, session: RancherSession, root: str, project: str | None, cluster: str | None) -> None:
        self._session = session
        self._root = root
        self._project = project
        self._cluster = cluster

    def locate(self, target: WorkloadTarget) -> TargetRef:
        """One request per project this key may look in: a GET by id for `kind:name`, a listing
        filtered by name and namespace for a bare name (it answers every kind at once)."""
        for project_id in self._projects():
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
        raise TargetNotFound(f"workload {target.kind + ' ' if target.kind else ''}{target.name!r} not found in "
                             f"namespace {target.namespace!r}"
                             + (f" of project {self._project}" if self._project else " of any project this key sees"))

    def _by_name(self, base: str, target: WorkloadTarget) -> JSON | None:
        listing = self._session.get(base, params={"name": target.name, "namespaceId": target.namespace},
                                    what=f"Looking up {target}")
        found = {str(item.get("type")).lower(): item for item in listing.get("data") or []
                 if item.get("name") == target.name and item.get("namespaceId") == target.namespace}
        chosen = choose_kind(target, found)
        return None if chosen is None else dict(found[chosen])

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
        rollout = rollout_of(kind, str(body.get("name")), int(body.get("scale") or 0), status,
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
        wanted = previous.revision if previous is not None else previous_revision(view.revision)
        if view.kind == "deployment" and revisions_url and wanted:
            revisions = self._session.get(str(revisions_url), what=f"Reading the revisions of {ref.name}")
            for replica_set in revisions.get("data") or []:
                if (replica_set.get("workloadAnnotations") or {}).get(REVISION) == wanted:
                    self._session.post(ref.url, {"replicaSetId": replica_set["id"]}, params={"action": "rollback"},
                                       what=f"rollback of {ref.name}")
                    return baseline
        if previous is None and view.kind != "deployment":
            raise RefusedError(UNDO_UNSUPPORTED.format(name=ref.name, kind=view.kind))
        if previous is None:
            raise RefusedError(f"{ref.name} has no earlier revision this tool can roll back to")
        body = dict(view.raw)
        body["containers"] = [*previous.containers, *previous.init_containers]
        self._session.put(ref.url, body, what=f"rollback of {ref.name}")
        return baseline

