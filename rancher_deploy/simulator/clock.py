"""Simulated time: how long things take (Timing), what time it is (SimClock), a store's Timeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Simulated durations in simulated seconds, plus how fast simulated time runs.

    Real Rancher has no fixed durations (rancher-api.md §2.4); these are ours. ``speed`` is simulated
    seconds per real second; 0 freezes time so that only ``Simulator.advance`` moves it.
    ``health_wait_limit`` is Rancher's ``resource.monitor.default.wait.millis`` (45 s): after it, a
    container that never turned healthy shows up in the service's ``transitioningMessage``
    (``Waiting: healthy [container:1i<n>]``) while ``transitioning`` stays ``yes``: a timeout is not
    an error (ActivityLogImpl). ``retry_delay`` is how long the retried upgrade takes to create a
    new container after the health-check cleanup removed one stuck initializing (cattle retries a
    process after 2 s first, DefaultProcessInstanceImpl).
    In 2.x mode a pod is ready ``container_start`` after it is created, plus ``health_check`` when a
    container has a readinessProbe; ``controller_delay`` is how long a new generation waits to be
    observed (status.observedGeneration catching up).
    ``publish_interval`` is how often a 1.6 subscribe stream publishes the changes collected since
    the last time (cattle's ``task.resource.change.publish.schedule=1``: once a second, rancher/cattle
    ``code/iaas/api-logic/.../iaas-api/defaults.properties``, ResourceChangeEventListenerImpl.run), in
    simulated seconds like the rest: 1 s real at ``realistic``, 1 ms (so every look, 20 ms apart) at ``fast``.
    ``finish_reconcile`` is how long a 1.6 finishupgrade takes: only the reconcile, since the old
    containers' removal (``container_stop`` if running, then ``finish_cleanup``) is scheduled and not
    waited for (UpgradeManagerImpl.cleanupUpgradedInstances); ``finish_cleanup`` is also how long
    removing a container takes in the processes that do wait (remove, scale down, rollback).
    """

    speed: float = 1000.0
    registering: float = 0.3
    container_start: float = 2.0
    health_check: float = 3.0
    container_stop: float = 1.0
    finish_cleanup: float = 1.0
    finish_reconcile: float = 0.2
    health_wait_limit: float = 45.0
    retry_delay: float = 2.0
    cancel_tick: float = 1.0
    # Rancher 2.x: how long the Kubernetes deployment controller takes to observe a new generation.
    controller_delay: float = 0.5
    # Rancher 1.6: how often changes are published on a subscribe stream (cattle: once a second).
    publish_interval: float = 1.0

    @classmethod
    def fast(cls) -> Timing:
        """Tests: 1 simulated second is 1 ms real; a scale-2 upgrade takes ~15 ms."""
        return cls(speed=1000.0)

    @classmethod
    def demo(cls) -> Timing:
        """A visible upgrade: a scale-2 service with a health check takes about 4 s real."""
        return cls(
            speed=2.0,
            registering=0.5,
            container_start=1.0,
            health_check=1.5,
            container_stop=0.5,
            finish_cleanup=1.0,
            health_wait_limit=45.0,
        )

    @classmethod
    def realistic(cls) -> Timing:
        """Roughly what a small host does, in real time."""
        return cls(
            speed=1.0,
            registering=0.5,
            container_start=2.0,
            health_check=4.0,
            container_stop=1.0,
            finish_cleanup=1.0,
            health_wait_limit=45.0,
        )

    @classmethod
    def named(cls, name: str) -> Timing:
        presets: dict[str, Callable[[], Timing]] = {
            "fast": cls.fast,
            "demo": cls.demo,
            "realistic": cls.realistic,
        }
        if name not in presets:
            raise ValueError(f"unknown timing {name!r}; choose one of {', '.join(presets)}")
        return presets[name]()


class SimClock:
    """Simulated time = real monotonic elapsed x speed + explicit offsets.

    Reading the clock never changes any state; the store settles itself to a time it is given.
    """

    def __init__(self, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._speed = speed
        self._monotonic = monotonic
        self._start = monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return (self._monotonic() - self._start) * self._speed + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("simulated time cannot go backwards")
        with self._lock:
            self._offset += seconds


class Timeline:
    """The simulated time a store lives in: restarted on reset, read as ``now``, stamped as ``wall``.

    Both generations' stores extend it; each says how to ``settle`` its objects to the current time.
    """

    lock: threading.RLock
    timing: Timing

    def restart_clock(self) -> None:
        self.clock = SimClock(self.timing.speed)
        self.epoch = time.time()
        self._looked_at = -float("inf")

    def settled_lately(self, within: float) -> float:
        """The current simulated time, settling first unless this was asked less than ``within``
        real seconds ago: event streams look many times a second each, and ten of them settling every
        moving object at every look would slow the very requests they report on. Callers hold ``lock``."""
        if time.monotonic() - self._looked_at >= within:
            self._looked_at = time.monotonic()
            return self.settle()
        return self.now()

    def now(self) -> float:
        return self.clock.now()

    def wall(self, sim_time: float) -> float:
        """Epoch seconds for a simulated time, for created/removed stamps; squeezed by the speed so
        a fast simulator does not stamp resources weeks into the future."""
        return self.epoch + sim_time / max(self.timing.speed, 1.0)

    def settle(self) -> float:
        """Bring every object to the current simulated time; returns that time."""
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.settle()
            self.clock.advance(seconds)
            self.settle()
