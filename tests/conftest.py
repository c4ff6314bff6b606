"""Factories shared by the tests: a fresh simulator per test, and the CLI run as a pipeline runs it.

The secret values are recognisable on purpose, so any test can assert they never reach output.
"""

from __future__ import annotations

import io
import json
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import trustme

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing

ACCESS_KEY = "AK-test-access"
SECRET_KEY = "SK-recognisable-secret-7f3e9"
OLD_IMAGE = "registry.example.com:5000/shop/web:2.0"
NEW_IMAGE = "registry.example.com:5000/shop/web:2.1"

# Every field users of other deploy tools reported losing in upgrades: env with commas, labels incl.
# scheduling rules, ports, secrets, health check, volumes, command.
LAUNCH_CONFIG: dict[str, Any] = {
    "imageUuid": f"docker:{OLD_IMAGE}",
    "kind": "container",
    "environment": {"DATABASE_URL": "postgres://db/shop", "LIST": "a,b,c"},
    "labels": {
        "io.rancher.scheduler.affinity:host_label": "tier=web,zone=eu",
        "io.rancher.container.pull_image": "always",
        "com.example.team": "shop",
    },
    "ports": ["8080:80/tcp"],
    "secrets": [{"type": "secretReference", "secretId": "1se1", "name": "db-password", "uid": "0",
                 "gid": "0", "mode": "444"}],
    "healthCheck": {"type": "instanceHealthCheck", "port": 80, "interval": 2000, "healthyThreshold": 2,
                    "unhealthyThreshold": 3, "responseTimeout": 2000, "strategy": "recreate",
                    "requestLine": "GET /healthz HTTP/1.0"},
    "dataVolumes": ["/var/data:/data"],
    "command": ["serve", "--port", "80"],
    "networkMode": "managed",
    "memory": 268435456,
}


@dataclass(frozen=True)
class CliRun:
    """What a pipeline would see of one run."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A private CA made at test time, for what serves TLS in a test (the simulator, a proxy)."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    """The private CA's certificate as a PEM file, for RANCHER_CA_BUNDLE or REQUESTS_CA_BUNDLE."""
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_cert(ca: trustme.CA, directory: Path, name: str = "server",
                hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[str, str]:
    """A certificate for `hosts` (127.0.0.1 and localhost) signed by `ca`, as PEM files: (chain, key)."""
    issued = ca.issue_cert(*hosts)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    return str(cert), str(key)


@pytest.fixture
def timing() -> Timing:
    """Override in a module (or parametrize a test with it) to run its simulator on another clock."""
    return Timing.fast()


@pytest.fixture
def sim(timing: Timing) -> Iterator[Simulator]:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=timing) as simulator:
        yield simulator


Hook = Callable[["VirtualTime"], None]


@dataclass
class VirtualTime:
    """The tool's clock and sleeper: each sleep moves the simulator by the same amount, then runs hooks.

    With `Timing(speed=0)` the simulator moves only when the tool sleeps, so a 300 s timeout or a
    progress deadline costs no real time. Hooks play the rest of the world (another pipeline, an
    operator, a network that comes back) at exact simulated moments.
    """

    sim: Simulator
    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.sim.advance(seconds)
        for hook in list(self.hooks):
            hook(self)

    def at(self, moment: float, action: Callable[[], object]) -> None:
        """Run `action` once, at the first sleep that ends at or after `moment` simulated seconds."""

        def fire(time: VirtualTime) -> None:
            if time.now >= moment:
                time.hooks.remove(fire)
                action()

        self.hooks.append(fire)


class HeldClock:
    """A frozen simulator's clock (`Timing(speed=0)`) for a run on the real clock, where waits read
    Rancher's streams: held still until `ready()` says the run got where the test wants it, then moved
    `step` simulated seconds every `tick` real seconds until the `with` block ends.

    What the simulator shows then depends on where the run got, never on how fast the machine is: no
    change happens before `ready()`, each look of the simulator sees one moment, and a change lasting
    n simulated seconds lasts at least n / step * tick real ones. A run that never gets ready still
    ends, because the clock moves anyway after `patience` real seconds; `moved_at` (`time.monotonic()`,
    the clock of `RequestRecord.received`) says when it first moved, for the test to fail on.
    """

    def __init__(self, sim: Simulator, ready: Callable[[], bool], *, step: float = 1.0, tick: float = 0.005,
                 patience: float = 20.0) -> None:
        self.moved_at: float | None = None
        self._sim, self._ready, self._step, self._tick, self._patience = sim, ready, step, tick, patience
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self._patience
        while not self._ready() and time.monotonic() < deadline and not self._stop.wait(self._tick):
            pass
        self.moved_at = time.monotonic()
        while not self._stop.wait(self._tick):
            self._sim.advance(self._step)

    def __enter__(self) -> HeldClock:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def virtual(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """cli.main takes no clock or sleeper, so this swaps the two it uses (the `time` module it reads
    `monotonic` from, and `_Signals.sleep`) for the length of one test; use with `Timing(speed=0)`."""
    time = VirtualTime(sim)
    monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=time.monotonic))
    monkeypatch.setattr(cli._Signals, "sleep", lambda self, seconds: time.sleep(seconds))
    return time


@pytest.fixture
def web(sim: Simulator) -> str:
    """The usual target: service shop/web, scale 2, on OLD_IMAGE; returns its id."""
    stack_id = sim.add_stack("shop")
    return sim.add_service(stack_id, "web", dict(LAUNCH_CONFIG), scale=2)


@pytest.fixture
def base_env(sim: Simulator) -> dict[str, str]:
    """The variables a pipeline sets for the usual target, at test speed."""
    return {
        "CATTLE_URL": sim.url,
        "CATTLE_ACCESS_KEY": ACCESS_KEY,
        "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_STACK": "shop",
        "RANCHER_SERVICE": "web",
        "RANCHER_IMAGE": NEW_IMAGE,
        "RANCHER_POLL_INTERVAL": "0.005",
        "RANCHER_BATCH_INTERVAL": "0.1",
        "RANCHER_TIMEOUT": "30",
        "RANCHER_REQUEST_TIMEOUT": "5",
    }


RunCli = Callable[..., CliRun]


def ci_sinks(directory: Path, dialect: str) -> tuple[dict[str, str], list[Path]]:
    """The variables that make a run write the files of `dialect` ("github": outputs and step summary;
    "gitlab": the dotenv report) into `directory`, and those files, to search for what must not leak."""
    if dialect == "github":
        output, summary = directory / "output", directory / "summary"
        return ({"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)},
                [output, summary])
    report = directory / "report.env"
    return {"GITLAB_CI": "true", "RANCHER_DOTENV_REPORT": str(report)}, [report]


def invoke_cli(argv: tuple[str, ...], base: dict[str, str], overrides: dict[str, str | None],
               secret: str) -> CliRun:
    """Run cli.main in-process as a pipeline would (no .env read); `None` in overrides unsets a variable.

    Every run also checks the two promises no test should have to repeat: no traceback, no secret.
    """
    environ = dict(base)
    for name, value in overrides.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), environ=environ, dotenv_path=None, stdout=stdout, stderr=stderr)
    result = CliRun(code, stdout.getvalue(), stderr.getvalue())
    says_what_next(result)
    # On GitHub the `::add-mask::` lines name each secret: that is how the runner learns to hide it.
    shown = "\n".join(line for line in result.output.splitlines() if not line.startswith("::add-mask::"))
    assert secret not in shown, "the secret leaked into the output"
    assert "Traceback" not in result.output
    return result


# The verdict's headline of each result an exit 4 leaves needing a next step (`report._HEADLINES`), and
# those that need one only when other targets were changed (`events.mixed`: the run is half done).
_NEEDING = ("FAILED, NEEDS ATTENTION: ", "INTERRUPTED, left as it was: ")
_LEFT_BEHIND = ("FAILED, rolled back: ", "FAILED, not upgraded: ")
_CHANGED = ("upgraded: ", "upgraded (not finished): ", "created: ", "finished: ", "rolled back: ")


def says_what_next(result: CliRun) -> None:
    """Every exit 4 ends by saying what to run next (README, exit codes; docs/reliability.md): its last
    line names, per target that needs one, the next step (`(next: ...)`); a run an error ended with the
    targets' state unknown names it too. An exit 4 that leaves no target needing anything (a result
    that could not be written; a bug before any request, which changed nothing) has none to name.
    Checked on every run the tests make through the CLI."""
    if result.code != 4:
        return
    lines = result.stderr.rstrip("\n").splitlines()
    last = lines[-1]
    assert last.startswith("rancher-deploy: exit 4 ("), last
    verdicts = [line.split("::")[-1] for line in result.stderr.replace("%0A", "\n").splitlines()]
    needing = sum(line.startswith(_NEEDING) for line in verdicts)
    if any(line.startswith(_CHANGED) for line in verdicts):
        needing += sum(line.startswith(_LEFT_BEHIND) for line in verdicts)
    # An error ended the run (its line, then the last): no verdict of targets, the error names their state.
    ended_by_error = not any(line.startswith(_NEEDING + _LEFT_BEHIND + _CHANGED) for line in verdicts)
    if ended_by_error and "nothing was changed" not in lines[-2]:
        needing = max(needing, 1)
    assert last.count("(next: ") >= needing, f"exit 4 without what to run next:\n{result.stderr}"


@pytest.fixture
def run_cli(base_env: dict[str, str]) -> RunCli:
    """run_cli(*argv, **env overrides; None removes a variable) -> CliRun."""

    def run(*argv: str, **overrides: str | None) -> CliRun:
        return invoke_cli(argv, base_env, overrides, SECRET_KEY)

    return run
