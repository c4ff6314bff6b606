"""Faults on reads: 5xx answers and reset connections are retried with a bounded backoff, and a wait
outlives a Rancher that stops answering for longer than the retries.

Time is simulated: the backoff sleeps are the tool's own and are recorded, not spent.
"""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import NEW_IMAGE, OLD_IMAGE, RunCli
from .conftest import VirtualTime

SLOW = {"RANCHER_POLL_INTERVAL": "2", "RANCHER_TIMEOUT": "300"}


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def answered(sim: Simulator, status: int, path_contains: str) -> int:
    return sum(1 for r in sim.requests if r.status == status and path_contains in r.path)


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 502}, {"status": 500}, {"status": 409}, {"drop": True}],
                         ids=["503", "502", "500", "409-busy", "reset"])
def test_reads_failing_twice_mid_wait_are_retried_with_backoff(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, fault: dict[str, object]) -> None:
    virtual.at(4, lambda: sim.faults.fail_next(f"/services/{web}", count=2, method="GET", **fault))  # type: ignore[arg-type]
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)
    # The two failed reads were followed by 0.5 s then 1 s of backoff, and the wait never noticed.
    at = virtual.slept.index(0.5)
    assert virtual.slept[at:at + 2] == [0.5, 1.0]
    assert "still waiting" not in result.stderr
    assert answered(sim, int(fault.get("status", 0)), f"/services/{web}") == 2  # type: ignore[call-overload]


def test_reads_that_keep_failing_before_any_change_stop_after_the_retries_exit_3(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.fail_next("/", count=100, status=503, method="GET")  # whichever request comes first
    result = run_cli("--output", "json", RANCHER_RETRIES="2", **SLOW)
    assert result.code == 3, result.stderr
    assert "Connecting to Rancher failed: HTTP 503 (Service Unavailable)" in result.stderr
    assert sim.count("GET") == 3, "one try and two retries, no more"
    assert virtual.slept == [0.5, 1.0]
    assert result.json["result"] == "error"
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


def test_resets_that_keep_failing_before_any_change_exit_3_naming_the_cause(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.fail_next("/services", count=100, drop=True, method="GET")
    result = run_cli(RANCHER_RETRIES="1", **SLOW)
    assert result.code == 3, result.stderr
    assert "Looking up service shop/web failed: cannot connect to" in result.stderr
    assert "(connection closed without an answer)" in result.stderr
    assert sim.service(web)["state"] == "active"


def test_a_wait_outlives_reads_failing_for_longer_than_the_retries(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    # Twelve failed reads: three whole observations (four tries each) fail, then Rancher answers again.
    virtual.at(4, lambda: sim.faults.fail_next(f"/services/{web}", count=12, status=503, method="GET"))
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert sum("HTTP 503 (Service Unavailable); still waiting" in line for line in lines) == 1, "said once, not per poll"
    assert "Rancher answers again" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_rancher_unreachable_past_the_deadline_is_rolled_back_once_it_answers_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    # Unreachable from the first poll until 30 s after the 60 s deadline: the rollback waits for it.
    sim.faults.hang(web)
    virtual.at(2, lambda: sim.faults.fail_next(f"/services/{web}", count=10_000, drop=True, method="GET"))
    virtual.at(90, sim.faults.clear)
    result = run_cli("--output", "json", RANCHER_POLL_INTERVAL="10", RANCHER_TIMEOUT="60", RANCHER_RETRIES="0")
    assert result.code == 1, result.stderr
    assert "will try the rollback until 60s have passed" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


def test_rancher_unreachable_for_good_exits_4_naming_the_last_state_seen(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    virtual.at(2, lambda: sim.faults.fail_next(f"/services/{web}", count=10_000, drop=True, method="GET"))
    result = run_cli("--output", "json", RANCHER_POLL_INTERVAL="10", RANCHER_TIMEOUT="60", RANCHER_RETRIES="0")
    assert result.code == 4, result.stderr
    assert "shop/web needs attention: the rollback failed" in result.stderr
    assert "its state is unknown (last seen upgrading (In Progress))" in result.stderr
    assert result.json["targets"][0]["result"] == "failed"
    assert sim.service(web)["state"] == "upgrading", "nothing reached Rancher, so nothing changed there"
