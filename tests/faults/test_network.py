"""Faults measured in real time: Rancher refusing connections for a while, and answers slower than
the per-request timeout. The test never sleeps: the tool's own log line says when to strike, and the
simulator (at 1000x) has finished the upgrade by the time it answers again.
"""

from __future__ import annotations

from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, OLD_IMAGE, RunCli
from .conftest import RunWatching

FAST_FAIL = {"RANCHER_RETRIES": "0", "RANCHER_REQUEST_TIMEOUT": "0.2"}


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def test_rancher_unreachable_in_the_middle_of_a_wait_is_waited_out(
        sim: Simulator, web: str, run_watching: RunWatching) -> None:
    result = run_watching([("Upgrade of shop/web requested", lambda: sim.faults.refuse_connections(0.3))],
                          **FAST_FAIL)
    assert result.code == 0, result.stderr
    assert "(connection refused); still waiting" in result.stderr
    assert "Rancher answers again" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_reads_slower_than_the_request_timeout_mid_wait_are_waited_out(
        sim: Simulator, web: str, run_watching: RunWatching) -> None:
    result = run_watching([("Upgrade of shop/web requested", lambda: sim.faults.latency(0.5, "include=instances")),
                           ("did not answer within 0.2s", sim.faults.clear)], **FAST_FAIL)
    assert result.code == 0, result.stderr
    assert "did not answer within 0.2s (RANCHER_REQUEST_TIMEOUT); still waiting" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_a_rancher_slower_than_the_request_timeout_from_the_start_exits_3(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.latency(0.5)
    result = run_cli("--output", "json", **FAST_FAIL)
    assert result.code == 3, result.stderr
    assert "Connecting to Rancher failed:" in result.stderr
    assert "did not answer within 0.2s (RANCHER_REQUEST_TIMEOUT)" in result.stderr
    assert result.json["result"] == "error"
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)


def test_rancher_refusing_connections_from_the_start_exits_3(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.refuse_connections(5)
    result = run_cli(**FAST_FAIL)
    assert result.code == 3, result.stderr
    assert "cannot connect to" in result.stderr and "(connection refused)" in result.stderr
    assert "exit 3 (Rancher could not be reached or failed" in result.stderr
