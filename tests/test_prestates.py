"""What the upgrade does with each state it may find the service in, and the manual subcommands."""

from __future__ import annotations

from rancher_deploy.simulator import Simulator

from .conftest import OLD_IMAGE, RunCli

OTHER_IMAGE = "registry.example.com:5000/shop/web:2.2"


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"])


def test_no_finish_leaves_upgraded_then_finish_completes(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--no-finish", "--output", "json")
    assert result.code == 0 and result.json["result"] == "upgraded-unfinished"
    assert sim.service(web)["state"] == "upgraded"
    finished = run_cli("finish", "--output", "json")
    assert finished.code == 0 and finished.json["result"] == "finished"
    assert sim.service(web)["state"] == "active"
    again = run_cli("finish")
    assert again.code == 0 and "there is no upgrade to finish" in again.stderr


def test_rollback_command_restores_the_previous_image(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("rollback", "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "reverted"
    assert sim.service(web)["state"] == "active" and image_of(sim, web) == f"docker:{OLD_IMAGE}"
    nothing = run_cli("rollback")
    assert nothing.code == 0 and "there is no pending upgrade to roll back" in nothing.stderr


def test_leftover_upgraded_is_finished_before_the_new_upgrade(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli(RANCHER_IMAGE=OTHER_IMAGE)
    assert result.code == 0, result.stderr
    assert "left upgraded by an earlier run; finish it first" in result.stderr
    assert sim.service(web)["state"] == "active" and image_of(sim, web) == f"docker:{OTHER_IMAGE}"


def test_leftover_upgraded_can_be_rolled_back_instead(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("--on-upgraded", "rollback", RANCHER_IMAGE=OTHER_IMAGE)
    assert result.code == 0, result.stderr
    previous = sim.service(web)["upgrade"]["inServiceStrategy"]["previousLaunchConfig"]["imageUuid"]
    assert previous == f"docker:{OLD_IMAGE}"


def test_inactive_service_is_refused_without_change(sim: Simulator, run_cli: RunCli) -> None:
    from .conftest import LAUNCH_CONFIG

    stack = sim.add_stack("shop")
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), state="inactive")
    result = run_cli()
    assert result.code == 2
    assert "shop/web is inactive; the upgrade needs it active" in result.stderr
    assert sim.count("POST") == 0 and image_of(sim, service) == f"docker:{OLD_IMAGE}"


def test_status_reports_state_health_and_images(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("status", "--output", "json", RANCHER_IMAGE=None)
    assert result.code == 0
    assert f"shop/web is active, 2/2 containers healthy: web={OLD_IMAGE}" in result.stderr
    assert result.stderr.count("is active, 2/2") == 1, "the state is said once"
    assert result.stderr.splitlines()[-1] == "rancher-deploy: exit 0 (status reported; nothing was changed)"
    assert result.json["targets"][0]["state"] == "active"
    assert sim.count("POST") == 0


def test_dry_run_does_not_finish_a_leftover_upgrade(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    posts = sim.count("POST")
    result = run_cli("--dry-run", RANCHER_IMAGE=OTHER_IMAGE)
    assert result.code == 0, result.stderr
    assert "dry run: shop/web was left upgraded by an earlier run; a real run would finish it first" in result.stderr
    assert sim.count("POST") == posts
    assert sim.service(web)["state"] == "upgraded"
