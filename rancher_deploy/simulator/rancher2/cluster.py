"""The Rancher 2.x backend: cluster `local`, its projects and namespaces, workloads, the API key.

One state behind every 2.x view (v3, the Kubernetes proxy, Steve): each surface translates its
request into a call here and renders the Kubernetes objects it gets back. Callers hold ``lock`` and
call ``settle`` first, as with the 1.x store.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from rancher_deploy.simulator.clock import Timeline, Timing
from rancher_deploy.simulator.faults import Faults
from rancher_deploy.simulator.rancher2.defaults import pod_defaults, workload_defaults
from rancher_deploy.simulator.rancher2.errors import KubeError, not_found
from rancher_deploy.simulator.rancher2.node import Node
from rancher_deploy.simulator.rancher2.workloads import WORKLOAD_TYPES, Workload
from rancher_deploy.simulator.rancher2.workloads.objects import (
    JSON,
    KINDS,
    REVISION_ANNOTATION,
    Environment,
    Pod,
    Revision,
    rfc3339,
)
from rancher_deploy.simulator.rancher2.validation import check_defaulted

CLUSTER_ID = "local"
PROJECT_ID_LABEL = "field.cattle.io/projectId"
WORKLOAD_SELECTOR = "workload.user.cattle.io/workloadselector"
# Namespaces a fresh Rancher puts in its System project (the `local` cluster's own).
SYSTEM_NAMESPACES = ("cattle-system", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class Project2:
    """A Rancher 2.x project: ``id`` is ``<cluster>:<p-xxxxx>``."""

    id: str
    name: str
    created: float

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1]


@dataclass(frozen=True)
class Namespace:
    name: str
    project_id: str | None
    created: float
    uid: str


class Cluster(Timeline):
    """All 2.x state, guarded by one re-entrant lock."""

    def __init__(self, access_key: str, secret_key: str, timing: Timing, faults: Faults,
                 kubernetes: tuple[int, str] = (28, "v1.28.15")) -> None:
        """``kubernetes``: the (minor, gitVersion) the `local` cluster runs, which decides the API
        versions it serves (releases.kubernetes_release)."""
        self.lock = threading.RLock()
        self.kubernetes = kubernetes
        self.timing = timing
        self.faults = faults
        self.access_key = access_key
        self.secret_key = secret_key
        self._random = random.Random()
        self.node = Node()
        self.reset()

    def reset(self) -> None:
        """A fresh Rancher: projects Default and System in `local`, namespace default in Default."""
        with self.lock:
            self.restart_clock()
            self.node.reset()
            self.projects: dict[str, Project2] = {}
            self.namespaces: dict[str, Namespace] = {}
            self.workloads: dict[tuple[str, str, str], Workload] = {}
            self._resource_version = 1000
            self.default_project_id = self.add_project("Default")
            self.system_project_id = self.add_project("System")
            self.add_namespace("default", self.default_project_id)
            for name in SYSTEM_NAMESPACES:
                self.add_namespace(name, self.system_project_id)

    # ---- time ----------------------------------------------------------------------------------

    def bump(self) -> int:
        self._resource_version += 1
        return self._resource_version

    @property
    def resource_version(self) -> int:
        """The cluster's latest resourceVersion (what a list reports)."""
        return self._resource_version

    def env(self) -> Environment:
        return Environment(
            container_start=self.timing.container_start,
            health_check=self.timing.health_check,
            controller_delay=self.timing.controller_delay,
            unhealthy=lambda image: self.faults.is_unhealthy(f"docker:{image}"),
            capacity=self.faults.capacity_for,
            hung=self.faults.is_hung,
            pull=self.node.pull,
        )

    def settle(self) -> float:
        with self.lock:
            now = self.clock.now()
            env = self.env()
            for workload in self.workloads.values():
                workload.settle(now, env, self.bump)
            return now

    # ---- auth ----------------------------------------------------------------------------------

    def authenticate(self, access: str | None, secret: str | None) -> bool:
        return access == self.access_key and secret == self.secret_key

    # ---- projects and namespaces ---------------------------------------------------------------

    def _short_id(self, prefix: str) -> str:
        while True:
            candidate = prefix + "".join(self._random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
            if f"{CLUSTER_ID}:{candidate}" not in self.projects:
                return candidate

    def add_project(self, name: str) -> str:
        with self.lock:
            project = Project2(f"{CLUSTER_ID}:{self._short_id('p-')}", name, self.now())
            self.projects[project.id] = project
            return project.id

    def project(self, project_id: str) -> Project2:
        found = self.projects.get(project_id)
        if found is None:
            raise KubeError(404, "NotFound", f'projects.management.cattle.io "{project_id.split(":")[-1]}" not found')
        return found

    def add_namespace(self, name: str, project_id: str | None = None, *, in_project: bool = True) -> str:
        """A namespace in ``project_id`` (Default when None), or with ``in_project=False`` in no project:
        one made with kubectl and never moved into a project, which v3 project views do not show."""
        with self.lock:
            if name in self.namespaces:
                raise KubeError(409, "AlreadyExists", f'namespaces "{name}" already exists')
            pid = (project_id or self.default_project_id) if in_project else None
            if pid is not None:
                self.project(pid)
            self.namespaces[name] = Namespace(name, pid, self.now(), str(uuid.uuid4()))
            return name

    def namespace(self, name: str) -> Namespace:
        found = self.namespaces.get(name)
        if found is None:
            raise not_found("Namespace", name)
        return found

    def namespace_to_k8s(self, ns: Namespace) -> JSON:
        metadata: JSON = {
            "name": ns.name,
            "uid": ns.uid,
            "resourceVersion": "1",
            "creationTimestamp": rfc3339(self.wall(ns.created)),
        }
        if ns.project_id:
            metadata["annotations"] = {PROJECT_ID_LABEL: ns.project_id}
            metadata["labels"] = {PROJECT_ID_LABEL: ns.project_id.split(":", 1)[1]}
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata, "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}}

    # ---- workloads -----------------------------------------------------------------------------

    def add_workload(
        self,
        namespace: str,
        name: str,
        containers: list[JSON],
        *,
        kind: str = "deployment",
        replicas: int = 1,
        init_containers: list[JSON] | None = None,
        strategy: JSON | None = None,
        progress_deadline_seconds: int = 600,
        settled: bool = True,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Workload:
        """Create a workload; with ``settled`` it starts fully rolled out (revision 1, all ready).
        ``labels`` and ``annotations`` go on its own metadata, beside the selector label."""
        kind = kind.lower()
        if kind not in KINDS:
            raise ValueError(f"unknown workload kind {kind!r}; one of {', '.join(KINDS)}")
        selector = f"{kind}-{namespace}-{name}"
        pod_spec: JSON = {"containers": copy.deepcopy(containers)}
        if init_containers:
            pod_spec["initContainers"] = copy.deepcopy(init_containers)
        template: JSON = {"metadata": {"labels": {WORKLOAD_SELECTOR: selector}}, "spec": pod_spec}
        spec: JSON
        # What is not given here is what the apiserver defaults (create_workload: defaults.py).
        if kind == "cronjob":
            template["spec"]["restartPolicy"] = "OnFailure"  # a Job's pods may not restart Always
            spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
        else:
            spec = {"replicas": replicas, "selector": {"matchLabels": {WORKLOAD_SELECTOR: selector}}, "template": template}
            if strategy:
                spec["strategy" if kind == "deployment" else "updateStrategy"] = copy.deepcopy(strategy)
            if kind == "deployment":
                spec["progressDeadlineSeconds"] = progress_deadline_seconds
            elif kind == "statefulset":
                spec["serviceName"] = name
            else:
                spec.pop("replicas")
        return self.create_workload(kind, namespace, name, spec, {**(labels or {}), WORKLOAD_SELECTOR: selector},
                                    dict(annotations or {}), settled=settled)

    def create_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        spec: JSON,
        labels: dict[str, str],
        annotations: dict[str, str],
        *,
        settled: bool = False,
    ) -> Workload:
        with self.lock:
            self.namespace(namespace)
            key = (kind, namespace, name)
            if key in self.workloads and not self.workloads[key].removed:
                plural = {"deployment": "deployments.apps", "statefulset": "statefulsets.apps",
                          "daemonset": "daemonsets.apps", "cronjob": "cronjobs.batch"}[kind]
                raise KubeError(409, "AlreadyExists", f'{plural} "{name}" already exists')
            now = self.now()
            defaulted = workload_defaults(kind, spec, self.kubernetes[0])
            check_defaulted(kind, name, defaulted, self.kubernetes[0])  # validation sees the defaults
            workload = WORKLOAD_TYPES[kind](
                namespace=namespace,
                name=name,
                uid=str(uuid.uuid4()),
                created=now,
                labels=dict(labels),
                annotations=dict(annotations),
                spec=defaulted,
                resource_version=self.bump(),
                spec_changed_at=now,
                settled_at=now,
            )
            workload.generation = 1
            workload.observed_generation = 0
            self.workloads[key] = workload
            if settled:
                # Already rolled out: observed, revision 1, every pod ready.
                env = self.env()
                instant = dataclasses.replace(env, container_start=0.0, health_check=0.0, controller_delay=0.0,
                                              hung=lambda _: False)
                workload.settle(now, instant, self.bump)
                for pod in workload.pods():
                    if pod.ready_at is not None:
                        pod.ready_at = min(pod.ready_at, now)
                workload.settle(now, instant, self.bump)
            else:
                workload.settle(now, self.env(), self.bump)
            return workload

    def workload(self, kind: str, namespace: str, name: str) -> Workload:
        found = self.workloads.get((kind.lower(), namespace, name))
        if found is None or found.removed:
            raise not_found(KINDS.get(kind.lower(), kind), name)
        return found

    def workloads_in(self, project_id: str | None = None, namespace: str | None = None, kind: str | None = None) -> list[Workload]:
        result = []
        for w in self.workloads.values():
            if w.removed or (kind is not None and w.kind != kind) or (namespace is not None and w.namespace != namespace):
                continue
            if project_id is not None and self.namespaces[w.namespace].project_id != project_id:
                continue
            result.append(w)
        return sorted(result, key=lambda w: (w.namespace, w.name, w.kind))

    def project_of(self, workload: Workload) -> str | None:
        return self.namespaces[workload.namespace].project_id

    def replace_spec(self, workload: Workload, spec: JSON, labels: dict[str, str] | None = None,
                     annotations: dict[str, str] | None = None) -> Workload:
        """Store a new desired state, defaulted as the apiserver defaults an update (defaults.py); a
        changed spec is a new generation (metadata changes are not)."""
        spec = workload_defaults(workload.kind, spec, self.kubernetes[0])
        check_defaulted(workload.kind, workload.name, spec, self.kubernetes[0])
        with self.lock:
            changed_meta = False
            if labels is not None and labels != workload.labels:
                workload.labels = dict(labels)
                changed_meta = True
            if annotations is not None:
                annotations = dict(annotations)
                # The deployment controller owns its revision annotation.
                if REVISION_ANNOTATION in workload.annotations:
                    annotations[REVISION_ANNOTATION] = workload.annotations[REVISION_ANNOTATION]
                if annotations != workload.annotations:
                    workload.annotations = annotations
                    changed_meta = True
            if spec != workload.spec:
                workload.spec = spec
                workload.spec_changed(self.now())
                changed_meta = True
            if changed_meta:
                workload.resource_version = self.bump()
            workload.settle(self.now(), self.env(), self.bump)
            return workload

    def remove_workload(self, workload: Workload) -> Workload:
        with self.lock:
            workload.removed = True
            workload.resource_version = self.bump()
            return workload

    def rollback(self, workload: Workload, replica_set_name: str) -> Revision:
        """Copy a ReplicaSet's pod template back into the Deployment (v3 rollback on apps/v1)."""
        for rev in workload.revisions:
            if rev.name == replica_set_name:
                spec = copy.deepcopy(workload.spec)
                template = copy.deepcopy(rev.template)
                labels = (template.get("metadata") or {}).get("labels") or {}
                labels.pop("pod-template-hash", None)
                # Rancher copies only the pod spec (template.spec), not its metadata.
                spec.setdefault("template", {})["spec"] = template.get("spec") or {}
                self.replace_spec(workload, spec)
                return rev
        raise KeyError(replica_set_name)

    # ---- reading -------------------------------------------------------------------------------

    def to_k8s(self, workload: Workload) -> JSON:
        return workload.to_k8s(self.wall)

    def pods_to_k8s(self, namespace: str | None = None) -> list[JSON]:
        """Every pod of the workloads (in ``namespace``), as core/v1 Pods at the current time."""
        now = self.now()
        return [self._pod(w, pod, now) for w in self.workloads_in(namespace=namespace) for pod in w.pods()]

    def _pod(self, workload: Workload, pod: Pod, now: float) -> JSON:
        """A pod as served: its template's spec with what the apiserver adds to a Pod alone (defaults.py)."""
        doc = workload.pod_to_k8s(pod, now, self.wall)
        doc["spec"] = pod_defaults(doc["spec"], self.kubernetes[0])
        return doc

    def delete_pod(self, namespace: str, name: str) -> JSON:
        """Delete a pod at once (no Terminating) and answer it as it was; its controller replaces
        it from its rules (an OnDelete StatefulSet's update revision, a partition's current one)."""
        with self.lock:
            now, env = self.now(), self.env()
            for workload in self.workloads_in(namespace=namespace):
                pods = {pod.name: pod for pod in workload.pods()}
                if name in pods:
                    workload.settle(now, env, self.bump)  # so that the replacement is created now
                    deleted = self._pod(workload, pods[name], now)
                    workload.delete_pod(name)
                    workload.resource_version = self.bump()
                    workload.settle(now, env, self.bump)
                    return deleted
            raise not_found("Pod", name)

    def revisions_to_k8s(self, workload: Workload) -> list[JSON]:
        now = self.now()
        return [workload.revision_to_k8s(r, now, self.wall) for r in sorted(workload.revisions, key=lambda r: r.number)]

    def snapshot(self) -> dict[str, Any]:
        return {
            "projects": [{"id": p.id, "name": p.name} for p in self.projects.values()],
            "namespaces": [{"name": n.name, "projectId": n.project_id} for n in self.namespaces.values()],
            "workloads": [w.to_k8s(self.wall) for w in self.workloads.values() if not w.removed],
        }

