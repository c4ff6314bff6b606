"""Another pipeline upgrades the same service at the same time: detect it, wait, never interleave.

The other pipeline is played by hooks on simulated time: it started its upgrade before our run, and
finishes (or rolls back) its own upgrade a few seconds after it sees it `upgraded`, as a live run
polling every few seconds would.
"""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import NEW_IMAGE, OLD_IMAGE, RunCli
from .conftest import VirtualTime, act, other_pipeline_upgrades

SLOW = {"RANCHER_POLL_INTERVAL": "2", "RANCHER_TIMEOUT": "300"}
OTHER_IMAGE = "registry.example.com:5000/shop/web:2.0-hotfix"


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


class OtherPipeline:
    """A run that owns an upgrade and ends it with `action` 5 s after seeing it `upgraded`."""

    def __init__(self, sim: Simulator, service_id: str, action: str) -> None:
        self.sim, self.service_id, self.action = sim, service_id, action
        self.upgraded_at: float | None = None
        self.ended_its_own = False

    def __call__(self, time: VirtualTime) -> None:
        if self.ended_its_own:
            return
        if self.sim.service(self.service_id)["state"] != "upgraded":
            return
        if self.upgraded_at is None:
            self.upgraded_at = time.now
        elif time.now - self.upgraded_at >= 5:
            act(self.sim, self.service_id, self.action)
            self.ended_its_own = True


@pytest.mark.parametrize("their_end, their_image", [("finishupgrade", OTHER_IMAGE), ("rollback", OLD_IMAGE)])
def test_a_run_that_finds_another_upgrade_waits_for_its_owner_then_upgrades(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, their_end: str, their_image: str) -> None:
    other_pipeline_upgrades(sim, web, OTHER_IMAGE)
    other = OtherPipeline(sim, web, their_end)
    virtual.hooks.append(other)
    result = run_cli(**SLOW)
    assert result.code == 0, result.stderr
    assert other.ended_its_own, "we ended the other run's upgrade under its feet"
    assert "(another process runs); waiting for it to settle" in result.stderr
    assert "upgraded by another run that is still going; waiting for it to finish or roll back" in result.stderr
    assert "left upgraded by an earlier run" not in result.stderr
    # Exactly one end per upgrade: theirs by them, ours by us; our upgrade started from their result.
    assert sim.count("POST") == 4  # their upgrade and its end, then our upgrade and its finish
    assert f"registry.example.com:5000/shop/web:2.0 -> {NEW_IMAGE}" not in result.stderr or their_end == "rollback"
    assert f"{their_image} -> {NEW_IMAGE}" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_an_upgrade_whose_owner_is_gone_is_handled_as_left_by_an_earlier_run(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    other_pipeline_upgrades(sim, web, OTHER_IMAGE)  # and nobody ever finishes it
    result = run_cli(RANCHER_POLL_INTERVAL="10", RANCHER_TIMEOUT="60")
    assert result.code == 0, result.stderr
    assert "its owner seems gone" in result.stderr
    assert "left upgraded by an earlier run; finish it first (RANCHER_ON_UPGRADED)" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", NEW_IMAGE)


def test_our_upgrade_rolled_back_by_someone_else_ends_restored_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.hang(web)
    def someone_rolls_it_back() -> None:
        sim.faults.clear()
        act(sim, web, "rollback")

    virtual.at(6, someone_rolls_it_back)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 1, result.stderr
    assert "did someone else finish, cancel or roll it back?" in result.stderr
    assert sim.count("POST", "") == 2, "one upgrade by us, one rollback by them; we sent no second rollback"
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert result.json["result"] == "rolled-back"


# A target another process keeps busy: retrying later may help (3), unless that process failed (4).


def test_a_target_another_process_keeps_busy_past_the_timeout_exits_3_naming_its_state(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    other_pipeline_upgrades(sim, web, OTHER_IMAGE)
    sim.faults.hang(web)  # the other process is still at it when our patience ends
    result = run_cli("--output", "json", RANCHER_POLL_INTERVAL="10", RANCHER_TIMEOUT="60")
    assert result.code == 3, result.stderr
    error = result.json["error"]
    assert "shop/web was not settled after 60s (RANCHER_TIMEOUT); last seen upgrading" in error
    assert "another process is still working on it and nothing was changed; retrying later may help" in error
    assert result.json["flavour"] == "rancher-1.x"
    (target,) = result.json["targets"]
    assert (target["target"], target["state"], target["result"]) == ("shop/web", "upgrading", "not-upgraded")
    assert (target["image"], target["requested_image"]) == (OTHER_IMAGE, NEW_IMAGE)
    assert result.stderr.splitlines()[-1].startswith("rancher-deploy: exit 3 (Rancher could not be reached")
    assert sim.count("POST") == 1, "only the other pipeline's upgrade"


def test_a_target_whose_other_process_ends_failed_exits_4_naming_its_state_and_what_to_run(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    sim.faults.fail_action(web, "upgrade")  # the other pipeline's upgrade sticks with Rancher's error
    other_pipeline_upgrades(sim, web, OTHER_IMAGE)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("failed", "upgrading")
    assert "the process already running on it will not complete" in target["message"]
    assert "its state is upgrading" in target["message"]
    assert "`rancher-deploy rollback`" in target["message"] or "Rancher's UI" in target["message"]
    assert result.json["result"] == "failed" and result.json["flavour"] == "rancher-1.x"
    assert sim.count("POST") == 1, "this run sent nothing"
