"""How many requests an upgrade makes, from the simulator's request log: each object is read once per decision.

A poller's count grows with the upgrade's length, so these pin what does not: the requests before
the upgrade is sent, between the read that found it healthy and the finish, and before a 2.x write.
"""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.simulator.request_log import RequestRecord

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, RunCli
from .test_workloads import WEB, run as run2, sim2  # noqa: F401 - sim2 is a fixture


def _index(records: list[RequestRecord], method: str, query: str = "") -> int:
    return next(i for i, r in enumerate(records) if r.method == method and query in r.query)


def test_a_1x_upgrade_sends_its_upgrade_after_the_lookups_alone(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli().code == 0
    records = sim.requests
    before = records[:_index(records, "POST", "action=upgrade")]
    # The API root, the environments, the stack, the service's listing (which carries the whole
    # service): the preflight, the ready check and the action all use that one read.
    assert [(r.path.rsplit("/", 1)[-1], r.query) for r in before] == [
        ("v2-beta", ""), ("projects", ""), ("stacks", "name=shop"), ("services", f"name=web&stackId={before[3].query.split('=')[-1]}")]


def _between(records: list[RequestRecord], first: str, last: str) -> list[tuple[str, str]]:
    """(last path segment, query) of each request after the POST `first` and before the POST `last`."""
    chosen = records[_index(records, "POST", first) + 1:_index(records, "POST", last)]
    return [(r.path.rsplit("/", 1)[-1], r.query) for r in chosen]


def test_a_1x_finish_is_sent_on_what_the_wait_last_saw(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli().code == 0
    # The wait subscribes to the environment's events, then reads the service with its containers
    # once (`include=instances`); the events that follow carry the rest, and the finish is sent on the
    # last of them: no read of its own before it.
    assert _between(sim.requests, "action=upgrade", "action=finishupgrade") == [
        ("subscribe", "eventNames=resource.change"), (web, "include=instances")]


def test_a_1x_wait_that_polls_counts_health_from_one_read_per_look(sim: Simulator, web: str,
                                                                    run_cli: RunCli) -> None:
    sim.faults.fail_next("/subscribe", status=404)   # no event stream (a proxy that does not pass it)
    result = run_cli()
    assert result.code == 0, result.stderr
    looks = _between(sim.requests, "action=upgrade", "action=finishupgrade")
    assert looks[0] == ("subscribe", "eventNames=resource.change")
    # Each look is one request: the service with its containers embedded, never their own listing.
    assert looks[1:] and set(looks[1:]) == {(web, "include=instances")}
    assert result.stderr.count("polling instead") == 1, "the finish's wait does not try the stream again"


@pytest.mark.parametrize("timing", [Timing(speed=50.0)])
def test_a_1x_upgrade_costs_ten_requests_however_long_it_takes(sim: Simulator, web: str, run_cli: RunCli) -> None:
    # Scale 2, batch size 1 (issue 15's scenario): 1 s and then 15 s between the batches.
    runs = []
    for interval, image in (("1", NEW_IMAGE), ("15", OLD_IMAGE)):
        sim.reset_log()
        started = sim.now()
        result = run_cli(RANCHER_BATCH_INTERVAL=interval, RANCHER_IMAGE=image)
        assert result.code == 0, result.stderr
        runs.append((len(sim.requests), sim.now() - started))
    (short, short_took), (long, long_took) = runs
    assert long_took > short_took + 10, runs
    # 4 lookups, the upgrade, a subscription and a read; the finish, a subscription and a read.
    assert short == long == 10, [f"{r.method} {r.path}?{r.query}" for r in sim.requests]


def test_services_of_one_stack_look_the_stack_up_once(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    for name in ("web", "worker", "api"):
        sim.add_service(stack, name, dict(LAUNCH_CONFIG))
    assert run_cli(RANCHER_SERVICE="web,worker,api").code == 0
    assert sim.count("GET", "/stacks") == 1


def test_a_2x_write_reads_the_workload_once_after_locating_it(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    assert run2(sim2).code == 0
    records = sim2.requests
    write = next(i for i, r in enumerate(records) if r.method in ("PUT", "PATCH"))
    path = records[write].path
    assert (records[write - 1].method, records[write - 1].path) == ("GET", path)
    assert (records[write - 2].method, records[write - 2].path) != ("GET", path), "read twice before the write"
