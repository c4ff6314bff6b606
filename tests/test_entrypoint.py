"""entrypoint.py run the way each CI runs the image: `python /app/entrypoint.py ARGS` as its own
process, from the job's working directory (not the project's), with the environment that CI builds.

There is no Docker engine here, so this is as close to the image as the tests get: a fresh
interpreter, an environment holding only what the CI sets, and a working directory the program must
not rely on (GitHub uses /github/workspace, GitLab the project directory, Woodpecker its workspace).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rancher_deploy import __version__

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"
SECRET = "Sup3r-Secret-Value-0042"
TOKEN_SECRET = "tokenhalf9f8e7d6c5b4a"


def run(args: list[str], environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing inherited but PATH, as in a container; the interpreter is the one with the package.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd / "home"),
           "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **environ}
    return subprocess.run([sys.executable, str(ENTRYPOINT), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


def github_env(tmp_path: Path, **inputs: str) -> dict[str, str]:
    """What the runner passes to a Docker action: every declared input (hyphens kept), '' if not given."""
    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    environ = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(tmp_path),
               "GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    for input_id, spec in action["inputs"].items():
        environ["INPUT_" + input_id.replace(" ", "_").upper()] = str(spec.get("default", ""))
    for input_id, value in inputs.items():
        environ["INPUT_" + input_id.upper()] = value
    return environ


def action_args(environ: dict[str, str]) -> list[str]:
    """The arguments the runner gives the container: action.yml's `runs.args`, inputs substituted."""
    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return [re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: environ["INPUT_" + m.group(1).upper()], arg)
            for arg in action["runs"].get("args", [])]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A job's working directory holding a decoy `rancher_deploy` package: the entrypoint must not import it."""
    (tmp_path / "home").mkdir()
    decoy = tmp_path / "rancher_deploy"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise SystemExit('imported the package from the working directory')\n")
    return tmp_path


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *secrets: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    # On GitHub the `::add-mask::` lines name each secret, which is how the runner learns to hide
    # it (it does not show those lines); no other line may.
    shown = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    for secret in secrets:
        assert not [line for line in shown if secret in line]


def test_version_and_help_work_from_any_directory(workspace: Path) -> None:
    version = run(["--version"], {}, workspace)
    assert version.returncode == 0 and version.stdout == f"rancher-deploy {__version__}\n"
    helped = run(["upgrade", "--help"], {}, workspace)
    assert helped.returncode == 0
    assert "--access-key" in helped.stdout and "exit codes:" in helped.stdout


def test_github_inputs_with_hyphens_are_read(workspace: Path) -> None:
    environ = github_env(workspace, **{"url": "https://rancher.example.com", "access-key": "AKEY1234",
                                       "secret-key": SECRET, "service": "shop/web"})
    result = run(action_args(environ), environ, workspace)
    # The keys were found (their check comes first); what is missing is the image.
    assert_clean_failure(result, 2, SECRET)
    assert "input image: is required" in result.stderr


def test_github_bad_input_value_is_named_and_the_secret_stays_hidden(workspace: Path) -> None:
    environ = github_env(workspace, url="https://rancher.example.com", token=f"not-a-token:{TOKEN_SECRET}", service="web", image="app:2")
    result = run(action_args(environ), environ, workspace)
    assert_clean_failure(result, 2, TOKEN_SECRET)
    assert "input token: must look like token-xxxxx:secret (value not shown)" in result.stderr


def test_credentials_in_the_url_never_reach_the_log(workspace: Path) -> None:
    environ = github_env(workspace, url=f"https://AKEY1234:{SECRET}@rancher.example.com", service="web",
                         timeout="soon")
    result = run(action_args(environ), environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    assert "input timeout: must be a number of seconds, got 'soon'" in result.stderr


def test_drone_settings_keep_hyphens_and_lists_arrive_comma_joined(workspace: Path) -> None:
    # settings: {url: ..., access-key: ..., secret-key: {from_secret: ...}, service: [web, api], batch-size: 0}
    environ = {"DRONE": "true", "CI": "true", "DRONE_COMMIT_SHA": "abc123",
               "PLUGIN_URL": "https://rancher.example.com", "PLUGIN_ACCESS-KEY": "AKEY1234",
               "PLUGIN_SECRET-KEY": SECRET, "PLUGIN_SERVICE": "web,api", "PLUGIN_IMAGE": "app:2",
               "PLUGIN_BATCH-SIZE": "0"}
    result = run([], environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    assert "setting batch-size: must be at least 1, got '0'" in result.stderr


def test_woodpecker_settings_arrive_with_underscores(workspace: Path) -> None:
    # Woodpecker turns `-` and `.` into `_` and copies some DRONE_* variables, never DRONE=true.
    environ = {"CI": "woodpecker", "CI_SYSTEM_NAME": "woodpecker", "DRONE_COMMIT_SHA": "abc123",
               "PLUGIN_URL": "https://rancher.example.com", "PLUGIN_ACCESS_KEY": "AKEY1234",
               "PLUGIN_SECRET_KEY": SECRET, "PLUGIN_SERVICE": "web,web"}
    result = run([], environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    assert "setting service: names web twice" in result.stderr


def test_gitlab_job_runs_the_command_with_plain_variables(workspace: Path) -> None:
    # GitLab replaces the entrypoint by a shell that calls `rancher-deploy`; the program is the same.
    environ = {"GITLAB_CI": "true", "CI": "true", "CI_PROJECT_DIR": str(workspace),
               "CATTLE_URL": "ftp://rancher.example.com", "CATTLE_ACCESS_KEY": "AKEY1234",
               "CATTLE_SECRET_KEY": SECRET, "RANCHER_SERVICE": "web", "RANCHER_IMAGE": "app:2"}
    result = run([], environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    assert "CATTLE_URL: must start with https:// or http://" in result.stderr


# Behaviour that appears once cli.py hands its output to rancher_deploy.ci (see docs/ci.md and the
# report of the CI integration work). strict=True: the day it works, these fail until unmarked.


def _leading_masks(lines: list[str]) -> list[str]:
    """The `::add-mask::` lines before any other: the secret and the forms it is sent in."""
    count = next((n for n, line in enumerate(lines) if not line.startswith("::add-mask::")), len(lines))
    return lines[:count]


def test_github_masks_the_secrets_before_the_first_line(workspace: Path) -> None:
    environ = github_env(workspace, **{"url": "https://rancher.example.com", "access-key": "AKEY1234",
                                       "secret-key": SECRET, "service": "web"})
    result = run(action_args(environ), environ, workspace)
    lines = (result.stdout + result.stderr).splitlines()
    masks = _leading_masks(lines)
    assert f"::add-mask::{SECRET}" in masks
    # the Basic header value the key pair is sent as is masked too (redact.sent_forms)
    assert f"::add-mask::{base64.b64encode(f'AKEY1234:{SECRET}'.encode()).decode().rstrip('=')}" in masks


def test_github_gets_outputs_and_an_annotation_even_for_a_configuration_error(workspace: Path) -> None:
    environ = github_env(workspace, **{"url": "https://rancher.example.com", "access-key": "AKEY1234",
                                       "secret-key": SECRET, "service": "web"})
    result = run(action_args(environ), environ, workspace)
    assert result.returncode == 2
    assert "::error::input image: is required" in result.stderr
    output = (workspace / "output").read_text(encoding="utf-8")
    assert "result=error\n" in output and "exit-code=2\n" in output
    assert "Exit code 2" in (workspace / "summary").read_text(encoding="utf-8")


def test_github_bad_command_input_is_one_error_with_outputs_and_summary(workspace: Path) -> None:
    environ = github_env(workspace, **{"command": "deploy", "url": "https://rancher.example.com",
                                       "access-key": "AKEY1234", "secret-key": SECRET, "service": "web",
                                       "image": "app:2"})
    result = run(action_args(environ), environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    lines = result.stderr.splitlines()
    assert f"::add-mask::{SECRET}" in _leading_masks(lines)
    lines = lines[len(_leading_masks(lines)):]
    assert len(lines) == 2, "after the masks, the one annotation, the exit line: no usage dump"
    assert lines[0] == ("::error::input command: unknown command 'deploy'; the commands are upgrade, rollback, "
                        "finish, status")
    assert lines[1].startswith("rancher-deploy: exit 2 (invalid usage or configuration")
    assert "usage:" not in result.stdout + result.stderr
    output = (workspace / "output").read_text(encoding="utf-8")
    assert "result=error\n" in output and "exit-code=2\n" in output and "unknown command 'deploy'" in output
    summary = (workspace / "summary").read_text(encoding="utf-8")
    assert "### rancher-deploy deploy: error" in summary and "Exit code 2" in summary


def test_github_bad_flag_in_an_input_still_writes_outputs(workspace: Path) -> None:
    # A flag the parser refuses (here one smuggled into an input) ends like any other failure.
    environ = github_env(workspace, **{"url": "https://rancher.example.com", "access-key": "AKEY1234",
                                       "secret-key": SECRET, "service": "web", "image": "app:2"})
    result = run(["--no-such-flag"], environ, workspace)
    assert_clean_failure(result, 2, SECRET)
    assert [line for line in result.stderr.splitlines() if line.startswith("::error")] == [
        "::error::unrecognized arguments: --no-such-flag (see `rancher-deploy --help`)"]
    assert "result=error\n" in (workspace / "output").read_text(encoding="utf-8")


# -- real upgrades through the entrypoint, against the simulator ----------------------------------------


def _seeded_simulator() -> Any:
    from rancher_deploy.simulator import Simulator, Timing

    simulator = Simulator("AKEY1234", SECRET, timing=Timing.fast()).start()
    stack = simulator.add_stack("shop")
    simulator.add_service(stack, "web", {"imageUuid": "docker:registry.example.com/shop/web:1.0"}, scale=2)
    return simulator


def test_github_action_run_upgrades_and_writes_outputs_and_summary(workspace: Path) -> None:
    simulator = _seeded_simulator()
    try:
        # The command input left empty, as the runner sends an input the workflow does not give.
        environ = github_env(workspace, **{"url": simulator.url, "access-key": "AKEY1234", "secret-key": SECRET,
                                           "service": "shop/web", "image": "registry.example.com/shop/web:1.1",
                                           "poll-interval": "0.01", "command": ""})
        result = run(action_args(environ), environ, workspace)
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    assert f"::add-mask::{SECRET}" in _leading_masks(result.stderr.splitlines())
    assert "::group::" in result.stderr and "::endgroup::" in result.stderr
    outputs = (workspace / "output").read_text()
    assert "result=upgraded" in outputs and "image=registry.example.com/shop/web:1.1" in outputs
    assert "previous-image=registry.example.com/shop/web:1.0" in outputs
    summary = (workspace / "summary").read_text()
    assert "shop/web" in summary and "registry.example.com/shop/web:1.1" in summary
    assert_clean_failure(result, 0, SECRET)


def test_github_command_input_runs_that_command(workspace: Path) -> None:
    simulator = _seeded_simulator()
    try:
        environ = github_env(workspace, **{"url": simulator.url, "access-key": "AKEY1234", "secret-key": SECRET,
                                           "service": "shop/web", "command": "status"})
        result = run(action_args(environ), environ, workspace)
    finally:
        simulator.stop()
    assert_clean_failure(result, 0, SECRET)
    assert "result=status\n" in (workspace / "output").read_text(encoding="utf-8")


def plugin_env(dialect: str, url: str, **settings: str) -> dict[str, str]:
    """What Drone or Woodpecker sets for a plugin step with these `settings:` (keys written with `-`):
    Drone keeps the hyphen (PLUGIN_POLL-INTERVAL), Woodpecker turns it into `_`; the keys are added."""
    marker = {"drone": {"DRONE": "true", "CI": "drone"}, "woodpecker": {"CI": "woodpecker"}}[dialect]
    hyphen = "-" if dialect == "drone" else "_"
    settings = {"url": url, "access-key": "AKEY1234", "secret-key": SECRET, **settings}
    return {**marker, **{"PLUGIN_" + key.upper().replace("-", hyphen): value for key, value in settings.items()}}


@pytest.mark.parametrize("dialect", ["drone", "woodpecker"])
def test_plugin_command_setting_runs_that_command(workspace: Path, dialect: str) -> None:
    # settings: {command: status, ...}: a plugin step cannot pass arguments.
    simulator = _seeded_simulator()
    try:
        environ = plugin_env(dialect, simulator.url, command="status", service="shop/web", output="json")
        result = run([], environ, workspace)
    finally:
        simulator.stop()
    assert_clean_failure(result, 0, SECRET)
    assert '"command": "status"' in result.stdout and '"result": "status"' in result.stdout


@pytest.mark.parametrize("dialect", ["drone", "woodpecker"])
def test_plugin_run_reads_plugin_settings_and_upgrades(workspace: Path, dialect: str) -> None:
    simulator = _seeded_simulator()
    try:
        environ = plugin_env(dialect, simulator.url, **{"service": "shop/web",
                                                        "image": "registry.example.com/shop/web:1.1",
                                                        "poll-interval": "0.01",
                                                        "dotenv-report": str(workspace / "deploy.env")})
        result = run([], environ, workspace)
        state = simulator.service("1s1")
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    assert state["launchConfig"]["imageUuid"] == "docker:registry.example.com/shop/web:1.1"
    assert "RANCHER_DEPLOY_RESULT=upgraded" in (workspace / "deploy.env").read_text()
    assert_clean_failure(result, 0, SECRET)


ENV_VALUE = "entrypoint-env-value-8c2f"


def test_github_multi_line_edits_reach_the_service_and_no_value_any_output(workspace: Path) -> None:
    simulator = _seeded_simulator()
    try:
        # `set-env: |` in a workflow: one pair per line, a value with commas, the trailing newline kept.
        environ = github_env(workspace, **{"url": simulator.url, "access-key": "AKEY1234", "secret-key": SECRET,
                                           "service": "shop/web", "image": "", "poll-interval": "0.01",
                                           "set-env": f"TOKEN={ENV_VALUE}\nHOSTS=a.example.com,b.example.com\n",
                                           "set-label": "com.example.team=shop"})
        result = run(action_args(environ), environ, workspace)
        config = simulator.service("1s1")["launchConfig"]
    finally:
        simulator.stop()
    assert_clean_failure(result, 0, SECRET, ENV_VALUE)
    assert config["environment"] == {"TOKEN": ENV_VALUE, "HOSTS": "a.example.com,b.example.com"}
    assert config["labels"] == {"com.example.team": "shop"}
    assert f"::add-mask::{ENV_VALUE}" in result.stderr.splitlines()
    for sink in ("output", "summary"):
        assert ENV_VALUE not in (workspace / sink).read_text(encoding="utf-8")
    assert "result=upgraded" in (workspace / "output").read_text(encoding="utf-8")


@pytest.mark.parametrize("dialect", ["drone", "woodpecker"])
def test_plugin_edits_arrive_as_comma_joined_lists(workspace: Path, dialect: str) -> None:
    simulator = _seeded_simulator()
    try:
        # `set_env: [A=1, B=2]` and `unset_label: [x]` in the step's settings, joined with commas.
        environ = plugin_env(dialect, simulator.url, **{"service": "shop/web", "poll-interval": "0.01",
                                                        "set-env": f"A=1,TOKEN={ENV_VALUE}", "unset-env": "NONE"})
        result = run([], environ, workspace)
        config = simulator.service("1s1")["launchConfig"]
    finally:
        simulator.stop()
    assert_clean_failure(result, 0, SECRET, ENV_VALUE)
    assert config["environment"] == {"A": "1", "TOKEN": ENV_VALUE}
