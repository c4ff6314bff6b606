"""Several targets at once (RANCHER_PARALLEL), over real HTTP: one summary, the same exit codes, readable logs."""

from __future__ import annotations

import io
import json
from typing import Any, Callable

from rancher_deploy import cli
from rancher_deploy.simulator import RequestRecord, Simulator, Timing
import pytest

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, HeldClock, RunCli, VirtualTime
from .faults.conftest import Watcher

WORKER: dict[str, Any] = {key: value for key, value in LAUNCH_CONFIG.items() if key != "healthCheck"}
# Whether targets overlap is read from what the simulator saw, not from how long a run took: a
# wall-clock ratio measures the machine's load as much as the tool. On a frozen simulator no
# upgrade can progress until the test moves its time, so what was asked before that was asked at once.
FROZEN = pytest.mark.parametrize("timing", [Timing(speed=0)])
POLL = {"RANCHER_POLL_INTERVAL": "0.05", "RANCHER_BATCH_INTERVAL": "5"}  # ~15 simulated seconds each
UPGRADE = "action=upgrade"


def _services(sim: Simulator, count: int) -> str:
    stack = sim.add_stack("shop")
    for number in range(count):
        sim.add_service(stack, f"s{number}", dict(WORKER), scale=2)
    return ",".join(f"shop/s{number}" for number in range(count))


def _upgrades(sim: Simulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.method == "POST" and UPGRADE in r.query]


@FROZEN
def test_ten_services_are_upgraded_at_once(sim: Simulator, run_cli: RunCli) -> None:
    names = _services(sim, 10)
    # A tool that upgraded one target at a time would wait on the first while time stands still,
    # until the clock's patience runs out.
    with HeldClock(sim, lambda: len(_upgrades(sim)) == 10) as clock:
        result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=names, **POLL)
    assert result.code == 0, result.stderr
    assert {target["result"] for target in result.json["targets"]} == {"upgraded"}
    asked = [r for r in _upgrades(sim) if clock.moved_at is not None and r.received < clock.moved_at]
    assert len(asked) == 10, f"only {len(asked)} of 10 upgrades were asked for before the first could progress"


@FROZEN
def test_one_at_a_time_upgrades_each_target_after_the_one_before(sim: Simulator, virtual: VirtualTime,
                                                                 run_cli: RunCli) -> None:
    names = _services(sim, 3).split(",")
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=",".join(names),
                     RANCHER_PARALLEL="1", **{**POLL, "RANCHER_POLL_INTERVAL": "1"})
    assert result.code == 0, result.stderr
    assert {target["result"] for target in result.json["targets"]} == {"upgraded"}
    # On simulated time (one thread: the simulator moves only while the tool sleeps), each target is
    # seen upgraded before the next one's upgrade is asked for.
    log = result.stderr
    for earlier, later in zip(names, names[1:]):
        assert log.index(f"  {earlier}: upgraded") < log.index(f"Upgrade of {later} requested"), log


def test_concurrent_targets_open_no_log_group_and_each_line_names_its_target(sim: Simulator,
                                                                             run_cli: RunCli) -> None:
    names = _services(sim, 3)
    result = run_cli(GITHUB_ACTIONS="true", RANCHER_STACK=None, RANCHER_SERVICE=names)
    assert result.code == 0, result.stderr
    assert "::group::" not in result.stderr, "groups of targets running at once would interleave"
    progress = [line.strip() for line in result.stderr.splitlines() if line.startswith("  shop/")]
    assert {line.split(":")[0] for line in progress} == set(names.split(","))


def test_one_at_a_time_keeps_a_group_per_target(sim: Simulator, run_cli: RunCli) -> None:
    names = _services(sim, 2)
    result = run_cli(GITHUB_ACTIONS="true", RANCHER_STACK=None, RANCHER_SERVICE=names, RANCHER_PARALLEL="1")
    assert result.code == 0, result.stderr
    assert result.stderr.count("::group::") == 4  # each target's upgrade, then its completion


def test_fail_fast_starts_no_further_target_after_a_failure(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "bad", dict(LAUNCH_CONFIG))  # its health check fails on the new image
    sim.add_service(stack, "good", dict(WORKER))
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", "--fail-fast", RANCHER_STACK=None, RANCHER_SERVICE="shop/bad,shop/good",
                     RANCHER_ATOMIC="false", RANCHER_PARALLEL="1", RANCHER_PROGRESS_DEADLINE="0.3")
    results = [target["result"] for target in result.json["targets"]]
    assert results == ["rolled-back", "not-upgraded"], result.stderr
    assert "--fail-fast" in result.json["targets"][1]["message"]
    assert result.code == 1  # every target it touched was restored; the other was never started


def test_without_fail_fast_independent_targets_all_run(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "bad", dict(LAUNCH_CONFIG))  # its health check fails on the new image
    sim.add_service(stack, "good", dict(WORKER))
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE="shop/bad,shop/good",
                     RANCHER_ATOMIC="false", RANCHER_PARALLEL="1", RANCHER_PROGRESS_DEADLINE="0.3")
    assert [target["result"] for target in result.json["targets"]][0] == "rolled-back", result.stderr
    assert result.json["targets"][1]["result"] != "not-upgraded"


def test_ten_targets_whose_subscription_is_refused_say_so_once(sim: Simulator, run_cli: RunCli) -> None:
    """The waits of one run share one lost flag per flavour's stream, set by the first failure."""
    stack = sim.add_stack("shop")
    for number in range(10):
        sim.add_service(stack, f"s{number}", dict(WORKER), scale=1)
    sim.faults.fail_next("/subscribe", count=100, status=404)   # a proxy that does not pass websockets
    result = run_cli(GITHUB_ACTIONS="true", RANCHER_STACK=None,
                     RANCHER_SERVICE=",".join(f"shop/s{number}" for number in range(10)))
    assert result.code == 0, result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert len([line for line in result.stderr.splitlines()
                if line.startswith("::warning::") and "polling instead" in line]) == 1, result.stderr


def test_every_line_about_one_of_several_targets_names_it(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    ids = [sim.add_service(stack, f"s{number}", dict(WORKER), scale=1) for number in range(3)]
    sim.faults.fail_next("/subscribe", count=100, status=404)
    # The wait's reads (with its containers) fail, then it answers again. Only those: a check older than
    # one poll interval is read again before the upgrade (`Pipeline._ready`), and on a loaded machine
    # that read took the failures instead, and failed the target before its wait began.
    sim.faults.fail_next(f"/services/{ids[1]}?include=instances", count=6, status=503, method="GET")
    result = run_cli(RANCHER_STACK=None, RANCHER_SERVICE="shop/s0,shop/s1,shop/s2", RANCHER_POLL_INTERVAL="0.05")
    assert result.code == 0, result.stderr
    again = [line for line in result.stderr.splitlines() if "answers again" in line]
    assert again and all(line == "shop/s1: Rancher answers again" for line in again), again


@pytest.mark.parametrize("timing", [Timing(speed=20.0)])   # 1 simulated second is 50 ms real
def test_fail_fast_starts_no_target_once_a_failure_is_known_even_while_it_is_rolled_back(
        sim: Simulator, base_env: dict[str, str]) -> None:
    """The failed target's rollback is held (its transitions frozen) until the target running beside
    it has ended and the rollback's wait has read it a few more times: a scheduler that learnt of
    the failure only when the rollback returned would have started the next target by then."""
    stack = sim.add_stack("shop")
    bad = sim.add_service(stack, "bad", dict(LAUNCH_CONFIG))   # its health check fails on the new image
    for number in range(4):
        sim.add_service(stack, f"g{number}", dict(WORKER), scale=2)
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_next("/subscribe", count=100, status=404)   # every wait polls: each read is logged
    polled = f"GET {sim.url}/v2-beta/projects/1a5/services/{bad}"
    triggers: list[tuple[str, Callable[[], object]]] = [
        ("Rolling back shop/bad", lambda: sim.faults.hang(bad)),
        ("shop/g0 now runs", lambda: None),                      # the target beside it has ended
        *[(polled, lambda: None) for _ in range(5)],              # the rollback still waits, 5 reads on
        (polled, sim.faults.clear)]
    stdout, stderr = io.StringIO(), Watcher(triggers)
    code = cli.main(["--output", "json", "--fail-fast"], environ={
        **base_env, **POLL, "RANCHER_STACK": "", "RANCHER_SERVICE": "shop/bad," + ",".join(
            f"shop/g{number}" for number in range(4)), "RANCHER_ATOMIC": "false", "RANCHER_PARALLEL": "2",
        "RANCHER_PROGRESS_DEADLINE": "0.5", "RANCHER_VERBOSE": "true"}, dotenv_path=None, stdout=stdout,
        stderr=stderr)
    assert not stderr.pending, (stderr.pending, stderr.getvalue())
    results = [target["result"] for target in json.loads(stdout.getvalue())["targets"]]
    assert results == ["rolled-back", "upgraded", "not-upgraded", "not-upgraded", "not-upgraded"], stderr.getvalue()
    assert code == 4, stderr.getvalue()   # mixed: one rolled back, one upgraded, three never started
