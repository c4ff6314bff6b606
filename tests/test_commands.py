"""Each command's result fields, last line and advice, over real HTTP against the simulator.

`previous_image` is what ran before the command, `image` what runs when it ends (on a dry run,
what runs now), `requested_image` what it asked for; the JSON result, the CI outputs and the dotenv
report say the same. Every `rancher-deploy ...` the tool advises is run here, and must work.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, CliRun, RunCli, invoke_cli
from .test_workloads import WEB, containers, run as run2, sim2  # noqa: F401 - sim2 is a fixture

OTHER_IMAGE = "registry.example.com:5000/shop/web:2.2"


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def fields(result: CliRun) -> tuple[str, str, str]:
    (target,) = result.json["targets"]
    return target["previous_image"], target["image"], target["requested_image"]


def dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


def last_line(result: CliRun) -> str:
    return result.stderr.splitlines()[-1]


# -- result fields and last lines, Rancher 1.x ----------------------------------------------------


def test_upgrade_dry_run_reports_what_runs_now(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--dry-run", "--output", "json")
    assert fields(result) == (OLD_IMAGE, OLD_IMAGE, NEW_IMAGE)
    assert last_line(result) == "rancher-deploy: exit 0 (dry run: nothing was changed)"


def test_no_finish_says_it_left_the_upgrade_unfinished(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--no-finish", "--output", "json")
    assert fields(result) == (OLD_IMAGE, NEW_IMAGE, NEW_IMAGE)
    assert last_line(result) == "rancher-deploy: exit 0 (done: upgraded and healthy, left unfinished as asked)"


def test_rollback_reports_what_ran_before_it_and_what_it_restored(sim: Simulator, web: str, run_cli: RunCli,
                                                                  tmp_path: Path) -> None:
    assert run_cli("--no-finish").code == 0
    report = tmp_path / "deploy.env"
    result = run_cli("rollback", "--output", "json", RANCHER_DOTENV_REPORT=str(report))
    assert result.code == 0, result.stderr
    assert fields(result) == (NEW_IMAGE, OLD_IMAGE, OLD_IMAGE)
    values = dotenv(report)
    assert (values["RANCHER_DEPLOY_PREVIOUS_IMAGE"], values["RANCHER_DEPLOY_IMAGE"]) == (NEW_IMAGE, OLD_IMAGE)
    assert last_line(result) == "rancher-deploy: exit 0 (done: rolled back to the previous configuration)"


def test_rollback_dry_run_says_what_it_would_restore(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("rollback", "--dry-run", "--output", "json")
    assert fields(result) == (NEW_IMAGE, NEW_IMAGE, OLD_IMAGE)
    assert f"would roll back shop/web (state upgraded) to web={OLD_IMAGE}" in result.json["targets"][0]["message"]
    assert last_line(result) == "rancher-deploy: exit 0 (dry run: nothing was changed)"


def test_status_of_a_pending_upgrade_shows_what_a_rollback_would_restore(sim: Simulator, web: str,
                                                                         run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("status", "--output", "json", RANCHER_IMAGE=None)
    (target,) = result.json["targets"]
    assert f"shop/web is upgraded, 2/2 new containers healthy: web={NEW_IMAGE}; a rollback would restore " \
           f"web={OLD_IMAGE}" in target["message"]
    assert fields(result) == (NEW_IMAGE, NEW_IMAGE, NEW_IMAGE)
    assert result.stderr.count("a rollback would restore") == 1


def test_finish_reports_the_image_it_keeps(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--no-finish").code == 0
    result = run_cli("finish", "--output", "json")
    assert fields(result) == (NEW_IMAGE, NEW_IMAGE, NEW_IMAGE)
    assert last_line(result) == "rancher-deploy: exit 0 (done: the pending upgrade was finished)"


def test_an_upgrade_that_has_nothing_to_do_says_so(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(RANCHER_IMAGE=OLD_IMAGE)
    assert last_line(result) == "rancher-deploy: exit 0 (done: nothing to do; nothing was changed)"


# The JSON `meaning` and GitHub's step summary say what the last line says, whatever the command.
MEANINGS: list[tuple[tuple[str, ...], dict[str, str | None], bool]] = [
    (("status",), {"RANCHER_IMAGE": None}, False),
    (("--dry-run",), {}, False),
    (("--no-finish",), {}, False),
    (("rollback",), {"RANCHER_IMAGE": None}, True),
    (("finish",), {"RANCHER_IMAGE": None}, True),
    ((), {"RANCHER_VERSION_POLICY": "newer", "RANCHER_IMAGE": "registry.example.com:5000/shop/web:1.9"}, False),
    ((), {}, False),
]


@pytest.mark.parametrize("argv, env, pending", MEANINGS)
def test_the_json_meaning_and_the_step_summary_say_what_the_last_line_says(
        sim: Simulator, web: str, run_cli: RunCli, tmp_path: Path, argv: tuple[str, ...], env: dict[str, str | None],
        pending: bool) -> None:
    if pending:
        assert run_cli("--no-finish").code == 0
    summary = tmp_path / "summary.md"
    result = run_cli(*argv, "--output", "json", GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), **env)
    assert result.code == 0, result.stderr
    said = re.fullmatch(r"rancher-deploy: exit 0 \((.*)\)", last_line(result))
    assert said is not None
    assert result.json["meaning"] == said.group(1)
    assert f"Exit code 0: {said.group(1)}." in summary.read_text(encoding="utf-8")


# -- Rancher 2.x --------------------------------------------------------------------------------------


def test_2x_rollback_reports_what_ran_before_it(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    assert run2(sim2).code == 0
    result = run2(sim2, "rollback", "--output", "json", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    previous, image, _ = fields(result)
    assert (previous, image) == ("registry.example.com:5000/shop/web:2.1", WEB["image"])


def test_2x_finish_is_refused_with_exit_2_and_changes_nothing(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    result = run2(sim2, "finish", "--output", "json", RANCHER_IMAGE=None)
    assert result.code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("rancher-deploy: error:")]
    assert len(errors) == 1 and "there is no upgrade to finish and nothing was changed" in errors[0]
    assert result.json["result"] == "error"
    assert [r for r in sim2.requests if r.method != "GET"] == []


# -- advice: every hinted command works -----------------------------------------------------------


def hints(message: str) -> list[str]:
    return re.findall(r"`rancher-deploy (\w+)`", message)


@pytest.fixture
def fresh() -> Iterator[Callable[[], Simulator]]:
    """A factory of fresh 1.x simulators, one per run of a scenario."""
    started: list[Simulator] = []

    def make() -> Simulator:
        simulator = Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()).__enter__()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.__exit__(None, None, None)


def run1(sim: Simulator, *argv: str, **overrides: str | None) -> CliRun:
    environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005",
               "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30"}
    return invoke_cli(argv, environ, overrides, SECRET_KEY)


def no_rollback(sim: Simulator, web: str) -> CliRun:
    sim.faults.unhealthy_image(NEW_IMAGE)
    # Rancher 1.x sets no error for it: a short progress deadline ends the wait (0.3 s is 300
    # simulated seconds on a fast simulator).
    return run1(sim, "--no-rollback", "--output", "json", RANCHER_PROGRESS_DEADLINE="0.3")


def no_finish(sim: Simulator, web: str) -> CliRun:
    return run1(sim, "--no-finish", "--output", "json")


def finish_refused(sim: Simulator, web: str) -> CliRun:
    sim.faults.fail_next("action=finishupgrade", status=422, method="POST")
    return run1(sim, "--output", "json")


def pending_status(sim: Simulator, web: str) -> CliRun:
    assert run1(sim, "--no-finish").code == 0
    return run1(sim, "status", "--output", "json", RANCHER_IMAGE=None)


# What each hinted command must leave: (state, image of the service).
EFFECTS: dict[str, tuple[str, str] | None] = {"finish": ("active", NEW_IMAGE), "rollback": ("active", OLD_IMAGE),
                                              "status": None}


@pytest.mark.parametrize("scenario", [no_rollback, no_finish, finish_refused, pending_status])
def test_every_hint_on_rancher_1_is_a_command_that_works(fresh: Callable[[], Simulator],
                                                         scenario: Callable[[Simulator, str], Any]) -> None:
    def seeded() -> tuple[Simulator, str]:
        sim = fresh()
        return sim, sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=2)

    sim, web = seeded()
    advised = hints(scenario(sim, web).json["targets"][0]["message"])
    assert advised, "the outcome names what to run next"
    for command in advised:
        sim, web = seeded()
        scenario(sim, web)
        followed = run1(sim, command, RANCHER_IMAGE=None)
        assert followed.code == 0, (command, followed.stderr)
        if EFFECTS[command] is not None:
            assert (sim.service(web)["state"], image_of(sim, web)) == EFFECTS[command], command


def test_every_hint_after_a_failed_2x_rollout_with_no_rollback_works(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW_IMAGE)
    failed = run2(sim2, "--no-rollback", "--output", "json")
    assert failed.code == 4
    message = failed.json["targets"][0]["message"]
    assert "finish" not in hints(message)
    assert hints(message) == ["rollback", "upgrade"]
    assert run2(sim2, "finish", RANCHER_IMAGE=None).code == 2, "and finish says it does not apply"
    status = run2(sim2, "status", "--output", "json", RANCHER_IMAGE=None)
    assert hints(status.json["targets"][0]["message"]) == ["rollback", "upgrade"]
    upgraded = run2(sim2, RANCHER_IMAGE=OTHER_IMAGE)
    assert upgraded.code == 0, upgraded.stderr
    assert containers(sim2)["web"]["image"] == OTHER_IMAGE


def test_rollback_hint_after_a_failed_2x_rollout_restores_the_previous_revision(sim2: Simulator) -> None:  # noqa: F811
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW_IMAGE)
    assert run2(sim2, "--no-rollback").code == 4
    result = run2(sim2, "rollback", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    assert containers(sim2)["web"]["image"] == WEB["image"]
