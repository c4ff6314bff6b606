"""Stopping: SIGTERM closes the port and cancels runs that had not started; running upgrades get
RANCHER_SERVE_GRACE to end, then are interrupted as a CLI run's SIGTERM interrupts it (rolled back),
and the exit code says which happened. A second signal skips the grace, a further one the rollback's
wait.

The first tests stop a server in this process as its SIGTERM handler would (`Service.stop`); the last
ones send SIGTERM to `rancher-deploy serve` in its own process. An upgrade is held by the simulator's
hang fault until the test lifts it.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from rancher_deploy.errors import ExitCode
from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, OLD_IMAGE, SECRET_KEY
from ..faults.test_signals import DEADLINE_SECONDS, Child
from .conftest import TOKEN, Serve, Served, held_run, server_environment

REPOSITORY = NEW_IMAGE.rsplit(":", 1)[0]


def stopping(served: Served, signals: Callable[[], int] = lambda: 1) -> threading.Thread:
    """Stop `served` in a thread, as its SIGTERM handler does; join the thread for the exit code."""
    thread = threading.Thread(target=served.stop, args=(signal.SIGTERM, signals), daemon=True)
    thread.start()
    return thread


def ended(served: Served, thread: threading.Thread) -> ExitCode | None:
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), served.log.getvalue()
    return served.code


def test_a_stop_closes_the_port_cancels_waiting_runs_and_lets_the_running_one_finish(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = held_run(serve, sim, web, RANCHER_SERVE_GRACE="60")
    assert served.upgrade(f"{REPOSITORY}:2.2").status_code == 202        # waits for run 1
    thread = stopping(served)
    served.wait_for_line("SIGTERM: accepting no more requests; waiting up to 60s for 1 running run to end")
    assert "SIGTERM: run 2 had not started and was cancelled; nothing of theirs was changed" in served.log.getvalue()
    with pytest.raises(requests.ConnectionError):
        requests.get(served.url + "/healthz", timeout=5)
    sim.faults.clear()
    assert ended(served, thread) is ExitCode.OK
    assert "every run has ended; stopped (exit 0)" in served.log.getvalue()
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert {job.id: job.state.value for job in served.service.scheduler._jobs.values()} == {1: "done", 2: "cancelled"}


def test_after_the_grace_a_running_upgrade_is_rolled_back_and_the_exit_says_so(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = held_run(serve, sim, web, RANCHER_SERVE_GRACE="0")
    thread = stopping(served)
    served.wait_for_line("interrupting run 1: each rolls back")
    sim.faults.clear()   # so that the rollback can go through
    assert ended(served, thread) is ExitCode.TERMINATED
    log = served.log.getvalue()
    assert "[run 1] warning: Rolling back Default/shop/web" in log
    assert "stopped (exit 143: interrupted (SIGTERM) after the tool restored or reported the service's state)" in log
    service = sim.service(web)
    assert (service["state"], service["launchConfig"]["imageUuid"]) == ("active", f"docker:{OLD_IMAGE}")
    job = served.service.scheduler._jobs[1]
    assert job.result is not None and (job.result["result"], job.result["exit_code"]) == ("rolled-back", 143)


def test_a_second_signal_interrupts_at_once(serve: Serve, sim: Simulator, web: str) -> None:
    served = held_run(serve, sim, web, RANCHER_SERVE_GRACE="300")
    count = [1]
    thread = stopping(served, lambda: count[0])
    served.wait_for_line("waiting up to 300s for 1 running run to end")
    count[0] = 2
    served.wait_for_line("interrupting run 1:")
    sim.faults.clear()
    assert ended(served, thread) is ExitCode.TERMINATED
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def test_a_signal_after_the_interruption_ends_the_wait_for_the_rollback_and_names_the_state(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = held_run(serve, sim, web, RANCHER_SERVE_GRACE="0")
    count = [1]
    thread = stopping(served, lambda: count[0])
    served.wait_for_line("[run 1] warning: Rolling back Default/shop/web")    # held too: the rollback cannot finish
    count[0] = 2
    # Cut short as the grace after the interruption would be: the rollback is under way in Rancher and
    # the run says so, with the state; that is a report, 143, not a restore that failed (4).
    assert ended(served, thread) is ExitCode.TERMINATED
    log = served.log.getvalue()
    assert "rollback requested and still under way when the run stopped waiting for it at a second signal" in log
    assert ": rolling-back (In Progress), 2/2 containers healthy on " in log
    assert "stopped (exit 143: interrupted (SIGTERM)" in log


# -- the real process and its real SIGTERM -----------------------------------------------------------


def serving_child(sim: Simulator, tmp_path: Path, **environment: str) -> tuple[Child, str]:
    """`rancher-deploy serve` in its own process; returns it and its URL (from its first line)."""
    child = Child(["serve"], server_environment(sim, **environment), tmp_path)
    child.wait_for_line("serving on http://")
    found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", child.seen[-1])
    assert found, child.seen
    return child, found.group(1)


def post_upgrade(url: str) -> None:
    answer = requests.post(url + "/upgrade", json={"docker_image": NEW_IMAGE, "confirm": True},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("number, grace, code, image", [
    (signal.SIGTERM, "60", 0, NEW_IMAGE), (signal.SIGTERM, "0", 143, OLD_IMAGE),
    # Ctrl-C on a server run in a terminal stops it the same graceful way, with 130 when it interrupted.
    (signal.SIGINT, "60", 0, NEW_IMAGE), (signal.SIGINT, "0", 130, OLD_IMAGE),
], ids=["SIGTERM, finished within the grace", "SIGTERM, rolled back after it",
        "SIGINT, finished within the grace", "SIGINT, rolled back after it"])
def test_a_signal_to_the_server_mid_upgrade(sim: Simulator, web: str, tmp_path: Path, number: signal.Signals,
                                            grace: str, code: int, image: str) -> None:
    sim.faults.hang(web)
    child, url = serving_child(sim, tmp_path, RANCHER_SERVE_GRACE=grace)
    post_upgrade(url)
    child.wait_for_line("[run 1] Upgrade of Default/shop/web requested")
    child.signal(number)
    child.wait_for_line(f"{number.name}: accepting no more requests")
    sim.faults.clear()
    returncode, stdout, stderr = child.finish()
    assert returncode == code, stderr
    service = sim.service(web)
    assert (service["state"], service["launchConfig"]["imageUuid"]) == ("active", f"docker:{image}")
    assert "Traceback" not in stderr
    assert TOKEN not in stderr + stdout and SECRET_KEY not in stderr + stdout


def test_the_server_refuses_to_start_without_credentials_as_a_process(sim: Simulator, tmp_path: Path) -> None:
    child = Child(["serve"], server_environment(sim, RANCHER_SERVE_TOKEN=None), tmp_path)
    returncode, _, stderr = child.finish()
    assert returncode == 2
    assert stderr.splitlines()[0].startswith("rancher-deploy: error: RANCHER_SERVE_TOKEN: is required")
