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


class Child:
    """`python -m rancher_deploy` as its own process, its stderr read line by line in a thread."""

    def __init__(self, argv: list[str], base_env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "rancher_deploy", *argv],
                                        env=child_environment(base_env), cwd=cwd, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, marker: str) -> None:
        wait_for_line(self.lines, marker, self.seen)

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit (killing a child that overstays); returns code, stdout, stderr."""
        try:
            self.process.wait(timeout=DEADLINE_SECONDS)  # not communicate(): it would race the pump
            assert self.process.stdout is not None
            stdout = self.process.stdout.read()
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
        self.reader.join(timeout=DEADLINE_SECONDS)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        return self.process.returncode, stdout, "".join(self.seen)


@pytest.mark.parametrize("signal_number, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_wait_rolls_back_then_exits_128_plus_the_signal(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path,
        signal_number: int, code: int) -> None:
    sim.faults.hang(web)
    child = Child(["--output", "json"], base_env, tmp_path)
    child.wait_for_line("Upgrade of shop/web requested")
    child.signal(signal_number)
    sim.faults.clear()
    returncode, stdout, stderr = child.finish()

    assert returncode == code, stderr
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
    child = Child([], base_env, tmp_path)
    child.wait_for_line("Upgrade of shop/web requested")
    child.signal(signal.SIGTERM)
    child.wait_for_line("Rolling back shop/web")
    child.signal(signal.SIGTERM)
    returncode, _, stderr = child.finish()
    assert returncode == 4, stderr
    assert "Traceback" not in stderr
    assert "a second signal stopped the wait for the rollback" in stderr
    assert "its state is rolling-back" in stderr
