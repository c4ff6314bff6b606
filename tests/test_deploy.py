"""The pipeline with simulated time frozen: every second passes only when the tool sleeps.

With `Timing(speed=0)` the simulator moves only on `advance`, and the pipeline's sleeper advances
it, so hour-long timeouts run in milliseconds and the outcome does not depend on the machine.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from rancher_deploy import cattle
from rancher_deploy.deploy import Pipeline
from rancher_deploy.errors import ExitCode, RancherUnreachable
from rancher_deploy.events import Event, Result, Step, exit_code
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.report import result_object
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY


class SimulatedTime:
    """The pipeline's clock and sleeper, driving the simulator's clock along."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.now = 0.0
        self.on_sleep: list[object] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sim.advance(seconds)
        for hook in self.on_sleep:
            hook()  # type: ignore[operator]


@pytest.fixture
def frozen() -> Iterator[Simulator]:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=0)) as simulator:
        yield simulator


def pipeline(sim: Simulator, time: SimulatedTime, events: list[Event], interrupted: list[int | None] | None = None,
             **environment: str) -> Pipeline:
    environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "300",
               **environment}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), sleep=time.sleep)
    backend = cattle.connect(session, sim.url, None, lambda text: None)
    signals = interrupted or []
    return Pipeline(settings, backend, events.append, clock=time.clock, sleep=time.sleep,
                    interrupted=lambda: signals.pop(0) if signals else None)


def seed(sim: Simulator) -> str:
    return sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=3)


def test_a_hung_upgrade_times_out_on_the_deadline_then_rolls_back(frozen: Simulator) -> None:
    service = seed(frozen)
    frozen.faults.hang(service)
    time = SimulatedTime(frozen)

    def release_for_rollback() -> None:
        if frozen.service(service)["state"] == "rolling-back":
            frozen.faults.clear()

    time.on_sleep.append(release_for_rollback)
    events: list[Event] = []
    outcome = pipeline(frozen, time, events, RANCHER_POLL_INTERVAL="10", RANCHER_PROGRESS_DEADLINE="1000").run()
    assert exit_code(outcome) is ExitCode.ROLLED_BACK
    (target,) = outcome.targets
    assert target.result is Result.ROLLED_BACK
    assert "was not upgraded after 300s (RANCHER_TIMEOUT)" in target.message
    assert frozen.service(service)["state"] == "active"
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert 300 <= time.now < 600


def test_a_signal_while_waiting_rolls_back_and_exits_143(frozen: Simulator) -> None:
    service = seed(frozen)
    time = SimulatedTime(frozen)
    events: list[Event] = []
    outcome = pipeline(frozen, time, events, interrupted=[None, None, None, None, 15]).run()
    assert outcome.interrupted_by == 15
    assert exit_code(outcome) is ExitCode.TERMINATED
    assert outcome.targets[0].result is Result.ROLLED_BACK
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert frozen.service(service)["state"] == "active"


def test_an_upgrade_whose_answer_is_lost_is_checked_not_repeated(frozen: Simulator) -> None:
    service = seed(frozen)
    frozen.faults.fail_next("/services/", method="POST", drop=True)  # taken, then the connection drops
    time = SimulatedTime(frozen)
    events: list[Event] = []
    outcome = pipeline(frozen, time, events).run()
    assert exit_code(outcome) is ExitCode.OK
    assert any("answer was lost, but Rancher is upgrading" in e.message for e in events if isinstance(e, Step))
    upgrades = [r for r in frozen.requests if r.method == "POST" and "action=upgrade" in r.query]
    assert len(upgrades) == 1
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_an_upgrade_rancher_did_not_take_changes_nothing_and_is_not_repeated(frozen: Simulator) -> None:
    service = seed(frozen)
    frozen.faults.fail_next("/services/", method="POST", status=503)
    time = SimulatedTime(frozen)
    with pytest.raises(RancherUnreachable, match="Rancher did not take the upgrade of shop/web .*HTTP 503.*"
                                                 "still active and nothing was changed"):
        pipeline(frozen, time, []).run()
    upgrades = [r for r in frozen.requests if r.method == "POST" and "action=upgrade" in r.query]
    assert len(upgrades) == 1
    assert frozen.service(service)["state"] == "active"


def test_an_upgrade_run_by_someone_else_is_waited_for_then_finished_first(frozen: Simulator) -> None:
    service = seed(frozen)
    current = frozen.service(service)
    body = {"inServiceStrategy": {"launchConfig": {**current["launchConfig"], "imageUuid": "docker:other:1"},
                                  "batchSize": 1, "intervalMillis": 5000}}
    response = requests.post(current["actions"]["upgrade"], json=body, auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
    assert response.status_code == 202
    time = SimulatedTime(frozen)
    events: list[Event] = []
    outcome = pipeline(frozen, time, events).run()
    assert exit_code(outcome) is ExitCode.OK
    messages = [e.message for e in events if isinstance(e, Step)]
    assert any("is upgrading (another process runs); waiting for it to settle" in m for m in messages)
    assert any("left upgraded by an earlier run; finish it first" in m for m in messages)
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def _start_upgrade(sim: Simulator, service: str, image: str) -> None:
    current = sim.service(service)
    body = {"inServiceStrategy": {"launchConfig": {**current["launchConfig"], "imageUuid": f"docker:{image}"},
                                  "batchSize": 1, "intervalMillis": 5000}}
    response = requests.post(current["actions"]["upgrade"], json=body, auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
    assert response.status_code == 202


def _act(sim: Simulator, service: str, action: str) -> None:
    url = sim.service(service)["actions"][action]
    assert requests.post(url, json={}, auth=(ACCESS_KEY, SECRET_KEY), timeout=5).status_code == 202


class _Racer(list[Event]):
    """The run's events; at its plan (the last line before its upgrade request) another client starts
    an upgrade of the service over the API, as a second process would between the run's read and its
    request."""

    def __init__(self, sim: Simulator, service: str) -> None:
        super().__init__()
        self.sim, self.service, self.raced = sim, service, False

    def append(self, event: Event) -> None:
        super().append(event)
        if not self.raced and isinstance(event, Step) and event.message.startswith("Plan for"):
            self.raced = True
            _start_upgrade(self.sim, self.service, "other:1")


def test_an_upgrade_another_process_starts_just_before_ours_is_waited_out_not_exit_2(frozen: Simulator) -> None:
    # Cattle refuses our upgrade 422 ActionNotAvailable (the service is upgrading): the target is busy,
    # as the preflight's "another process runs", not a wrong setting.
    service = seed(frozen)
    time = SimulatedTime(frozen)

    def the_other_process_finishes() -> None:
        seen = frozen.service(service)
        if seen["state"] == "upgraded" and seen["launchConfig"]["imageUuid"] == "docker:other:1":
            _act(frozen, service, "finishupgrade")

    time.on_sleep.append(the_other_process_finishes)
    events = _Racer(frozen, service)
    outcome = pipeline(frozen, time, events).run()
    assert exit_code(outcome) is ExitCode.OK, [getattr(e, "message", e) for e in events]
    messages = [e.message for e in events if isinstance(e, Step)]
    assert any("Another process started an upgrade of shop/web since it was read" in m for m in messages)
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert outcome.targets[0].result is Result.UPGRADED


def test_a_rollback_in_progress_is_waited_for_then_the_upgrade_runs(frozen: Simulator) -> None:
    service = seed(frozen)
    _start_upgrade(frozen, service, "other:1")
    frozen.advance(3)
    _act(frozen, service, "rollback")
    assert frozen.service(service)["state"] == "rolling-back"
    events: list[Event] = []
    outcome = pipeline(frozen, SimulatedTime(frozen), events).run()
    assert exit_code(outcome) is ExitCode.OK
    assert any("is rolling-back (another process runs)" in e.message for e in events if isinstance(e, Step))
    assert frozen.service(service)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_a_canceled_upgrade_is_refused_without_change(frozen: Simulator) -> None:
    from rancher_deploy.errors import RefusedError

    service = seed(frozen)
    _start_upgrade(frozen, service, "other:1")
    _act(frozen, service, "cancelupgrade")
    frozen.advance(5)
    assert frozen.service(service)["state"] == "canceled-upgrade"
    posts_before = frozen.count("POST")
    with pytest.raises(RefusedError, match="shop/web is canceled-upgrade, which an upgrade does not start from"):
        pipeline(frozen, SimulatedTime(frozen), []).run()
    assert frozen.count("POST") == posts_before


def test_a_signal_with_on_interrupt_report_leaves_the_upgrade_and_exits_143(frozen: Simulator) -> None:
    service = seed(frozen)
    events: list[Event] = []
    outcome = pipeline(frozen, SimulatedTime(frozen), events, interrupted=[None, None, 15],
                       RANCHER_ON_INTERRUPT="report").run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    assert outcome.targets[0].result is Result.INTERRUPTED
    assert "is left in state upgrading after the signal" in outcome.targets[0].message
    assert frozen.service(service)["state"] == "upgrading"
    assert not [r for r in frozen.requests if "action=rollback" in r.query]


def test_a_lost_upgrade_answer_and_rancher_unreadable_after_is_exit_4_not_nothing_changed(
        frozen: Simulator) -> None:
    from rancher_deploy.errors import NeedsAttention

    service = seed(frozen)
    time = SimulatedTime(frozen)
    environ = {"CATTLE_URL": frozen.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "20",
               "RANCHER_RETRIES": "0"}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), sleep=time.sleep, read_attempts=1)
    backend = cattle.connect(session, frozen.url, None, lambda text: None)
    real_apply = backend.apply

    def apply_then_go_dark(ref: object, plan: object) -> None:
        # Rancher takes the upgrade, the answer is lost, and from then on every read fails.
        frozen.faults.fail_next("/services/", method="POST", drop=True)
        try:
            real_apply(ref, plan)  # type: ignore[arg-type]
        finally:
            frozen.faults.fail_next("/services/", method="GET", status=503, count=10_000)

    backend.apply = apply_then_go_dark  # type: ignore[method-assign]
    pipeline = Pipeline(settings, backend, lambda event: None, clock=time.clock, sleep=time.sleep)
    with pytest.raises(NeedsAttention, match="whether it was taken is unknown; its state is unknown") as caught:
        pipeline.run()
    # The report still names the target, FAILED in unknown state: never `error` ("nothing was changed").
    stopped = pipeline.stopped(caught.value)
    assert [(t.target, t.result, t.state) for t in stopped.targets] == [("shop/web", Result.FAILED, "unknown")]
    document = result_object(stopped, caught.value, exit_code=ExitCode.NEEDS_ATTENTION, command="upgrade",
                             api_calls=0)
    assert (document["result"], document["flavour"]) == ("failed", "rancher-1.x")
    frozen.faults.clear()
    assert frozen.service(service)["state"] in ("upgrading", "upgraded")


def test_a_second_signal_stops_the_rollback_wait_and_names_the_state(frozen: Simulator) -> None:
    service = seed(frozen)
    time = SimulatedTime(frozen)
    frozen.faults.hang(service)
    first = [None, None, 15]
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": frozen.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "300"})
    backend = cattle.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)), frozen.url, None,
                             lambda text: None)
    second = {"polls": 0}

    def urgent() -> int | None:
        second["polls"] += 1
        return 2 if second["polls"] > 3 else None

    outcome = Pipeline(settings, backend, lambda event: None, clock=time.clock, sleep=time.sleep,
                       interrupted=lambda: first.pop(0) if first else 15, urgent=urgent).run()
    assert exit_code(outcome) is ExitCode.NEEDS_ATTENTION
    (target,) = outcome.targets
    assert target.result is Result.FAILED
    assert "a second signal stopped the wait for the rollback" in target.message
    assert "its state is rolling-back" in target.message
    assert frozen.service(service)["state"] == "rolling-back"


def test_finish_command_interrupted_while_waiting_exits_143_with_nothing_changed(frozen: Simulator) -> None:
    service = seed(frozen)
    _start_upgrade(frozen, service, "other:1")
    frozen.faults.hang(service)
    time = SimulatedTime(frozen)
    settings = Settings.load(Command.FINISH, {}, {
        "CATTLE_URL": frozen.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SERVICE": "shop/web"})
    backend = cattle.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)), frozen.url, None,
                             lambda text: None)
    signals = [None, None, 15]
    outcome = Pipeline(settings, backend, lambda event: None, clock=time.clock, sleep=time.sleep,
                       interrupted=lambda: signals.pop(0) if signals else 15).run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    assert outcome.targets[0].result is Result.UNCHANGED, "nothing was sent, so the images are known"
    assert not [r for r in frozen.requests if "finishupgrade" in r.query]


def test_a_signal_while_the_finish_is_in_flight_names_the_state_and_images_it_reads(frozen: Simulator) -> None:
    """The signal arrives once the finish request reached Rancher, before the finish's wait read anything:
    one more read names the state and the images, rather than "state unknown" and no image."""
    seed(frozen)
    time = SimulatedTime(frozen)

    def signal() -> int | None:
        return 15 if any("action=finishupgrade" in r.query for r in frozen.requests) else None

    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": frozen.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "300"})
    backend = cattle.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), sleep=time.sleep), frozen.url,
                             None, lambda text: None)
    outcome = Pipeline(settings, backend, lambda event: None, clock=time.clock, sleep=time.sleep,
                       interrupted=signal).run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    (target,) = outcome.targets
    assert target.result is Result.INTERRUPTED
    assert target.state == "finishing-upgrade"
    assert "under way in Rancher (state finishing-upgrade)" in target.message
    document = result_object(outcome, None, exit_code=ExitCode.TERMINATED, command="upgrade", api_calls=0)
    assert document["targets"][0]["image"] == NEW_IMAGE
