"""The fault matrix's harness: the real CLI against the simulator, on real or simulated time.

Two ways of spending time, chosen per module by overriding the `timing` fixture (tests/conftest.py):
- `Timing.fast()` (the default here, as everywhere): the tool sleeps for real, a few milliseconds per
  poll; used where the fault itself is measured in real time (latency, refused connections).
- `Timing(speed=0)` with the `virtual` fixture: the simulator moves only when the tool sleeps, and the
  tool's clock and sleeper are the test's, so a 300 s timeout or a read backoff costs no real time.
  cli.main does not take a clock or a sleeper, so `virtual` swaps the two it uses (the `time` module
  it reads `monotonic` from, and `_Signals.sleep`) for the length of one test.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import requests

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator

from ..conftest import ACCESS_KEY, SECRET_KEY, CliRun, VirtualTime, says_what_next

__all__ = ["RunWatching", "VirtualTime", "Watcher", "act", "nothing", "other_pipeline_upgrades", "remove"]


class Watcher(io.StringIO):
    """A stderr that runs actions when the tool writes given text, in order: each marker is looked for
    only after the one before it has been seen.

    This is how a test acts "in the middle of" something without sleeping: the tool itself says when
    (with RANCHER_VERBOSE=true it announces every request before sending it).
    """

    def __init__(self, triggers: list[tuple[str, Callable[[], object]]]) -> None:
        super().__init__()
        self._triggers = list(triggers)

    def write(self, text: str) -> int:
        written = super().write(text)
        while self._triggers and self._triggers[0][0] in text:
            _, action = self._triggers.pop(0)
            action()
            text = ""  # one line fires one trigger; the next waits for a later line
        return written

    @property
    def pending(self) -> list[str]:
        return [marker for marker, _ in self._triggers]


RunWatching = Callable[..., CliRun]


@pytest.fixture
def run_watching(base_env: dict[str, str]) -> RunWatching:
    """run_watching([(marker, action), ...], *argv, **env) -> CliRun: run_cli with a Watcher on stderr.

    Every trigger must have fired: a scenario whose fault was never injected proves nothing.
    """

    def run(triggers: list[tuple[str, Callable[[], object]]], *argv: str, **overrides: str) -> CliRun:
        stdout, stderr = io.StringIO(), Watcher(triggers)
        code = cli.main(list(argv), environ={**base_env, **overrides}, dotenv_path=None, stdout=stdout, stderr=stderr)
        result = CliRun(code, stdout.getvalue(), stderr.getvalue())
        says_what_next(result)
        assert not stderr.pending, f"never saw {stderr.pending} in:\n{result.stderr}"
        assert SECRET_KEY not in result.output
        assert "Traceback" not in result.output
        return result

    return run


def nothing() -> None:
    """A trigger's action when the marker only marks a point in the sequence."""


def other_pipeline_upgrades(sim: Simulator, service_id: str, image: str) -> None:
    """What another pipeline's first step looks like to Rancher: an in-service upgrade to `image`."""
    current = sim.service(service_id)
    body: dict[str, Any] = {"inServiceStrategy": {"launchConfig": {**current["launchConfig"], "imageUuid": f"docker:{image}"},
                                  "batchSize": 1, "intervalMillis": 2000}}
    answer = requests.post(current["actions"]["upgrade"], json=body, auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
    assert answer.status_code == 202, answer.text


def act(sim: Simulator, service_id: str, action: str) -> None:
    """Another actor (a pipeline, a person in the UI) invokes an action on the service."""
    answer = requests.post(sim.service(service_id)["actions"][action], json={}, auth=(ACCESS_KEY, SECRET_KEY),
                           timeout=5)
    assert answer.status_code in (200, 202), answer.text


def remove(sim: Simulator, service_id: str) -> None:
    """Someone deletes the service in Rancher."""
    answer = requests.delete(sim.service(service_id)["links"]["self"], auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
    assert answer.status_code in (200, 202), answer.text
