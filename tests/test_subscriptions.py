"""Rancher 1.x: one subscription per environment for the whole run, shared by every wait there.

The request counts it saves are pinned in test_requests.py; here, what sharing must not lose: the
view a later wait starts from stays true across an action the run sent, and the run hangs up.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pytest

from rancher_deploy import discovery
from rancher_deploy.backend import Backend, Stream
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.snapshot import Snapshot, TargetRef
from rancher_deploy.subscribe import FINISH_READS_SECONDS

from .conftest import ACCESS_KEY, NEW_IMAGE, SECRET_KEY, RunCli

FROZEN = pytest.mark.parametrize("timing", [Timing(speed=0)])   # nothing moves unless the test moves it


@dataclass
class Direct:
    """A 1.x backend on the simulator, driven step by step as the pipeline drives it."""

    sim: Simulator
    settings: Settings
    backend: Backend

    def ref(self, number: int = 0) -> TargetRef:
        return self.backend.resolve(self.settings.services[number])

    def upgraded(self, ref: TargetRef, service_id: str) -> None:
        """Send the upgrade and move the simulator's time until the service is upgraded."""
        self.backend.apply(ref, self.backend.plan(ref, self.backend.fetch(ref), self.settings))
        for _ in range(200):
            if self.sim.service(service_id)["state"] == "upgraded":
                return
            self.sim.advance(1.0)
        raise AssertionError("the upgrade did not end")


class Clock:
    """The run's clock, moved only by the test (`RancherSession(clock=...)`), in seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def connected(sim: Simulator, clock: Clock | None = None, **variables: str) -> Iterator[Direct]:
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_IMAGE": NEW_IMAGE, **variables})
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), clock=clock or time.monotonic)
    try:
        yield Direct(sim, settings, discovery.connect(session, settings, lambda text: None))
    finally:
        session.close()   # hangs up the run's subscriptions


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def direct(sim: Simulator, web: str, clock: Clock) -> Iterator[Direct]:
    """shop/web (the `web` fixture's), connected, on a clock the test moves (`clock`)."""
    with connected(sim, clock, RANCHER_STACK="shop", RANCHER_SERVICE="web") as made:
        yield made


def _look(stream: Stream, seconds: float = 5) -> Snapshot:
    """The stream's next snapshot within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        snapshot = stream.next(0.05)
        if snapshot is not None:
            return snapshot
    raise AssertionError("the stream answered nothing")


@FROZEN
def test_an_event_older_than_an_action_s_answer_does_not_undo_it(sim: Simulator, web: str, direct: Direct) -> None:
    backend, ref = direct.backend, direct.ref()
    stream = backend.watch(ref)
    assert stream is not None
    assert _look(stream).state == "active"
    stream.close()
    backend.apply(ref, backend.plan(ref, backend.fetch(ref), direct.settings))
    # Cattle publishes once a second what changed: a publication made just before the upgrade was
    # taken may reach the socket after the upgrade's answer. It still shows the service active.
    late = {"name": "resource.change", "data": {"resource": {**sim.service(web), "state": "active"}}}
    stream = backend.watch(ref)
    assert stream is not None
    stream.apply(late)  # type: ignore[attr-defined]  # as the stream's reader hands it over
    assert _look(stream).state == "upgrading", "the upgrade's answer was undone by an older event"
    stream.close()
    assert len([r for r in sim.requests if r.path.endswith("/subscribe")]) == 1


def test_the_run_hangs_up_its_subscription_when_it_ends(sim: Simulator, web: str, run_cli: RunCli) -> None:
    before = set(threading.enumerate())
    assert run_cli().code == 0
    readers = [thread for thread in set(threading.enumerate()) - before if thread.name == "rancher-deploy-stream"]
    for reader in readers:
        reader.join(5)   # the reader closes the socket itself once woken, then ends
    assert not [reader for reader in readers if reader.is_alive()], "a subscription outlived the run"


# -- after finishupgrade: at most two reads before the stream's next publication ----------------------

# Time all but still (the test moves it), and cattle's once-a-second publication pushed hours away
# (publish_interval / speed real seconds): only a read can tell the finish done.
UNPUBLISHED = pytest.mark.parametrize("timing", [Timing(speed=0.001, publish_interval=10.0)])


def _watched_upgraded(direct: Direct, web: str) -> tuple[Stream, TargetRef]:
    """The service upgraded and watched (its wait over): the view, and the service."""
    ref = direct.ref()
    direct.upgraded(ref, web)
    stream = direct.backend.watch(ref)
    assert stream is not None
    assert _look(stream).state == "upgraded"
    stream.close()
    return stream, ref


def _finishing(direct: Direct, web: str) -> TargetRef:
    """The service upgraded and watched, then its finish sent."""
    _, ref = _watched_upgraded(direct, web)
    direct.sim.reset_log()
    direct.backend.finish(ref)
    return ref


def _reads(sim: Simulator) -> int:
    return len([r for r in sim.requests if "include=instances" in r.query])


def _states(stream: Stream, seconds: float) -> list[str]:
    """The state of each snapshot the stream answers within `seconds`."""
    states, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        snapshot = stream.next(0.05)
        if snapshot is not None:
            states.append(snapshot.state)
    return states


def _looks(stream: Stream, count: int = 5) -> set[str]:
    """The states of `count` looks at the stream (each waits at most 0.05 s for a message)."""
    return {snapshot.state for snapshot in (stream.next(0.05) for _ in range(count)) if snapshot is not None}


@UNPUBLISHED
def test_a_quick_finish_is_seen_by_a_read_before_cattle_publishes_it(sim: Simulator, web: str, direct: Direct,
                                                                     clock: Clock) -> None:
    ref = _finishing(direct, web)
    for _ in range(10):   # the finish is done; cattle has not published it yet
        sim.advance(1.0)
    assert sim.service(web)["state"] == "active"
    stream = direct.backend.watch(ref)
    assert stream is not None
    assert _look(stream).state == "finishing-upgrade"   # the finish's answer, kept by the view
    assert _looks(stream) <= {"finishing-upgrade"} and _reads(sim) == 0, "read before the run's clock said so"
    clock.now += FINISH_READS_SECONDS[0]
    assert _look(stream).state == "active"
    assert _reads(sim) == 1, "read once, at the first of FINISH_READS_SECONDS"
    clock.now += 60.0
    assert not _looks(stream) and _reads(sim) == 1, "read again once the service was seen done"
    stream.close()


@UNPUBLISHED
def test_a_slow_finish_costs_two_reads_and_then_waits_for_the_stream(sim: Simulator, web: str, direct: Direct,
                                                                     clock: Clock) -> None:
    stream = direct.backend.watch(_finishing(direct, web))
    assert stream is not None
    answered, reads = clock.now, []
    for after in (*FINISH_READS_SECONDS, 60.0, 600.0):   # seconds after the finish's answer, by the run's clock
        clock.now = answered + after
        assert _looks(stream) <= {"finishing-upgrade"}
        reads.append(_reads(sim))
    assert reads == [1, 2, 2, 2], "two reads at most, however long the finish takes"
    stream.close()


@FROZEN
def test_a_target_s_first_wait_on_a_shared_stream_skips_what_it_sent_before_the_action(
        sim: Simulator, web: str) -> None:
    """The stream another target opened holds the changes of every service since: those of this one,
    from before its action, must not undo what its first read saw."""
    sim.add_service(sim.add_stack("jobs"), "worker", {"imageUuid": "docker:busybox:1"})
    with connected(sim, RANCHER_SERVICE="shop/web,jobs/worker") as direct:
        ref, first = direct.ref(0), direct.ref(1)
        opened = direct.backend.watch(first)   # worker's wait opens the environment's stream and ends
        assert opened is not None and _look(opened).state == "active"
        opened.close()
        direct.upgraded(ref, web)   # each change goes out on the stream, which nobody reads now
        rendered, until = sim.rendered, time.monotonic() + 5
        while sim.rendered == rendered and time.monotonic() < until:   # until the stream sent web upgraded
            time.sleep(0.005)
        time.sleep(0.05)   # and its reader queued it
        direct.backend.rollback(ref)
        stream = direct.backend.watch(ref)
        assert stream is not None
        states = [_look(stream).state, *_states(stream, 0.3)]
        assert set(states) == {"rolling-back"}, states
        stream.close()


@UNPUBLISHED
def test_a_finish_published_before_its_answer_came_is_not_undone_by_the_answer(sim: Simulator, web: str,
                                                                              direct: Direct) -> None:
    stream, ref = _watched_upgraded(direct, web)
    # A quick finish: cattle publishes `active` while the finish's answer is still on its way.
    done = {"name": "resource.change", "data": {"resource": {**sim.service(web), "state": "active"}}}
    sim.reset_log()
    sim.faults.latency(0.3, "action=finishupgrade")
    finishing = threading.Thread(target=direct.backend.finish, args=(ref,))
    finishing.start()
    time.sleep(0.1)   # the finish is on its way (the request log has it once it is answered)
    assert finishing.is_alive() and not sim.requests
    stream.apply(done)  # type: ignore[attr-defined]  # as the stream's reader hands it over
    finishing.join(10)
    for _ in range(10):
        sim.advance(1.0)
    stream = direct.backend.watch(ref)
    assert stream is not None
    assert _look(stream).state == "active", "the answer (finishing-upgrade) replaced newer news"
    assert _reads(sim) == 1, "neither the view nor the answer could be trusted: read once"
    stream.close()
