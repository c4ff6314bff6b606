"""The pipeline with simulated time frozen: every second passes only when the tool sleeps.

With `Timing(speed=0)` the simulator moves only on `advance`, and the pipeline's sleeper advances
it, so hour-long timeouts run in milliseconds and the outcome does not depend on the machine.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
import requests

from rancher_deploy import cattle
from rancher_deploy.deploy import Pipeline
from rancher_deploy.errors import ExitCode, RancherUnreachable
from rancher_deploy.events import Event, Progress, Result, Step, exit_code
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


def pipeline(sim: Simulator, time: SimulatedTime, events: list[Event],
             interrupted: list[int | None] | Callable[[], int | None] | None = None, **environment: str) -> Pipeline:
    """The pipeline over shop/web. `interrupted`: the signal check, or the answers it gives one by one
    (None once they run out)."""
    environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "300",
               **environment}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), sleep=time.sleep)
    backend = cattle.connect(session, sim.url, None, lambda text: None)
    if callable(interrupted):
        check = interrupted
    else:
        signals = interrupted or []

        def check() -> int | None:
            return signals.pop(0) if signals else None
    return Pipeline(settings, backend, events.append, clock=time.clock, sleep=time.sleep, interrupted=check)


def once_upgrading(sim: Simulator, number: int = 15) -> Callable[[], int | None]:
    """A signal check that answers `number` once Rancher has the upgrade: a signal while it is waited for."""
    return lambda: number if any(r.method == "POST" and "action=upgrade" in r.query for r in sim.requests) else None


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


# Containers that start and pass their health check within a fraction of a second: a rollback that
# ends within the grace after a signal (2 s).
QUICK = Timing(speed=0, registering=0.1, container_start=0.2, health_check=0.2, container_stop=0.1,
               finish_cleanup=0.1, finish_reconcile=0.1, cancel_tick=0.2)


def test_a_signal_while_waiting_rolls_back_and_exits_143() -> None:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=QUICK) as quick:
        service = seed(quick)
        time = SimulatedTime(quick)
        events: list[Event] = []
        outcome = pipeline(quick, time, events, interrupted=once_upgrading(quick)).run()
        assert outcome.interrupted_by == 15
        assert exit_code(outcome) is ExitCode.TERMINATED
        assert outcome.targets[0].result is Result.ROLLED_BACK
        assert quick.service(service)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
        assert (quick.service(service)["state"], quick.service(service)["healthState"]) == ("active", "healthy")


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
    outcome = pipeline(frozen, SimulatedTime(frozen), events, interrupted=once_upgrading(frozen),
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
                       interrupted=once_upgrading(frozen), urgent=urgent).run()
    # The rollback is under way in Rancher: reported with its state (143), not a restore that failed (4).
    assert exit_code(outcome) is ExitCode.TERMINATED
    (target,) = outcome.targets
    assert target.result is Result.INTERRUPTED
    assert "rollback requested and still under way when the run stopped waiting for it at a second signal" \
        in target.message
    assert ": rolling-back (In Progress), 3/3 containers healthy on " in target.message
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


def four_in_batches_of_two(sim: Simulator) -> str:
    return sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=4)


def test_after_a_signal_the_rollback_is_waited_for_within_the_grace_then_its_progress_is_named(
        frozen: Simulator) -> None:
    # The reviewer's case: scale 4, batch size 2, SIGTERM once the first batch is healthy. The rollback
    # takes longer than the grace (Rancher restarts the old containers batch by batch): after 2 s the run
    # says where it is, what to run next, and exits 143, before a CI's stop timeout kills it.
    service = four_in_batches_of_two(frozen)
    time = SimulatedTime(frozen)
    signalled: list[float] = []

    def signal_after_the_first_batch() -> int | None:
        if not signalled and frozen.service(service)["state"] == "upgrading" and _healthy_new(frozen, service) >= 2:
            signalled.append(time.now)
        return 15 if signalled else None

    events: list[Event] = []
    outcome = pipeline(frozen, time, events, signal_after_the_first_batch, RANCHER_BATCH_SIZE="2",
                       RANCHER_POLL_INTERVAL="0.5").run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    (target,) = outcome.targets
    assert (target.result, target.state) == (Result.INTERRUPTED, "rolling-back")
    assert ("shop/web: rollback requested and still under way when the run stopped waiting for it 2s after SIGTERM "
            "(a CI kills a step a few seconds after its stop signal): rolling-back (In Progress), 2/4 containers "
            f"healthy on {OLD_IMAGE}; Rancher completes it on its own: follow it with `rancher-deploy status`") \
        == target.message
    assert 2.0 <= time.now - signalled[0] <= 2.1   # the grace, kept to the poll
    assert [r for r in frozen.requests if "action=rollback" in r.query]
    time.sleep(30)   # Rancher goes on with it
    assert (frozen.service(service)["state"], frozen.service(service)["healthState"]) == ("active", "healthy")


def _healthy_new(sim: Simulator, service_id: str) -> int:
    version = sim.service(service_id)["launchConfig"]["version"]
    return sum(1 for i in sim.instances(service_id) if i.get("version") == version and i.get("healthState") == "healthy")


def test_a_rollback_is_done_once_its_containers_are_healthy_not_when_rancher_says_active(frozen: Simulator) -> None:
    # Cattle ends a rollback `active` once it has started the old containers again, before their
    # health checks pass (rancher-api.md §3.5); the run waits for them as it waits for an upgrade's.
    service = four_in_batches_of_two(frozen)
    frozen.faults.unhealthy_image(NEW_IMAGE)
    time = SimulatedTime(frozen)
    events: list[Event] = []
    outcome = pipeline(frozen, time, events, RANCHER_BATCH_SIZE="2", RANCHER_PROGRESS_DEADLINE="60",
                       RANCHER_POLL_INTERVAL="0.5").run()
    assert exit_code(outcome) is ExitCode.ROLLED_BACK
    seen = [(e.state, e.healthy) for e in events if isinstance(e, Progress)]
    assert ("active", 2) in seen, seen   # Rancher said active with two containers still starting
    assert seen[-1] == ("active", 4)
    assert frozen.service(service)["healthState"] == "healthy"


def test_a_signal_during_a_rollback_after_a_failure_bounds_its_wait_to_the_grace(frozen: Simulator) -> None:
    service = four_in_batches_of_two(frozen)
    frozen.faults.unhealthy_image(NEW_IMAGE)
    time = SimulatedTime(frozen)

    def hold_the_rollback() -> None:
        if frozen.service(service)["state"] == "rolling-back":
            frozen.faults.hang(service)

    time.on_sleep.append(hold_the_rollback)
    rolling: list[float] = []

    def signal_once_rolling_back() -> int | None:
        if not rolling and frozen.service(service)["state"] == "rolling-back":
            rolling.append(time.now)
        return 15 if rolling else None

    outcome = pipeline(frozen, time, [], signal_once_rolling_back, RANCHER_BATCH_SIZE="2",
                       RANCHER_PROGRESS_DEADLINE="60").run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    assert outcome.targets[0].result is Result.INTERRUPTED
    assert "rollback requested and still under way" in outcome.targets[0].message
    assert time.now - rolling[0] <= 2.1   # not RANCHER_TIMEOUT (300 s)
