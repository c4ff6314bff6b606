"""Rancher 1.x: one subscription per environment for the whole run, shared by every wait there.

The request counts it saves are pinned in test_requests.py; here, what sharing must not lose: the
view a later wait starts from stays true across an action the run sent, and the run hangs up.
"""

from __future__ import annotations

import threading
import time

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


def _look(stream: Stream, seconds: float = 5) -> Snapshot:
    """The stream's next snapshot within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        snapshot = stream.next(0.05)
        if snapshot is not None:
            return snapshot
    raise AssertionError("the stream answered nothing")


@FROZEN
def test_an_event_older_than_an_action_s_answer_does_not_undo_it(sim: Simulator, web: str) -> None:
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_STACK": "shop", "RANCHER_SERVICE": "web", "RANCHER_IMAGE": NEW_IMAGE})
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY))
    try:
        backend = discovery.connect(session, settings, lambda text: None)
        ref = backend.resolve(settings.services[0])
        stream = backend.watch(ref)
        assert stream is not None
        assert _look(stream).state == "active"
        stream.close()
        backend.apply(ref, backend.plan(ref, backend.fetch(ref), settings))
        # Cattle publishes once a second what changed: a publication made just before the upgrade was
        # taken may reach the socket after the upgrade's answer. It still shows the service active.
        late = {"name": "resource.change", "data": {"resource": {**sim.service(web), "state": "active"}}}
        stream = backend.watch(ref)
        assert stream is not None
        stream.apply(late)  # type: ignore[attr-defined]  # as the stream's reader hands it over
        assert _look(stream).state == "upgrading", "the upgrade's answer was undone by an older event"
        stream.close()
        assert len([r for r in sim.requests if r.path.endswith("/subscribe")]) == 1
    finally:
        session.close()


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


def _finishing(sim: Simulator, web: str) -> tuple[RancherSession, Backend, TargetRef]:
    """The service upgraded and watched, then its finish sent: (session, backend, ref)."""
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_STACK": "shop", "RANCHER_SERVICE": "web", "RANCHER_IMAGE": NEW_IMAGE})
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY))
    backend = discovery.connect(session, settings, lambda text: None)
    ref = backend.resolve(settings.services[0])
    backend.apply(ref, backend.plan(ref, backend.fetch(ref), settings))
    for _ in range(200):
        if sim.service(web)["state"] == "upgraded":
            break
        sim.advance(1.0)
    stream = backend.watch(ref)
    assert stream is not None
    assert _look(stream).state == "upgraded"
    stream.close()
    sim.reset_log()
    backend.finish(ref)
    return session, backend, ref


def _reads(sim: Simulator) -> int:
    return len([r for r in sim.requests if "include=instances" in r.query])


@UNPUBLISHED
def test_a_quick_finish_is_seen_by_a_read_before_cattle_publishes_it(sim: Simulator, web: str) -> None:
    session, backend, ref = _finishing(sim, web)
    try:
        for _ in range(10):   # the finish is done; cattle has not published it yet
            sim.advance(1.0)
        assert sim.service(web)["state"] == "active"
        stream = backend.watch(ref)
        assert stream is not None
        assert _look(stream).state == "finishing-upgrade"   # the finish's answer, kept by the view
        until = time.monotonic() + 1.0
        while _look(stream).state != "active":
            assert time.monotonic() < until, "the finish was not seen done before the stream's next publication"
        assert _reads(sim) == 1, "read once, at the first of FINISH_READS_SECONDS"
        stream.close()
    finally:
        session.close()


@UNPUBLISHED
def test_a_slow_finish_costs_two_reads_and_then_waits_for_the_stream(sim: Simulator, web: str) -> None:
    session, backend, ref = _finishing(sim, web)
    try:
        stream = backend.watch(ref)
        assert stream is not None
        states = []
        until = time.monotonic() + FINISH_READS_SECONDS[-1] + 0.3
        while time.monotonic() < until:
            snapshot = stream.next(0.05)
            if snapshot is not None:
                states.append(snapshot.state)
        assert set(states) == {"finishing-upgrade"}
        assert _reads(sim) == 2, "two reads at most, however long the finish takes"
        stream.close()
    finally:
        session.close()


@FROZEN
def test_a_target_s_first_wait_on_a_shared_stream_skips_what_it_sent_before_the_action(
        sim: Simulator, web: str) -> None:
    """The stream another target opened holds the changes of every service since: those of this one,
    from before its action, must not undo what its first read saw."""
    sim.add_service(sim.add_stack("jobs"), "worker", {"imageUuid": "docker:busybox:1"})
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SERVICE": "shop/web,jobs/worker", "RANCHER_IMAGE": NEW_IMAGE})
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY))
    try:
        backend = discovery.connect(session, settings, lambda text: None)
        first, ref = (backend.resolve(target) for target in reversed(settings.services))
        opened = backend.watch(first)   # worker's wait opens the environment's stream and ends
        assert opened is not None and _look(opened).state == "active"
        opened.close()
        backend.apply(ref, backend.plan(ref, backend.fetch(ref), settings))
        for _ in range(200):   # web upgrades; each change goes out on the stream, which nobody reads now
            if sim.service(web)["state"] == "upgraded":
                break
            sim.advance(1.0)
        rendered, until = sim.rendered, time.monotonic() + 5
        while sim.rendered == rendered and time.monotonic() < until:   # until the stream sent web upgraded
            time.sleep(0.005)
        time.sleep(0.05)   # and its reader queued it
        backend.rollback(ref)
        stream = backend.watch(ref)
        assert stream is not None
        states = [_look(stream).state]
        until = time.monotonic() + 0.3
        while time.monotonic() < until:
            snapshot = stream.next(0.05)
            if snapshot is not None:
                states.append(snapshot.state)
        assert set(states) == {"rolling-back"}, states
        stream.close()
    finally:
        session.close()


@UNPUBLISHED
def test_a_finish_published_before_its_answer_came_is_not_undone_by_the_answer(sim: Simulator, web: str) -> None:
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_STACK": "shop", "RANCHER_SERVICE": "web", "RANCHER_IMAGE": NEW_IMAGE})
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY))
    try:
        backend = discovery.connect(session, settings, lambda text: None)
        ref = backend.resolve(settings.services[0])
        backend.apply(ref, backend.plan(ref, backend.fetch(ref), settings))
        for _ in range(200):
            if sim.service(web)["state"] == "upgraded":
                break
            sim.advance(1.0)
        stream = backend.watch(ref)
        assert stream is not None and _look(stream).state == "upgraded"
        stream.close()
        # A quick finish: cattle publishes `active` while the finish's answer is still on its way.
        done = {"name": "resource.change", "data": {"resource": {**sim.service(web), "state": "active"}}}
        sim.reset_log()
        sim.faults.latency(0.3, "action=finishupgrade")
        finishing = threading.Thread(target=backend.finish, args=(ref,))
        finishing.start()
        time.sleep(0.1)   # the finish is on its way (the request log has it once it is answered)
        assert finishing.is_alive() and not sim.requests
        stream.apply(done)  # type: ignore[attr-defined]  # as the stream's reader hands it over
        finishing.join(10)
        for _ in range(10):
            sim.advance(1.0)
        stream = backend.watch(ref)
        assert stream is not None
        assert _look(stream).state == "active", "the answer (finishing-upgrade) replaced newer news"
        assert _reads(sim) == 1, "neither the view nor the answer could be trusted: read once"
        stream.close()
    finally:
        session.close()
