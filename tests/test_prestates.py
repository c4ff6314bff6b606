"""What the upgrade does with each state it may find the service in, and the manual subcommands."""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator

from .conftest import NEW_IMAGE, OLD_IMAGE, RunCli

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
    assert "shop/web is inactive, which an upgrade does not start from" in result.stderr
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


# An upgrade an earlier run left pending, then the image asked for already there: the run changed
# something (it finished or rolled back that upgrade), and says so; a dry run says what it would do.


def test_finishing_a_leftover_upgrade_that_already_runs_the_image_reports_it_finished(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("--output", "json")
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert result.json["result"] == target["result"] == "finished"
    assert ("shop/web: the upgrade an earlier run left pending was finished first (RANCHER_ON_UPGRADED); then "
            f"shop/web already runs {NEW_IMAGE}, so nothing more was sent") == target["message"]
    assert (target["previous_image"], target["image"], target["state"]) == (NEW_IMAGE, NEW_IMAGE, "active")
    assert "nothing to do" not in result.stderr
    assert result.stderr.splitlines()[-1] == "rancher-deploy: exit 0 (done: the pending upgrade was finished)"
    assert sim.service(web)["state"] == "active" and image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_rolling_back_a_leftover_upgrade_of_the_same_image_then_upgrades_as_usual(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("--on-upgraded", "rollback", "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    assert f"web: {OLD_IMAGE} -> {NEW_IMAGE}" in result.stderr
    assert sim.service(web)["state"] == "active" and image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_a_version_policy_skip_after_finishing_a_leftover_upgrade_says_it_finished_it(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("--output", "json", RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE=OLD_IMAGE)
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert target["result"] == "finished"
    assert "was finished first (RANCHER_ON_UPGRADED); then skipped by the version policy" in target["message"]
    assert (target["previous_image"], target["image"]) == (NEW_IMAGE, NEW_IMAGE)


@pytest.mark.parametrize("choice, then", [("finish", f"then nothing more: shop/web already runs {NEW_IMAGE}"),
                                          ("rollback", f"then upgrade it as usual from what that restores "
                                                       f"(web={OLD_IMAGE})")])
def test_a_dry_run_on_a_leftover_upgrade_of_the_same_image_says_what_a_real_run_would_do(
        sim: Simulator, web: str, run_cli: RunCli, choice: str, then: str) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("--dry-run", "--output", "json", RANCHER_ON_UPGRADED=choice)
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert target["result"] == "planned"
    assert target["message"] == (f"dry run: a real run would first {choice} the upgrade an earlier run left upgraded "
                                 f"(RANCHER_ON_UPGRADED), {then}; nothing was changed")
    assert "nothing to do" not in result.stderr
    assert sim.service(web)["state"] == "upgraded"
