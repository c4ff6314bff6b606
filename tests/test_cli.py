"""The CLI's own machinery: the command, usage errors, naming settings, `.env`, signal handling, and
output that cannot be written."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from rancher_deploy import __version__, cli
from rancher_deploy.cli import _Signals
from rancher_deploy.errors import ConfigError
from rancher_deploy.inputs import Inputs
from rancher_deploy.settings import SETTINGS
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, VirtualTime

EXIT_2 = "rancher-deploy: exit 2 (invalid usage or configuration"


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


# -- the command ----------------------------------------------------------------------------------------


def test_a_typo_in_the_command_says_unknown_command_and_suggests_the_closest(run_cli: RunCli) -> None:
    result = run_cli("upgarde", RANCHER_OUTPUT="json")
    assert result.code == 2
    assert ("rancher-deploy: error: unknown command 'upgarde' (did you mean 'upgrade'?); the commands are "
            "upgrade, rollback, finish, status, demo, simulate") in result.stderr
    assert "usage:" not in result.output
    assert result.json["result"] == "error" and result.json["command"] == "upgarde"


def test_an_unknown_word_without_a_close_command_lists_them_all(run_cli: RunCli) -> None:
    result = run_cli("deploy")
    assert result.code == 2
    assert "unknown command 'deploy'; the commands are upgrade, rollback, finish, status, demo, simulate" in result.stderr


def test_a_flag_argparse_cannot_read_is_one_line_and_exit_2(run_cli: RunCli) -> None:
    result = run_cli("rollback", "--bogus", "--output", "json")
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        "rancher-deploy: error: unrecognized arguments: --bogus (see `rancher-deploy rollback --help`)")
    assert result.stderr.splitlines()[1].startswith(EXIT_2)
    assert "usage:" not in result.output
    # The report still goes out the way the command line asked, although argparse refused it.
    assert result.json["result"] == "error" and result.json["exit_code"] == 2


@pytest.mark.parametrize("argv", [("--output", "json", "--bogus"), ("--output=json", "upgarde"),
                                  ("--bogus", "--output", "json")])
def test_a_command_line_argparse_refuses_still_gets_the_json_and_report_it_asked_for(
        run_cli: RunCli, tmp_path: Path, argv: tuple[str, ...]) -> None:
    report = tmp_path / "deploy.env"
    result = run_cli(*argv, "--dotenv-report", str(report))
    assert result.code == 2
    assert result.json["result"] == "error" and result.json["exit_code"] == 2
    assert "RANCHER_DEPLOY_EXIT_CODE=2" in report.read_text(encoding="utf-8").splitlines()


# A file the result goes to, and what names it in the message, for each CI that writes one.
UNWRITABLE = {
    "dotenv": ({}, "RANCHER_DOTENV_REPORT", "RANCHER_DOTENV_REPORT"),
    "dotenv-drone": ({"DRONE": "true"}, "PLUGIN_DOTENV_REPORT", "setting dotenv_report"),
    "github-output": ({"GITHUB_ACTIONS": "true"}, "GITHUB_OUTPUT", "GITHUB_OUTPUT"),
    "github-summary": ({"GITHUB_ACTIONS": "true"}, "GITHUB_STEP_SUMMARY", "GITHUB_STEP_SUMMARY"),
}


@pytest.mark.parametrize("where", list(UNWRITABLE))
@pytest.mark.parametrize("what, why", [("no-such-dir/x", "its directory does not exist"), ("", "it is a directory")],
                         ids=["missing-directory", "directory"])
def test_a_result_file_that_cannot_be_written_stops_the_run_before_any_change(
        sim: Simulator, web: str, run_cli: RunCli, tmp_path: Path, where: str, what: str, why: str) -> None:
    ci_environ, variable, named = UNWRITABLE[where]
    path = str(tmp_path / what) if what else str(tmp_path)
    result = run_cli(**ci_environ, **{variable: path})
    assert result.code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.endswith(f"{named}: {path} cannot be written ({why})") for line in lines), result.stderr
    assert lines[-1].startswith(EXIT_2)
    assert [request for request in sim.requests if request.method != "GET"] == []
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def test_every_unwritable_result_file_is_named_and_the_writable_ones_still_report_the_error(
        sim: Simulator, web: str, run_cli: RunCli, tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    result = run_cli(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "gone" / "out"),
                     GITHUB_STEP_SUMMARY=str(summary), RANCHER_DOTENV_REPORT=str(tmp_path))
    assert result.code == 2
    assert (f"GITHUB_OUTPUT: {tmp_path}/gone/out cannot be written (its directory does not exist); "
            f"RANCHER_DOTENV_REPORT: {tmp_path} cannot be written (it is a directory)") in result.stderr
    assert result.stderr.count("cannot be written") == 2, "each is said once, in the error that stopped the run"
    assert "Exit code 2" in summary.read_text(encoding="utf-8")
    assert sim.count("POST") == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("where", ["dotenv", "github-output", "github-summary"])
def test_a_result_file_that_fails_at_the_end_is_named_and_never_exit_0(
        sim: Simulator, web: str, run_cli: RunCli, where: str) -> None:
    # /dev/full opens like any file (the check before the run passes) and refuses every write.
    ci_environ, variable, named = UNWRITABLE[where]
    result = run_cli("--output", "json", **ci_environ, **{variable: "/dev/full"})
    assert result.code == 4, result.stderr
    lines = result.stderr.splitlines()
    failure = f"{named}: the result could not be written to /dev/full (No space left on device); the pipeline gets none of it"
    assert any(line.endswith(failure) for line in lines[:-1]), result.stderr
    assert lines[-1] == "rancher-deploy: exit 4 (needs attention: shop/web upgraded, state active)"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("timing", [Timing(speed=0)])
def test_a_result_file_that_cannot_be_opened_at_the_end_makes_every_other_output_say_exit_4(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, tmp_path: Path) -> None:
    reports, output = tmp_path / "reports", tmp_path / "output"
    reports.mkdir()
    virtual.at(0, lambda: reports.rmdir())   # its directory goes away while the run waits
    result = run_cli("--output", "json", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(output),
                     RANCHER_DOTENV_REPORT=str(reports / "deploy.env"))
    assert result.code == 4, result.stderr
    assert (f"RANCHER_DOTENV_REPORT: the result could not be written to {reports}/deploy.env (its directory does "
            "not exist)") in result.stderr
    assert result.json["exit_code"] == 4
    assert "exit-code=4" in output.read_text(encoding="utf-8").splitlines()


def test_a_flag_without_its_value_is_reported_like_any_failure(run_cli: RunCli) -> None:
    result = run_cli("--timeout", RANCHER_OUTPUT="json")
    assert result.code == 2
    assert "argument --timeout: expected one argument" in result.stderr
    assert result.json["result"] == "error" and result.json["exit_code"] == 2


def test_help_shows_the_command_as_optional_at_the_top_and_named_below(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"], environ={}, dotenv_path=None) == 0
    top = capsys.readouterr().out
    assert top.startswith("usage: rancher-deploy [COMMAND] [options]\n")
    assert "rancher-deploy upgrade" not in top.split("\n\n")[0]
    assert cli.main(["rollback", "--help"], environ={}, dotenv_path=None) == 0
    assert capsys.readouterr().out.startswith("usage: rancher-deploy rollback [options]\n")


def test_an_empty_first_argument_counts_as_no_command(sim: Simulator, web: str, run_cli: RunCli) -> None:
    # What a CI input left empty and passed as an argument looks like.
    result = run_cli("", "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["command"] == "upgrade" and result.json["result"] == "upgraded"


# How each CI names the command when it cannot pass an argument (docs/ci.md): GitHub's `command`
# input, GitLab's template variable, Drone's and Woodpecker's `settings: command:`.
COMMAND_BY_CI = {
    "github": {"GITHUB_ACTIONS": "true", "INPUT_COMMAND": "{}"},
    "gitlab-template": {"GITLAB_CI": "true", "RANCHER_COMMAND": "{}"},
    "drone": {"DRONE": "true", "CI": "drone", "PLUGIN_COMMAND": "{}"},
    "woodpecker": {"CI": "woodpecker", "PLUGIN_COMMAND": "{}"},
}


@pytest.mark.parametrize("where", sorted(COMMAND_BY_CI))
def test_every_command_is_reachable_from_every_ci(sim: Simulator, web: str, run_cli: RunCli, where: str) -> None:
    def run(command: str, *argv: str) -> dict[str, object]:
        environ = {name: value.format(command) for name, value in COMMAND_BY_CI[where].items()}
        result = run_cli(*argv, "--output", "json", **environ)
        assert result.code == 0, result.stderr
        assert result.json["command"] == command
        return dict(result.json)

    assert run("upgrade", "--no-finish")["result"] == "upgraded-unfinished"
    assert run("rollback")["result"] == "reverted"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
    assert run("upgrade", "--no-finish")["result"] == "upgraded-unfinished"
    assert run("finish")["result"] == "finished"
    assert sim.service(web)["state"] == "active"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert run("status")["result"] == "status"


def test_the_first_argument_wins_over_a_command_setting(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("status", "--output", "json", DRONE="true", PLUGIN_COMMAND="rollback")
    assert result.code == 0 and result.json["command"] == "status"


@pytest.mark.parametrize(("environ", "named"), [
    ({"DRONE": "true", "PLUGIN_COMMAND": "rolback"}, "setting command"),
    ({"GITHUB_ACTIONS": "true", "INPUT_COMMAND": "rolback"}, "input command"),
    ({"RANCHER_COMMAND": "rolback"}, "RANCHER_COMMAND"),
])
def test_an_unknown_command_setting_is_named_and_nothing_is_sent(
        sim: Simulator, web: str, run_cli: RunCli, environ: dict[str, str], named: str) -> None:
    sim.reset_log()
    result = run_cli(**environ)
    assert result.code == 2
    assert (f"{named}: unknown command 'rolback' (did you mean 'rollback'?); the commands are upgrade, "
            "rollback, finish, status") in result.stderr
    assert sim.requests == []


# -- errors name the setting the way it was set -----------------------------------------------------------


def test_a_refusal_found_by_the_backend_names_the_setting_the_way_it_was_set(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "web", {"imageUuid": f"docker:{OLD_IMAGE}"}, retain_ip=True)
    result = run_cli(DRONE="true", PLUGIN_START_FIRST="true")
    assert result.code == 2
    assert "setting start_first: cannot be used for shop/web: the service has retainIp set" in result.stderr


def test_a_401_names_the_key_settings_the_way_they_were_set(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(CATTLE_ACCESS_KEY=None, CATTLE_SECRET_KEY=None, GITHUB_ACTIONS="true",
                     **{"INPUT_ACCESS-KEY": "AK-test-access", "INPUT_SECRET-KEY": "SK-wrong-but-secret-42"})
    assert result.code == 2
    assert "Rancher refused the credentials: check input access-key and input secret-key" in result.stderr
    assert "SK-wrong-but-secret-42" not in result.output.replace("::add-mask::SK-wrong-but-secret-42", "")


def test_a_backend_error_naming_a_variable_is_renamed_by_the_run_that_reports_it() -> None:
    error = ConfigError("RANCHER_ENVIRONMENT", "is required: this account key sees several environments")

    def spelled(inputs: Inputs) -> str:
        return inputs.speller(SETTINGS)(str(error))

    assert spelled(Inputs({}, {}, ci="github")).startswith("input environment: is required")
    assert spelled(Inputs({}, {"PLUGIN_ENVIRONMENT": "x"}, ci="woodpecker")).startswith("setting environment: ")
    assert spelled(Inputs({"environment": "x"}, {})).startswith("--environment: ")
    assert spelled(Inputs({}, {"RANCHER_ENVIRONMENT": "x"})).startswith("RANCHER_ENVIRONMENT: ")
    assert Inputs({}, {}, ci="github").speller(SETTINGS)("RANCHER_ENVIRONMENT_ID stays") == "RANCHER_ENVIRONMENT_ID stays"


def test_names_inside_messages_are_spelled_the_way_the_user_set_them(sim: Simulator, web: str,
                                                                     run_cli: RunCli) -> None:
    """Not only the setting an error starts with: every setting a message names reads as it was set."""
    scoped = f"{sim.url}/v2-beta/projects/{sim.default_project_id}"
    result = run_cli("--url", scoped, "--environment", "Staging", CATTLE_URL=None)
    assert result.code == 2, result.stderr
    assert "--environment: names 'Staging' but --url is scoped to environment Default" in result.stderr
    assert "CATTLE_URL" not in result.stderr and "RANCHER_ENVIRONMENT" not in result.stderr
    github = run_cli(CATTLE_URL=None, GITHUB_ACTIONS="true", INPUT_URL=scoped, INPUT_ENVIRONMENT="Staging")
    assert "input environment: names 'Staging' but input url is scoped to environment Default" in github.stderr


# Flags, values and commands in advice read the way the user sets settings and runs commands, per CI.
ADVICE = "left upgraded (--no-rollback); restore it with `rancher-deploy rollback` (with `RANCHER_SERVICE=shop/web`)"
SPELLED = [
    ("plain", {"rollback": False}, {},
     "left upgraded (--no-rollback); restore it with `rancher-deploy rollback` (with `RANCHER_SERVICE=shop/web`)"),
    ("plain", {}, {"RANCHER_ROLLBACK": "false", "RANCHER_SERVICE": "a,b"},
     "left upgraded (RANCHER_ROLLBACK=false); restore it with `rancher-deploy rollback` "
     "(with `RANCHER_SERVICE=shop/web`)"),
    ("plain", {"service": ["a", "b"]}, {},
     "left upgraded (--no-rollback); restore it with `rancher-deploy rollback` (with `--service shop/web`)"),
    ("github", {}, {"INPUT_ROLLBACK": "false", "INPUT_SERVICE": "a,b"},
     "left upgraded (input `rollback: false`); restore it with a step with `command: rollback` "
     "(with input `service: shop/web`)"),
    ("drone", {}, {"PLUGIN_ROLLBACK": "false", "PLUGIN_SERVICE": "a,b"},
     "left upgraded (setting `rollback: false`); restore it with `command: rollback` in the step's settings "
     "(with setting `service: shop/web`)"),
    ("woodpecker", {}, {"RANCHER_ROLLBACK": "no"},
     "left upgraded (RANCHER_ROLLBACK=false); restore it with `command: rollback` in the step's settings "
     "(with setting `service: shop/web`)"),
    ("gitlab", {}, {"RANCHER_ROLLBACK": "false"},
     "left upgraded (RANCHER_ROLLBACK=false); restore it with a job with `RANCHER_COMMAND: rollback` "
     "(with `RANCHER_SERVICE=shop/web`)"),
    ("gitlab", {}, {"PLUGIN_ROLLBACK": "false"},
     "left upgraded (input `rollback: false`); restore it with a job with `RANCHER_COMMAND: rollback` "
     "(with `RANCHER_SERVICE=shop/web`)"),
]


@pytest.mark.parametrize("ci, flags, environ, spelled", SPELLED)
def test_flags_values_and_commands_in_advice_read_the_way_this_ci_sets_and_runs_them(
        ci: str, flags: dict[str, object], environ: dict[str, str], spelled: str) -> None:
    from rancher_deploy.settings import COMMANDS

    assert Inputs(flags, environ, ci=ci).speller(SETTINGS, COMMANDS)(ADVICE) == spelled


def test_a_flag_nobody_set_reads_as_this_ci_sets_it_and_other_flags_stay() -> None:
    from rancher_deploy.settings import COMMANDS

    message = "nothing to do (--force redeploys it); see `rancher-deploy upgrade --help`"
    assert Inputs({}, {}, ci="github").speller(SETTINGS, COMMANDS)(message) == (
        "nothing to do (input `force: true` redeploys it); see `rancher-deploy upgrade --help`")
    assert Inputs({}, {}, ci="gitlab").speller(SETTINGS, COMMANDS)(message).startswith(
        "nothing to do (RANCHER_FORCE=true redeploys it)")
    assert Inputs({}, {}).speller(SETTINGS, COMMANDS)(message) == message


def _message_texts() -> list[tuple[str, str]]:
    """Every string the package's code holds, but docstrings and the settings table's help (which
    argparse prints, not the log), as (where, text); an f-string's fields read `{}`."""
    import ast

    package = Path(cli.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if "simulator" in path.relative_to(package).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped: set[int] = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Option":
                skipped.update(id(inner) for inner in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.JoinedStr):
                skipped.update(id(part) for part in node.values)
                text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            found.append((f"{path.relative_to(package)}:{node.lineno}", str(text)))
    return found


def _assignments() -> list[tuple[str, str, re.Match[str]]]:
    """Each setting's variable set to a value in a message text, as (where, text, match). A string
    that is one such assignment and nothing else is a value a message quotes (a target's `alone`
    settings, which `steps.next_steps` puts in backticks), not a message."""
    variables = sorted((variable for option in (*SETTINGS, cli.COMMAND) for variable in option.env), key=len,
                       reverse=True)
    pattern = re.compile(rf"(?<![A-Za-z0-9_])(?P<variable>{'|'.join(variables)})=(?P<value>[^`\s,;)]*)")
    return [(where, text, match) for where, text in _message_texts() for match in pattern.finditer(text)
            if match.group(0) != text]


def test_every_message_writes_a_setting_with_its_value_in_backticks() -> None:
    """The speller rewrites `RANCHER_INSECURE=true` as a whole only in backticks; bare, it would
    translate the name alone (`input insecure=true`), which is no way to set it on any CI."""
    bare = [f"{where}: {match.group(0)}" for where, text, match in _assignments()
            if not (text[:match.start()].endswith("`") and "`" in text[match.end():])]
    assert bare == []


# How each CI's user sets a setting with a value, none of them set (the advice of a message).
IN_EACH_CI = {
    "github": lambda option, value: f"input `{option.input_id}: {value}`",
    "drone": lambda option, value: f"setting `{option.name}: {value}`",
    "woodpecker": lambda option, value: f"setting `{option.name}: {value}`",
    "gitlab": lambda option, value: f"`{option.env[0]}={value}`",
    "plain": lambda option, value: f"`{option.env[0]}={value}`",
}


@pytest.mark.parametrize("ci", list(IN_EACH_CI))
def test_every_advice_with_a_value_reads_the_way_each_ci_sets_it(ci: str) -> None:
    from rancher_deploy.settings import COMMANDS

    by_variable = {variable: option for option in SETTINGS for variable in option.env}
    spell = Inputs({}, {}, ci=ci).speller(SETTINGS, COMMANDS)
    advice = [(where, text, match) for where, text, match in _assignments() if match.group("variable") in by_variable]
    assert {where.split(":")[0] for where, _, _ in advice} >= {"http.py", "deploy.py", "v3.py", "runner.py"}
    for where, text, match in advice:
        option = by_variable[match.group("variable")]
        spelled = spell(text)
        assert IN_EACH_CI[ci](option, match.group("value")) in spelled, f"{where}: {spelled}"
        if ci not in ("gitlab", "plain"):
            assert f"{match.group('variable')}=" not in spelled, f"{where}: {spelled}"


GITHUB = {"GITHUB_ACTIONS": "true", "INPUT_ROLLBACK": "false"}
DRONE = {"DRONE": "true", "PLUGIN_ROLLBACK": "false"}
GITLAB = {"GITLAB_CI": "true", "RANCHER_ROLLBACK": "false"}


@pytest.mark.parametrize("environ, reads", [
    (GITHUB, "(input `rollback: false`); restore it with a step with `command: rollback`"),
    (DRONE, "(setting `rollback: false`); restore it with `command: rollback` in the step's settings"),
    (GITLAB, "(RANCHER_ROLLBACK=false); restore it with a job with `RANCHER_COMMAND: rollback`"),
], ids=["github", "drone", "gitlab"])
def test_a_failed_run_advises_in_the_words_of_its_ci(sim: Simulator, web: str, run_cli: RunCli,
                                                    environ: dict[str, str], reads: str) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--output", "json", RANCHER_PROGRESS_DEADLINE="0.3", **environ)
    assert result.code == 4, result.stderr
    assert reads in result.json["targets"][0]["message"]
    assert "--no-rollback" not in result.output and "`rancher-deploy rollback`" not in result.output


def test_a_switch_set_in_the_environment_is_named_as_set_in_warnings(sim: Simulator, run_cli: RunCli) -> None:
    config = {**LAUNCH_CONFIG, "labels": {}}
    sim.add_service(sim.add_stack("shop"), "web", config)
    result = run_cli(RANCHER_FORCE="true", RANCHER_IMAGE=OLD_IMAGE, RANCHER_DRY_RUN="true")
    assert result.code == 0, result.stderr
    assert "RANCHER_FORCE=true restarts web on" in result.stderr and "--force" not in result.stderr


# -- .env -----------------------------------------------------------------------------------------------


def run_in(tmp_path: Path, base: dict[str, str], **environ: str) -> tuple[int, str]:
    stderr = io.StringIO()
    code = cli.main([], environ={**base, **environ}, dotenv_path=str(tmp_path / ".env"), stdout=io.StringIO(),
                    stderr=stderr)
    return code, stderr.getvalue()


def test_a_dotenv_that_supplied_settings_is_named_once_with_names_only(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    base = {name: value for name, value in base_env.items() if name not in ("RANCHER_STACK", "RANCHER_TIMEOUT")}
    # RANCHER_IMAGE is set in the environment too, so .env does not supply it; OTHER is no setting.
    (tmp_path / ".env").write_text("RANCHER_STACK=shop\nRANCHER_TIMEOUT=31\nRANCHER_IMAGE=app:9\nOTHER=x\n")
    code, log = run_in(tmp_path, base)
    assert code == 0, log
    lines = [line for line in log.splitlines() if ".env" in line]
    assert lines == [f"Read 2 settings from .env ({tmp_path / '.env'}), only for variables no flag, input or "
                     "environment set: RANCHER_STACK, RANCHER_TIMEOUT"]
    # The value never shows (the line names the file, whose temporary path may hold any digits).
    shown = lines[0].replace(str(tmp_path / ".env"), "")
    assert "31" not in shown and "shop" not in shown.split(":", 1)[1]
    assert SECRET_KEY not in log


def test_on_github_the_dotenv_line_says_it_is_the_repositorys_own_file(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    base = {name: value for name, value in base_env.items() if name != "RANCHER_STACK"}
    (tmp_path / ".env").write_text("RANCHER_STACK=shop\n")
    code, log = run_in(tmp_path, base, GITHUB_ACTIONS="true")
    assert code == 0, log
    assert (f"Read 1 setting from .env ({tmp_path / '.env'}: the checked-out repository's own file, the working "
            "directory of the action), only for variables no flag, input or environment set: RANCHER_STACK") in log


def test_no_dotenv_line_when_the_file_supplied_nothing(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RANCHER_STACK=ignored\nAPP_SETTING=1\n")
    code, log = run_in(tmp_path, base_env)
    assert code == 0 and ".env" not in log


def test_a_command_from_dotenv_is_named_in_the_dotenv_line(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RANCHER_COMMAND=status\n")
    code, log = run_in(tmp_path, base_env)
    assert code == 0, log
    assert "status: shop/web" in log
    assert "Read 1 setting from .env" in log and log.count("RANCHER_COMMAND") == 1


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


# -- a result that cannot be written (`--output json > /dev/full`) ----------------------------------


def _deploy_with_stdout(sim: Simulator, tmp_path: Path, stdout: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the tool as its own process with `--output json`, its stdout set up by the shell (`stdout`:
    a redirection such as `>/dev/full`, `>&-`), its stderr captured."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "CATTLE_URL": sim.url,
           "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY, "RANCHER_SERVICE": "shop/web",
           "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_BATCH_INTERVAL": "0.1",
           "RANCHER_DOTENV_REPORT": str(tmp_path / "deploy.env"), **extra}
    return subprocess.run(f'exec "{sys.executable}" -m rancher_deploy --output json {stdout}', shell=True, cwd=tmp_path,
                          env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60, check=False)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("stdout, why", [(">/dev/full", "No space left on device"), (">&-", "it is closed")],
                         ids=["full", "closed"])
def test_a_json_result_that_cannot_be_written_is_said_and_never_exit_0(sim: Simulator, web: str, tmp_path: Path,
                                                                      stdout: str, why: str) -> None:
    done = _deploy_with_stdout(sim, tmp_path, stdout)
    assert done.returncode == 4, done.stderr
    assert (f"rancher-deploy: error: the JSON result could not be written to stdout ({why}); this log is all "
            "there is of what the run did") in done.stderr
    assert "rancher-deploy: exit 4 (needs attention: shop/web upgraded, state active)" in done.stderr
    assert "Traceback" not in done.stderr
    # The deploy itself went through, and the CI's own outputs say the same exit code.
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert "RANCHER_DEPLOY_EXIT_CODE=4" in (tmp_path / "deploy.env").read_text().splitlines()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_run_that_failed_keeps_its_own_exit_code_when_its_result_is_lost_too(sim: Simulator, web: str,
                                                                              tmp_path: Path) -> None:
    done = _deploy_with_stdout(sim, tmp_path, ">/dev/full", RANCHER_IMAGE="registry.example.com:5000/shop/web:")
    assert done.returncode == 2, done.stderr
    assert "the JSON result could not be written to stdout (No space left on device)" in done.stderr
    assert sim.count("POST") == 0


@pytest.mark.parametrize("argv, kept_out", [
    (["--version"], ("requests", "urllib3", "semver", "dotenv", "websocket", "wsproto", "rancher_deploy.cli",
                     "rancher_deploy.settings")),
    (["--help"], ("requests", "urllib3", "semver", "dotenv", "websocket", "wsproto", "rancher_deploy.deploy",
                  "rancher_deploy.http")),
])
def test_version_and_help_import_nothing_a_run_needs(argv: list[str], kept_out: tuple[str, ...]) -> None:
    """Start-up is paid by every CI step that prints the version or the help: keep it to Python's own."""
    probe = ("import sys\nfrom rancher_deploy.__main__ import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit:\n    pass\n"
             f"print(sorted(m for m in sys.modules if m.startswith({kept_out!r})))")
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_version_imports_nothing_beyond_the_interpreter_and_the_package() -> None:
    """`typing` alone costs more than the rest of `--version`: only the type checker reads it there."""
    probe = ("import sys\nbefore = set(sys.modules)\nfrom rancher_deploy.__main__ import main\n"
             "main(['--version'])\nprint(' '.join(sorted(set(sys.modules) - before)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    printed, loaded = result.stdout.splitlines()
    assert printed == f"rancher-deploy {__version__}"
    # `__future__` (for `from __future__ import annotations`) is tiny, and loaded already by some
    # interpreters' start-up (an editable install's finder).
    assert set(loaded.split()) - {"__future__"} == {"rancher_deploy", "rancher_deploy.__main__"}


@pytest.mark.parametrize("argv, frozen", [(None, True), (["--help"], False)], ids=["program", "in-process caller"])
def test_only_the_program_itself_readies_its_exit(argv: list[str] | None, frozen: bool) -> None:
    """The program (no `argv`: the console script, entrypoint.py) moves what it loaded out of the
    collector's reach before the process exits; a caller in the same process keeps its collector."""
    probe = ("import gc, sys\nfrom rancher_deploy.__main__ import main\nsys.argv = ['rancher-deploy', '--help']\n"
             f"main({argv!r})\nprint(gc.get_freeze_count() > 0)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(frozen)


def test_the_program_loads_with_the_collector_off() -> None:
    """No collection runs while the program imports what it needs (here all `--help` needs): each
    would pass over everything imported so far, in vain (rancher_deploy/__main__.py)."""
    probe = ("import gc, sys\nfrom rancher_deploy.__main__ import main\nsys.argv = ['rancher-deploy', '--help']\n"
             "before = sum(g['collections'] for g in gc.get_stats())\nmain()\n"
             "print(sum(g['collections'] for g in gc.get_stats()) - before)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0"


def test_the_program_collects_again_once_its_run_is_loaded(sim: Simulator, web: str, base_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    """The program loads its modules with the collector off (rancher_deploy/__main__.py) and turns it
    back on before it connects: every request of the run, its waits' too, is sent with it on."""
    probe = ("import gc, sys\nimport requests\nfrom rancher_deploy.__main__ import main\n"
             "seen = set()\nsend = requests.Session.send\n"
             "def spy(self, *args, **kwargs):\n    seen.add(gc.isenabled())\n    return send(self, *args, **kwargs)\n"
             "requests.Session.send = spy\nsys.argv = ['rancher-deploy']\ncode = main()\nprint(code, sorted(seen))")
    assert _last_line(probe, base_env, tmp_path) == "0 [True]"


def test_a_run_says_it_is_loaded_once_before_its_first_request(sim: Simulator, web: str,
                                                               base_env: dict[str, str]) -> None:
    requests_then: list[int] = []
    code = cli.main([], base_env, dotenv_path=None, stdout=io.StringIO(), stderr=io.StringIO(),
                    loaded=lambda: requests_then.append(len(sim.requests)))
    assert code == 0
    assert requests_then == [0]


def test_a_ci_run_never_loads_the_server(sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    """`serve` and its HTTP server (the serve extra) are for `rancher-deploy serve` only: an upgrade, as a
    CI step runs it, imports neither (docs/architecture.md)."""
    probe = ("import sys\nfrom rancher_deploy.__main__ import main\ncode = main([])\n"
             "print(code, sorted(m for m in sys.modules if m.split('.')[:2] == ['rancher_deploy', 'serve'] "
             "or m.startswith('cheroot')))")
    assert _last_line(probe, base_env, tmp_path) == "0 []"


def _last_line(probe: str, base_env: dict[str, str], tmp_path: Path) -> str:
    """The last line the Python `probe` prints, run by a fresh interpreter in `tmp_path` with only the
    run's settings (and PATH) in its environment, as a CI step runs the program."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **base_env}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env=env)
    assert result.stdout.strip(), result.stderr
    return result.stdout.strip().splitlines()[-1]
