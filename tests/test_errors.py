"""The error family: exit codes and how Rancher's error bodies become one readable line."""

from __future__ import annotations

import signal

import pytest

from rancher_deploy.errors import (
    AuthenticationFailed,
    ConfigError,
    ExitCode,
    NeedsAttention,
    NotFound,
    PermissionDenied,
    RancherAPIError,
)
from rancher_deploy.events import Outcome, Result, TargetOutcome, exit_code


def test_config_error_names_the_setting_and_exits_2() -> None:
    error = ConfigError("RANCHER_TIMEOUT", "must be a whole number of seconds, got 'soon'")
    assert str(error) == "RANCHER_TIMEOUT: must be a whole number of seconds, got 'soon'"
    assert error.exit_code == ExitCode.USAGE == 2


def test_cattle_validation_error_shows_the_text_rancher_put_in_field_name() -> None:
    body = {
        "type": "error",
        "status": 422,
        "code": "InvalidOption",
        "message": None,
        "fieldName": "StartFirst option can't be used for service with retainIp field set",
    }
    error = RancherAPIError.from_body("Upgrade of web/app", 422, body)
    assert str(error) == (
        "Upgrade of web/app failed: HTTP 422 (InvalidOption: "
        "StartFirst option can't be used for service with retainIp field set)"
    )
    assert error.code == "InvalidOption"
    assert error.exit_code == ExitCode.USAGE, "Rancher refused what was asked: retrying cannot help"


def test_statuses_that_may_pass_exit_3_and_refusals_exit_2() -> None:
    codes = {status: RancherAPIError.from_body("Reading", status, None).exit_code
             for status in (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504)}
    assert {status for status, code in codes.items() if code == ExitCode.RANCHER_UNAVAILABLE} == {
        409, 429, 500, 502, 503, 504}
    assert {status for status, code in codes.items() if code == ExitCode.USAGE} == {400, 401, 403, 404, 422}


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthenticationFailed), (403, PermissionDenied), (404, NotFound), (500, RancherAPIError)],
)
def test_status_picks_the_error_class(status: int, expected: type[RancherAPIError]) -> None:
    error = RancherAPIError.from_body("Reading the service", status, {"code": "X", "message": "Y"})
    assert type(error) is expected
    assert error.status == status


def test_rancher2_unauthorized_body_without_code() -> None:
    body = {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"}
    error = RancherAPIError.from_body("Reading /v3", 401, body)
    assert str(error) == "Reading /v3 failed: HTTP 401 (Unauthorized 401: must authenticate)"


def test_missing_body_still_reads_well() -> None:
    assert str(RancherAPIError.from_body("Reading", 502, None)) == "Reading failed: HTTP 502 (no error body)"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_exit_code_follows_the_signal(signum: int, code: int) -> None:
    assert exit_code(Outcome("upgrade", interrupted_by=signum)) == code
    # An error meaning "nothing was changed" after a signal is reported as the interruption.
    assert exit_code(None, ConfigError("X", "y"), signal_number=signum) == code
    assert exit_code(None, NeedsAttention("state unknown"), signal_number=signum) == ExitCode.NEEDS_ATTENTION


def test_the_worst_target_decides_the_exit_code() -> None:
    def outcome(*results: Result, signum: int | None = None) -> Outcome:
        return Outcome("upgrade", tuple(TargetOutcome(f"t{n}", f"id{n}", result, "active")
                                        for n, result in enumerate(results)), interrupted_by=signum)

    assert exit_code(outcome()) == ExitCode.OK
    assert exit_code(outcome(Result.UPGRADED, Result.UNCHANGED)) == ExitCode.OK
    assert exit_code(outcome(Result.ROLLED_BACK, Result.NOT_UPGRADED, Result.UNCHANGED)) == ExitCode.ROLLED_BACK
    # Mixed: one target changed and kept, another restored or never changed because the run failed.
    assert exit_code(outcome(Result.UPGRADED, Result.ROLLED_BACK)) == ExitCode.NEEDS_ATTENTION
    assert exit_code(outcome(Result.UPGRADED_UNFINISHED, Result.NOT_UPGRADED)) == ExitCode.NEEDS_ATTENTION
    assert exit_code(outcome(Result.ROLLED_BACK, signum=signal.SIGTERM)) == ExitCode.TERMINATED
    assert exit_code(outcome(Result.FAILED, signum=signal.SIGTERM)) == ExitCode.NEEDS_ATTENTION


def test_every_exit_code_has_a_meaning() -> None:
    for code in ExitCode:
        assert code.meaning
