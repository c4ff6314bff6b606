"""Rancher answers 401, 403, 404 or 422 at each step of a run: before any change the run stops with
exit 2 (fix the settings: retrying will not help) and Rancher's own words; after the upgrade was sent, the service is restored (exit 1) or its
exact state is named (exit 4). A key for another environment is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli
from .conftest import RunWatching, VirtualTime

STATUSES = (401, 403, 404, 422)
FINISHING = "is upgraded and healthy; finishing the upgrade"


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def fail(sim: Simulator, path: str, status: int, method: str) -> Callable[[], None]:
    return lambda: sim.faults.fail_next(path, status=status, method=method)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("step, path", [("Connecting to Rancher", "/v2-beta/projects"),
                                        ("Looking up stack shop", "/stacks"),
                                        ("Looking up service shop/web", "/services")])
def test_an_error_while_finding_the_service_exits_2_with_rancher_words(
        sim: Simulator, web: str, run_cli: RunCli, step: str, path: str, status: int) -> None:
    sim.faults.fail_next(path, status=status, method="GET")
    result = run_cli("--output", "json")
    assert result.code == 2, result.stderr
    assert f"HTTP {status}" in result.stderr
    assert result.json["result"] == "error"
    assert sim.count("POST") == 0
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


@pytest.mark.parametrize("status", STATUSES)
def test_an_error_answering_the_upgrade_exits_2_and_changes_nothing(
        sim: Simulator, web: str, run_cli: RunCli, status: int) -> None:
    sim.faults.fail_next(f"/services/{web}/", status=status, method="POST")
    result = run_cli("--output", "json")
    assert result.code == 2, result.stderr
    assert f"upgrade of shop/web failed: HTTP {status}" in result.stderr
    assert sim.count("POST") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


@pytest.mark.parametrize("status", (401, 403, 422))
def test_an_error_reading_the_service_mid_wait_rolls_back_exit_1(
        sim: Simulator, web: str, run_watching: RunWatching, status: int) -> None:
    sim.faults.hang(web)
    result = run_watching([("Upgrade of shop/web requested", fail(sim, f"/services/{web}", status, "GET")),
                           ("Rolling back shop/web", sim.faults.clear)], "--output", "json")
    assert result.code == 1, result.stderr
    assert f"Reading service shop/web failed: HTTP {status}" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert result.json["result"] == "rolled-back"


def test_a_passing_404_mid_wait_is_checked_and_the_upgrade_rolled_back_exit_1(
        sim: Simulator, web: str, run_watching: RunWatching) -> None:
    sim.faults.hang(web)
    result = run_watching([("Upgrade of shop/web requested", fail(sim, f"/services/{web}", 404, "GET")),
                           ("Rolling back shop/web", sim.faults.clear)], "--output", "json")
    assert result.code == 1, result.stderr
    assert "disappeared while waiting (HTTP 404)" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


@pytest.mark.parametrize("status", STATUSES)
def test_an_error_answering_the_finish_exits_4_naming_the_state(
        sim: Simulator, web: str, run_watching: RunWatching, status: int) -> None:
    result = run_watching([(FINISHING, fail(sim, f"/services/{web}/", status, "POST"))], "--output", "json")
    assert result.code == 4, result.stderr
    assert f"finishupgrade of shop/web failed: HTTP {status}" in result.stderr
    assert ("its state is upgraded; finish it with `rancher-deploy finish` or restore it with `rancher-deploy rollback`"
            in result.stderr)
    assert (sim.service(web)["state"], image_of(sim, web)) == ("upgraded", NEW_IMAGE)
    assert result.json["targets"][0]["state"] == "upgraded"


@pytest.mark.parametrize("timing", [Timing(speed=0)])
@pytest.mark.parametrize("status", STATUSES)
def test_an_error_answering_the_rollback_exits_4_naming_the_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching, status: int) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_watching([("Rolling back shop/web", fail(sim, f"/services/{web}/", status, "POST"))],
                          "--output", "json", RANCHER_POLL_INTERVAL="5", RANCHER_PROGRESS_DEADLINE="60")
    assert result.code == 4, result.stderr
    assert f"rollback of shop/web failed: HTTP {status}" in result.stderr
    assert "its state is upgrading" in result.stderr
    assert sim.service(web)["state"] == "upgrading"
    assert result.json["targets"][0]["state"] == "upgrading"


def test_a_wrong_secret_exits_2_without_showing_it(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(CATTLE_SECRET_KEY="SK-wrong-but-still-secret-1234")
    assert result.code == 2
    assert "HTTP 401" in result.stderr
    assert "check CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY" in result.stderr, "a 401 names the key settings"
    assert "SK-wrong-but-still-secret-1234" not in result.output


@pytest.fixture
def staging_key(sim: Simulator) -> tuple[str, str]:
    staging = sim.add_project("Staging")
    sim.add_stack("shop", staging)
    return sim.add_environment_key(staging)


def test_an_environment_key_against_another_environments_url_exits_2(
        sim: Simulator, web: str, run_cli: RunCli, staging_key: tuple[str, str]) -> None:
    access, secret = staging_key
    result = run_cli(CATTLE_URL=f"{sim.url}/v2-beta/projects/{sim.default_project_id}",
                     CATTLE_ACCESS_KEY=access, CATTLE_SECRET_KEY=secret)
    assert result.code == 2, result.stderr
    assert f"environment {sim.default_project_id} does not exist or this key may not use it" in result.stderr
    assert secret not in result.output
    assert sim.count("POST") == 0


def test_an_environment_key_asked_for_another_environment_by_name_exits_2(
        sim: Simulator, web: str, run_cli: RunCli, staging_key: tuple[str, str]) -> None:
    access, secret = staging_key
    result = run_cli(CATTLE_ACCESS_KEY=access, CATTLE_SECRET_KEY=secret, RANCHER_ENVIRONMENT="Default")
    assert result.code == 2, result.stderr
    assert "environment 'Default' not found; this key sees: Staging" in result.stderr
    assert secret not in result.output


def test_an_environment_key_never_reaches_a_service_of_another_environment(
        sim: Simulator, web: str, run_cli: RunCli, staging_key: tuple[str, str]) -> None:
    access, secret = staging_key
    result = run_cli(CATTLE_ACCESS_KEY=access, CATTLE_SECRET_KEY=secret)
    assert result.code == 2, result.stderr
    assert "service 'web' not found in stack 'shop'" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert SECRET_KEY not in result.output and secret not in result.output


def test_a_500_is_worded_alike_whether_a_read_or_an_action_met_it(sim: Simulator, web: str, run_cli: RunCli) -> None:
    # One wording for Rancher's error answers (`errors.answered`): a read's 5xx, which is retried, used
    # to read "HTTP 500 from Rancher", and an action's "HTTP 500 (Rancher's words)".
    sim.faults.fail_next("/v2-beta/projects", count=10, status=500, method="GET")
    read = run_cli(RANCHER_RETRIES="0")
    sim.faults.clear()
    sim.faults.fail_next(f"/services/{web}/", status=500, method="POST")
    action = run_cli()
    said = [line.split("failed: ", 1)[1] for result in (read, action)
            for line in result.stderr.splitlines() if "failed: HTTP 500" in line]
    assert said and said[0].startswith("HTTP 500 (") and "from Rancher" not in said[0], read.stderr
    assert said[-1].startswith(said[0].split(";")[0].split(")")[0]), action.stderr
