"""Runs waiting and running: a bounded queue, one run per repository at a time, at most RANCHER_PARALLEL
runs at once, and the stop that lets running upgrades end (or interrupts them) before the server exits.

Runs are keyed by the pushed image's repository (`Trigger.key`): the targets a run upgrades are those
running that repository, so two runs of one repository would race for the same targets, and they go one
after the other. A push that arrives while a run of its repository waits is compared with it
(`by_version`): the same image again is not queued (a resent notification) or, with other payload
fields, replaces the waiting one (which is then `superseded`); a newer release that every built-in
version policy takes over the waiting one replaces it too, and any other tag is queued after it. Runs of two
repositories may still pick one target (a sidekick of another repository): the runs' shared
`target_locks.TargetLocks` (serve/runs.py) has them upgrade it one after the other."""

from __future__ import annotations

import copy
import enum
import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from rancher_deploy.choices import PolicyKind, VersionPolicy
from rancher_deploy.policy import decide
from rancher_deploy.serve.payloads import Trigger


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    SUPERSEDED = "superseded"    # a request for its image with other fields replaced it before it started
    CANCELLED = "cancelled"      # the server stopped before it started; nothing was changed


class QueueFull(Exception):
    """RANCHER_SERVE_QUEUE (`limit`) runs are already waiting (the server's 429)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class Stopping(Exception):
    """The server is stopping and starts no more runs (the server's 503)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# The result object's fields (report.result_object, but `command`) as a run that has not ended shows
# them: every /status entry has the same fields, so a reader need not tell a queued, superseded or
# cancelled run apart before reading `result` or `targets` (tests/serve/test_queue.py checks the set).
NO_RESULT: dict[str, Any] = {
    "result": None, "exit_code": None, "meaning": None, "flavour": None, "targets": [], "error": None,
    "warnings": [], "api_calls": 0, "duration_seconds": None, "interrupted_by_signal": None, "selection": None,
}


@dataclass
class Job:
    """One run: what triggered it, where it is, and its result object once it ended."""

    id: int
    trigger: Trigger
    received: str = field(default_factory=_now)
    state: JobState = JobState.QUEUED
    started: str | None = None
    ended: str | None = None
    result: dict[str, Any] | None = None     # report.result_object of the run
    supersedes: int | None = None
    superseded_by: int | None = None

    def view(self) -> dict[str, Any]:
        """The run as /status shows it: which run, its state and trigger, and its result object's fields
        (NO_RESULT's values until it ended: `result` and `exit_code` null, `targets` and `warnings` [])."""
        view: dict[str, Any] = {
            "run": self.id, "state": self.state.value, "source": self.trigger.source, "image": str(self.trigger.image),
            "repository": self.trigger.key, "received": self.received, "started": self.started, "ended": self.ended,
            "supersedes": self.supersedes, "superseded_by": self.superseded_by, **copy.deepcopy(NO_RESULT),
        }
        if self.result is not None:   # the run's result object: its result, targets, selection, ...
            view.update((name, value) for name, value in self.result.items() if name != "command")
        return view


class Controls:
    """How one run learns that the server is stopping: its `runner.Control`, in a worker thread.

    The process's signal handlers belong to the server; a run is interrupted only when the server
    says so (RANCHER_SERVE_GRACE ran out, or a second signal), and hurried by a further one.
    """

    def __init__(self) -> None:
        self._interrupted: int | None = None
        self._arrived: float | None = None
        self._urgent: int | None = None
        self._wake = threading.Event()

    def interrupted(self) -> int | None:
        return self._interrupted

    def urgent(self) -> int | None:
        return self._urgent

    def arrived(self) -> float | None:
        return self._arrived

    def sleep(self, seconds: float) -> None:
        # One wake per signal, as cli._Signals: the rollback that follows polls at its own pace.
        if self._wake.wait(seconds):
            self._wake.clear()

    def interrupt(self, number: int, *, urgent: bool = False) -> None:
        if self._interrupted is None:
            # When, on the run's clock (`runner.run`'s default, time.monotonic): a run blocked in a slow
            # request notices later, and its grace counts from here.
            self._interrupted, self._arrived = number, time.monotonic()
        if urgent:
            self._urgent = number
        self._wake.set()


Runner = Callable[[Job, Controls], dict[str, Any]]


@dataclass(frozen=True)
class Admission:
    """A request's trigger, queued: its run, and the waiting run it replaced (if any, `note` saying why).
    Or, `kept` saying why, not queued: `job` is then the waiting run of its repository, which deploys
    what it would."""

    job: Job
    superseded: Job | None
    kept: str | None = None
    note: str | None = None


class Order(enum.Enum):
    """What a new push of a repository does to the run of it that waits last (`Compare`)."""

    REPLACE = "replace"   # the waiting run is superseded: the new trigger's fields deploy the image
    IGNORE = "ignore"     # the new push is not queued: the waiting run deploys the same
    BOTH = "both"         # the new push is queued after the waiting one: targets may take either


# How a new push compares with the last waiting run of its repository: the Order, and why in words an
# `ignored` entry continues (`... and <why>`), or a replacing one's `note` says.
Compare = Callable[[Trigger, Trigger], "tuple[Order, str]"]
# What a trigger's run is given of confirm, start_first and timeout, a left-out one as what it means
# (runs.effective: the server's settings, or the seed's 30 s): two triggers meaning the same run are one.
Effective = Callable[[Trigger], "tuple[object, ...]"]


def as_given(trigger: Trigger) -> tuple[object, ...]:
    """The payload's fields as given (`None`: left out); what a scheduler without settings compares."""
    return trigger.finish, trigger.start_first, trigger.timeout_seconds


def by_trigger(waiting: Trigger, new: Trigger, effective: Effective = as_given) -> tuple[Order, str]:
    """How a new trigger of a repository queues after the last waiting one: IGNORE when it is the same
    image with the same payload fields as `effective` gives them (a resent notification; the waiting
    run pulls the tag when it starts), REPLACE when it is the same image with other `confirm`,
    `start_first` or `timeout` (the sender's latest word on how to deploy it), BOTH otherwise, in
    order of arrival. Different tags it never compares: `by_version` does, under a version policy.
    """
    if waiting.poll != new.poll or not waiting.image.same_image(new.image):
        return Order.BOTH, ""
    # Compared as the runs would be given them: a Docker Hub push (no fields) and a POST /upgrade of
    # the same image leaving them out mean the same run, not one replacing the other (third review of #16).
    if effective(waiting) == effective(new):
        return Order.IGNORE, "it deploys that image, pulled when the run starts"
    return Order.REPLACE, "replaces the waiting request's confirm/start_first/timeout"


# The strictest of the built-in policies that order versions (newer, all, major, minor, patch): what it
# takes of one tag over another, every one of them takes, whichever a target's autoupdate.policy sets.
_STRICTEST = VersionPolicy(PolicyKind.PATCH)


def by_version(policy: VersionPolicy, effective: Effective = as_given) -> Compare:
    """How pushes of one repository queue under the server's `policy`: "a newer push for a busy target
    waits and supersedes an older queued one" (issue #16), without costing a target a release.

    The same image: as `by_trigger`. Another tag REPLACEs the waiting one only when every built-in
    policy a target could follow takes it over that one: the server's (`any` and `force` ordering as
    `all`) and any `autoupdate.policy` label, the strictest of which is `patch`: a newer patch release
    (2.0.1 -> 2.0.2), so a burst of patch releases deploys the newest once. Superseding 2.0.1 by 2.1.0
    would leave a target labelled `patch` on 2.0.0 with neither, and a commit tag, which `newer` skips,
    would cost every target the waiting release. IGNORE when every such policy takes the waiting one
    over it (a late 2.0.1 after 2.0.2: registries retry and deliver out of order). BOTH otherwise, in
    order of arrival. A `glob:`/`regexp:` label is the one policy this cannot know before a run reads
    the labels: a pattern that takes the superseded patch release and not its successor
    (`glob:1.4.?`: 1.4.9, not 1.4.10) misses it (docs/fleet.md, Queueing, says so).
    """
    rule = VersionPolicy(PolicyKind.ALL) if policy.kind in (PolicyKind.ANY, PolicyKind.FORCE) else policy

    def compare(waiting: Trigger, new: Trigger) -> tuple[Order, str]:
        if waiting.poll == new.poll and waiting.image.same_image(new.image):
            return by_trigger(waiting, new, effective)
        if waiting.poll or new.poll:   # a poll has no tag: each target's run picks its own
            return Order.BOTH, ""
        old, pushed = str(waiting.image), str(new.image)
        taken = decide(rule, old, pushed).allowed
        if taken and decide(_STRICTEST, old, pushed).allowed:
            return Order.REPLACE, "a newer patch release: every built-in version policy takes it over the waiting one"
        backwards = decide(_STRICTEST, pushed, old)
        if not taken and backwards.allowed:
            return Order.IGNORE, (f"the version policy {rule}, and every built-in version policy a label may set, "
                                  f"takes that over it: {backwards.reason}")
        return Order.BOTH, ""

    return compare


class Scheduler:
    """The queue and the workers; every method may be called from any thread.

    `runner(job, controls)` performs one run and returns its result object; it must not raise (a run's
    errors are its result). `history`: how many ended runs /status keeps.
    """

    def __init__(self, runner: Runner, *, workers: int, limit: int, history: int = 100,
                 compare: Compare = by_trigger) -> None:
        self._runner = runner
        self._compare = compare
        self._workers = workers
        self._limit = limit
        self._history = history
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._running: dict[int, Controls] = {}
        self._targets: dict[str, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []
        self._accepting = True

    def start(self) -> None:
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"run-worker-{number + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, triggers: tuple[Trigger, ...]) -> list[Admission]:
        """Queue a run of each trigger as `compare` orders it against the last waiting run of its
        repository (replacing it, not queued: its Admission's `kept`, or queued after it), all or none:
        raises QueueFull when they would take more places than RANCHER_SERVE_QUEUE has free (nothing
        is queued then), Stopping after `stop_accepting`."""
        if not triggers:
            return []
        with self._lock:
            if not self._accepting:
                raise Stopping()
            last: dict[str, Job] = {}
            for job in self._jobs.values():
                if job.state is JobState.QUEUED:
                    last[job.trigger.key] = job
            # Decided first, queued after: a request past the bound queues none of its images.
            plan: list[tuple[Trigger, Job | None, Order, str]] = []
            added = 0
            for trigger in triggers:
                previous = last.get(trigger.key)
                order, why = self._compare(previous.trigger, trigger) if previous is not None else (Order.BOTH, "")
                plan.append((trigger, previous, order, why))
                if order is not Order.IGNORE:
                    added += order is Order.BOTH
                    last[trigger.key] = Job(0, trigger)   # the later triggers compare with this one
            if added and self._queued() + added > self._limit:
                raise QueueFull(self._limit)
            admissions: list[Admission] = []
            queued: dict[str, Job] = {}
            for trigger, previous, order, why in plan:
                waiting = queued.get(trigger.key, previous)
                if order is Order.IGNORE:
                    assert waiting is not None
                    admissions.append(Admission(waiting, None, why))
                    continue
                job = Job(next(self._ids), trigger)
                replaced = waiting if order is Order.REPLACE else None
                if replaced is not None:
                    replaced.state, replaced.superseded_by = JobState.SUPERSEDED, job.id
                    job.supersedes = replaced.id
                self._jobs[job.id] = job
                queued[trigger.key] = job
                admissions.append(Admission(job, replaced, note=why if replaced is not None else None))
            self._prune()
            self._lock.notify_all()
            return admissions

    def snapshot(self) -> dict[str, Any]:
        """/status: the queue's numbers, the runs it knows (newest first) and each target's last run."""
        with self._lock:
            return {
                "queued": self._queued(), "running": len(self._running), "queue_limit": self._limit,
                "workers": self._workers, "accepting": self._accepting,
                "runs": [job.view() for job in reversed(self._jobs.values())],
                "targets": dict(sorted(self._targets.items())),
            }

    def stop_accepting(self) -> tuple[list[Job], int]:
        """Start no more runs: the waiting ones are cancelled (returned), and the running ones counted."""
        with self._lock:
            self._accepting = False
            cancelled = [job for job in self._jobs.values() if job.state is JobState.QUEUED]
            for job in cancelled:
                job.state, job.ended = JobState.CANCELLED, _now()
            self._lock.notify_all()
            return cancelled, len(self._running)

    def wait(self, timeout: float | None) -> bool:
        """Wait until no run is going (after `stop_accepting`), at most `timeout` seconds; True when none is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._running or any(job.state is JobState.QUEUED for job in self._jobs.values()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining if remaining is None else min(remaining, 1.0))
            return True

    def interrupt(self, number: int, *, urgent: bool = False) -> list[Job]:
        """Interrupt every running run as signal `number` interrupts a CLI run (`urgent`: as a second one
        does); returns them."""
        with self._lock:
            for controls in self._running.values():
                controls.interrupt(number, urgent=urgent)
            return [self._jobs[running] for running in self._running]

    def _queued(self) -> int:
        return sum(job.state is JobState.QUEUED for job in self._jobs.values())

    def _prune(self) -> None:
        ended = [job.id for job in self._jobs.values() if job.state not in (JobState.QUEUED, JobState.RUNNING)]
        for number in ended[:max(0, len(ended) - self._history)]:
            del self._jobs[number]

    def _next(self) -> tuple[Job, Controls] | None:
        """The oldest waiting run whose repository has none running (None once stopping), marked running."""
        with self._lock:
            while True:
                busy = {self._jobs[number].trigger.key for number in self._running}
                job = next((job for job in self._jobs.values()
                            if job.state is JobState.QUEUED and job.trigger.key not in busy), None)
                if job is not None:
                    controls = Controls()
                    job.state, job.started = JobState.RUNNING, _now()
                    self._running[job.id] = controls
                    return job, controls
                if not self._accepting:
                    return None
                self._lock.wait()

    def _work(self) -> None:
        while (picked := self._next()) is not None:
            job, controls = picked
            result: dict[str, Any] = {"result": "error", "exit_code": 4, "targets": [], "error": "the run did not end",
                                      "meaning": "needs attention: the targets' state is unknown"}
            try:
                result = self._runner(job, controls)
            finally:   # a runner that broke its promise still frees its repository, and says so in /status
                self._ended(job, result)

    def _ended(self, job: Job, result: dict[str, Any]) -> None:
        with self._lock:
            job.state, job.ended, job.result = JobState.DONE, _now(), result
            del self._running[job.id]
            for target in result.get("targets", ()):
                self._targets[target["target"]] = {
                    "run": job.id, "result": target["result"], "state": target["state"], "image": target["image"],
                    "requested_image": target["requested_image"], "at": job.ended}
            self._prune()
            self._lock.notify_all()
