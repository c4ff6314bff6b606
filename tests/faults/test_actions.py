"""Faults on the actions (upgrade, finishupgrade, rollback): an action POST is never repeated blindly.

An action whose answer is an error or is lost is followed by a fresh read of the service: if Rancher
moved (another state, other images), it took the action and the run goes on; if it did not, the tool
decides from what it sees, and says so. Simulated time is frozen between the tool's sleeps, and with
RANCHER_VERBOSE=true the tool announces each request, so "Rancher finished while the answer was
lost" is staged exactly: the Watcher advances time just before the re-read.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import NEW_IMAGE, OLD_IMAGE, RunCli
from .conftest import RunWatching, VirtualTime, nothing

SLOW = {"RANCHER_POLL_INTERVAL": "2", "RANCHER_TIMEOUT": "300", "RANCHER_VERBOSE": "true"}
FINISHING = "is upgraded and healthy; finishing the upgrade"


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def posts(sim: Simulator, action: str) -> int:
    return sum(1 for r in sim.requests if r.method == "POST" and f"action={action}" in r.query)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def fail_post(sim: Simulator, service_id: str, **how: object) -> Callable[[], None]:
    return lambda: sim.faults.fail_next(f"/services/{service_id}/", method="POST", **how)  # type: ignore[arg-type]


def test_an_upgrade_answered_with_503_is_not_repeated_and_changes_nothing_exit_3(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    fail_post(sim, web, status=503)()
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 3, result.stderr
    assert "Rancher did not take the upgrade of shop/web" in result.stderr
    assert "HTTP 503" in result.stderr
    assert "nothing was changed" in result.stderr
    assert posts(sim, "upgrade") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


def test_an_upgrade_whose_answer_is_lost_goes_on_once_rancher_shows_it(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    fail_post(sim, web, drop=True)()
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    assert "answer was lost, but Rancher" in result.stderr
    assert posts(sim, "upgrade") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_an_upgrade_whose_answer_is_lost_and_that_already_completed_goes_on(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    fail_post(sim, web, drop=True)()
    # By the time the tool looks again, Rancher has run the whole upgrade: the service is `upgraded`.
    result = run_watching([("action=upgrade", nothing), ("debug: GET", lambda: sim.advance(120))], **SLOW)
    assert result.code == 0, result.stderr
    assert posts(sim, "upgrade") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


# Answers that say "try again": a 5xx, and 409, Cattle's "resource busy" (another process holds the
# service's lock, rancher-api.md §3.7; a Kubernetes update conflict on 2.x): Rancher took nothing.
AGAIN = pytest.mark.parametrize("status", [503, 409])


@AGAIN
def test_a_finish_answered_with_503_or_409_is_sent_again_after_looking(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching, status: int) -> None:
    result = run_watching([(FINISHING, fail_post(sim, web, status=status))], **SLOW)
    assert result.code == 0, result.stderr
    assert f"finishupgrade of shop/web failed: HTTP {status}" in result.stderr
    assert "still upgraded" in result.stderr
    assert posts(sim, "finishupgrade") == 2
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


@AGAIN
def test_a_finish_that_keeps_failing_is_sent_a_bounded_number_of_times_then_exits_4(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching, status: int) -> None:
    result = run_watching([(FINISHING, fail_post(sim, web, status=status, count=100))], "--output", "json",
                          RANCHER_RETRIES="2", **SLOW)
    assert result.code == 4, result.stderr
    assert posts(sim, "finishupgrade") == 3
    assert sim.service(web)["state"] == "upgraded"
    assert "runs the new image but finishing the upgrade did not complete" in result.stderr
    assert result.json["targets"][0]["state"] == "upgraded"


def test_a_finish_whose_answer_is_lost_and_that_already_completed_is_a_success(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    result = run_watching([(FINISHING, fail_post(sim, web, drop=True)), ("action=finishupgrade", nothing),
                           ("debug: GET", lambda: sim.advance(60))], **SLOW)
    assert result.code == 0, result.stderr
    assert posts(sim, "finishupgrade") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


@AGAIN
def test_a_rollback_answered_with_503_or_409_is_sent_again_after_looking_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching, status: int) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_watching([("Rolling back shop/web", fail_post(sim, web, status=status))], **SLOW)
    assert result.code == 1, result.stderr
    assert f"rollback of shop/web failed: HTTP {status}" in result.stderr
    assert posts(sim, "rollback") == 2
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


def test_a_rollback_whose_answer_is_lost_is_not_repeated_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_watching([("Rolling back shop/web", fail_post(sim, web, drop=True))], **SLOW)
    assert result.code == 1, result.stderr
    assert posts(sim, "rollback") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)

