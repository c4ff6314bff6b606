"""Failure paths of the upgrade and their exit codes: roll back (1), or say exactly what is left (4).

A new image that never gets healthy sets no error in Rancher 1.x (it waits for ever, rancher-api.md
§2.2): these runs end on RANCHER_PROGRESS_DEADLINE, on simulated time (`virtual`), so the minutes
they cover cost no real time.
"""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, RunCli, VirtualTime

# Poll every 5 simulated seconds; give up after 60 without a further healthy new container.
STALL = {"RANCHER_POLL_INTERVAL": "5", "RANCHER_PROGRESS_DEADLINE": "60", "RANCHER_TIMEOUT": "600"}


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def test_unhealthy_new_image_is_rolled_back_and_exits_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", **STALL)
    assert result.code == 1, result.stderr
    service = sim.service(web)
    assert service["state"] == "active"
    assert service["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert result.json["result"] == "rolled-back"
    # What the service runs now, not what was asked for: later pipeline steps read this.
    target = result.json["targets"][0]
    assert (target["image"], target["requested_image"]) == (OLD_IMAGE, NEW_IMAGE)
    assert ("the new containers never became healthy: 0/2 healthy after 60s without progress "
            "(RANCHER_PROGRESS_DEADLINE); Rancher says: Waiting: healthy [container:1i") in result.stderr
    assert "Rolling back shop/web" in result.stderr
    assert 60 <= virtual.now < 200


def test_no_rollback_leaves_it_and_exits_4_naming_the_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--no-rollback", **STALL)
    assert result.code == 4
    assert "is left in state upgrading (--no-rollback)" in result.stderr
    assert sim.service(web)["state"] == "upgrading"


def test_failed_rollback_exits_4_with_the_exact_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_action(web, "rollback")
    result = run_cli("--output", "json", **STALL)
    assert result.code == 4, result.stderr
    assert "needs attention: the rollback failed" in result.stderr
    assert "rolling-back" in result.stderr
    assert result.json["targets"][0]["result"] == "failed"


def test_a_container_that_fails_to_start_is_rancher_s_own_error_and_ends_the_wait_at_once(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.failing_image(NEW_IMAGE)
    result = run_cli("--output", "json", **STALL)
    assert result.code == 1, result.stderr
    assert ("Rancher reports an error in state upgrading: Container should have been running but is in "
            "stopped state") in result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert virtual.now < 60, "Rancher's own error signal comes before the progress deadline"


def test_progress_restarts_the_deadline_so_a_slow_healthy_upgrade_passes(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    # Four containers one at a time, each ~50 simulated seconds to healthy (start + health check +
    # interval): far beyond a 60 s deadline in total, but each one is progress, so the run passes.
    stack = sim.add_stack("shop")
    web = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=4)
    result = run_cli(**{**STALL, "RANCHER_BATCH_INTERVAL": "40"})
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert virtual.now > 2 * 60, "longer than the deadline in total"
