"""A Rancher API simulator on a loopback port: the ``Simulator`` facade tests and the demo use.

It plays one Rancher version at a time: 1.6 (Cattle: /v1, /v2-beta) or a 2.x (v3, the Kubernetes
proxy, and Steve from 2.5 on), because the same paths mean different APIs in the two lines.

The simulator never imports the client and the client never imports the simulator: a fake that
shared constants with its client would agree with it by construction and prove nothing.
"""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import Any

from rancher_deploy.simulator.seed import bulk_cattle, bulk_rancher2, seed_cattle
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import DEFAULT_PROJECT_ID, parse_id
from rancher_deploy.simulator.clock import Timing
from rancher_deploy.simulator.faults import Faults
from rancher_deploy.simulator.rancher2.cluster import CLUSTER_ID, Cluster
from rancher_deploy.simulator.rancher2.releases import KUBERNETES_VERSIONS, RELEASES, kubernetes_release
from rancher_deploy.simulator.request_log import RequestLog, RequestRecord
from rancher_deploy.simulator.server import App, SimServer, tls_context

__all__ = ["SUPPORTED_RANCHER_VERSIONS", "RequestRecord", "Simulator", "Timing"]

SUPPORTED_RANCHER_VERSIONS: tuple[str, ...] = ("1.6", *RELEASES)


class Simulator:
    """A running fake Rancher server plus the handles tests need (seed, time, faults, log).

    With ``rancher_version="2.x"`` the key pair is a Rancher 2.x API key (``token-xxxxx`` and its
    secret), accepted as Basic auth and as ``Authorization: Bearer token-xxxxx:secret``.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        rancher_version: str = "1.6",
        timing: Timing | None = None,
        state_file: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        kubernetes_version: str | None = None,
    ) -> None:
        """``kubernetes_version`` (2.x: ``"1.20"``, ``"1.20.15"``): the release of the `local` cluster,
        by default the one Rancher ``rancher_version`` installed (1.18 for 2.4, 1.20 for 2.5, ...);
        it decides which API versions are served (CronJobs only as batch/v1beta1 before 1.21)."""
        if rancher_version not in SUPPORTED_RANCHER_VERSIONS:
            raise ValueError(
                f"Rancher version {rancher_version!r} is not simulated; choose one of "
                + ", ".join(SUPPORTED_RANCHER_VERSIONS)
            )
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both a certificate file and a key file")
        if state_file and rancher_version != "1.6":
            raise ValueError("state files are only supported for Rancher 1.6")
        if kubernetes_version and rancher_version == "1.6":
            raise ValueError("a Kubernetes version goes with Rancher 2.x, not 1.6")
        self.rancher_version = rancher_version
        self.timing = timing or Timing.fast()
        self.state_file = state_file
        self.faults = Faults()
        self._store = Store(access_key, secret_key, self.timing, self.faults)
        self._cluster: Cluster | None = None
        self.faults.before_change = self._store.settle
        if rancher_version != "1.6":
            kubernetes = kubernetes_release(kubernetes_version or KUBERNETES_VERSIONS[rancher_version])
            self._cluster = Cluster(access_key, secret_key, self.timing, self.faults, kubernetes)
            self.faults.before_change = self._cluster.settle
        self._log = RequestLog()
        self._app = App(self._store, self.faults, self._log, rancher_version, self._cluster)
        tls = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
        self._server = SimServer(self._app, host, port, tls)
        self.faults.on_refuse = self._server.refuse
        self._host = host
        self._scheme = "https" if tls else "http"
        self._started = False

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file, encoding="utf-8") as fh:
                seed_cattle(self._store, json.load(fh), keep_ids=True)
        self._server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._server.stop()
        if self.state_file:
            tmp = f"{self.state_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self._store.to_state(), fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, self.state_file)

    def __enter__(self) -> Simulator:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}:{self.port}"

    @property
    def default_project_id(self) -> str:
        """1.6: ``1a5``; 2.x: ``local:p-xxxxx``, the Default project."""
        if self._cluster is not None:
            return self._cluster.default_project_id
        return DEFAULT_PROJECT_ID

    @property
    def cluster_id(self) -> str:
        self._two("cluster_id")
        return CLUSTER_ID

    @property
    def system_project_id(self) -> str:
        return self._two("system_project_id").system_project_id

    def _two(self, what: str) -> Cluster:
        if self._cluster is None:
            raise RuntimeError(f"{what} exists only when simulating Rancher 2.x (rancher_version='2.8' …)")
        return self._cluster

    def _one(self, what: str) -> Store:
        if self._cluster is not None:
            raise RuntimeError(f"{what} exists only when simulating Rancher 1.6")
        return self._store

    # ---- seeding -------------------------------------------------------------------------------

    def add_project(self, name: str) -> str:
        """1.6: a new environment (``1a7``…); 2.x: a project in cluster local (``local:p-xxxxx``)."""
        if self._cluster is not None:
            return self._cluster.add_project(name)
        return self._store.add_project(name)

    def add_namespace(self, name: str, project_id: str | None = None, *, in_project: bool = True) -> str:
        """2.x: a namespace in the project (the Default project when None), or in no project at all
        with ``in_project=False`` (made by kubectl, never moved into a project); returns its name."""
        return self._two("add_namespace").add_namespace(name, project_id, in_project=in_project)

    def add_workload(
        self,
        namespace: str,
        name: str,
        containers: list[dict[str, Any]],
        *,
        kind: str = "deployment",
        replicas: int = 1,
        init_containers: list[dict[str, Any]] | None = None,
        strategy: dict[str, Any] | None = None,
        progress_deadline_seconds: int = 600,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> str:
        """2.x: a workload already fully rolled out (revision 1, every replica ready); returns its
        v3 id (``deployment:default:web``). Containers are Kubernetes container dicts, kept as given;
        ``labels`` and ``annotations`` are the workload's own metadata (its pod template keeps its own)."""
        workload = self._two("add_workload").add_workload(
            namespace,
            name,
            containers,
            kind=kind,
            replicas=replicas,
            init_containers=init_containers,
            strategy=strategy,
            progress_deadline_seconds=progress_deadline_seconds,
            labels=labels,
            annotations=annotations,
        )
        return workload.v3_id

    def workload(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """2.x: the Kubernetes object (apps/v1 or batch/v1) at the current simulated time."""
        cluster = self._two("workload")
        with cluster.lock:
            cluster.settle()
            return cluster.to_k8s(cluster.workload(kind, namespace, name))

    def replica_sets(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """2.x: the Deployment's ReplicaSets, oldest revision first."""
        cluster = self._two("replica_sets")
        with cluster.lock:
            cluster.settle()
            return cluster.revisions_to_k8s(cluster.workload("deployment", namespace, name))

    def pods(self, namespace: str = "default") -> list[dict[str, Any]]:
        """2.x: every workload pod in the namespace as a core/v1 Pod (``status.containerStatuses[].imageID``
        is the digest it runs), at the current simulated time."""
        cluster = self._two("pods")
        with cluster.lock:
            cluster.settle()
            return cluster.pods_to_k8s(namespace)

    def delete_pod(self, namespace: str, name: str) -> None:
        """2.x: delete a pod at once (``kubectl delete pod``); its controller recreates the slot,
        from the template its update strategy says (an OnDelete StatefulSet's new template)."""
        cluster = self._two("delete_pod")
        with cluster.lock:
            cluster.settle()
            cluster.delete_pod(namespace, name)

    def push_image(self, image: str) -> str:
        """2.x: publish a new build under the same tag (``app:1``), as CI does; answers its digest.

        A node that already holds the tag keeps running the old digest for new pods whose
        ``imagePullPolicy`` is IfNotPresent (the default for a tag other than ``latest``)."""
        cluster = self._two("push_image")
        with cluster.lock:
            cluster.settle()
            return cluster.node.push(image)

    def seed_bulk(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Many services (1.6) or workloads (2.x) at once, from the document `POST /_sim/seed/bulk`
        takes (docs/simulator.md): ``{"services": 10000, "launchConfig": {...}, "stacks": 10}``, or
        ``{"workloads": 100, "containers": [...], "namespaces": 5}``. One settle for all of them, where
        ``add_service`` settles every service on each call. Answers the ids made, in order."""
        if self._cluster is not None:
            return bulk_rancher2(self._cluster, doc)
        return bulk_cattle(self._store, doc)

    def add_environment_key(self, project_id: str) -> tuple[str, str]:
        key = self._store.add_key(project_id)
        return key.access, key.secret

    def add_stack(self, name: str, project_id: str | None = None) -> str:
        return self._one("add_stack").seed_stack(name, project_id).id

    def add_service(
        self,
        stack_id: str,
        name: str,
        launch_config: dict[str, Any],
        *,
        scale: int = 1,
        secondary_launch_configs: list[dict[str, Any]] | None = None,
        state: str = "active",
        retain_ip: bool = False,
        kind: str = "service",
        fields: dict[str, Any] | None = None,
    ) -> str:
        """1.6: a service already ``active`` (or ``inactive``); ``kind`` one of service,
        loadBalancerService, networkDriverService, storageDriverService, dnsService,
        externalService, with its own ``fields`` (``{"lbConfig": {...}}``). Returns its id."""
        return self._one("add_service").seed_service(
            stack_id,
            name,
            launch_config,
            scale=scale,
            secondary_launch_configs=secondary_launch_configs,
            state=state,
            retain_ip=retain_ip,
            kind=kind,
            fields=fields,
        ).id

    # ---- observing -----------------------------------------------------------------------------

    def service(self, service_id: str) -> dict[str, Any]:
        """The /v2-beta JSON of the service at the current simulated time (unscoped links)."""
        with self._store.lock:
            self._store.settle()
            svc = self._store.services.get(_num(service_id))
            if svc is None:
                raise KeyError(f"no service {service_id}")
            return svc.to_resource(f"{self.url}/v2-beta", "v2-beta", self._store.now(), self._store.wall, self._store.unhealthy)

    def instances(self, service_id: str) -> list[dict[str, Any]]:
        """The service's containers, removed ones excluded, oldest first."""
        with self._store.lock:
            self._store.settle()
            svc = self._store.services.get(_num(service_id))
            if svc is None:
                raise KeyError(f"no service {service_id}")
            now = self._store.now()
            return [
                i.to_resource(f"{self.url}/v2-beta", "v2-beta", now, self._store.wall, self._store.unhealthy(i))
                for i in svc.live()
            ]

    @property
    def rendered(self) -> int:
        """How many 1.x services and containers the API and its subscribe streams have rendered
        so far: what a request or a stream's look costs, which tests bound instead of timing it."""
        with self._store.lock:
            return self._store.rendered

    def advance(self, seconds: float) -> None:
        if self._cluster is not None:
            self._cluster.advance(seconds)
        else:
            self._store.advance(seconds)

    def publish_beat_at(self, when: float) -> None:
        """Put cattle's publication beat (1.x subscribe streams) at `when`, real seconds on
        `time.monotonic()`'s clock: publications then fall at `when` plus or minus whole periods.

        Cattle's publishing task has run since cattle started, days before a client's upgrade, so
        where its beat falls against that upgrade is anyone's guess; the simulator's runs from its own
        start, which a run started just after it meets at the same point every time. A benchmark
        that wants a streamed wait's average spreads the beat over its rounds with this. A
        publication already due keeps its time; the ones after it follow the new beat."""
        self._store.booted = when

    def now(self) -> float:
        """The current simulated time in seconds since start."""
        if self._cluster is not None:
            return self._cluster.now()
        return self._store.now()

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.records()

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        return self._log.count(method, path_contains)

    def reset_log(self) -> None:
        self._log.clear()

    def reset(self) -> None:
        """Back to a fresh install: data, faults and request log."""
        self.faults.clear()
        self._store.reset()
        if self._cluster is not None:
            self._cluster.reset()
        self._log.clear()


def _num(service_id: str) -> int:
    return parse_id(service_id) or -1
