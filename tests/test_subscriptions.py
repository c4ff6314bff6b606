"""Rancher 1.x: one subscription per environment for the whole run, shared by every wait there.

The request counts it saves are pinned in test_requests.py; here, what sharing must not lose: the
view a later wait starts from stays true across an action the run sent, and the run hangs up.
"""

from __future__ import annotations

import threading
import time

import pytest

from rancher_deploy import discovery
from rancher_deploy.backend import Stream
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.snapshot import Snapshot

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
