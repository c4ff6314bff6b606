"""Upgrades that go wrong in Rancher itself: hang, never healthy, failed or stuck rollback, service removed.

Simulated time only moves when the tool sleeps, so the 300 s timeouts below cost no real time and
every scenario ends at the same simulated moment on every machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, RunCli
from .conftest import VirtualTime, remove

SLOW = {"RANCHER_POLL_INTERVAL": "10", "RANCHER_TIMEOUT": "300"}


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def test_a_hung_upgrade_times_out_then_is_rolled_back_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    virtual.hooks.append(lambda time: sim.faults.clear() if sim.service(web)["state"] == "rolling-back" else None)
    # A hang is no progress either; a longer progress deadline lets the timeout speak here.
    result = run_cli("--output", "json", **SLOW, RANCHER_PROGRESS_DEADLINE="1000")
    assert result.code == 1, result.stderr
    assert "shop/web was not upgraded after 300s (RANCHER_TIMEOUT)" in result.stderr
    assert "Rolling back shop/web" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert result.json["result"] == "rolled-back"
    assert 300 <= virtual.now < 600


def test_a_new_image_that_never_gets_healthy_is_rolled_back_on_the_progress_deadline_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", **SLOW, RANCHER_PROGRESS_DEADLINE="120")
    assert result.code == 1, result.stderr
    # Rancher 1.x sets no error for it (it retries for ever): the progress deadline ends the wait.
    assert ("the new containers never became healthy: 0/2 healthy after 120s without progress "
            "(RANCHER_PROGRESS_DEADLINE); Rancher says: Waiting: healthy [container:") in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert 120 <= virtual.now < 300


def test_containers_rancher_keeps_recreating_are_no_progress_exit_1(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    # initializingTimeout: Rancher removes the stuck container and makes a new one, again and again.
    config = dict(LAUNCH_CONFIG, healthCheck={**LAUNCH_CONFIG["healthCheck"], "initializingTimeout": 20000})
    web = sim.add_service(sim.add_stack("shop"), "web", config, scale=2)
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", **SLOW, RANCHER_PROGRESS_DEADLINE="200")
    assert result.code == 1, result.stderr
    assert "the new containers never became healthy: 0/2 healthy after 200s" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    # The rollback removed every new container, the recreated ones included.
    assert {i["imageUuid"] for i in sim.instances(web)} == {f"docker:{OLD_IMAGE}"}


def test_a_rollback_that_fails_exits_4_naming_the_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_action(web, "rollback")
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    assert "shop/web needs attention: the rollback failed" in result.stderr
    assert "its state is rolling-back" in result.stderr
    assert sim.service(web)["state"] == "rolling-back"
    assert result.json["targets"][0]["result"] == "failed"
    assert result.json["targets"][0]["state"] == "rolling-back"


def test_a_rollback_that_hangs_times_out_and_exits_4_naming_the_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    assert "shop/web was not active after 300s" in result.stderr
    assert "its state is rolling-back" in result.stderr
    assert sim.service(web)["state"] == "rolling-back"
    assert 600 <= virtual.now < 900


def test_a_service_removed_while_waiting_exits_4_saying_it_was_removed(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    virtual.at(20, lambda: remove(sim, web))
    virtual.at(30, sim.faults.clear)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    assert "the service was removed" in result.stderr
    state = sim.service(web)["state"]
    assert state in ("removing", "removed")
    target = result.json["targets"][0]
    assert target["result"] == "failed"
    assert target["state"] in ("removing", "removed")
    assert "Rolling back" not in result.stderr, "a removed service has nothing to roll back to"


def test_a_service_purged_while_waiting_exits_4(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    # A 404 where the service was: as Rancher answers once a removed service is purged.
    virtual.at(20, lambda: sim.faults.fail_next(f"/services/{web}", count=100, status=404))
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    assert "shop/web disappeared while waiting (HTTP 404)" in result.stderr
    assert result.json["targets"][0]["result"] == "failed"


# `rollback` and `finish` that do not complete sent something: a FAILED target with its state and the
# next step (exit 4), in the JSON result, the CI outputs and the last line, never an `error`.


def dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


def test_a_rollback_command_that_does_not_complete_names_the_target_its_state_and_the_next_step(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, tmp_path: Path) -> None:
    sim.faults.hang(web)
    assert run_cli("--no-rollback", **SLOW).code == 4
    report = tmp_path / "deploy.env"
    result = run_cli("rollback", "--output", "json", RANCHER_IMAGE=None, RANCHER_DOTENV_REPORT=str(report), **SLOW)
    assert result.code == 4, result.stderr
    assert result.json["result"] == "failed" and result.json["error"] is None
    (target,) = result.json["targets"]
    assert (target["target"], target["result"], target["state"]) == ("shop/web", "failed", "rolling-back")
    assert "shop/web needs attention: the rollback did not complete" in target["message"]
    assert "its state is rolling-back" in target["message"]
    assert "`rancher-deploy " in target["message"], "and what to run next"
    assert (target["previous_image"], target["requested_image"]) == (NEW_IMAGE, OLD_IMAGE)
    values = dotenv(report)
    assert (values["RANCHER_DEPLOY_RESULT"], values["RANCHER_DEPLOY_TARGET"]) == ("failed", "shop/web")
    assert result.stderr.splitlines()[-1] == (
        "rancher-deploy: exit 4 (needs attention: shop/web failed, state rolling-back (next: Rancher is still working "
        "on it (rolling-back): follow it with `rancher-deploy status`))")


def test_a_finish_command_on_an_upgrade_that_failed_names_its_state_and_the_next_step(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    stalls = {**SLOW, "RANCHER_PROGRESS_DEADLINE": "60"}
    assert run_cli("--no-rollback", **stalls).code == 4
    result = run_cli("finish", "--output", "json", RANCHER_IMAGE=None, **stalls)
    assert result.code == 4, result.stderr
    assert result.json["result"] == "failed"
    (target,) = result.json["targets"]
    assert (target["target"], target["result"], target["state"]) == ("shop/web", "failed", "upgrading")
    assert "the new containers never became healthy" in target["message"]
    assert "restore it with `rancher-deploy rollback`" in target["message"]
    assert result.stderr.splitlines()[-1] == (
        "rancher-deploy: exit 4 (needs attention: shop/web failed, state upgrading (next: restore it with "
        "`rancher-deploy rollback`))")
    assert not [r for r in sim.requests if "finishupgrade" in r.query], "nothing to finish was sent"
