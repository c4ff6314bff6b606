"""Several targets in one run, over real HTTP: atomic by default (all upgraded, or every touched one restored)."""

from __future__ import annotations

import re
from typing import Any

from rancher_deploy import cattle
from rancher_deploy.deploy import Pipeline
from rancher_deploy.errors import ExitCode
from rancher_deploy.events import Event, Progress, Result, Step, TargetOutcome, exit_code
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.settings import Command, Settings
import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, VirtualTime
from .test_workloads import WEB, containers, run as run2, sim2  # noqa: F401 - sim2 is a fixture

# Without a health check Rancher counts a running container healthy, so only `web` (which has
# one) is hurt by the simulator's unhealthy-image fault.
WORKER_CONFIG: dict[str, Any] = {key: value for key, value in LAUNCH_CONFIG.items() if key != "healthCheck"}
BOTH = "shop/worker,shop/web"


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def seed(sim: Simulator) -> tuple[str, str]:
    """shop/worker (always healthy) and shop/web, both on OLD_IMAGE; returns their ids."""
    stack = sim.add_stack("shop")
    return sim.add_service(stack, "worker", dict(WORKER_CONFIG)), sim.add_service(stack, "web", dict(LAUNCH_CONFIG),
                                                                                 scale=2)


# A new image that never gets healthy ends on the progress deadline (Rancher 1.x sets no error), on
# simulated time: the simulator stands still but for the tool's sleeps (`virtual`).
ON_SIMULATED_TIME = pytest.mark.parametrize("timing", [Timing(speed=0)])
STALL = {"RANCHER_POLL_INTERVAL": "5", "RANCHER_PROGRESS_DEADLINE": "60", "RANCHER_TIMEOUT": "600"}


def finishes(sim: Simulator) -> int:
    return len([r for r in sim.requests if "action=finishupgrade" in r.query])


def test_every_target_is_healthy_before_any_is_finished(sim: Simulator, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=BOTH)
    assert result.code == 0, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["upgraded", "upgraded"]
    assert image_of(sim, worker) == image_of(sim, web) == NEW_IMAGE
    log = result.stderr
    assert log.index("Upgrade of shop/web requested") < log.index("shop/worker is upgraded and healthy; finishing")


def test_no_finish_leaves_every_target_upgraded_and_healthy(sim: Simulator, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    result = run_cli("--output", "json", "--no-finish", RANCHER_STACK=None, RANCHER_SERVICE=BOTH)
    assert result.code == 0, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["upgraded-unfinished"] * 2
    assert finishes(sim) == 0 and sim.service(worker)["state"] == sim.service(web)["state"] == "upgraded"


@ON_SIMULATED_TIME
def test_1x_a_later_target_never_healthy_restores_both_and_exits_1(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=BOTH, **STALL)
    assert result.code == 1, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["rolled-back", "rolled-back"]
    assert [target["image"] for target in result.json["targets"]] == [OLD_IMAGE, OLD_IMAGE]
    assert_back_on_the_old_image(sim, worker, web)
    assert finishes(sim) == 0, "a finished 1.x upgrade could not have been rolled back"
    assert "shop/worker was rolled back to" in result.stderr and "shop/web failed, and RANCHER_ATOMIC" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "rancher-deploy: exit 1 (the run failed and every target it touched was restored)")


def test_2x_a_later_workload_failing_restores_both_and_exits_1(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "api", [dict(WEB)], replicas=2)
    sim2.add_workload("default", "front", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.capacity(2, "default/front")  # the new pods of front never get scheduled
    result = run2(sim2, "--output", "json", RANCHER_WORKLOAD="api,front")
    assert result.code == 1, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["rolled-back", "rolled-back"]
    assert containers(sim2, name="api")["web"]["image"] == WEB["image"]
    assert containers(sim2, name="front")["web"]["image"] == WEB["image"]
    api = result.json["targets"][0]
    assert "was rolled back" in api["message"] and "front failed, and RANCHER_ATOMIC" in api["message"]
    assert api["image"] == api["previous_image"] == WEB["image"]


@ON_SIMULATED_TIME
def test_a_restore_that_fails_exits_4_naming_each_targets_state(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_action(worker, "rollback")
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=BOTH, **STALL)
    assert result.code == 4, result.stderr
    worker_result, web_result = result.json["targets"]
    assert (worker_result["result"], worker_result["state"]) == ("failed", "rolling-back")
    assert (web_result["result"], web_result["state"]) == ("rolled-back", "active")
    assert "shop/worker needs attention: the rollback failed" in worker_result["message"]
    assert result.stderr.splitlines()[-1] == (
        "rancher-deploy: exit 4 (needs attention: shop/worker failed, state rolling-back (next: its previous images "
        "are back and Rancher is still rolling them out: follow it with `rancher-deploy status`; do not roll back "
        "again, which would return to the new image (with `RANCHER_SERVICE=shop/worker`, so that it touches "
        "shop/worker alone)); shop/web rolled-back, state active)")


def test_a_refused_later_upgrade_restores_the_earlier_target_and_exits_1(sim: Simulator, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    sim.faults.fail_next(f"/services/{web}", method="POST", status=422)
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=BOTH)
    assert result.code == 1, result.stderr
    worker_result, web_result = result.json["targets"]
    assert worker_result["result"] == "rolled-back" and web_result["result"] == "not-upgraded"
    assert "shop/web was not upgraded: upgrade of shop/web failed: HTTP 422" in web_result["message"]
    assert (web_result["image"], web_result["requested_image"]) == (OLD_IMAGE, NEW_IMAGE)
    assert image_of(sim, worker) == image_of(sim, web) == OLD_IMAGE


@ON_SIMULATED_TIME
def test_targets_after_the_failure_are_not_touched_and_say_so(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    api = sim.add_service(sim.service(web)["stackId"], "api", dict(WORKER_CONFIG))
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=f"{BOTH},shop/api", RANCHER_PARALLEL="1",
                     **STALL)
    assert result.code == 1, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["rolled-back", "rolled-back", "not-upgraded"]
    assert "before it was started (RANCHER_ATOMIC)" in result.json["targets"][2]["message"]
    assert not [r for r in sim.requests if r.method == "POST" and f"/services/{api}" in r.path]


@ON_SIMULATED_TIME
def test_not_atomic_targets_are_independent_and_mixed_outcomes_exit_4(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", "--no-atomic", RANCHER_STACK=None, RANCHER_SERVICE=BOTH, **STALL)
    assert result.code == 4, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["upgraded", "rolled-back"]
    assert (sim.service(worker)["state"], image_of(sim, worker)) == ("active", NEW_IMAGE)
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert result.stderr.splitlines()[-1] == (
        "rancher-deploy: exit 4 (needs attention: shop/worker upgraded, state active; "
        "shop/web rolled-back, state active (next: once what stopped it is fixed, upgrade it with "
        "`rancher-deploy upgrade`, as the others were (with `RANCHER_SERVICE=shop/web`, so that it touches "
        "shop/web alone)))")


@ON_SIMULATED_TIME
def test_not_atomic_goes_on_after_a_failed_target(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    api = sim.add_service(sim.service(web)["stackId"], "api", dict(WORKER_CONFIG))
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", RANCHER_ATOMIC="false", RANCHER_STACK=None,
                     RANCHER_SERVICE="shop/web,shop/api", **STALL)
    assert result.code == 4, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["rolled-back", "upgraded"]
    assert image_of(sim, api) == NEW_IMAGE and image_of(sim, web) == OLD_IMAGE


# -- signals -------------------------------------------------------------------------------------


def run_with_signal(sim: Simulator, when: str, hold: str | None = None, until_upgraded: str | None = None,
                    **environment: str) -> tuple[TargetOutcome, ...]:
    """Upgrade both services through the Pipeline, which receives SIGTERM once a log line starts with `when`
    (and the service `hold` stops where it is then: its upgrade stays under way); with `until_upgraded`
    (a target's name), the signal waits until that target was also seen `upgraded`: targets go in
    parallel, so the order of their lines alone says nothing of where the other one is."""
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SERVICE": BOTH, "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005",
        "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30", **environment})
    backend = cattle.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)), sim.url, None, lambda text: None)
    seen: set[str] = set()
    received: list[int] = []

    def emit(event: Event) -> None:
        if isinstance(event, Step) and event.message.startswith(when):
            if hold is not None:
                sim.faults.hang(hold)
            seen.add("when")
        elif isinstance(event, Progress) and event.target == until_upgraded and event.state == "upgraded":
            seen.add("upgraded")
        if not received and seen >= ({"when", "upgraded"} if until_upgraded else {"when"}):
            received.append(15)

    outcome = Pipeline(settings, backend, emit, interrupted=lambda: received[0] if received else None).run()
    assert exit_code(outcome) is ExitCode.TERMINATED
    return outcome.targets


def assert_back_on_the_old_image(sim: Simulator, *services: str) -> None:
    for service in services:
        assert (sim.service(service)["state"], image_of(sim, service)) == ("active", OLD_IMAGE)


def test_a_signal_restores_every_touched_target(sim: Simulator) -> None:
    worker, web = seed(sim)
    outcomes = run_with_signal(sim, "Upgrade of shop/web requested")
    assert [target.result for target in outcomes] == [Result.ROLLED_BACK, Result.ROLLED_BACK]
    assert_back_on_the_old_image(sim, worker, web)


def test_a_signal_with_on_interrupt_report_reports_each_touched_target(sim: Simulator, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    worker_outcome, web_outcome = run_with_signal(sim, "Upgrade of shop/web requested", hold=web,
                                                  until_upgraded="shop/worker", RANCHER_ON_INTERRUPT="report")
    sim.faults.clear()
    assert (worker_outcome.result, web_outcome.result) == (Result.INTERRUPTED, Result.INTERRUPTED)
    assert worker_outcome.message.startswith("shop/worker is left in state upgraded after the signal")
    assert "`rancher-deploy finish`" in worker_outcome.message
    assert web_outcome.message.startswith("shop/web is left in state upgrading after the signal")
    assert not [r for r in sim.requests if "action=rollback" in r.query]
    # The advice both share works on both.
    assert "`rancher-deploy rollback`" in worker_outcome.message and "`rancher-deploy rollback`" in web_outcome.message
    restored = run_cli("rollback", RANCHER_STACK=None, RANCHER_SERVICE=BOTH, RANCHER_IMAGE=None)
    assert restored.code == 0, restored.stderr
    assert_back_on_the_old_image(sim, worker, web)


def test_a_signal_during_the_first_targets_wait_starts_no_other(sim: Simulator) -> None:
    worker, web = seed(sim)
    outcomes = run_with_signal(sim, "Upgrade of shop/worker requested", RANCHER_PARALLEL="1")
    assert [target.result for target in outcomes] == [Result.ROLLED_BACK, Result.NOT_UPGRADED]
    assert not [r for r in sim.requests if r.method == "POST" and f"/services/{web}" in r.path]


def test_a_signal_while_targets_run_at_once_restores_every_one(sim: Simulator) -> None:
    seed(sim)
    outcomes = run_with_signal(sim, "Upgrade of shop/web requested")
    assert [target.result for target in outcomes] == [Result.ROLLED_BACK, Result.ROLLED_BACK]


def test_a_hint_for_one_target_of_several_names_it_alone_and_following_it_touches_no_other(
        sim: Simulator, run_cli: RunCli) -> None:
    worker, web = seed(sim)
    sim.faults.unhealthy_image(NEW_IMAGE)
    failed = run_cli("--no-rollback", "--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=BOTH,
                     RANCHER_PROGRESS_DEADLINE="0.3")
    assert failed.code == 4, failed.stderr
    message = failed.json["targets"][0]["message"]
    assert failed.json["targets"][0]["target"] == "shop/worker"
    commands = re.findall(r"`rancher-deploy (\w+)`", message)
    alone = re.findall(r"`RANCHER_SERVICE=([^`]+)`", message)
    assert "finish" in commands and alone == ["shop/worker"], message
    before = sim.service(web)
    posts = sim.count("POST")
    followed = run_cli("finish", RANCHER_STACK=None, RANCHER_SERVICE=alone[0], RANCHER_IMAGE=None)
    assert followed.code == 0, followed.stderr
    assert (sim.service(worker)["state"], image_of(sim, worker)) == ("active", NEW_IMAGE)
    assert (sim.service(web)["state"], sim.service(web)["launchConfig"]) == (before["state"], before["launchConfig"])
    assert sim.count("POST") == posts + 1, "one finish, of shop/worker alone"


def test_2x_a_hint_for_one_workload_of_several_restores_that_one_alone(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "api", [dict(WEB)], replicas=2)
    sim2.add_workload("default", "front", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.capacity(2, "default/front")
    failed = run2(sim2, "--no-rollback", "--output", "json", RANCHER_WORKLOAD="api,front")
    assert failed.code == 4, failed.stderr
    message = failed.json["targets"][0]["message"]
    assert "rollback" in re.findall(r"`rancher-deploy (\w+)`", message)
    (alone,) = re.findall(r"`RANCHER_WORKLOAD=([^`]+)`", message)
    front = sim2.workload("deployment", "default", "front")["spec"]["template"]
    followed = run2(sim2, "rollback", RANCHER_WORKLOAD=alone, RANCHER_IMAGE=None)
    assert followed.code == 0, followed.stderr
    assert containers(sim2, name="api")["web"]["image"] == WEB["image"]
    assert sim2.workload("deployment", "default", "front")["spec"]["template"] == front, "front untouched"


@pytest.mark.parametrize("dialect, upgrade, api_alone, db_alone", [
    ("plain", "`rancher-deploy upgrade`", "`RANCHER_SERVICE=shop/api`", "`RANCHER_SERVICE=shop/db`"),
    ("github", "a step with `command: upgrade`", "input `service: shop/api`", "input `service: shop/db`"),
])
def test_mixed_outcomes_end_with_the_command_for_each_target_left_behind_in_the_cis_spelling(
        sim: Simulator, run_cli: RunCli, dialect: str, upgrade: str, api_alone: str, db_alone: str) -> None:
    """--fail-fast with RANCHER_ATOMIC=false: web upgraded, api rolled back, db never started. Exit 4
    names each state and, for the two left behind, the command that upgrades that one alone."""
    stack = sim.add_stack("shop")
    web, api, db = (sim.add_service(stack, name, dict(WORKER_CONFIG)) for name in ("web", "api", "db"))
    sim.faults.fail_action(api, "upgrade")
    services = "shop/web,shop/api,shop/db"
    # On GitHub the services come as the action's input, and the advice says them that way.
    named = {"GITHUB_ACTIONS": "true", "RANCHER_SERVICE": None, "INPUT_SERVICE": services} if dialect == "github" \
        else {"RANCHER_SERVICE": services}
    result = run_cli("--output", "json", "--fail-fast", RANCHER_ATOMIC="false", RANCHER_PARALLEL="1",
                     RANCHER_STACK=None, **named)
    assert result.code == 4, result.stderr
    assert [t["result"] for t in result.json["targets"]] == ["upgraded", "rolled-back", "not-upgraded"]
    last = result.stderr.splitlines()[-1]
    assert "shop/web upgraded, state active; shop/api rolled-back, state active (next: " in last
    for alone in (api_alone, db_alone):
        assert f"once what stopped it is fixed, upgrade it with {upgrade}, as the others were (with {alone}" in last
    assert "shop/web upgraded, state active (next:" not in last, "the upgraded one needs nothing"
    api_result = result.json["targets"][1]
    assert f"upgrade it with {upgrade}" in api_result["message"] and api_alone in api_result["message"]
    assert last.removeprefix("rancher-deploy: exit 4 (").removesuffix(")") == result.json["meaning"]
