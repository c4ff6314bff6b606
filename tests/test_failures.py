"""Failure paths of the upgrade and their exit codes: roll back (1), or say exactly what is left (4)."""

from __future__ import annotations

from rancher_deploy.simulator import Simulator

from .conftest import NEW_IMAGE, OLD_IMAGE, RunCli


def test_unhealthy_new_image_is_rolled_back_and_exits_1(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json")
    assert result.code == 1, result.stderr
    service = sim.service(web)
    assert service["state"] == "active"
    assert service["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert result.json["result"] == "rolled-back"
    # What the service runs now, not what was asked for: later pipeline steps read this.
    target = result.json["targets"][0]
    assert (target["image"], target["requested_image"]) == (OLD_IMAGE, NEW_IMAGE)
    assert "Waiting: healthy" in result.stderr or "unhealthy" in result.stderr
    assert "Rolling back shop/web" in result.stderr


def test_no_rollback_leaves_it_and_exits_4_naming_the_state(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--no-rollback")
    assert result.code == 4
    assert "is left in state upgrading (--no-rollback)" in result.stderr
    assert sim.service(web)["state"] == "upgrading"


def test_failed_rollback_exits_4_with_the_exact_state(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_action(web, "rollback")
    result = run_cli("--output", "json")
    assert result.code == 4, result.stderr
    assert "needs attention: the rollback failed" in result.stderr
    assert "rolling-back" in result.stderr
    assert result.json["targets"][0]["result"] == "failed"
