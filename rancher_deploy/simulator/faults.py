"""Fault rules: the ways the simulator can misbehave on purpose, set by tests or over /_sim/faults."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FailRule:
    """Answer the next ``remaining`` matching requests with ``status`` and ``headers`` (or drop the connection)."""

    path_contains: str
    remaining: int
    status: int
    method: str | None
    drop: bool
    headers: tuple[tuple[str, str], ...] = ()

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains in path


@dataclass(frozen=True)
class LatencyRule:
    seconds: float
    path_contains: str


@dataclass(frozen=True)
class Failure:
    """What the server must do instead of answering: an error status (with these response headers,
    e.g. ``Retry-After`` on a 429), or drop the connection."""

    status: int
    drop: bool
    headers: tuple[tuple[str, str], ...] = ()


class Faults:
    """The active fault rules. Thread-safe; every method is also reachable over the control API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unhealthy: set[str] = set()
        self._failing: set[str] = set()
        self._hung: set[str | None] = set()
        self._fail: list[FailRule] = []
        self._latency: list[LatencyRule] = []
        self._holds: list[tuple[str, str, float, threading.Event]] = []   # hold(): waiting for a request
        self._held: list[tuple[str, threading.Event]] = []                # held requests: waiting for a GET
        self._fail_action: set[tuple[str, str]] = set()
        self._capacity: dict[str | None, int] = {}
        self._refuse_until = 0.0
        self._stream_generation = 0   # bumped by drop_streams: streams opened before it are cut
        self._expire_watches = 0      # watches still to be answered 410 Expired
        self._services_first: bool | None = None   # publish_order: None alternates look by look
        # Bumped by a fault that changes how resting objects show (a container's health): a
        # subscribe stream, which renders only what the store says changed, then looks at everything.
        self._shown_generation = 0
        # Set by the facade: called as (seconds) to close the listening socket for a while, and
        # before a hang to settle the store first.
        self.on_refuse: Callable[[float], None] | None = None
        self.before_change: Callable[[], object] | None = None

    # ---- setting faults ----------------------------------------------------------------------

    def unhealthy_image(self, image: str) -> None:
        """Containers of this image (``docker:<image>`` or the full imageUuid) never turn healthy.

        On 1.x this shows only where the launch config has a healthCheck: without one Rancher
        counts a running container as healthy, and so does the simulator."""
        self._settle_first()
        with self._lock:
            self._unhealthy.add(image if image.startswith("docker:") else f"docker:{image}")
            self._shown_generation += 1

    def failing_image(self, image: str) -> None:
        """1.x: containers of this image created from now on exit as soon as they start (a crash on
        start), which is the one way a new container sets the service's ``transitioning: error``
        (DefaultDeploymentUnitInstance.waitForStartImpl); a container that never turns healthy does not."""
        self._settle_first()
        with self._lock:
            self._failing.add(image if image.startswith("docker:") else f"docker:{image}")

    def hang(self, service_id: str | None = None) -> None:
        """Freeze the transitions of one service, or of all services with None."""
        self._settle_first()
        with self._lock:
            self._hung.add(service_id)

    def fail_next(
        self,
        path_contains: str,
        count: int = 1,
        *,
        status: int = 500,
        method: str | None = None,
        drop: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``count`` matching requests fail. With ``status``: a Rancher error body, and these
        response ``headers`` (``{"Retry-After": "5"}`` on a 429, as a rate limit in front of Rancher
        or the Kubernetes apiserver's priority and fairness sends), before anything happened. With
        ``drop``: the request takes effect, then the connection is closed without an answer (a lost
        response: the client cannot tell whether it arrived)."""
        with self._lock:
            self._fail.append(FailRule(path_contains, count, status, method, drop,
                                       tuple((str(k), str(v)) for k, v in (headers or {}).items())))

    def latency(self, seconds: float, path_contains: str = "") -> None:
        with self._lock:
            self._latency.append(LatencyRule(seconds, path_contains))

    def hold(self, path_contains: str, *, until_get: str, most_seconds: float = 30.0) -> None:
        """Hold the next request matching ``path_contains`` (path and query) before doing its work, until
        a GET whose path contains ``until_get`` has been answered after it (the client gave up on the
        held answer and looked), at most ``most_seconds``; then do the work and answer. What a latency
        longer than the client's timeout shows, without racing a sleep against that timeout: the look
        sees the target unchanged, and the work lands right after it."""
        with self._lock:
            self._holds.append((path_contains, until_get, most_seconds, threading.Event()))

    def take_hold(self, path: str) -> tuple[threading.Event, float] | None:
        """The hold the request to ``path`` waits on (and how long at most), the first that matches; taken."""
        with self._lock:
            for index, (contains, until, most, event) in enumerate(self._holds):
                if contains in path:
                    del self._holds[index]
                    self._held.append((until, event))
                    return event, most
        return None

    def answered(self, method: str, path: str) -> None:
        """A request was answered: release the held requests waiting for a GET of ``path``."""
        if method != "GET":
            return
        with self._lock:
            for until, event in [item for item in self._held if item[0] in path]:
                event.set()
            self._held = [item for item in self._held if item[0] not in path]

    def refuse_connections(self, seconds: float) -> None:
        """Close the listening socket for ``seconds`` real seconds, then reopen it on the same port."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds
        if self.on_refuse is not None:
            self.on_refuse(seconds)

    def fail_action(self, service_id: str, action: str) -> None:
        """The next accepted ``action`` on the service sticks in its transitioning state with an error."""
        with self._lock:
            self._fail_action.add((service_id, action))

    def capacity(self, pods: int, workload: str | None = None) -> None:
        """Rancher 2.x: at most ``pods`` pods of the workload (``"<namespace>/<name>"``, or every
        workload with None) become ready; the others stay Pending as on a full node, so a rollout
        has too few ready replicas and stalls."""
        self._settle_first()
        with self._lock:
            self._capacity[workload] = pods

    def drop_streams(self) -> None:
        """Cut every event stream open now (watches, subscribe websockets) without a clean end, as a
        proxy that breaks long-lived connections does; streams opened later are not affected."""
        with self._lock:
            self._stream_generation += 1

    def expire_watches(self, count: int = 1) -> None:
        """The next ``count`` Kubernetes watches that name a ``resourceVersion`` are answered with
        an ERROR event 410 Expired, as after etcd compacted past it (the client must re-list)."""
        with self._lock:
            self._expire_watches += count

    def stream_generation(self) -> int:
        with self._lock:
            return self._stream_generation

    def shown_generation(self) -> int:
        """Bumped by each fault that changes how a resting object shows (``unhealthy_image``, ``clear``)."""
        with self._lock:
            return self._shown_generation

    def take_watch_expiry(self) -> bool:
        with self._lock:
            if self._expire_watches > 0:
                self._expire_watches -= 1
                return True
        return False

    def publish_order(self, services_first: bool | None = None) -> None:
        """1.x subscribe: in one look, publish each service's event before its containers'
        (``services_first``), after them (False), or alternately, look by look (None, the default:
        cattle publishes a second's changes together, in no set order)."""
        with self._lock:
            self._services_first = services_first

    def services_first(self, look: int) -> bool:
        with self._lock:
            return look % 2 == 1 if self._services_first is None else self._services_first

    def clear(self) -> None:
        self._settle_first()
        with self._lock:
            self._shown_generation += 1
            self._unhealthy.clear()
            self._failing.clear()
            self._hung.clear()
            self._fail.clear()
            self._latency.clear()
            self._holds.clear()
            for _, event in self._held:   # a held request goes on
                event.set()
            self._held.clear()
            self._fail_action.clear()
            self._capacity.clear()
            self._refuse_until = 0.0
            self._expire_watches = 0
            self._services_first = None

    def apply(self, kind: str, args: dict[str, Any]) -> None:
        """The control API's entry point: ``kind`` names one of the methods above."""
        setters: dict[str, Callable[..., None]] = {
            "unhealthy_image": self.unhealthy_image,
            "failing_image": self.failing_image,
            "hang": self.hang,
            "fail_next": self.fail_next,
            "latency": self.latency,
            "hold": self.hold,
            "refuse_connections": self.refuse_connections,
            "fail_action": self.fail_action,
            "capacity": self.capacity,
            "drop_streams": self.drop_streams,
            "expire_watches": self.expire_watches,
            "publish_order": self.publish_order,
        }
        if kind not in setters:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(setters)}")
        setters[kind](**args)

    # ---- reading faults ----------------------------------------------------------------------

    def is_unhealthy(self, image_uuid: str) -> bool:
        with self._lock:
            return image_uuid in self._unhealthy

    def is_failing(self, image_uuid: str) -> bool:
        with self._lock:
            return image_uuid in self._failing

    def is_hung(self, service_id: str) -> bool:
        with self._lock:
            return None in self._hung or service_id in self._hung

    def capacity_for(self, workload: str) -> int | None:
        with self._lock:
            if workload in self._capacity:
                return self._capacity[workload]
            return self._capacity.get(None)

    def refusing(self) -> bool:
        with self._lock:
            return time.monotonic() < self._refuse_until

    def take_failure(self, method: str, path: str) -> Failure | None:
        """Consume one matching fail_next rule, if any."""
        with self._lock:
            for n, rule in enumerate(self._fail):
                if rule.matches(method, path):
                    if rule.remaining <= 1:
                        del self._fail[n]
                    else:
                        self._fail[n] = dataclasses.replace(rule, remaining=rule.remaining - 1)
                    return Failure(rule.status, rule.drop, rule.headers)
        return None

    def delay_for(self, path: str) -> float:
        with self._lock:
            return sum(r.seconds for r in self._latency if r.path_contains in path)

    def take_action_failure(self, service_id: str, action: str) -> bool:
        with self._lock:
            key = (service_id, action)
            if key in self._fail_action:
                self._fail_action.discard(key)
                return True
        return False

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "unhealthyImages": sorted(self._unhealthy),
                "failingImages": sorted(self._failing),
                "hung": sorted("*" if s is None else s for s in self._hung),
                "failNext": [
                    {
                        "pathContains": r.path_contains,
                        "remaining": r.remaining,
                        "status": r.status,
                        "method": r.method,
                        "drop": r.drop,
                        "headers": dict(r.headers),
                    }
                    for r in self._fail
                ],
                "latency": [{"seconds": r.seconds, "pathContains": r.path_contains} for r in self._latency],
                "failAction": [{"serviceId": s, "action": a} for s, a in sorted(self._fail_action)],
                "capacity": [{"workload": w or "*", "pods": n} for w, n in sorted(self._capacity.items(), key=lambda i: i[0] or "")],
                "refusing": time.monotonic() < self._refuse_until,
            }

    def _settle_first(self) -> None:
        if self.before_change is not None:
            self.before_change()
