"""A signal that comes before a change is sent: that change is never sent (docs/ci-conventions.md §6,
"on a signal start no new change, report the state, exit 130/143").

Every request that changes something (an upgrade, a 2.x patch, a finish, a creation, the finish or
rollback of an upgrade an earlier run left, each target of a run of several) is checked against the
signals just before it goes. The signal here is real: the CLI runs in this process and installs its
handlers, and the test sends SIGTERM to the process itself when the tool writes the line that comes
just before the request (the Watcher), so the handler has run by the time the tool gets to it. Targets
run one at a time (RANCHER_PARALLEL=1), in the main thread, where Python runs signal handlers.
"""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path
from typing import Callable

import pytest

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing

from ..conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, CliRun, ci_sinks
from .conftest import RunWatching, VirtualTime, Watcher, other_pipeline_upgrades


@pytest.fixture
def timing() -> Timing:
    # Frozen (the `virtual` fixture moves it as the tool sleeps), and quick enough that a rollback
    # ends within the grace after a signal (2 simulated seconds): these tests are about what is sent.
    return Timing(speed=0, registering=0.1, container_start=0.2, health_check=0.2, container_stop=0.1,
                  finish_cleanup=0.1, finish_reconcile=0.1, cancel_tick=0.2)


def sigterm() -> None:
    """The CI cancels the job: SIGTERM to this process, whose handler is the CLI's while it runs."""
    os.kill(os.getpid(), signal.SIGTERM)


def sent(sim: Simulator, action: str) -> list[str]:
    """The requests of one action Rancher received (`upgrade`, `finishupgrade`, `rollback`)."""
    return [r.path for r in sim.requests if r.method == "POST" and f"action={action}" in r.query]


def test_a_signal_during_the_reads_before_the_upgrade_sends_no_upgrade(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    result = run_watching([("Plan for shop/web", sigterm)], "--output", "json", RANCHER_PARALLEL="1")
    assert result.code == 143, result.stderr
    assert sent(sim, "upgrade") == []
    assert (sim.service(web)["state"], sim.service(web)["launchConfig"]["imageUuid"]) == ("active", f"docker:{OLD_IMAGE}")
    assert ("SIGTERM arrived before the upgrade of shop/web was sent, so it was not sent; nothing was changed on "
            "shop/web") in result.stderr
    (target,) = result.json["targets"]
    assert (result.json["result"], target["result"], target["state"]) == ("not-upgraded", "not-upgraded", "active")
    assert result.json["interrupted_by_signal"] == 15


def test_a_signal_before_the_finish_sends_no_finish_and_restores_the_upgrade(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    result = run_watching([("is upgraded and healthy; finishing the upgrade", sigterm)], "--output", "json")
    assert result.code == 143, result.stderr
    assert sent(sim, "finishupgrade") == []
    assert "SIGTERM arrived before the finish of shop/web was sent, so it was not sent" in result.stderr
    assert (sim.service(web)["state"], sim.service(web)["launchConfig"]["imageUuid"]) == ("active", f"docker:{OLD_IMAGE}")
    assert result.json["targets"][0]["result"] == "rolled-back"


def test_a_signal_before_the_finish_with_on_interrupt_report_leaves_the_upgrade_unfinished(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    result = run_watching([("is upgraded and healthy; finishing the upgrade", sigterm)], "--output", "json",
                          RANCHER_ON_INTERRUPT="report")
    assert result.code == 143, result.stderr
    assert sent(sim, "finishupgrade") == [] and sent(sim, "rollback") == []
    assert sim.service(web)["state"] == "upgraded"
    assert result.json["targets"][0]["result"] == "interrupted"
    assert "is left in state upgraded after the signal (`RANCHER_ON_INTERRUPT=report`)" in result.stderr


def test_a_signal_before_a_creation_creates_nothing(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    before = len(sim.requests)
    result = run_watching([("does not exist; RANCHER_CREATE makes it", sigterm)], "--output", "json",
                          RANCHER_SERVICE="api", RANCHER_CREATE="true")
    assert result.code == 143, result.stderr
    assert [r for r in sim.requests[before:] if r.method == "POST"] == []
    assert "SIGTERM arrived before the creation of shop/api was sent, so it was not sent" in result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("not-upgraded", "missing")


def left_upgraded(sim: Simulator, service_id: str) -> None:
    """Another run's upgrade, left `upgraded` (its owner gone)."""
    other_pipeline_upgrades(sim, service_id, "registry.example.com:5000/shop/web:1.9")
    sim.advance(30)
    assert sim.service(service_id)["state"] == "upgraded"


def test_a_signal_before_an_earlier_runs_upgrade_is_finished_sends_nothing(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:
    left_upgraded(sim, web)
    result = run_watching([("left upgraded by an earlier run; finish it first", sigterm)], "--output", "json")
    assert result.code == 143, result.stderr
    assert sent(sim, "finishupgrade") == [] and sent(sim, "upgrade") == [sim.requests[0].path]
    assert sim.service(web)["state"] == "upgraded"
    assert result.json["targets"][0]["result"] == "not-upgraded"


@pytest.mark.parametrize("command, line, action", [
    ("finish", "finishing the upgrade", "finishupgrade"),
    ("rollback", "Rolling back shop/web (state upgraded)", "rollback"),
])
def test_a_signal_before_a_commands_action_sends_nothing(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching,
        command: str, line: str, action: str) -> None:
    left_upgraded(sim, web)
    result = run_watching([(line, sigterm)], command, "--output", "json")
    assert result.code == 143, result.stderr
    assert sent(sim, action) == []
    assert sim.service(web)["state"] == "upgraded"
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("unchanged", "upgraded")
    assert f"SIGTERM arrived before the {command} of shop/web was sent, so it was not sent" in result.stderr


def two_services(sim: Simulator) -> tuple[str, str]:
    shop = sim.add_stack("shop")
    return (sim.add_service(shop, "a", dict(LAUNCH_CONFIG), scale=2),
            sim.add_service(shop, "b", dict(LAUNCH_CONFIG), scale=2))


def both(run_watching: RunWatching, marker: str, **settings: str) -> CliRun:
    """shop/a then shop/b in one run, one at a time, SIGTERM once the tool writes `marker`."""
    return run_watching([(marker, sigterm)], "--output", "json", RANCHER_SERVICE="a,b", RANCHER_PARALLEL="1",
                        **settings)


def past_the_grace(virtual: VirtualTime, *, signalled: bool = False) -> Callable[[], None]:
    """A trigger that moves the tool's clock (only) 3 s on, past the 2 s grace after a signal: the time
    a slow request would hold the run; with `signalled`, SIGTERM comes first."""

    def move() -> None:
        if signalled:
            sigterm()
        virtual.now += 3

    return move


def image(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def results(result: CliRun) -> dict[str, str]:
    return {target["target"]: target["result"] for target in result.json["targets"]}


def test_atomic_a_signal_before_the_second_upgrade_sends_it_not_and_restores_the_first(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    a, b = two_services(sim)
    result = both(run_watching, "Plan for shop/b")
    assert result.code == 143, result.stderr
    assert len(sent(sim, "upgrade")) == 1   # shop/a's
    assert (image(sim, a), image(sim, b)) == (OLD_IMAGE, OLD_IMAGE)
    assert results(result) == {"shop/a": "rolled-back", "shop/b": "not-upgraded"}


def test_atomic_a_signal_after_the_first_finish_finishes_the_second_too(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    a, b = two_services(sim)
    result = both(run_watching, "shop/a now runs")
    # shop/a is finished and cannot be rolled back any more (1.x): the run decided to finish both, so shop/b is
    # finished too rather than left apart from it; the run still ends as interrupted.
    assert result.code == 143, result.stderr
    assert len(sent(sim, "finishupgrade")) == 2 and sent(sim, "rollback") == []
    assert (image(sim, a), image(sim, b), sim.service(b)["state"]) == (NEW_IMAGE, NEW_IMAGE, "active")
    assert results(result) == {"shop/a": "upgraded", "shop/b": "upgraded"}
    assert ("SIGTERM came after this run decided to finish its targets; finishing shop/b too, as a finished "
            "upgrade cannot be rolled back and RANCHER_ATOMIC keeps the targets together") in result.stderr


def test_atomic_a_finish_not_yet_sent_when_the_grace_is_over_is_left_unsent_and_named(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    """The commit after a signal goes on within the grace only: a finish it would send later (a slow
    Rancher, many targets) could meet the CI's kill, so it is not sent, and the target says so."""
    a, b = two_services(sim)
    c = sim.add_service(sim.service(a)["stackId"], "c", dict(LAUNCH_CONFIG), scale=2)

    result = run_watching([("shop/a now runs", sigterm),
                           ("shop/c is upgraded and healthy; finishing the upgrade", past_the_grace(virtual))],
                          "--output", "json", RANCHER_SERVICE="a,b,c", RANCHER_PARALLEL="1")
    assert result.code == 143, result.stderr
    assert len(sent(sim, "finishupgrade")) == 2 and sent(sim, "rollback") == []
    assert (image(sim, c), sim.service(c)["state"]) == (NEW_IMAGE, "upgraded")
    assert results(result) == {"shop/a": "upgraded", "shop/b": "upgraded", "shop/c": "interrupted"}
    assert ("SIGTERM: the grace after it was over before the finish of shop/c could be sent, so it was not; "
            "shop/c is upgraded on the new image") in result.stderr
    (left,) = (target for target in result.json["targets"] if target["target"] == "shop/c")
    assert left["message"].endswith("finish it with `rancher-deploy finish`, as this run had decided to finish "
                                    "every target (with `RANCHER_SERVICE=shop/c`, so that it touches shop/c alone)")
    assert "came after this run decided" not in result.stderr.split("shop/c is upgraded and healthy")[1]


def test_atomic_a_second_signal_sends_no_further_finish(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    a, b = two_services(sim)
    c = sim.add_service(sim.service(a)["stackId"], "c", dict(LAUNCH_CONFIG), scale=2)
    result = run_watching([("shop/a now runs", sigterm),
                           ("shop/c is upgraded and healthy; finishing the upgrade", sigterm)],
                          "--output", "json", RANCHER_SERVICE="a,b,c", RANCHER_PARALLEL="1")
    assert len(sent(sim, "finishupgrade")) == 2 and sim.service(c)["state"] == "upgraded"
    assert "SIGTERM: a second signal came before the finish of shop/c could be sent, so it was not" in result.stderr


def test_atomic_the_grace_counts_from_the_signal_not_from_when_the_run_looked(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    """A signal that comes while a request holds the run (a slow Rancher) is noticed only once it
    returns; the CI's kill counts from the signal, so the grace does too (`_Signals.arrived`)."""
    a, b = two_services(sim)

    # The signal, then a request that held the run 3 s before it looked again.
    result = run_watching([("shop/b is upgraded and healthy; finishing the upgrade",
                            past_the_grace(virtual, signalled=True))],
                          "--output", "json", RANCHER_SERVICE="a,b", RANCHER_PARALLEL="1")
    assert len(sent(sim, "finishupgrade")) == 1 and sim.service(b)["state"] == "upgraded"
    assert "the grace after it was over before the finish of shop/b could be sent" in result.stderr


def test_atomic_a_signal_once_the_finishes_are_decided_finishes_every_target(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    """The run decides once, before its first finish, for every target: a signal just after that (here,
    before shop/a's finish is even sent) no longer rolls any back, so none is rolled back while another
    is finished, whatever the order in which targets are checked (`TargetSteps.finish`, `committed`)."""
    a, b = two_services(sim)
    result = both(run_watching, "shop/a is upgraded and healthy; finishing the upgrade")
    assert result.code == 143, result.stderr
    assert len(sent(sim, "finishupgrade")) == 2 and sent(sim, "rollback") == []
    assert results(result) == {"shop/a": "upgraded", "shop/b": "upgraded"}


def test_atomic_a_target_left_unfinished_is_told_to_finish_whatever_became_of_the_others(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    """shop/a's finish went out and its answer was an error: Rancher may still be finishing it, so the
    advice for shop/b, left unsent, is the run's decision (finish), never a rollback that could split them."""
    a, b = two_services(sim)
    sim.faults.fail_next(f"services/{a}/?action=finishupgrade", 20, status=503, method="POST")

    result = run_watching([("shop/b is upgraded and healthy; finishing the upgrade",
                            past_the_grace(virtual, signalled=True))],
                          "--output", "json", RANCHER_SERVICE="a,b", RANCHER_PARALLEL="1", RANCHER_RETRIES="1")
    assert sent(sim, "rollback") == [] and sim.service(b)["state"] == "upgraded"
    (left,) = (target for target in result.json["targets"] if target["target"] == "shop/b")
    assert "finish it with `rancher-deploy finish`" in left["message"] and "rollback" not in left["message"]


def test_atomic_a_finish_is_not_resent_once_the_grace_is_over(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    """A finish Rancher refused with a 503 is resent after a pause, but not if the grace ended meanwhile."""
    a, b = two_services(sim)
    sim.faults.fail_next(f"services/{b}/?action=finishupgrade", 1, status=503, method="POST")

    result = run_watching([("shop/a now runs", sigterm), ("sending finish again", past_the_grace(virtual))],
                          "--output", "json", RANCHER_SERVICE="a,b", RANCHER_PARALLEL="1")
    assert [path for path in sent(sim, "finishupgrade") if b in path] == [f"/v2-beta/projects/1a5/services/{b}/"]
    assert results(result) == {"shop/a": "upgraded", "shop/b": "interrupted"}


def test_atomic_a_signal_before_the_finishes_are_decided_restores_both(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    a, b = two_services(sim)
    result = both(run_watching, "shop/b: upgraded, 2/2 new containers healthy")
    assert result.code == 143, result.stderr
    assert sent(sim, "finishupgrade") == []
    assert (image(sim, a), image(sim, b)) == (OLD_IMAGE, OLD_IMAGE)
    assert set(results(result).values()) == {"rolled-back"}


def test_independent_targets_a_signal_before_the_second_upgrade_sends_it_not(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    a, b = two_services(sim)
    result = both(run_watching, "Plan for shop/b", RANCHER_ATOMIC="false")
    assert len(sent(sim, "upgrade")) == 1
    assert (image(sim, a), image(sim, b)) == (NEW_IMAGE, OLD_IMAGE)
    assert results(result) == {"shop/a": "upgraded", "shop/b": "not-upgraded"}
    assert result.code == 4, result.stderr   # one changed, one not: each named


def test_fleet_a_signal_before_the_second_upgrade_sends_it_not(
        sim: Simulator, virtual: VirtualTime, run_watching: RunWatching) -> None:
    shop = sim.add_stack("shop")
    opted = {**LAUNCH_CONFIG, "labels": {**LAUNCH_CONFIG["labels"], "autoupdate.enable": "true"}}
    first = sim.add_service(shop, "a", dict(opted), scale=1)
    second = sim.add_service(shop, "b", dict(opted), scale=1)
    result = run_watching([("Plan for Default/shop/b", sigterm)], "--output", "json", RANCHER_SERVICE="",
                          RANCHER_STACK="", RANCHER_SELECT_IMAGE="true", RANCHER_PARALLEL="1")
    assert len(sent(sim, "upgrade")) == 1, result.stderr
    assert (image(sim, first), image(sim, second)) == (NEW_IMAGE, OLD_IMAGE)
    assert result.code == 4


def test_a_signal_before_the_run_connects_sends_no_request_and_writes_the_ci_outputs(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching, tmp_path: Path) -> None:
    gitlab, (report,) = ci_sinks(tmp_path, "gitlab")
    result = run_watching([("rancher-deploy 0.", sigterm)], "--output", "json", **gitlab)
    assert result.code == 143, result.stderr
    assert sim.requests == []
    assert "SIGTERM arrived before the run connected to Rancher; nothing was changed" in result.stderr
    assert (result.json["result"], result.json["exit_code"]) == ("error", 143)
    assert {"RANCHER_DEPLOY_RESULT=error", "RANCHER_DEPLOY_EXIT_CODE=143"} <= set(report.read_text().splitlines())


# -- Rancher 2.x: the workload's patch ----------------------------------------------------------------

TOKEN = ("token-abcde", "tokensecret-recognisable-91c")


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_a_signal_before_a_workload_is_patched_patches_nothing(version: str) -> None:
    with Simulator(*TOKEN, rancher_version=version, timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD_IMAGE}], replicas=2)
        before = sim.workload("deployment", "default", "web")
        stderr = Watcher([("Plan for default/", sigterm)])
        stdout = io.StringIO()
        code = cli.main(["--output", "json"], environ={
            "CATTLE_URL": sim.url, "RANCHER_TOKEN": ":".join(TOKEN), "RANCHER_WORKLOAD": "web",
            "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30"},
            dotenv_path=None, stdout=stdout, stderr=stderr)
        assert not stderr.pending, stderr.getvalue()
        assert code == 143, stderr.getvalue()
        assert [r for r in sim.requests if r.method in ("PUT", "PATCH", "POST")] == []
        after = sim.workload("deployment", "default", "web")
        assert after["spec"] == before["spec"]
        assert "SIGTERM arrived before the upgrade of default/" in stderr.getvalue()
        assert TOKEN[1] not in stderr.getvalue() + stdout.getvalue()
