"""SIGTERM (a CI cancel) and SIGINT (Ctrl-C) in the middle of a wait: roll back, then exit 143 / 130.

Signals need a real process: `python -m rancher_deploy` runs as a child against a simulator in this
process. The upgrade is held with the hang fault, so the child is surely waiting when its own log
says the upgrade was requested; the signal goes then, and the hang is lifted so the rollback can run.
Every read of the child's output has a deadline, so a broken child fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rancher_deploy.simulator import Simulator

from ..conftest import ACCESS_KEY, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, ci_sinks
from ..test_ci import read_outputs

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
    """`python -m rancher_deploy` (or `command`) as its own process, its stderr read line by line in a thread."""

    def __init__(self, argv: list[str], base_env: dict[str, str], cwd: Path, *,
                 command: list[str] | None = None) -> None:
        self.process = subprocess.Popen([*(command or [sys.executable, "-m", "rancher_deploy"]), *argv],
                                        env=child_environment(base_env), cwd=cwd, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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

    def release(self) -> None:
        """Let a start-up held by startup_gate.py go on."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def pid_one(self) -> int:
        """The process `unshare --pid --fork` started: PID 1 of its namespace, as a container's entrypoint."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        status = Path(f"/proc/{children[0]}/status").read_text()
        assert re.search(r"^NSpid:.*\s1$", status, re.MULTILINE), status
        return int(children[0])

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
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
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
    assert returncode == 143, stderr
    assert "Traceback" not in stderr
    assert "rollback requested and still under way when the run stopped waiting for it at a second signal" in stderr
    assert ": rolling-back (In Progress), 2/2 containers healthy on " in stderr
    assert "follow it with `rancher-deploy status`" in stderr


# -- as the image runs: entrypoint.py, PID 1 of its own namespace, with the CI's settings ------------

ENTRYPOINT = Path(__file__).resolve().parents[2] / "entrypoint.py"
GATE = Path(__file__).with_name("startup_gate.py")
# The container's PID 1 (GitHub, Drone and Woodpecker run no init): `unshare --pid --fork` makes the
# entrypoint PID 1 of a new PID namespace, where the kernel drops a signal it set no handler for.
AS_PID_1 = ["unshare", "--pid", "--fork", "--kill-child"]


def _unshare_works() -> bool:
    try:
        return subprocess.run([*AS_PID_1, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_pid_namespace = pytest.mark.skipif(not _unshare_works(), reason="needs `unshare --pid` (root or user namespaces)")


def woodpecker(sim: Simulator, **settings: str) -> dict[str, str]:
    """A Woodpecker plugin step's environment: settings as PLUGIN_*, `docker stop` sends SIGTERM to PID 1."""
    return {"CI": "woodpecker", "CI_SYSTEM_NAME": "woodpecker", "PLUGIN_URL": sim.url, "PLUGIN_ACCESS_KEY": ACCESS_KEY,
            "PLUGIN_SECRET_KEY": SECRET_KEY, "PLUGIN_SERVICE": "shop/web", "PLUGIN_IMAGE": NEW_IMAGE,
            "PLUGIN_BATCH_INTERVAL": "0.1", "PLUGIN_TIMEOUT": "30", **settings}


def upgrades(sim: Simulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "POST" and "action=upgrade" in r.query]


@needs_pid_namespace
def test_sigterm_to_pid_1_during_the_lookup_before_the_upgrade_sends_no_upgrade(
        sim: Simulator, web: str, tmp_path: Path) -> None:
    # Every read of the service takes 1.5 s; the signal comes while the lookup is in flight. The run
    # reads nothing more after it, sends no upgrade, and exits while a CI's stop still lets it.
    sim.faults.latency(1.5, "/services")
    child = Child([], woodpecker(sim, PLUGIN_VERBOSE="true"), tmp_path,
                  command=[*AS_PID_1, sys.executable, str(ENTRYPOINT)])
    child.wait_for_line("/services {")   # the verbose line that announces the lookup, sent next
    os.kill(child.pid_one(), signal.SIGTERM)
    signalled = time.monotonic()
    returncode, _, stderr = child.finish()
    took = time.monotonic() - signalled
    assert returncode == 143, stderr
    assert upgrades(sim) == []
    assert "Upgrade of shop/web requested" not in stderr and "Traceback" not in stderr
    assert "shop/web was not upgraded: the run was interrupted by SIGTERM before it was started" in stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert took < 1.5 + 2.0, f"exit {took:.1f}s after SIGTERM; Woodpecker kills after 5 s:\n{stderr}"


def test_sigint_during_start_up_ends_before_any_request_with_the_ci_outputs(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    # GitHub cancels with SIGINT. It comes while the program imports requests/urllib3, before the
    # run has read its settings or connected: no traceback, no request, and the step's outputs say
    # how it ended (docs/ci.md: "Whatever stops a run ... ends the same way").
    github, (output, summary) = ci_sinks(tmp_path, "github")
    child = Child([], {**base_env, **github}, tmp_path, command=[sys.executable, str(GATE), str(ENTRYPOINT)])
    child.wait_for_line("gate: importing urllib3")
    child.signal(signal.SIGINT)
    child.release()
    returncode, _, stderr = child.finish()
    assert returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "SIGINT arrived before the run connected to Rancher; nothing was changed" in stderr
    assert sim.requests == []
    outputs = read_outputs(output)
    assert (outputs["result"], outputs["exit-code"]) == ("error", "130")
    assert "SIGINT arrived before the run connected to Rancher" in summary.read_text()


@needs_pid_namespace
def test_sigterm_to_pid_1_during_start_up_is_not_lost(sim: Simulator, web: str, tmp_path: Path) -> None:
    # As PID 1 a SIGTERM that finds no handler is dropped by the kernel: the upgrade would run to its end.
    child = Child([], woodpecker(sim), tmp_path, command=[*AS_PID_1, sys.executable, str(GATE), str(ENTRYPOINT)])
    child.wait_for_line("gate: importing urllib3")
    os.kill(child.pid_one(), signal.SIGTERM)
    child.release()
    returncode, _, stderr = child.finish()
    assert returncode == 143, stderr
    assert sim.requests == [] and "SIGTERM arrived before the run connected to Rancher" in stderr


def test_after_sigterm_a_slow_rollback_is_waited_for_only_within_the_grace(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    # The rollback cannot end (the service is held), as a real one often does not within a CI's stop
    # timeout (Woodpecker's 5 s before 3.14). The run requests it, waits 2 s, reports where the
    # service is and what to run next, and exits 143 before the CI would kill it.
    sim.faults.hang(web)
    child = Child(["--output", "json"], base_env, tmp_path)
    child.wait_for_line("Upgrade of shop/web requested")
    child.signal(signal.SIGTERM)
    signalled = time.monotonic()
    returncode, stdout, stderr = child.finish()
    took = time.monotonic() - signalled
    assert returncode == 143, stderr
    assert [r for r in sim.requests if "action=rollback" in r.query], "the rollback was not requested"
    assert ("shop/web: rollback requested and still under way when the run stopped waiting for it 2s after "
            "SIGTERM") in stderr
    assert "rolling-back (In Progress), 2/2 containers healthy on registry.example.com:5000/shop/web:2.0" in stderr
    assert "follow it with `rancher-deploy status`" in stderr
    assert '"result": "interrupted"' in stdout
    assert 2.0 <= took < 4.0, f"exit {took:.1f}s after SIGTERM:\n{stderr}"
