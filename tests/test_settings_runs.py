"""Settings as a whole run meets them, over HTTP against the simulator: what stops it before any request
(exit 2, one line naming the setting, never its value), what a command leaves unread, what it warns about."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from rancher_deploy import cli
from rancher_deploy.settings import Settings
from rancher_deploy.simulator import Simulator

from .conftest import NEW_IMAGE, OLD_IMAGE, RunCli

EXIT_2 = "rancher-deploy: exit 2 (invalid usage or configuration"


def error_line(stderr: str) -> str:
    """The one `rancher-deploy: error:` line of a run's log."""
    (line,) = [line for line in stderr.splitlines() if line.startswith("rancher-deploy: error: ")]
    return line.removeprefix("rancher-deploy: error: ")


# -- settings no request could carry: exit 2 before any request, not an internal error (exit 4) --------


@pytest.mark.parametrize(("overrides", "named"), [
    ({"CATTLE_SECRET_KEY": "S\u00fcper\u20acSecretKey123"}, "CATTLE_SECRET_KEY: contains a character"),
    ({"CATTLE_SECRET_KEY": "secret\u201dwith-a-smart-quote"}, "CATTLE_SECRET_KEY: contains a character"),
    ({"CATTLE_ACCESS_KEY": "ACCESS\u201c"}, "CATTLE_ACCESS_KEY: contains a character"),
    ({"RANCHER_TOKEN": "token-abc12:s\u20acret"}, "RANCHER_TOKEN: contains a character"),
    ({"CATTLE_ACCESS_KEY": None, "CATTLE_SECRET_KEY": None, "CATTLE_URL": "http://AK:p%E2%82%ACss@{host}"},
     "CATTLE_URL: the secret key written into it contains a character"),
    ({"RANCHER_REQUEST_TIMEOUT": "1e20"}, "RANCHER_REQUEST_TIMEOUT: must be at most 3600, got '1e20'"),
    ({"RANCHER_TIMEOUT": "1e12"}, "RANCHER_TIMEOUT: must be at most 86400, got '1e12'"),
    ({"RANCHER_POLL_INTERVAL": "inf"}, "RANCHER_POLL_INTERVAL: must be a finite number of seconds, got 'inf'"),
], ids=["secret-key-euro", "secret-key-smart-quote", "access-key", "token", "url-password", "request-timeout",
        "timeout", "poll-interval-inf"])
def test_a_setting_no_request_can_carry_is_exit_2_naming_it_before_any_request(
        sim: Simulator, web: str, run_cli: RunCli, overrides: dict[str, str | None], named: str) -> None:
    overrides = {key: value.format(host=sim.url.split("//")[1]) if value else value for key, value in overrides.items()}
    sim.reset_log()
    result = run_cli(**overrides)
    assert result.code == 2, result.stderr
    assert sim.requests == [], "nothing sent to Rancher"
    assert "internal error" not in result.stderr
    line = error_line(result.stderr)
    assert line.startswith(named), line
    for name, value in overrides.items():
        if value and name.endswith(("_KEY", "_TOKEN")):
            assert value not in result.output
    assert "position" not in line and "\u20ac" not in line and "\u201d" not in line and "p%E2%82%ACss" not in line


# -- .env: a file that cannot be read whole stops the run, naming the file and the line ----------------


@pytest.mark.parametrize(("content", "problem"), [
    (b"RANCHER_TIMEOUT=30\nRANCHER_STACK=sh\xffop\n", "line 2 is not UTF-8 text"),
    (b"RANCHER_TIMEOUT=30\nRANCHER_SECRET hunter2-recognisable\n", "line 2 cannot be read as KEY=VALUE by python-dotenv"),
], ids=["not-utf8", "unparsable"])
def test_a_dotenv_file_that_cannot_be_read_whole_is_exit_2_naming_file_and_line(
        sim: Simulator, web: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str],
        caplog: pytest.LogCaptureFixture, content: bytes, problem: str) -> None:
    (tmp_path / ".env").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    sim.reset_log()
    out, err = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.DEBUG):
        code = cli.main([], dict(base_env), stdout=out, stderr=err)
    stderr = err.getvalue()
    assert code == 2, stderr
    assert error_line(stderr).startswith(f".env file {tmp_path / '.env'}: {problem}")
    assert sim.requests == [] and "internal error" not in stderr
    # python-dotenv's own warning ("could not parse statement starting at line 2") is never printed, and
    # the line's text (which may hold a secret) neither.
    assert "python-dotenv could not parse" not in stderr + caplog.text
    assert "hunter2" not in stderr + out.getvalue()


# -- a command leaves the settings it does not read alone ---------------------------------------------


def test_rollback_is_not_stopped_by_an_image_setting_it_does_not_read(sim: Simulator, web: str,
                                                                      run_cli: RunCli) -> None:
    # A pipeline-level RANCHER_IMAGE built from CI_COMMIT_REF_NAME (`Feature/X`) must not block the
    # recovery job: `rollback --help` does not list --image at all.
    result = run_cli("rollback", RANCHER_IMAGE="registry.example.com/shop/web:Feature/X")
    assert "RANCHER_IMAGE" not in result.stderr
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("unread", [{"RANCHER_BATCH_SIZE": "0"}, {"RANCHER_SERVE_PORT": "-1"},
                                    {"RANCHER_SERVE_TOKEN": "short"}, {"RANCHER_PARALLEL": "many"}])
def test_status_is_not_stopped_by_settings_of_other_commands_and_verbose_names_them(
        sim: Simulator, web: str, run_cli: RunCli, unread: dict[str, str]) -> None:
    result = run_cli("status", **unread)
    assert result.code == 0, result.stderr
    assert not any(name in result.stderr for name in unread)
    verbose = run_cli("status", RANCHER_VERBOSE="true", **unread)
    (note,) = [line for line in verbose.stderr.splitlines() if "not read by status" in line]
    named = note.split("not read by status, so neither checked nor used: ", 1)[1].split(", ")
    assert set(named) == {"RANCHER_IMAGE", "RANCHER_BATCH_INTERVAL", *unread}   # the first two: base_env's
    assert not any(value in verbose.stderr for value in unread.values() if len(value) > 2)


# -- conflicting settings: refused naming both, or one warning saying which wins ----------------------


def test_a_token_beside_the_keys_is_sent_and_one_warning_says_the_keys_are_not(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    # A Rancher 1.x simulator refuses the token (401): the warning said beforehand why the keys were not tried.
    result = run_cli("--output", "json", RANCHER_TOKEN="token-abc12:tokensecretpart")
    warning = ("RANCHER_TOKEN is sent, not CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY: the token takes precedence "
               "(leave out one or the other to silence this)")
    assert f"warning: {warning}" in result.stderr.splitlines()
    assert result.json["warnings"] == [warning]
    assert result.code == 2 and "check RANCHER_TOKEN" in result.stderr
    assert "tokensecretpart" not in result.output


def test_key_settings_beside_other_keys_in_the_url_are_sent_with_one_warning(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    stale = "stale-url-secret-recognisable"
    result = run_cli("--output", "json", CATTLE_URL=sim.url.replace("://", f"://old-key:{stale}@"))
    assert result.code == 0, result.stderr
    assert result.json["warnings"] == ["CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY are sent, not the keys written into "
                                       "CATTLE_URL: the key settings take precedence (leave out one or the other to "
                                       "silence this)"]
    assert stale not in result.output


def test_a_stack_that_no_named_service_is_in_is_refused_naming_both(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.reset_log()
    result = run_cli(RANCHER_STACK="other", RANCHER_SERVICE="shop/web")
    assert result.code == 2 and sim.requests == []
    assert error_line(result.stderr).startswith(
        "RANCHER_SERVICE: names the stack of every service (shop), and RANCHER_STACK names another (other)")


def test_a_progress_deadline_not_above_the_batch_interval_is_one_warning(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--dry-run", "--output", "json", RANCHER_PROGRESS_DEADLINE="1", RANCHER_BATCH_INTERVAL="5")
    assert result.code == 0, result.stderr
    (warning,) = result.json["warnings"]
    assert warning.startswith("RANCHER_PROGRESS_DEADLINE (1s) is not above RANCHER_BATCH_INTERVAL (5s)")
    assert f"warning: {warning}" in result.stderr.splitlines()


# -- a map from Drone or Woodpecker reaches Rancher as its pairs -------------------------------------


def test_a_woodpecker_map_of_environment_variables_is_set_and_never_shown(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    secret = "db-password-recognisable-9c2"
    result = run_cli("--output", "json", CI="woodpecker",
                     PLUGIN_SET_ENV=f'{{"DB_PASSWORD": "{secret}", "MODE": "prod"}}')
    assert result.code == 0, result.stderr
    environment = sim.service(web)["launchConfig"]["environment"]
    assert (environment["DB_PASSWORD"], environment["MODE"]) == (secret, "prod")
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert secret not in result.output


# -- a bug before any request: exit 4, saying nothing was changed -------------------------------------


def test_a_bug_before_any_request_says_nothing_was_changed(sim: Simulator, web: str, run_cli: RunCli,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*arguments: object) -> Settings:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Settings, "from_inputs", broken)
    sim.reset_log()
    result = run_cli()
    assert result.code == 4 and sim.requests == []
    assert error_line(result.stderr) == (
        "internal error ZeroDivisionError: division by zero; no request was sent to Rancher, so nothing was "
        "changed (please report this, with `RANCHER_VERBOSE=true` output)")
    assert "the target's state is unknown" not in result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"
