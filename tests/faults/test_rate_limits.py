"""A Rancher (or the rate limit in front of it) answering 429 Too Many Requests with `Retry-After`:
a read waits what it asks, never past RANCHER_TIMEOUT, instead of the backoff; an action answered so
is not sent again blindly, but after Retry-After when Rancher shows no change, as for a 5xx.

Time is simulated: the tool's sleeps are recorded, not spent.
"""

from __future__ import annotations

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import NEW_IMAGE, RunCli
from .conftest import RunWatching, VirtualTime
from .test_actions import FINISHING, SLOW, image_of, posts


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def test_the_simulator_sends_the_headers_a_fault_names(sim: Simulator) -> None:
    sim.faults.fail_next("/v2-beta", status=429, headers={"Retry-After": "7"})
    limited = requests.get(f"{sim.url}/v2-beta", timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert limited.json()["code"] == "Too Many Requests"
    assert "Retry-After" not in requests.get(f"{sim.url}/v2-beta", timeout=5).headers
    control = requests.post(f"{sim.url}/_sim/faults", json={"kind": "fail_next", "pathContains": "/v2-beta",
                                                             "status": 429, "headers": {"Retry-After": "3"}}, timeout=5)
    assert control.json()["failNext"][0]["headers"] == {"Retry-After": "3"}


@pytest.mark.parametrize("asked, waited", [("7", 7.0), ("3600", 300.0)], ids=["as-asked", "capped-by-timeout"])
def test_a_read_answered_429_waits_its_retry_after_instead_of_the_backoff(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, asked: str, waited: float) -> None:
    sim.faults.fail_next("/stacks", method="GET", status=429, headers={"Retry-After": asked})
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    assert virtual.slept[0] == waited and 0.5 not in virtual.slept[:1]
    assert f"Rancher asked to wait {asked}s; retrying in {waited:g}s" in result.stderr
    assert image_of(sim, web) == NEW_IMAGE


def test_a_read_answered_429_with_a_date_waits_until_then(sim: Simulator, web: str, virtual: VirtualTime,
                                                         run_cli: RunCli) -> None:
    sim.faults.fail_next("/stacks", method="GET", status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    assert virtual.slept[0] == 0.0  # a date already past: try again at once


def test_a_finish_answered_429_is_sent_again_after_retry_after_when_rancher_shows_no_change(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    def limited() -> None:
        sim.faults.fail_next("action=finishupgrade", method="POST", status=429, headers={"Retry-After": "12"})

    result = run_watching([(FINISHING, limited)], "--output", "json", **SLOW)
    assert result.code == 0, result.stderr
    assert "finishupgrade of shop/web failed: HTTP 429" in result.stderr
    assert ("is still upgraded, so Rancher did not take it: sending finish again in 12s (Rancher's Retry-After)"
            in result.stderr)
    assert 12.0 in virtual.slept
    assert posts(sim, "finishupgrade") == 2
    assert image_of(sim, web) == NEW_IMAGE and result.json["result"] == "upgraded"


def test_an_upgrade_answered_429_is_looked_at_not_repeated_and_changes_nothing_exit_3(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.fail_next("action=upgrade", method="POST", status=429, headers={"Retry-After": "1"})
    result = run_cli(**SLOW)
    assert result.code == 3, result.stderr
    assert ("Rancher did not take the upgrade of shop/web (upgrade of shop/web failed: HTTP 429 (Too Many "
            "Requests)); it is still active and nothing was changed") in result.stderr
    assert posts(sim, "upgrade") == 1
