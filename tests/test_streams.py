"""Waits that Rancher pushes: a Kubernetes watch through Rancher's proxy (2.8), over real sockets.

The simulator runs on a clock slow enough (Timing(speed=10): a rollout of ~0.3-1 s) that a poller
would read the workload many times; a wait on the stream makes the same two requests (a read, a
watch) however long the rollout takes. Faults cut the stream (a proxy that breaks long
connections) or expire the version a watch resumes from (410 Gone), and a signal arrives while the
wait is blocked on the stream.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import CliRun, invoke_cli
from .faults.test_signals import Child
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, WEB, containers

SLOW = Timing(speed=10.0)


@pytest.fixture
def k8s() -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=SLOW) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)], replicas=2)
        yield simulator


def environment(sim: Simulator) -> dict[str, str]:
    return {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
            "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.05", "RANCHER_TIMEOUT": "30"}


def run(sim: Simulator, **overrides: str | None) -> CliRun:
    return invoke_cli(("--output", "json"), environment(sim), overrides, TOKEN_SECRET)


def requests_after_the_change(sim: Simulator) -> list[str]:
    """`METHOD path?query` of each request after the PATCH that changed the image."""
    lines = [f"{r.method} {r.path}" + (f"?{r.query}" if r.query else "") for r in sim.requests]
    patched = max(n for n, line in enumerate(lines) if line.startswith("PATCH "))
    return lines[patched + 1:]


def watches(lines: list[str]) -> list[str]:
    return [line for line in lines if "watch=1" in line]


def when_watching(sim: Simulator, action: Callable[[], object]) -> threading.Thread:
    """Run `action` in a thread as soon as the simulator has answered a watch request."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any("watch=1" in r.query for r in sim.requests):
                action()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def test_a_rollout_is_followed_through_the_watch_with_one_request_however_long(k8s: Simulator) -> None:
    started = time.monotonic()
    result = run(k8s)
    assert result.code == 0, result.stderr
    assert containers(k8s)["web"]["image"] == NEW
    waited = requests_after_the_change(k8s)
    # One watch, from the resourceVersion the patch answered: a poller every 50 ms would read ~10+ times.
    assert [line.split("?")[0] for line in waited] == [
        "GET /k8s/clusters/local/apis/apps/v1/namespaces/default/deployments",
    ], waited
    assert "fieldSelector=metadata.name%3Dweb" in waited[0] and "resourceVersion=" in waited[0]
    assert time.monotonic() - started > 0.2, "the rollout was too quick to tell a watch from a poller"
    assert "polling instead" not in result.stderr


def test_a_watch_the_network_cuts_falls_back_to_polling_saying_so_once(k8s: Simulator) -> None:
    k8s.faults.capacity(1, "default/web")  # held half-way until the stream is cut
    cutter = when_watching(k8s, lambda: (k8s.faults.drop_streams(), k8s.faults.clear()))
    result = run(k8s)
    cutter.join(timeout=20)
    assert result.code == 0, result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert "the watch of default/deployment:web broke" in result.stderr
    waited = requests_after_the_change(k8s)
    assert len(watches(waited)) == 1, waited   # no second watch: the wait polls from then on
    assert containers(k8s)["web"]["image"] == NEW


def test_a_watch_answered_410_gone_reads_again_and_watches_on(k8s: Simulator) -> None:
    k8s.faults.expire_watches(1)
    result = run(k8s)
    assert result.code == 0, result.stderr
    waited = requests_after_the_change(k8s)
    read = "GET /k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web"
    # watch from the patch's answer (410 Expired), read again, watch from the new version: no polling.
    assert [line.split("?")[0] for line in waited] == [read.rsplit("/", 1)[0], read, read.rsplit("/", 1)[0]]
    assert "polling instead" not in result.stderr
    assert containers(k8s)["web"]["image"] == NEW


def test_a_sigterm_while_blocked_on_the_watch_rolls_back_and_exits_143(k8s: Simulator, tmp_path: Path) -> None:
    k8s.faults.capacity(1, "default/web")  # the rollout cannot finish: the wait sits on the stream
    child = Child([], environment(k8s), tmp_path)
    child.wait_for_line("Upgrade of default/deployment:web requested")
    deadline = time.monotonic() + 20
    while not watches([r.query for r in k8s.requests]) and time.monotonic() < deadline:
        time.sleep(0.005)
    child.signal(signal.SIGTERM)
    k8s.faults.clear()
    returncode, _, stderr = child.finish()
    assert returncode == 143, stderr
    assert "interrupted while waiting for default/deployment:web" in stderr
    assert containers(k8s)["web"]["image"] == OLD
