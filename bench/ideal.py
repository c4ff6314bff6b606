"""What "converged" means, measured in the same run: a 10 ms watcher and the two ideal clients.

* ``Watcher`` samples a value every 10 ms (a target's state, read from the simulator directly, as
  a GET would answer it but without going through HTTP, so it adds nothing to the request log the
  tools are counted from) and stamps each change. It shows where a tool's time goes.
* ``cattle_upgrade`` is the ideal Rancher 1.6 client: it asks for the upgrade, reads the service
  every 10 ms, sends ``finishupgrade`` the moment it reads ``upgraded``, and stops at ``active``.
* ``k8s_rollout`` is the ideal Rancher 2.x client: it patches the image and follows a Kubernetes
  watch (``?watch=1``) until the rollout is complete the way ``kubectl rollout status`` decides it.

Each runs on a twin target (same shape, same timing) in the same simulator, started at the same
moment as the tool, so "convergence" is what the simulator itself needed in that very run.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import requests

INTERVAL = 0.01  # seconds between two looks, for the watcher and the ideal 1.6 client
T = TypeVar("T")
JSON = dict[str, Any]


class Watcher(Generic[T]):
    """Samples ``probe()`` every ``interval`` seconds in a thread while in its ``with`` block, and
    keeps ``(time.monotonic(), value)`` for every change of the value (the first sample included)."""

    def __init__(self, probe: Callable[[], T], interval: float = INTERVAL) -> None:
        self._probe = probe
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self.changes: list[tuple[float, T]] = []

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            value = self._probe()
            if not self.changes or self.changes[-1][1] != value:
                self.changes.append((time.monotonic(), value))

    def __enter__(self) -> Watcher[T]:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def first(self, value: T, after: float = -math.inf) -> float | None:
        """When ``value`` was first seen at or after ``after``; None if never."""
        return next((t for t, v in self.changes if v == value and t >= after), None)


@dataclass(frozen=True)
class Converged:
    """One ideal client's run. ``accepted``: when the change (upgrade action or patch) was answered;
    ``done``: when it read the end state (1.6 ``active`` after finishing; 2.x rollout complete).
    Both ``time.monotonic()`` seconds."""

    accepted: float
    done: float

    @property
    def seconds(self) -> float:
        """The simulator's own convergence: accepted -> done with every step taken at once."""
        return self.done - self.accepted


@dataclass(frozen=True)
class AgainstIdeal:
    """What every scenario measured against an ideal client records of one tool's run.

    ``wall``: the tool's spawn to exit; ``convergence``: the ideal client's seconds in the same run;
    ``requests``: the tool's requests by kind (the ideal client's taken out); ``waiting_requests``:
    those after its first write to the target; ``max_rss_mib``: its peak memory (None: not measured);
    ``failure``: its last line when it failed.
    """

    tool: str
    wall: float
    convergence: float
    requests: Counter[str]
    waiting_requests: int
    max_rss_mib: float | None
    failure: str | None

    @property
    def added(self) -> float:
        """Time added beyond convergence: what the CI step paid beyond what Rancher itself needed."""
        return self.wall - self.convergence


def session(auth: tuple[str, str] | None = None, bearer: str | None = None, ca: str | None = None) -> requests.Session:
    """A keep-alive session that ignores the bench's environment (proxies, CA bundles)."""
    http = requests.Session()
    http.trust_env = False
    if auth:
        http.auth = auth
    if bearer:
        http.headers["Authorization"] = f"Bearer {bearer}"
    if ca:
        http.verify = ca
    return http


def _poll_until(http: requests.Session, url: str, state: str, deadline: float) -> float:
    while time.monotonic() < deadline:
        answer = http.get(url, timeout=10)
        answer.raise_for_status()
        if answer.json()["state"] == state:
            return time.monotonic()
        time.sleep(INTERVAL)
    raise TimeoutError(f"ideal client: {url} never reached {state!r}")


def cattle_upgrade(http: requests.Session, service_url: str, image: str, batch_interval: int,
                   timeout: float = 300.0) -> Converged:
    """Upgrade the 1.6 service at ``service_url`` (``.../v2-beta/projects/<p>/services/<id>``) to
    ``image`` (batch size 1, ``batch_interval`` s between batches), finish it at once, wait for active."""
    deadline = time.monotonic() + timeout
    launch = http.get(service_url, timeout=10).json()["launchConfig"]
    launch["imageUuid"] = f"docker:{image}"
    strategy = {"inServiceStrategy": {"launchConfig": launch, "batchSize": 1,
                                      "intervalMillis": batch_interval * 1000, "startFirst": False}}
    http.post(f"{service_url}/?action=upgrade", json=strategy, timeout=10).raise_for_status()
    accepted = time.monotonic()
    _poll_until(http, service_url, "upgraded", deadline)
    http.post(f"{service_url}/?action=finishupgrade", timeout=10).raise_for_status()
    return Converged(accepted, _poll_until(http, service_url, "active", deadline))


def rollout_complete(deployment: JSON) -> bool:
    """kubectl's DeploymentStatusViewer (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go):
    the new generation observed, every replica updated, no old replica left, every updated one available."""
    spec, status, meta = deployment.get("spec", {}), deployment.get("status", {}), deployment["metadata"]
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    return (int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
            and updated >= wanted
            and int(status.get("replicas", 0)) <= updated
            and int(status.get("availableReplicas", 0)) >= updated)


def k8s_rollout(http: requests.Session, deployments_url: str, name: str, container: str, image: str,
                timeout: float = 300.0) -> Converged:
    """Set ``container``'s image of Deployment ``name`` (a strategic merge patch, as ``kubectl set
    image`` sends) and follow one watch from the patched resourceVersion until the rollout is complete."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    answer = http.patch(f"{deployments_url}/{name}", data=json.dumps(patch), timeout=10,
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    answer.raise_for_status()
    accepted = time.monotonic()
    patched = answer.json()
    if rollout_complete(patched):
        return Converged(accepted, accepted)
    params = {"watch": "1", "fieldSelector": f"metadata.name={name}",
              "resourceVersion": patched["metadata"]["resourceVersion"], "timeoutSeconds": str(int(timeout))}
    with http.get(deployments_url, params=params, stream=True, timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line and rollout_complete(json.loads(line)["object"]):
                return Converged(accepted, time.monotonic())
    raise TimeoutError(f"ideal client: deployment {name} never completed its rollout")
