"""SIGTERM (a CI cancel) and SIGINT (Ctrl-C) in the middle of a wait: roll back, then exit 143 / 130.

Signals need a real process: `python -m rancher_deploy` runs as a child against a simulator in this
process. The upgrade is held with the hang fault, so the child is surely waiting when its own log
says the upgrade was requested; the signal goes then, and the hang is lifted so the rollback can run.
Every read of the child's output has a deadline, so a broken child fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rancher_deploy.simulator import Simulator

from ..conftest import OLD_IMAGE, SECRET_KEY

DEADLINE_SECONDS = 20.0
# Variables of the machine running the tests that would change the child's behaviour.
_FOREIGN = ("CATTLE_", "RANCHER_", "INPUT_", "PLUGIN_", "GITHUB_", "GITLAB", "DRONE", "CI_")


def child_environment(base_env: dict[str, str]) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith(_FOREIGN) and name != "CI"}
    return {**inherited, **base_env, "RANCHER_POLL_INTERVAL": "0.02", "PYTHONUNBUFFERED": "1"}


def wait_for_line(lines: queue.Queue[str | None], marker: str, seen: list[str]) -> None:
    while True:
        try:
            line = lines.get(timeout=DEADLINE_SECONDS)
        except queue.Empty:
            pytest.fail(f"no {marker!r} within {DEADLINE_SECONDS:g}s; the child said:\n{''.join(seen)}")
        if line is None:
            pytest.fail(f"the child ended before {marker!r}:\n{''.join(seen)}")
        seen.append(line)
        if marker in line:
            return


@pytest.mark.parametrize("signal_number, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_wait_rolls_back_then_exits_128_plus_the_signal(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path,
        signal_number: int, code: int) -> None:
    sim.faults.hang(web)
    child = subprocess.Popen([sys.executable, "-m", "rancher_deploy", "--output", "json"],
                             env=child_environment(base_env), cwd=tmp_path, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        wait_for_line(lines, "Upgrade of shop/web requested", seen)
        child.send_signal(signal_number)
        sim.faults.clear()
        child.wait(timeout=DEADLINE_SECONDS)  # not communicate(): it would read stderr too, racing the pump
        assert child.stdout is not None
        stdout = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    reader.join(timeout=DEADLINE_SECONDS)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            seen.append(line)
    stderr = "".join(seen)

    assert child.returncode == code, stderr
    assert "interrupted while waiting for shop/web" in stderr
    assert "Rolling back shop/web" in stderr
    assert f"rancher-deploy: exit {code}" in stderr
    assert "Traceback" not in stderr
    assert SECRET_KEY not in stderr + stdout
    service = sim.service(web)
    assert (service["state"], service["launchConfig"]["imageUuid"]) == ("active", f"docker:{OLD_IMAGE}")
    assert f'"exit_code": {code}' in stdout


def test_a_second_signal_during_the_rollback_ends_the_run_naming_the_state(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    sim.faults.hang(web)  # kept: the rollback cannot finish either
    child = subprocess.Popen([sys.executable, "-m", "rancher_deploy"], env=child_environment(base_env),
                             cwd=tmp_path, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        wait_for_line(lines, "Upgrade of shop/web requested", seen)
        child.send_signal(signal.SIGTERM)
        wait_for_line(lines, "Rolling back shop/web", seen)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=DEADLINE_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(timeout=DEADLINE_SECONDS)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            seen.append(line)
    stderr = "".join(seen)
    assert child.returncode == 4, stderr
    assert "Traceback" not in stderr
    assert "a second signal stopped the wait for the rollback" in stderr
    assert "its state is rolling-back" in stderr
