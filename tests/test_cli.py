"""The CLI's own machinery: signal handling around the wait loop, and output that cannot be written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from rancher_deploy.cli import _Signals
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY


def test_a_signal_cuts_one_sleep_short_and_later_sleeps_still_wait() -> None:
    signals = _Signals()
    signals._handle(signal.SIGTERM, None)
    started = time.monotonic()
    signals.sleep(5)
    assert time.monotonic() - started < 1, "the signal wakes the sleeping wait at once"
    started = time.monotonic()
    signals.sleep(0.05)
    # Were the wake-up left set, the rollback wait after a signal would poll Rancher in a busy loop.
    assert time.monotonic() - started >= 0.04
    assert signals.interrupted() == signal.SIGTERM and signals.urgent() is None
    signals._handle(signal.SIGINT, None)
    assert signals.urgent() == signal.SIGINT


# -- a closed log pipe (`rancher-deploy ... 2>&1 | head -8`) -------------------------------------


@pytest.fixture
def still() -> Iterator[tuple[Simulator, str]]:
    """A simulator whose time moves only when the test advances it, with the usual shop/web."""
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=0)) as simulator:
        yield simulator, simulator.add_service(simulator.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=2)


def deploy_into_a_pipe_closed_after(sim: Simulator, line: str, tmp_path: Path, **extra: str) -> tuple[int, str]:
    """Run the tool as its own process, its stdout and stderr into one pipe whose reader goes away
    after `line`, as `| head` does. Simulated time stands still until then, so the deploy still has
    every later line to write. Returns the exit code and what the reader saw."""
    report = tmp_path / "deploy.env"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
           "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005",
           "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "60", "RANCHER_OUTPUT": "json",
           "RANCHER_DOTENV_REPORT": str(report), **extra}
    process = subprocess.Popen([sys.executable, "-m", "rancher_deploy"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    seen = []
    try:
        for text in process.stdout:
            seen.append(text)
            if text.startswith(line):
                break
        process.stdout.close()
        for _ in range(10_000):  # move Rancher on, one simulated second at a time, until the run ends
            sim.advance(1)
            try:
                code = process.wait(timeout=0.01)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("the run did not end")
    finally:
        process.kill()
    assert report.exists(), "the report is written although the log could not be"
    return code, "".join(seen)


def test_a_closed_log_pipe_never_stops_the_deploy(still: tuple[Simulator, str], tmp_path: Path) -> None:
    sim, web = still
    code, seen = deploy_into_a_pipe_closed_after(sim, "Upgrade of shop/web requested", tmp_path)
    assert "Upgrade of shop/web requested" in seen
    assert code == 0
    service = sim.service(web)
    assert (service["state"], service["launchConfig"]["imageUuid"]) == ("active", f"docker:{NEW_IMAGE}")
    assert "RANCHER_DEPLOY_RESULT=upgraded" in (tmp_path / "deploy.env").read_text().splitlines()


def test_a_closed_log_pipe_still_lets_a_failed_upgrade_roll_back(still: tuple[Simulator, str],
                                                                 tmp_path: Path) -> None:
    sim, web = still
    sim.faults.unhealthy_image(NEW_IMAGE)
    # A process of its own keeps the real clock: a short progress deadline (Rancher 1.x sets no error).
    code, _ = deploy_into_a_pipe_closed_after(sim, "Upgrade of shop/web requested", tmp_path,
                                              RANCHER_PROGRESS_DEADLINE="0.5")
    assert code == 1
    service = sim.service(web)
    assert (service["state"], service["launchConfig"]["imageUuid"]) == ("active", f"docker:{OLD_IMAGE}")
    assert "RANCHER_DEPLOY_RESULT=rolled-back" in (tmp_path / "deploy.env").read_text().splitlines()


def test_a_pipe_closed_before_the_first_line_changes_nothing_either(sim: Simulator, web: str,
                                                                     tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "CATTLE_URL": sim.url,
           "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY, "RANCHER_SERVICE": "shop/web",
           "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_BATCH_INTERVAL": "0.1",
           "RANCHER_OUTPUT": "json"}
    try:
        process = subprocess.run([sys.executable, "-m", "rancher_deploy"], cwd=tmp_path, env=env, stdout=write_end,
                                 stderr=write_end, stdin=subprocess.DEVNULL, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert process.returncode == 0
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
