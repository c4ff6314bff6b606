"""How many requests an upgrade makes, from the simulator's request log: each object is read once per decision.

A poller's count grows with the upgrade's length, so these pin what does not: the requests before
the upgrade is sent, between the read that found it healthy and the finish, and before a 2.x write.
"""

from __future__ import annotations

from rancher_deploy.simulator import Simulator
from rancher_deploy.simulator.request_log import RequestRecord

from .conftest import LAUNCH_CONFIG, RunCli
from .test_workloads import WEB, run as run2, sim2  # noqa: F401 - sim2 is a fixture


def _index(records: list[RequestRecord], method: str, query: str = "") -> int:
    return next(i for i, r in enumerate(records) if r.method == method and query in r.query)


def test_a_1x_upgrade_sends_its_upgrade_after_the_lookups_alone(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli().code == 0
    records = sim.requests
    before = records[:_index(records, "POST", "action=upgrade")]
    # Which Rancher this is, the environments, the stack, the service's listing (which carries the
    # whole service): the preflight, the ready check and the action all use that one read.
    assert [(r.path.rsplit("/", 1)[-1], r.query) for r in before] == [
        ("server-version", ""), ("projects", ""), ("stacks", "name=shop"), ("services", f"name=web&stackId={before[3].query.split('=')[-1]}")]


def test_a_1x_finish_is_sent_on_the_read_that_found_the_upgrade_healthy(sim: Simulator, web: str,
                                                                       run_cli: RunCli) -> None:
    assert run_cli().code == 0
    records = sim.requests
    between = records[_index(records, "POST", "action=upgrade") + 1:_index(records, "POST", "action=finishupgrade")]
    # Only the wait's reads (the service, then its containers, counted from that one listing):
    # no read of its own before the finish.
    assert between and between[-1].path.endswith("/instances")
    services = [r for r in between if r.path.endswith(f"/services/{web}")]
    instances = [r for r in between if r.path.endswith("/instances")]
    assert len(services) == len(instances) and len(services) + len(instances) == len(between)


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
